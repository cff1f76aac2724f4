/* test_config.c: pushpin.conf loading: syntax, includes, substitution, paths, ports,
 * defaults and error messages. Files are written to a fresh temp directory. */
#include "core/config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt_test.h"

static char tmpdir[256];

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(tmp_path(name), "w");
    if (!f) {
        perror(name);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* Load text written to `name` in the temp dir on fresh defaults. */
static int load(struct tt_config *cfg, const char *name, const char *text, char *err, size_t errlen)
{
    write_file(name, text);
    tt_config_defaults(cfg);
    return tt_config_load(cfg, tmp_path(name), err, errlen);
}

static void test_defaults(void)
{
    struct tt_config c;
    tt_config_defaults(&c);
    CHECK(c.path == NULL);
    CHECK(c.basedir != NULL && c.basedir[0] == '/');
    CHECK_STR(c.rundir, "run");
    CHECK_STR(c.ipc_prefix, "pushpin-");
    CHECK_INT(c.port_offset, 0);
    CHECK_INT(c.num_http_ports, 1);
    CHECK_STR(c.http_ports[0].addr, "0.0.0.0");
    CHECK_INT(c.http_ports[0].port, 7999);
    CHECK_INT(c.log_level, 2);
    CHECK_INT(c.client_buffer_size, 8192);
    CHECK_INT(c.client_maxconn, 50000);
    CHECK(c.routesfile == NULL);
    CHECK(!c.debug && !c.auto_cross_origin && !c.accept_x_forwarded_protocol);
    CHECK_INT(c.set_x_forwarded_protocol, TT_XFP_OFF);
    CHECK_INT(c.xff.truncate, -1);
    CHECK(!c.xff.append);
    CHECK_INT(c.xff_trusted.truncate, -1);
    CHECK(!c.log_from && !c.log_user_agent && !c.accept_pushpin_route);
    CHECK_STR(c.sig_iss, "pushpin");
    CHECK(c.sig_key == NULL);
    CHECK(c.upstream_key == NULL);
    CHECK_INT(c.workers, 0);
    CHECK(c.cdn_loop == NULL);
    CHECK_STR(c.push_in_http_addr, "127.0.0.1");
    CHECK_INT(c.push_in_http_port, 5561);
    CHECK_INT(c.push_in_http_max_headers_size, 10000);
    CHECK_INT(c.push_in_http_max_body_size, 1000000);
    CHECK_INT(c.message_rate, 0);
    CHECK_INT(c.message_hwm, 0);
    CHECK_INT(c.message_wait, 5000);
    CHECK_INT(c.id_cache_ttl, 0);
    CHECK(c.update_on_first_subscription);
    CHECK_INT(c.connection_subscription_max, 20);
    CHECK_INT(c.subscription_linger, 60);
    CHECK(c.publish_key == NULL);
    CHECK_STR(c.push_in_spec, "tcp://127.0.0.1:5560");
    CHECK_STR(c.push_in_sub_specs, "tcp://127.0.0.1:5562");
    CHECK_STR(c.command_spec, "tcp://127.0.0.1:5563");
    CHECK_STR(c.stats_spec, "ipc://{rundir}/{ipc_prefix}stats");
    CHECK(!c.push_in_sub_connect);
    {
        char *spec = tt_config_stats_spec(&c);
        CHECK_STR(spec, "ipc://run/pushpin-stats");
        free(spec);
    }
    CHECK_STR(c.stats_format, "tnetstring");
    CHECK_INT(c.stats_report_interval, 10);
    CHECK_INT(c.stats_connection_ttl, 120);
    CHECK_INT(c.stats_subscription_ttl, 60);
    CHECK(c.stats_connection_send);
    CHECK(c.prometheus_port == NULL && c.prometheus_prefix == NULL);
    CHECK_INT(c.head_timeout_ms, 10000);
    CHECK_INT(c.backend_response_timeout_ms, 600000);
    CHECK_INT(c.backend_idle_timeout_ms, 600000);
    CHECK_INT(c.subscriber_queue_max, 1048576);
    tt_config_deinit(&c);
    tt_config_deinit(&c); /* idempotent */
}

/* The parts of Debian's shipped pushpin.conf that matter, verbatim in syntax. */
static const char debian_conf[] = "[global]\n"
                                  "include={libdir}/internal.conf\n"
                                  "\n"
                                  "# directory to save runtime files\n"
                                  "rundir=/var/run/pushpin\n"
                                  "\n"
                                  "# prefix for zmq ipc specs\n"
                                  "ipc_prefix=pushpin-\n"
                                  "port_offset=0\n"
                                  "stats_connection_ttl=120\n"
                                  "\n"
                                  "\n"
                                  "[runner]\n"
                                  "services=condure,pushpin-proxy,pushpin-handler\n"
                                  "http_port=7999\n"
                                  "#https_ports=443\n"
                                  "#local_ports={rundir}/{ipc_prefix}server\n"
                                  "logdir=/var/log/pushpin\n"
                                  "log_level=2\n"
                                  "client_buffer_size=8192\n"
                                  "client_maxconn=50000\n"
                                  "condure_bin=condure\n"
                                  "\n"
                                  "[proxy]\n"
                                  "routesfile=routes\n"
                                  "debug=false\n"
                                  "auto_cross_origin=false\n"
                                  "accept_x_forwarded_protocol=false\n"
                                  "set_x_forwarded_protocol=proto-only\n"
                                  "# how to treat x-forwarded-for. example: \"truncate:0,append\"\n"
                                  "x_forwarded_for=\n"
                                  "x_forwarded_for_trusted=\n"
                                  "orig_headers_need_mark=\n"
                                  "accept_pushpin_route=false\n"
                                  "log_from=false\n"
                                  "log_user_agent=false\n"
                                  "sig_iss=pushpin\n"
                                  "sig_key=changeme\n"
                                  "upstream_key=\n"
                                  "sockjs_url=http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js\n"
                                  "updates_check=off\n"
                                  "organization_name=\n"
                                  "\n"
                                  "[handler]\n"
                                  "#ipc_file_mode=777\n"
                                  "push_in_spec=tcp://127.0.0.1:5560\n"
                                  "push_in_sub_specs=tcp://127.0.0.1:5562\n"
                                  "push_in_sub_connect=false\n"
                                  "push_in_http_addr=127.0.0.1\n"
                                  "push_in_http_port=5561\n"
                                  "push_in_http_max_headers_size=10000\n"
                                  "push_in_http_max_body_size=1000000\n"
                                  "stats_spec=ipc://{rundir}/{ipc_prefix}stats\n"
                                  "command_spec=tcp://127.0.0.1:5563\n"
                                  "message_rate=2500\n"
                                  "message_hwm=25000\n"
                                  "#message_block_size=\n"
                                  "message_wait=5000\n"
                                  "id_cache_ttl=60\n"
                                  "connection_subscription_max=20\n"
                                  "subscription_linger=60\n"
                                  "stats_subscription_ttl=60\n"
                                  "stats_report_interval=10\n"
                                  "stats_format=tnetstring\n";

static const char internal_conf[] = "[proxy]\n"
                                    "# internal specs\n"
                                    "stats_spec=ipc://{rundir}/{ipc_prefix}proxy-stats\n"
                                    "command_spec=ipc://{rundir}/{ipc_prefix}proxy-command\n"
                                    "sig_iss=from-internal\n"
                                    "debug=true\n"
                                    "[handler]\n"
                                    "command_spec=ipc://internal-should-lose\n"
                                    "message_wait=1234\n"
                                    "[runner]\n"
                                    "client_head_timeout=1234\n";

static void check_debian_values(const struct tt_config *c, const char *dir)
{
    char buf[600];
    CHECK_STR(c->rundir, "/var/run/pushpin");
    CHECK_STR(c->ipc_prefix, "pushpin-");
    CHECK_INT(c->num_http_ports, 1);
    CHECK_STR(c->http_ports[0].addr, "0.0.0.0");
    CHECK_INT(c->http_ports[0].port, 7999);
    CHECK_INT(c->log_level, 2);
    snprintf(buf, sizeof(buf), "%s/routes", dir);
    CHECK_STR(c->routesfile, buf);
    CHECK_STR(c->basedir, dir);
    CHECK_INT(c->set_x_forwarded_protocol, TT_XFP_PROTO_ONLY);
    CHECK_INT(c->xff.truncate, -1);
    CHECK(!c->xff.append);
    CHECK_STR(c->sig_iss, "pushpin");
    CHECK_STR(c->sig_key, "changeme");
    CHECK(c->upstream_key == NULL);
    CHECK_STR(c->push_in_spec, "tcp://127.0.0.1:5560");
    CHECK_STR(c->push_in_sub_specs, "tcp://127.0.0.1:5562");
    CHECK_STR(c->command_spec, "tcp://127.0.0.1:5563");
    CHECK_STR(c->stats_spec, "ipc:///var/run/pushpin/pushpin-stats");
    CHECK_INT(c->push_in_http_port, 5561);
    CHECK_INT(c->message_rate, 2500);
    CHECK_INT(c->message_hwm, 25000);
    CHECK_INT(c->id_cache_ttl, 60);
    CHECK(!c->accept_pushpin_route);
}

static void test_debian_installed(void)
{
    const char *path = "/etc/pushpin/pushpin.conf";
    if (access(path, R_OK) != 0) {
        printf("skip: %s not present\n", path);
        return;
    }
    struct tt_config c;
    char err[256] = "";
    tt_config_defaults(&c);
    int rc = tt_config_load(&c, path, err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_STR(c.path, path);
    check_debian_values(&c, "/etc/pushpin");
    /* the real internal.conf's [handler] has no message_wait: the default stays */
    CHECK_INT(c.message_wait, 5000);
    tt_config_deinit(&c);
}

static void test_debian_inline(void)
{
    struct tt_config c;
    char err[256] = "";
    write_file("internal.conf", internal_conf);
    write_file("pushpin.conf", debian_conf);
    tt_config_defaults(&c);
    c.libdir = strdup(tmpdir); /* caller-chosen {libdir} */
    int rc = tt_config_load(&c, tmp_path("pushpin.conf"), err, sizeof(err));
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    check_debian_values(&c, tmpdir);
    CHECK_STR(c.libdir, tmpdir);
    /* the include supplied what the main file lacks... */
    CHECK_INT(c.head_timeout_ms, 1234);
    /* ...but the main file wins where both set a key */
    CHECK(c.debug == false);
    CHECK_INT(c.message_wait, 5000);
    CHECK_STR(c.sig_iss, "pushpin");
    tt_config_deinit(&c);
}

static void test_include_rules(void)
{
    struct tt_config c;
    char err[512] = "";

    /* the main file wins even when include= comes after its keys */
    write_file("inc1.conf", "[handler]\nmessage_wait=1\nmessage_hwm=7\n");
    CHECK_INT(load(&c, "m1.conf", "[handler]\nmessage_wait=99\n[global]\ninclude=inc1.conf\n", err,
                   sizeof(err)),
              0);
    CHECK_INT(c.message_wait, 99);
    CHECK_INT(c.message_hwm, 7);
    tt_config_deinit(&c);

    /* nested includes, each relative to the including file */
    mkdir(tmp_path("sub"), 0700);
    write_file("sub/a.conf", "include=b.conf\n[handler]\nmessage_hwm=1\nmessage_rate=5\n");
    write_file("sub/b.conf", "[handler]\nmessage_hwm=2\nid_cache_ttl=3\nmessage_rate=6\n");
    CHECK_INT(load(&c, "m2.conf", "[global]\ninclude=sub/a.conf\n[handler]\nmessage_rate=9\n", err,
                   sizeof(err)),
              0);
    CHECK_INT(c.message_hwm, 1);  /* depth 1 beats depth 2 */
    CHECK_INT(c.id_cache_ttl, 3); /* only depth 2 has it */
    CHECK_INT(c.message_rate, 9); /* main beats both */
    tt_config_deinit(&c);

    /* a missing internal.conf is ignored */
    CHECK_INT(
        load(&c, "m3.conf", "[global]\ninclude=/nonexistent/dir/internal.conf\n", err, sizeof(err)),
        0);
    tt_config_deinit(&c);

    /* any other missing include is an error naming the include line */
    char expect[600];
    CHECK_INT(load(&c, "m4.conf", "[global]\n\ninclude=missing.conf\n", err, sizeof(err)),
              TT_ECONFIG);
    snprintf(expect, sizeof(expect), "%s:3: include %s: ", tmp_path("m4.conf"),
             tmp_path("missing.conf"));
    CHECK(strncmp(err, expect, strlen(expect)) == 0);
    if (strncmp(err, expect, strlen(expect)) != 0)
        fprintf(stderr, "  got [%s]\n  want prefix [%s]\n", err, expect);
    tt_config_deinit(&c);

    /* a syntax error inside an include names the included file */
    write_file("broken.conf", "[handler]\nthis line is bad\n");
    CHECK_INT(load(&c, "m5.conf", "[global]\ninclude=broken.conf\n", err, sizeof(err)), TT_ECONFIG);
    snprintf(expect, sizeof(expect), "%s:2: ", tmp_path("broken.conf"));
    CHECK(strncmp(err, expect, strlen(expect)) == 0);
    tt_config_deinit(&c);

    /* include loops end with an error, not a hang */
    CHECK_INT(load(&c, "loop.conf", "include=loop.conf\n", err, sizeof(err)), TT_ECONFIG);
    CHECK(strstr(err, "nested") != NULL);
    tt_config_deinit(&c);

    /* a bare "internal.conf" means the one in libdir; [global] libdir sets libdir */
    mkdir(tmp_path("lib"), 0700);
    write_file("lib/internal.conf", "[handler]\nsubscription_linger=11\n");
    char text[700];
    snprintf(text, sizeof(text), "[global]\nlibdir=%s\ninclude=internal.conf\n", tmp_path("lib"));
    CHECK_INT(load(&c, "m6.conf", text, err, sizeof(err)), 0);
    CHECK_INT(c.subscription_linger, 11);
    CHECK_STR(c.libdir, tmp_path("lib"));
    tt_config_deinit(&c);

    /* including a directory is an error */
    CHECK_INT(load(&c, "m7.conf", "include=sub\n", err, sizeof(err)), TT_ECONFIG);
    tt_config_deinit(&c);
}

static void test_substitution_and_paths(void)
{
    struct tt_config c;
    char err[512] = "";
    char text[1024];
    snprintf(text, sizeof(text),
             "[global]\n"
             "libdir=/opt/lib\n"
             "rundir={libdir}/run\n"
             "ipc_prefix=x-\n"
             "[proxy]\n"
             "routesfile=conf/routes\n"
             "sig_key=file:keys/sig.pem\n"
             "upstream_key=file:/abs/up.key\n"
             "cdn_loop=thumbtack\n"
             "[handler]\n"
             "stats_spec=ipc://{rundir}/{ipc_prefix}stats\n"
             "push_in_spec={unknown}\n"
             "publish_key=\"secret key\"\n");
    CHECK_INT(load(&c, "s.conf", text, err, sizeof(err)), 0);
    CHECK_STR(c.libdir, "/opt/lib");
    CHECK_STR(c.rundir, "/opt/lib/run");
    CHECK_STR(c.ipc_prefix, "x-");
    CHECK_STR(c.stats_spec, "ipc:///opt/lib/run/x-stats");
    CHECK_STR(c.push_in_spec, "{unknown}");
    CHECK_STR(c.routesfile, tmp_path("conf/routes"));
    char expect[600];
    snprintf(expect, sizeof(expect), "file:%s", tmp_path("keys/sig.pem"));
    CHECK_STR(c.sig_key, expect);
    CHECK_STR(c.upstream_key, "file:/abs/up.key");
    CHECK_STR(c.cdn_loop, "thumbtack");
    CHECK_STR(c.publish_key, "secret key");
    tt_config_deinit(&c);

    /* absolute routesfile kept; plain and base64 keys kept verbatim */
    CHECK_INT(load(&c, "s2.conf",
                   "[proxy]\nroutesfile=/etc/r\nsig_key=base64:YWJj\nupstream_key=plain\n", err,
                   sizeof(err)),
              0);
    CHECK_STR(c.routesfile, "/etc/r");
    CHECK_STR(c.sig_key, "base64:YWJj");
    CHECK_STR(c.upstream_key, "plain");
    tt_config_deinit(&c);

    /* a relative config path still yields absolute paths */
    char cwd[512];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK_INT(chdir(tmpdir), 0);
    write_file("rel.conf", "[proxy]\nroutesfile=routes\n");
    tt_config_defaults(&c);
    CHECK_INT(tt_config_load(&c, "rel.conf", err, sizeof(err)), 0);
    CHECK_STR(c.path, "rel.conf");
    CHECK_STR(c.routesfile, tmp_path("routes"));
    CHECK_INT(chdir(cwd), 0);
    tt_config_deinit(&c);
}

static void test_values(void)
{
    struct tt_config c;
    char err[512] = "";
    const char *text = "; semicolon comment\n"
                       "  # indented hash comment\n"
                       "[runner]\r\n"
                       "  http_port = 127.0.0.1:8000, [::1]:8001 ,9000  \r\n"
                       "log_level=3\n"
                       "client_buffer_size=16384\n"
                       "client_maxconn=10\n"
                       "client_head_timeout=2500\n"
                       "[ proxy ]\n"
                       "debug=TRUE\n"
                       "auto_cross_origin=yes\n"
                       "accept_x_forwarded_protocol=1\n"
                       "set_x_forwarded_protocol=true\n"
                       "x_forwarded_for=truncate:0,append\n"
                       "x_forwarded_for_trusted= append \n"
                       "log_from=true\n"
                       "log_user_agent=true\n"
                       "sig_iss=me\n"
                       "sig_key=\n"
                       "workers=4\n"
                       "accept_pushpin_route=true\n"
                       "backend_response_timeout=1500\n"
                       "backend_idle_timeout=0\n"
                       "unknown_key=whatever\n"
                       "[handler]\n"
                       "push_in_http_addr=0.0.0.0\n"
                       "push_in_http_port=6000\n"
                       "push_in_http_max_headers_size=123\n"
                       "push_in_http_max_body_size=456\n"
                       "update_on_first_subscription=false\n"
                       "connection_subscription_max=5\n"
                       "subscription_linger=0\n"
                       "subscriber_queue_bytes=65536\n"
                       "message_wait=\n"
                       "[unknownsection]\n"
                       "x=y\n";
    CHECK_INT(load(&c, "v.conf", text, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    CHECK_INT(c.num_http_ports, 3);
    CHECK_STR(c.http_ports[0].addr, "127.0.0.1");
    CHECK_INT(c.http_ports[0].port, 8000);
    CHECK_STR(c.http_ports[1].addr, "::1");
    CHECK_INT(c.http_ports[1].port, 8001);
    CHECK_STR(c.http_ports[2].addr, "0.0.0.0");
    CHECK_INT(c.http_ports[2].port, 9000);
    CHECK_INT(c.log_level, 3);
    CHECK_INT(c.client_buffer_size, 16384);
    CHECK_INT(c.client_maxconn, 10);
    CHECK_INT(c.head_timeout_ms, 2500);
    CHECK_INT(c.backend_response_timeout_ms, 1500);
    CHECK_INT(c.backend_idle_timeout_ms, 0);
    CHECK(c.debug && c.auto_cross_origin && c.accept_x_forwarded_protocol);
    CHECK_INT(c.set_x_forwarded_protocol, TT_XFP_TRUE);
    CHECK_INT(c.xff.truncate, 0);
    CHECK(c.xff.append);
    CHECK_INT(c.xff_trusted.truncate, -1);
    CHECK(c.xff_trusted.append);
    CHECK(c.log_from && c.log_user_agent && c.accept_pushpin_route);
    CHECK_STR(c.sig_iss, "me");
    CHECK(c.sig_key == NULL); /* empty: no Grip-Sig */
    CHECK_INT(c.workers, 4);
    CHECK_STR(c.push_in_http_addr, "0.0.0.0");
    CHECK_INT(c.push_in_http_port, 6000);
    CHECK_INT(c.push_in_http_max_headers_size, 123);
    CHECK_INT(c.push_in_http_max_body_size, 456);
    CHECK(!c.update_on_first_subscription);
    CHECK_INT(c.connection_subscription_max, 5);
    CHECK_INT(c.subscription_linger, 0);
    CHECK_INT(c.subscriber_queue_max, 65536);
    CHECK_INT(c.message_wait, 5000); /* empty value keeps the default */
    tt_config_deinit(&c);

    /* set_x_forwarded_protocol: anything else is off */
    CHECK_INT(
        load(&c, "x.conf", "[proxy]\nset_x_forwarded_protocol=proto-only\n", err, sizeof(err)), 0);
    CHECK_INT(c.set_x_forwarded_protocol, TT_XFP_PROTO_ONLY);
    tt_config_deinit(&c);
    CHECK_INT(load(&c, "x.conf", "[proxy]\nset_x_forwarded_protocol=false\n", err, sizeof(err)), 0);
    CHECK_INT(c.set_x_forwarded_protocol, TT_XFP_OFF);
    tt_config_deinit(&c);
}

/* Every value a config tuned for Pushpin may carry is accepted, with Pushpin's meaning. */
static void test_pushpin_values(void)
{
    struct tt_config c;
    char err[512] = "";
    const char *text = "[global]\n"
                       "stats_connection_ttl=-1\n"
                       "stats_connection_send=\n"
                       "[runner]\n"
                       "services=connmgr,proxy,handler\n"
                       "logdir=\n"
                       "log_level=1,proxy:3,condure:0\n"
                       "client_buffer_size=-1\n"
                       "client_maxconn=0\n"
                       "client_head_timeout=-5\n"
                       "https_ports=\n"
                       "local_ports=\n"
                       "zurl_bin=zurl\n"
                       "[proxy]\n"
                       "debug=on\n"
                       "auto_cross_origin=maybe\n"
                       "log_from=off\n"
                       "log_user_agent=no\n"
                       "x_forwarded_for=truncate:-1, bogus ,append\n"
                       "x_forwarded_for_trusted=truncate:x\n"
                       "orig_headers_need_mark=\n"
                       "workers=-1\n"
                       "max_open_requests=-1\n"
                       "backend_response_timeout=-1\n"
                       "sockjs_url=\n"
                       "updates_check=report\n"
                       "condure_in_specs=ipc://x\n"
                       "stats_report_interval=-1\n"
                       "[handler]\n"
                       "push_in_http_port=-1\n"
                       "push_in_http_max_headers_size=0\n"
                       "push_in_http_max_body_size=-1\n"
                       "message_rate=-1\n"
                       "message_hwm=-1\n"
                       "message_block_size=\n"
                       "message_wait=-1\n"
                       "id_cache_ttl=-1\n"
                       "connection_subscription_max=-1\n"
                       "subscription_linger=-1\n"
                       "subscriber_queue_bytes=0\n"
                       "stats_subscription_ttl=-1\n"
                       "stats_format=json\n"
                       "share_all=true\n"
                       "state_spec=\n"
                       "ipc_file_mode=777\n"
                       "push_in_sub_spec=tcp://127.0.0.1:7000\n"
                       "proxy_accept_spec=ipc://y\n";
    CHECK_INT(load(&c, "pp.conf", text, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    CHECK_INT(c.log_level, 3); /* the highest of the default and the proxy's/handler's */
    CHECK_INT(c.client_buffer_size, 8192); /* caps stay: <= 0 keeps the default */
    CHECK_INT(c.client_maxconn, 50000);
    CHECK_INT(c.head_timeout_ms, 10000);
    CHECK_INT(c.push_in_http_max_headers_size, 10000);
    CHECK_INT(c.push_in_http_max_body_size, 1000000);
    CHECK_INT(c.subscriber_queue_max, 1048576);
    CHECK(c.debug && c.auto_cross_origin); /* "maybe" is true, as Qt reads it */
    CHECK(!c.log_from && !c.log_user_agent);
    CHECK_INT(c.xff.truncate, -1); /* truncate:-1 = none; unknown items skipped */
    CHECK(c.xff.append);
    CHECK_INT(c.xff_trusted.truncate, -1);
    CHECK(!c.xff_trusted.append);
    CHECK_INT(c.workers, 0);                     /* one per CPU */
    CHECK_INT(c.backend_response_timeout_ms, 0); /* no limit */
    CHECK_INT(c.push_in_http_port, 0);           /* no publish API */
    CHECK_INT(c.message_rate, 0);                /* no limit */
    CHECK_INT(c.message_hwm, 0);
    CHECK_INT(c.message_wait, 0);
    CHECK_INT(c.id_cache_ttl, 0);
    CHECK_INT(c.connection_subscription_max, INT_MAX); /* negative: no limit, as Pushpin */
    CHECK_INT(c.subscription_linger, 0);
    CHECK_STR(c.push_in_sub_specs, "tcp://127.0.0.1:5562,tcp://127.0.0.1:7000");
    tt_config_deinit(&c);

    /* Signs and the list form of log_level. */
    CHECK_INT(load(&c, "s.conf", "[handler]\nmessage_rate=+25\n[runner]\nlog_level=proxy:1\n", err,
                   sizeof(err)),
              0);
    CHECK_INT(c.message_rate, 25);
    CHECK_INT(c.log_level, 2);
    tt_config_deinit(&c);
    CHECK_INT(load(&c, "s.conf", "[runner]\nlog_level=9\n", err, sizeof(err)), 0);
    CHECK_INT(c.log_level, 3);
    tt_config_deinit(&c);
    CHECK_INT(tt_config_parse_log_level("0"), 0);
    CHECK_INT(tt_config_parse_log_level(" 1 , handler:2"), 2);
    CHECK_INT(tt_config_parse_log_level("x"), -1);
    CHECK_INT(tt_config_parse_log_level(""), -1);

    /* The offset moves the merged push_in_sub_spec too. */
    CHECK_INT(load(&c, "o.conf",
                   "[global]\nport_offset=10\n[handler]\npush_in_sub_specs=\n"
                   "push_in_sub_spec=tcp://127.0.0.1:7000\n",
                   err, sizeof(err)),
              0);
    CHECK_STR(c.push_in_sub_specs, "tcp://127.0.0.1:7010");
    tt_config_deinit(&c);
}

static void test_port_offset(void)
{
    struct tt_config c;
    char err[512] = "";
    CHECK_INT(load(&c, "po.conf",
                   "[global]\nport_offset=10\n"
                   "[runner]\nhttp_port=7999\n"
                   "[handler]\n"
                   "push_in_spec=tcp://127.0.0.1:5560\n"
                   "push_in_sub_specs=tcp://127.0.0.1:5562,ipc://run/x,tcp://[::1]:5570\n"
                   "command_spec=tcp://*:5563\n"
                   "stats_spec=ipc://{rundir}/{ipc_prefix}stats\n",
                   err, sizeof(err)),
              0);
    CHECK_INT(c.port_offset, 10);
    CHECK_INT(c.http_ports[0].port, 7999); /* client ports do not move */
    CHECK_INT(c.push_in_http_port, 5571);  /* default 5561 + 10 */
    CHECK_STR(c.push_in_spec, "tcp://127.0.0.1:5570");
    CHECK_STR(c.push_in_sub_specs, "tcp://127.0.0.1:5572,ipc://run/x,tcp://[::1]:5580");
    CHECK_STR(c.command_spec, "tcp://*:5573");
    CHECK_STR(c.stats_spec, "ipc://run/pushpin-stats");
    tt_config_deinit(&c);

    CHECK_INT(load(&c, "po2.conf", "[global]\nport_offset=70000\n", err, sizeof(err)), TT_ECONFIG);
    tt_config_deinit(&c);
    CHECK_INT(load(&c, "po3.conf", "[global]\nport_offset=-1\n", err, sizeof(err)), 0);
    CHECK_INT(c.push_in_http_port, 5560);
    tt_config_deinit(&c);

    /* --id N: its ipc_prefix wins over the file's, in every value that names it. */
    write_file("po6.conf", "[global]\nipc_prefix=file-\nrundir=/r\n"
                           "[handler]\nstats_spec=ipc://{rundir}/{ipc_prefix}stats\n"
                           "prometheus_port=ipc://{rundir}/{ipc_prefix}metrics\n");
    tt_config_defaults(&c);
    c.ipc_prefix_override = "7-";
    CHECK_INT(tt_config_load(&c, tmp_path("po6.conf"), err, sizeof(err)), 0);
    CHECK_STR(c.ipc_prefix, "7-");
    CHECK_STR(c.stats_spec, "ipc:///r/7-stats");
    CHECK_STR(c.prometheus_port, "ipc:///r/7-metrics");
    tt_config_deinit(&c);

    /* --id N: the publish port and every tcp:// spec move by 10*N. */
    CHECK_INT(load(&c, "po5.conf", "[handler]\npush_in_sub_specs=ipc://x,tcp://h:6000\n", err,
                   sizeof(err)),
              0);
    CHECK_INT(tt_config_add_port_offset(&c, 20), 0);
    CHECK_INT(c.push_in_http_port, 5581);
    CHECK_STR(c.push_in_spec, "tcp://127.0.0.1:5580");
    CHECK_STR(c.push_in_sub_specs, "ipc://x,tcp://h:6020");
    CHECK_STR(c.command_spec, "tcp://127.0.0.1:5583");
    CHECK_INT(tt_config_add_port_offset(&c, 60000), TT_ECONFIG);
    CHECK_STR(c.push_in_spec, "tcp://127.0.0.1:5580"); /* unchanged */
    tt_config_deinit(&c);

    /* Absent ZMQ specs take the shipped defaults, moved by port_offset; empty turns one off. */
    CHECK_INT(load(&c, "po4.conf",
                   "[global]\nport_offset=5\n[handler]\ncommand_spec=\npush_in_sub_connect=true\n",
                   err, sizeof(err)),
              0);
    CHECK_STR(c.push_in_spec, "tcp://127.0.0.1:5565");
    CHECK_STR(c.push_in_sub_specs, "tcp://127.0.0.1:5567");
    CHECK(c.command_spec == NULL);
    CHECK(c.push_in_sub_connect);
    tt_config_deinit(&c);
}

static void test_parse_ports(void)
{
    struct tt_listen_addr out[TT_MAX_LISTEN];
    int n = -1;
    CHECK_INT(tt_config_parse_ports("80", out, TT_MAX_LISTEN, &n), 0);
    CHECK_INT(n, 1);
    CHECK_STR(out[0].addr, "0.0.0.0");
    CHECK_INT(out[0].port, 80);
    CHECK_INT(tt_config_parse_ports("[::]:1,10.1.2.3:65535", out, TT_MAX_LISTEN, &n), 0);
    CHECK_INT(n, 2);
    CHECK_STR(out[0].addr, "::");
    CHECK_INT(out[0].port, 1);
    CHECK_STR(out[1].addr, "10.1.2.3");
    CHECK_INT(out[1].port, 65535);

    /* failures leave out and count alone */
    const char *bad[] = {"",        "0",     "65536",    "x",       "80,",          ",80",
                         "::1:80",  "[::1]", "[::1]:",   "[::1]80", "[1.2.3.4]:80", "1.2.3:80",
                         "host:80", ":80",   "1.2.3.4:", "[zz]:80", "-1",           "80 80"};
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        n = 42;
        int rc = tt_config_parse_ports(bad[i], out, TT_MAX_LISTEN, &n);
        CHECK_INT(rc, TT_ECONFIG);
        CHECK_INT(n, 42);
        if (rc == 0)
            fprintf(stderr, "  accepted [%s]\n", bad[i]);
    }
    CHECK_STR(out[0].addr, "::");
    CHECK_INT(tt_config_parse_ports("1,2,3", out, 2, &n), TT_ECONFIG);
    CHECK_INT(tt_config_parse_ports("1,2", out, 2, &n), 0);
    CHECK_INT(n, 2);
}

static void expect_error(const char *text, int line, const char *reason)
{
    struct tt_config c;
    char err[512] = "";
    write_file("e.conf", text);
    tt_config_defaults(&c);
    int rc = tt_config_load(&c, tmp_path("e.conf"), err, sizeof(err));
    CHECK_INT(rc, TT_ECONFIG);
    char expect[600];
    snprintf(expect, sizeof(expect), "%s:%d: ", tmp_path("e.conf"), line);
    bool ok = strncmp(err, expect, strlen(expect)) == 0 && strstr(err, reason);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  text [%s]\n  got [%s]\n  want [%s...%s]\n", text, err, expect, reason);
    /* a failed load leaves the config as it was */
    CHECK_INT(c.message_wait, 5000);
    CHECK_STR(c.rundir, "run");
    CHECK(c.path == NULL);
    tt_config_deinit(&c);
}

static void test_errors(void)
{
    expect_error("[runner]\nhttp_port 7999\n", 2, "key=value");
    expect_error("[handler]\nmessage_wait=1\n[runner\n", 3, "section");
    expect_error("[]\n", 1, "section");
    expect_error("=value\n", 1, "empty key");
    expect_error("[handler]\n\n\nmessage_wait=5s\n", 4, "message_wait");
    expect_error("[handler]\nmessage_wait=--5\n", 2, "invalid number");
    expect_error("[runner]\nlog_level=-1\n", 2, "log_level");
    expect_error("[runner]\nlog_level=2,:3\n", 2, "log_level");
    expect_error("[runner]\nlog_level=2,,3\n", 2, "log_level");
    expect_error("[global]\nport_offset=+\n", 2, "port_offset");
    expect_error("[handler]\npush_in_http_port=70000\n", 2, "invalid number");
    expect_error("[runner]\nclient_maxconn=99999999999999\n", 2, "invalid number");
    expect_error("[runner]\nhttp_port=7999,abc\n", 2, "http_port");
    expect_error("[global]\nport_offset=ten\n", 2, "port_offset");
    expect_error("[handler]\nmessage_wait=1\nmessage_wait=x\n", 3, "message_wait");

    struct tt_config c;
    char err[256] = "x";
    tt_config_defaults(&c);
    CHECK_INT(tt_config_load(&c, "/nonexistent/pushpin.conf", err, sizeof(err)), TT_ECONFIG);
    CHECK(strstr(err, "/nonexistent/pushpin.conf") == err);
    /* a directory is not a config file */
    CHECK_INT(tt_config_load(&c, tmpdir, err, sizeof(err)), TT_ECONFIG);
    /* a NULL or tiny err buffer is fine */
    CHECK_INT(tt_config_load(&c, "/nonexistent/pushpin.conf", NULL, 0), TT_ECONFIG);
    CHECK_INT(tt_config_load_text(&c, "bad\n", 4, NULL, err, 4), TT_ECONFIG);
    CHECK_INT(strlen(err), 3);
    tt_config_deinit(&c);
}

static void test_load_text(void)
{
    struct tt_config c;
    char err[256] = "";
    tt_config_defaults(&c);
    const char text[] = "[handler]\nmessage_wait=7\n[proxy]\nroutesfile=r\n";
    CHECK_INT(tt_config_load_text(&c, text, sizeof(text) - 1, NULL, err, sizeof(err)), 0);
    CHECK_INT(c.message_wait, 7);
    CHECK(c.path == NULL);
    char cwd[512], expect[600];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(expect, sizeof(expect), "%s/r", cwd);
    CHECK_STR(c.routesfile, expect);

    /* loading again over a loaded config replaces strings without leaking */
    CHECK_INT(tt_config_load_text(&c, text, sizeof(text) - 1, "/x/y.conf", err, sizeof(err)), 0);
    CHECK_STR(c.routesfile, "/x/r");
    CHECK_STR(c.path, "/x/y.conf");
    CHECK_STR(c.basedir, "/x");

    CHECK_INT(tt_config_load_text(&c, "oops", 4, NULL, err, sizeof(err)), TT_ECONFIG);
    CHECK_STR(err, "<text>:1: expected key=value, [section] or comment");
    CHECK_STR(c.path, "/x/y.conf"); /* untouched */

    /* embedded NUL */
    CHECK_INT(tt_config_load_text(&c, "a=b\n\0\n", 6, NULL, err, sizeof(err)), TT_ECONFIG);
    CHECK(strstr(err, "<text>:2:") == err);
    /* empty text is fine */
    CHECK_INT(tt_config_load_text(&c, "", 0, NULL, err, sizeof(err)), 0);
    tt_config_deinit(&c);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tt_config_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

TT_TEST_MAIN(setup, test_defaults, test_debian_installed, test_debian_inline, test_include_rules,
             test_substitution_and_paths, test_values, test_pushpin_values, test_port_offset,
             test_parse_ports, test_errors, test_load_text, cleanup)
