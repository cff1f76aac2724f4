/* main.c: command line, configuration, routes loading and reload, signals, and the
 * wiring of the control thread and the workers. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/log.h"
#include "h2/h2.h"
#include "hold/hold.h"
#include "net/tls.h"
#include "websocket/session.h"
#include "proxy/server.h"
#include "publish/api.h"
#include "stats/stats.h"
#include "websocket/registry.h"
#include "zmq/hub.h"
#include "zmq/inputs.h"
#include "pubsub/control.h"

#define TT_VERSION "0.1.0"

static struct tt_server srv;
static struct tt_stats *stats;
static uv_loop_t *main_loop;
static uv_fs_poll_t routes_watch;
static bool routes_watch_on;
static const char *log_path;
/* What the command line fixed, so that a reload of the config file applies it again. */
static struct {
    const char *config_path;
    char *ports;
    int loglevel, id, workers;
} cli = {NULL, NULL, -1, -1, -1};

/* A whole-string decimal option value in [0, max]; -1 if it is not one. */
static int option_int(const char *name, const char *v, int max)
{
    int64_t n = tt_parse_uint(v, strlen(v), max);
    if (n < 0)
        fprintf(stderr, "thumbtack: --%s needs a number from 0 to %d, not \"%s\"\n", name, max,
                v);
    return (int)n;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: thumbtack [options]\n"
               "A GRIP reverse proxy, compatible with Pushpin's configuration.\n\n"
               "  --config FILE        pushpin.conf to read (default: ./config/pushpin.conf,\n"
               "                       ./pushpin.conf, else built-in defaults)\n"
               "  --logfile FILE       log to FILE instead of stderr\n"
               "  --loglevel N         0 error, 1 warning, 2 info (default), 3 debug\n"
               "  --verbose            same as --loglevel 3\n"
               "  --port [ADDR:]PORT   listen here instead of the configured http_port\n"
               "                       (repeatable)\n"
               "  --route LINE         use this route instead of the routes file (repeatable)\n"
               "  --id N               instance id: ipc_prefix N- and port offset 10*N\n"
               "  --workers N          worker threads (default: [proxy] workers, else one\n"
               "                       per CPU)\n"
               "  --help, --version\n");
}

/* The publish API's callbacks, on the control thread. */
static void publish_items(void *ctx, struct tt_pub_item *items, size_t n)
{
    tt_control_publish(ctx, items, n);
}

static void recover(void *ctx)
{
    tt_control_recover(ctx);
}

static void stop_api(void *api)
{
    tt_pub_api_stop(api);
}

static void stop_zmq(void *zin)
{
    tt_zmq_inputs_stop(zin);
}

/* conncheck and refresh need every worker: the stats module asks them. */
static void conncheck(void *ctx, struct tt_zmq_cmd *cmd, const char *const *ids, const size_t *lens,
                      size_t n)
{
    (void)ctx;
    tt_stats_conncheck(stats, cmd, ids, lens, n);
}

static void refresh(void *ctx, struct tt_zmq_cmd *cmd, const char *cid, size_t cid_len,
                    const char *channel, size_t channel_len)
{
    (void)ctx;
    tt_stats_refresh(stats, cmd, cid, cid_len, channel, channel_len);
}

/* The run directory holds the ipc sockets (stats by default): Pushpin's runner makes it. */
static void make_rundir(const char *dir)
{
    if (dir && dir[0] && mkdir(dir, 0755) != 0 && errno != EEXIST)
        tt_warn("cannot create rundir %s: %s", dir, strerror(errno));
}

/* SUB topics follow the channels that have subscribers here. */
static void channel_changed(void *zin, const char *channel, bool subscribed, bool linger)
{
    tt_zmq_inputs_set_subscribed(zin, channel, subscribed, linger);
}

static void warn_route(void *ctx, int line, const char *msg)
{
    (void)ctx;
    tt_warn("routes: line %d: %s", line, msg);
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size > 16 * 1024 * 1024) {
        fclose(f);
        return -EFBIG;
    }
    char *b = tt_malloc((size_t)st.st_size + 1);
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    fclose(f);
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

/* Build a routes snapshot from --route lines, the routes file, or the default "* test".
 * A file with errors is refused when `strict` (reloads keep the old routes). */
static struct tt_routes *load_routes(bool strict)
{
    int errors = 0;
    struct tt_routes *r;
    if (srv.route_lines) {
        r = tt_routes_from_lines(srv.route_lines, srv.num_route_lines, warn_route, NULL, &errors);
    } else if (srv.cfg.routesfile) {
        char *text = NULL;
        size_t len = 0;
        int e = read_file(srv.cfg.routesfile, &text, &len);
        if (e < 0) {
            tt_err("routes: cannot read %s: %s", srv.cfg.routesfile, strerror(-e));
            return NULL;
        }
        r = tt_routes_parse(text, len, warn_route, NULL, &errors);
        free(text);
    } else {
        char *def = "* test";
        r = tt_routes_from_lines(&def, 1, warn_route, NULL, &errors);
    }
    if (r && errors && strict) {
        tt_err("routes: %d invalid line(s); keeping the previous routes", errors);
        tt_routes_unref(r);
        return NULL;
    }
    return r;
}

/* The zhttp targets a snapshot names: their sockets are bound before any request. */
static void zhttp_targets(const struct tt_routes *r)
{
    if (!srv.zhub || !r)
        return;
    char **keys = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->num_routes; i++) {
        const struct tt_route *rt = &r->routes[i];
        for (size_t k = 0; k < rt->num_targets; k++) {
            const struct tt_route_target *t = &rt->targets[k];
            if ((t->type != TT_TARGET_ZHTTP && t->type != TT_TARGET_ZHTTPREQ) || !t->zhttp_spec)
                continue;
            char key[600];
            tt_zhub_key(t->type == TT_TARGET_ZHTTPREQ, t->zhttp_spec, key, sizeof(key));
            keys = tt_realloc(keys, (n + 1) * sizeof(*keys));
            keys[n++] = tt_strdup(key);
        }
    }
    tt_zhub_set_targets(srv.zhub, keys, n);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static void reload_routes(void)
{
    struct tt_routes *r = load_routes(true);
    if (!r)
        return;
    uv_mutex_lock(&srv.routes_lock);
    struct tt_routes *old = srv.routes;
    srv.routes = r;
    uv_mutex_unlock(&srv.routes_lock);
    for (int i = 0; i < srv.num_workers; i++) {
        tt_routes_ref(r);
        tt_worker_post(&srv.workers[i], TT_WORKER_ROUTES, r);
    }
    zhttp_targets(r);
    tt_routes_unref(old);
    tt_info("routes: reloaded (%zu routes)", r->num_routes);
}

static void on_routes_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                              const uv_stat_t *curr)
{
    (void)h;
    (void)prev;
    (void)curr;
    if (status == 0)
        reload_routes();
}

static void on_routes_changed(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                              const uv_stat_t *curr);
static void log_memory(void);

static void watch_routes(void)
{
    if (routes_watch_on) {
        uv_fs_poll_stop(&routes_watch);
    } else {
        uv_fs_poll_init(main_loop, &routes_watch);
        routes_watch_on = true;
    }
    if (!srv.route_lines && srv.cfg.routesfile)
        uv_fs_poll_start(&routes_watch, on_routes_changed, srv.cfg.routesfile, 1000);
}

/* The command line's overrides, applied to a freshly loaded config (start-up and reload). */
static int apply_cli(struct tt_config *cfg)
{
    if (cli.ports && tt_config_parse_ports(cli.ports, cfg->http_ports, TT_MAX_LISTEN,
                                           &cfg->num_http_ports) != 0) {
        fprintf(stderr, "thumbtack: invalid --port value: %s\n", cli.ports);
        return 2;
    }
    if (cli.id >= 0) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%d-", cli.id);
        free(cfg->ipc_prefix);
        cfg->ipc_prefix = tt_strdup(prefix);
        if (tt_config_add_port_offset(cfg, 10 * cli.id) != 0) {
            fprintf(stderr, "thumbtack: --id %d moves a port out of range\n", cli.id);
            return 2;
        }
    }
    if (cli.workers > 0)
        cfg->workers = cli.workers;
    if (cli.loglevel >= 0)
        cfg->log_level = cli.loglevel;
    return 0;
}

/* SIGHUP: what may change while running does (log_level, routesfile: see README); any
 * other key that changed is named in the log with a pointer to the restart procedure. */
static void on_key_changed(void *ctx, const char *section, const char *key)
{
    struct tt_config *fresh = ctx;
    if (strcmp(key, "log_level") == 0) {
        tt_info("config: log_level %d -> %d", srv.cfg.log_level, fresh->log_level);
        srv.cfg.log_level = fresh->log_level;
        tt_log_set_level(fresh->log_level);
    } else if (strcmp(key, "routesfile") == 0) {
        tt_info("config: routesfile %s -> %s", srv.cfg.routesfile ? srv.cfg.routesfile : "-",
                fresh->routesfile ? fresh->routesfile : "-");
        free(srv.cfg.routesfile);
        srv.cfg.routesfile = fresh->routesfile ? tt_strdup(fresh->routesfile) : NULL;
        watch_routes();
    } else {
        tt_warn("config: [%s] %s changed; it takes effect at the next start (README: "
                "\"Restarting without dropping requests\")",
                section, key);
    }
}

static void reload_config(void)
{
    if (!cli.config_path)
        return;
    struct tt_config fresh;
    tt_config_defaults(&fresh);
    fresh.ipc_prefix_override = srv.cfg.ipc_prefix_override;
    char err[512];
    if (tt_config_load(&fresh, cli.config_path, err, sizeof(err)) != 0) {
        tt_err("config: %s; keeping the running configuration", err);
    } else if (apply_cli(&fresh) == 0) {
        tt_config_diff(&srv.cfg, &fresh, on_key_changed, &fresh);
    }
    tt_config_deinit(&fresh);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (signum == SIGUSR1) {
        log_memory();
        return;
    }
    if (signum == SIGHUP) {
        tt_info("SIGHUP: reloading the configuration, the routes and the certificates");
        if (srv.tls) {
            char err[512];
            if (tt_tls_server_reload(srv.tls, err, sizeof(err)) != 0)
                tt_err("tls: %s; keeping the previous certificates", err);
            else
                tt_info("tls: %zu certificate(s) reloaded", tt_tls_server_count(srv.tls));
        }
        if (log_path)
            tt_log_open(log_path);
        reload_config();
        reload_routes();
        return;
    }
    tt_info("signal %d: stopping", signum);
    uv_stop(main_loop);
}

/* Is someone already listening on one of our client ports? Then this process is the new
 * half of a hand-over (README: "Restarting without dropping requests"): the old one still
 * holds the publish inputs, which cannot be shared, and lets go of them at its SIGTERM. */
static bool client_port_taken(const struct tt_config *cfg)
{
    for (int i = 0; i < cfg->num_http_ports; i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        const char *addr = cfg->http_ports[i].addr[0] ? cfg->http_ports[i].addr : "0.0.0.0";
        if (uv_ip4_addr(addr, cfg->http_ports[i].port, (struct sockaddr_in *)&ss) != 0 &&
            uv_ip6_addr(addr, cfg->http_ports[i].port, (struct sockaddr_in6 *)&ss) != 0)
            continue;
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        socklen_t len =
            ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        bool taken = bind(fd, (struct sockaddr *)&ss, len) < 0 && errno == EADDRINUSE;
        close(fd);
        if (taken)
            return true;
    }
    return false;
}

#define HANDOVER_WAIT_MS 30000

/* Every TRIM_PERIOD_MS the allocator gives free pages back to the system. Connections,
 * messages and buffers of every size come and go on several threads; glibc keeps the
 * pages they freed inside its arenas, so without this RSS creeps up to the high-water mark
 * of fragmentation even though the memory in use stays flat (make soak shows both). */
#define TRIM_PERIOD_MS 10000

static void on_trim(uv_timer_t *t)
{
    (void)t;
    malloc_trim(0);
}

/* SIGUSR1: one log line on memory, for operators and for make soak, which compares the
 * bytes in use (leaks) apart from what the allocator holds (fragmentation). */
static void log_memory(void)
{
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    tt_warn("memory: heap in use %zu bytes, allocator arenas %zu bytes (%zu free), mmapped "
            "%zu bytes",
            mi.uordblks + mi.hblkhd, mi.arena, mi.fordblks, mi.hblkhd);
}

static const char *find_config(void)
{
    static const char *const candidates[] = {"config/pushpin.conf", "pushpin.conf"};
    for (size_t i = 0; i < TT_ARRAY_LEN(candidates); i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return NULL;
}

int main(int argc, char **argv)
{
    enum { O_CONFIG = 1, O_LOGFILE, O_LOGLEVEL, O_VERBOSE, O_PORT, O_ROUTE, O_ID, O_WORKERS,
           O_HELP, O_VERSION };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"logfile", required_argument, NULL, O_LOGFILE},
        {"loglevel", required_argument, NULL, O_LOGLEVEL},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"port", required_argument, NULL, O_PORT},
        {"route", required_argument, NULL, O_ROUTE},
        {"id", required_argument, NULL, O_ID},
        {"workers", required_argument, NULL, O_WORKERS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *logfile = NULL;
    int loglevel = -1, id = -1, workers = -1;
    char *ports = NULL;
    int c;
    main_loop = uv_default_loop();
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG:
            config_path = optarg;
            break;
        case O_LOGFILE:
            logfile = optarg;
            break;
        case O_LOGLEVEL:
            if ((loglevel = tt_config_parse_log_level(optarg)) < 0) {
                fprintf(stderr,
                        "thumbtack: --loglevel needs a level >= 0 (or N,service:M,...), "
                        "not \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case O_VERBOSE:
            loglevel = 3;
            break;
        case O_PORT: {
            size_t n = ports ? strlen(ports) : 0, m = strlen(optarg);
            ports = tt_realloc(ports, n + m + 2);
            if (n)
                ports[n++] = ',';
            memcpy(ports + n, optarg, m + 1);
            break;
        }
        case O_ROUTE:
            srv.route_lines =
                tt_realloc(srv.route_lines, (srv.num_route_lines + 1) * sizeof(char *));
            srv.route_lines[srv.num_route_lines++] = optarg;
            break;
        case O_ID:
            if ((id = option_int("id", optarg, 999)) < 0)
                return 2;
            break;
        case O_WORKERS:
            if ((workers = option_int("workers", optarg, 64)) < 0)
                return 2;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        case O_VERSION:
            printf("thumbtack %s\n", TT_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "thumbtack: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tt_config_defaults(&srv.cfg);
    char id_prefix[32];
    if (id >= 0) {
        snprintf(id_prefix, sizeof(id_prefix), "%d-", id);
        srv.cfg.ipc_prefix_override = id_prefix;
    }
    if (!config_path)
        config_path = find_config();
    if (config_path) {
        char err[512];
        if (tt_config_load(&srv.cfg, config_path, err, sizeof(err)) != 0) {
            fprintf(stderr, "thumbtack: %s\n", err);
            return 1;
        }
    }
    cli.config_path = config_path;
    cli.ports = ports;
    cli.loglevel = loglevel;
    cli.id = id;
    cli.workers = workers;
    int cli_rc = apply_cli(&srv.cfg);
    if (cli_rc != 0)
        return cli_rc;
    tt_log_set_level(srv.cfg.log_level);
    if (logfile) {
        log_path = logfile;
        if (tt_log_open(logfile) != 0) {
            fprintf(stderr, "thumbtack: cannot open log file %s: %s\n", logfile, strerror(errno));
            return 1;
        }
    }
    srv.num_workers = srv.cfg.workers > 0 ? srv.cfg.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (srv.num_workers < 1)
        srv.num_workers = 1;
    if (srv.num_workers > 64)
        srv.num_workers = 64;
    char err[256];
    if (srv.cfg.sig_key && srv.cfg.sig_key[0] &&
        tt_key_parse(srv.cfg.sig_key, srv.cfg.basedir, &srv.sig_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "thumbtack: sig_key: %s\n", err);
        return 1;
    }
    if (srv.cfg.upstream_key && srv.cfg.upstream_key[0] &&
        tt_key_parse(srv.cfg.upstream_key, srv.cfg.basedir, &srv.upstream_key, err,
                     sizeof(err)) != 0) {
        fprintf(stderr, "thumbtack: upstream_key: %s\n", err);
        return 1;
    }
    if (srv.cfg.num_https_ports > 0) {
        /* Pushpin's layout: <dir of pushpin.conf>/runner/certs. */
        char dir[4096];
        if (srv.cfg.tls_certs_dir)
            snprintf(dir, sizeof(dir), "%s", srv.cfg.tls_certs_dir);
        else
            snprintf(dir, sizeof(dir), "%s/runner/certs", srv.cfg.basedir ? srv.cfg.basedir : ".");
        char terr[512];
        if (tt_tls_server_new(dir, srv.cfg.http2, &srv.tls, terr, sizeof(terr)) != 0) {
            fprintf(stderr, "thumbtack: https_ports: %s\n", terr);
            return 1;
        }
    }
    uv_mutex_init(&srv.routes_lock);
    tt_lastids_init(&srv.last_ids);
    srv.grip_start = tt_hold_start;
    srv.ws_start = tt_ws_session_start;
    if (srv.cfg.http2)
        srv.h2_start = tt_h2_start;
    srv.routes = load_routes(false);
    if (!srv.routes)
        return 1;

    /* Signals are caught from before the first port opens (handled once the main loop
     * runs): a SIGHUP sent as soon as the port answers must not kill the process. */
    uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
    uv_signal_init(main_loop, &sig_term);
    uv_signal_init(main_loop, &sig_int);
    uv_signal_init(main_loop, &sig_hup);
    uv_signal_init(main_loop, &sig_usr1);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_signal_start(&sig_usr1, on_signal, SIGUSR1);

    /* The control thread's inbox exists before the workers can report to it; the workers
     * exist before the control thread can post to them. */
    struct tt_control *ctl = tt_control_new(&srv.cfg, &srv.last_ids);
    srv.control = ctl;
    srv.control_inbox = tt_control_inbox(ctl);
    /* The zhttp hub exists before the workers (they post to it); it learns their inboxes
     * when its thread starts. */
    struct tt_inbox **inboxes = tt_calloc((size_t)srv.num_workers, sizeof(*inboxes));
    snprintf(srv.instance_id, sizeof(srv.instance_id), "thumbtack_%d", (int)getpid());
    srv.zhub = tt_zhub_new(srv.instance_id, inboxes, srv.num_workers, TT_WORKER_ZHTTP);
    /* The stats module's inbox, on the control loop, exists before the workers too. */
    stats = tt_stats_new(tt_control_loop(ctl), &srv.cfg, srv.instance_id, srv.num_workers);
    tt_control_add_input(ctl, tt_stats_stop, stats);
    srv.stats_inbox = tt_stats_inbox(stats);
    srv.stats_conns_wanted = tt_stats_conns_wanted(stats);
    srv.ws_alive = tt_ws_registry_alive;
    srv.ws_refresh = tt_ws_registry_refresh;
    srv.ws_refresh_channel = tt_ws_registry_refresh_channel;
    make_rundir(srv.cfg.rundir);
    bool handover = client_port_taken(&srv.cfg);
    if (handover)
        tt_info("hand-over: the client ports are in use already; sharing them (SO_REUSEPORT)");
    int r = tt_workers_start(&srv);
    if (r != 0) {
        fprintf(stderr, "thumbtack: cannot start workers: %s\n", tt_strerror(r));
        return 1;
    }
    for (int i = 0; i < srv.cfg.num_http_ports; i++)
        tt_info("listening on %s:%u (%d workers)", srv.cfg.http_ports[i].addr,
                srv.cfg.http_ports[i].port, srv.num_workers);
    for (int i = 0; i < srv.cfg.num_https_ports; i++)
        tt_info("listening on %s:%u (TLS, %zu certificates)", srv.cfg.https_ports[i].addr,
                srv.cfg.https_ports[i].port, tt_tls_server_count(srv.tls));
    for (int i = 0; i < srv.num_workers; i++)
        inboxes[i] = &srv.workers[i].inbox;
    tt_stats_set_workers(stats, inboxes, srv.num_workers, TT_WORKER_CONNQ);
    zhttp_targets(srv.routes);
    if (tt_zhub_start(srv.zhub) != 0) {
        fprintf(stderr, "thumbtack: cannot start the zhttp thread\n");
        return 1;
    }
    struct tt_pub_api *api = NULL;
    struct tt_zmq_inputs *zin = NULL;
    /* The publish inputs bind exclusively. In a hand-over the old process still holds
     * them: wait until it lets go (its SIGTERM), serving clients meanwhile. */
    uint64_t wait_until = handover ? tt_now_ms() + HANDOVER_WAIT_MS : 0;
    bool waited = false;
    for (;;) {
        /* push_in_http_port <= 0 turns the HTTP publish API off, as -1 does in Pushpin. */
        if (!api && srv.cfg.push_in_http_port > 0)
            r = tt_pub_api_start(tt_control_loop(ctl), &srv.cfg, publish_items, recover, ctl, &api);
        else
            r = 0;
        if (r == 0)
            r = tt_zmq_inputs_start(tt_control_loop(ctl), &srv.cfg, publish_items, recover, ctl,
                                    &zin);
        if (r != -EADDRINUSE || tt_now_ms() >= wait_until)
            break;
        if (!waited)
            tt_info("hand-over: another process holds the publish inputs; waiting up to %d s "
                    "for it to stop",
                    HANDOVER_WAIT_MS / 1000);
        waited = true;
        uv_sleep(100);
    }
    if (waited && r == 0)
        tt_info("hand-over: publish inputs taken over");
    if (api)
        tt_control_add_input(ctl, stop_api, api);
    if (r == 0) {
        tt_control_add_input(ctl, stop_zmq, zin);
        tt_control_set_channel_hook(ctl, channel_changed, zin);
        tt_zmq_inputs_set_conn_hooks(zin, conncheck, refresh);
        tt_control_set_publish_hook(ctl, tt_stats_on_publish, stats);
        tt_stats_set_sources(stats, ctl, zin);
        r = tt_stats_start(stats, &srv.cfg);
        if (r != 0)
            fprintf(stderr, "thumbtack: cannot start the stats outputs: %s\n", tt_strerror(r));
    }
    if (r == 0)
        r = tt_control_start(ctl, inboxes, srv.num_workers);
    if (r != 0) {
        fprintf(stderr, "thumbtack: cannot start the publish inputs (API on %s:%d): %s\n",
                srv.cfg.push_in_http_addr, srv.cfg.push_in_http_port, tt_strerror(r));
        tt_workers_stop(&srv);
        tt_zhub_free(srv.zhub);
        tt_workers_free(&srv);
        tt_control_free(ctl);
        tt_stats_free(stats);
        free(inboxes);
        return 1;
    }
    if (api)
        tt_info("publish API on %s:%d", srv.cfg.push_in_http_addr, srv.cfg.push_in_http_port);
    else
        tt_info("publish API off (push_in_http_port %d)", srv.cfg.push_in_http_port);

    watch_routes();
    uv_timer_t trim;
    uv_timer_init(main_loop, &trim);
    uv_timer_start(&trim, on_trim, TRIM_PERIOD_MS, TRIM_PERIOD_MS);
    uv_run(main_loop, UV_RUN_DEFAULT);

    /* Stop: no new publishes, then drain the workers (their last reports are discarded),
     * then free the control thread's state. */
    tt_control_stop(ctl);
    tt_workers_stop(&srv);
    /* The hub posts to the workers' inboxes: it stops before they are freed. */
    tt_zhub_free(srv.zhub);
    srv.zhub = NULL;
    tt_workers_free(&srv);
    tt_control_free(ctl);
    tt_stats_free(stats);
    free(inboxes);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
    uv_close((uv_handle_t *)&sig_usr1, NULL);
    if (routes_watch_on)
        uv_close((uv_handle_t *)&routes_watch, NULL);
    uv_close((uv_handle_t *)&trim, NULL);
    uv_run(main_loop, UV_RUN_DEFAULT);
    tt_routes_unref(srv.routes);
    tt_key_free(srv.sig_key);
    tt_key_free(srv.upstream_key);
    tt_tls_server_free(srv.tls);
    tt_lastids_deinit(&srv.last_ids);
    free(srv.route_lines);
    free(cli.ports);
    tt_config_deinit(&srv.cfg);
    tt_info("stopped");
    return 0;
}
