/* config.h: Pushpin-compatible pushpin.conf loader.
 *
 * INI with [global] [runner] [proxy] [handler]; `include=` (relative to the including
 * file; {libdir} substituted; a missing include of internal.conf is ignored with a debug
 * log, any other missing include is an error); {libdir} {rundir} {ipc_prefix} substituted
 * in values; relative routesfile / file: paths resolved against the config file's dir.
 * Keys in the main file win over included ones. Unknown keys are ignored with a debug log.
 * A malformed line is an error naming file and line.
 *
 * Owner: struct tt_config owns every string in it; tt_config_deinit frees them.
 * Thread: main thread at start-up and on reload. */
#ifndef TT_CONFIG_H
#define TT_CONFIG_H

#include "core/common.h"

#define TT_MAX_LISTEN 16

struct tt_listen_addr {
    char addr[64]; /* "0.0.0.0", "127.0.0.1", "::" ... */
    uint16_t port;
};

enum tt_xfp_mode { TT_XFP_OFF = 0, TT_XFP_PROTO_ONLY, TT_XFP_TRUE };

/* x_forwarded_for / x_forwarded_for_trusted: comma list of truncate:N and append. */
struct tt_xff_rule {
    int truncate; /* -1 = no truncation */
    bool append;
};

struct tt_config {
    char *path;    /* config file path or NULL when running on defaults */
    /* Set by the caller before tt_config_load (--id N): the ipc_prefix that wins over the
     * file's, so that {ipc_prefix} in every value resolves to it (as Pushpin's runner
     * passes it to its services). Borrowed, never freed. */
    const char *ipc_prefix_override;
    char *basedir; /* directory of the config file, or cwd */

    /* [global] */
    char *libdir;
    char *rundir;
    char *ipc_prefix;
    int port_offset;

    /* [runner] */
    struct tt_listen_addr http_ports[TT_MAX_LISTEN];
    int num_http_ports;
    struct tt_listen_addr https_ports[TT_MAX_LISTEN]; /* TLS listeners */
    int num_https_ports;
    char *tls_certs_dir; /* default <basedir>/runner/certs (Pushpin's layout) */
    int log_level;             /* 0..3, default 2 (reloaded on SIGHUP) */
    size_t client_buffer_size; /* max request head, default 8192 */
    int client_maxconn;        /* default 50000 */
    bool allow_compression;    /* permessage-deflate with WebSocket clients */

    /* [proxy] */
    char *routesfile; /* absolute path, or NULL */
    bool debug;
    bool auto_cross_origin;
    bool accept_x_forwarded_protocol;
    enum tt_xfp_mode set_x_forwarded_protocol;
    struct tt_xff_rule xff;
    struct tt_xff_rule xff_trusted;
    bool log_from;
    bool log_user_agent;
    char *sig_iss; /* default "pushpin" */
    char *sig_key; /* raw key spec as in the file ("changeme", "base64:..", "file:/abs") */
    char *upstream_key; /* key spec or NULL */
    int workers;        /* 0 = one per CPU */
    char *cdn_loop;
    bool accept_pushpin_route;

    /* [handler] */
    char *push_in_http_addr; /* default 127.0.0.1 */
    int push_in_http_port;   /* default 5561 (+port_offset); 0 = no publish API (<= 0 given) */
    size_t push_in_http_max_headers_size; /* 10000 */
    size_t push_in_http_max_body_size;    /* 1000000 */
    int message_rate;  /* per second; 0 = unlimited */
    int message_hwm;   /* 0 = unlimited */
    int message_wait;  /* ms, default 5000 */
    int id_cache_ttl;  /* s, default 0 = off */
    bool update_on_first_subscription; /* default true */
    int connection_subscription_max;   /* default 20 */
    int subscription_linger;           /* s, default 60 */
    char *publish_key; /* thumbtack extension: [handler] publish_key, auth for :5561 */
    /* ZeroMQ specs (comma lists; tcp:// ports moved by port_offset; NULL = disabled, i.e.
     * the key given empty). Defaults: tcp://127.0.0.1:5560, :5562, :5563 as Pushpin ships. */
    char *push_in_spec, *push_in_sub_specs, *command_spec, *stats_spec;
    bool push_in_sub_connect; /* connect the SUB socket instead of binding it */
    /* Stats (SPEC.md 5 "Stats and metrics"). stats_spec defaults to the literal
     * "ipc://{rundir}/{ipc_prefix}stats", whose variables main fills in once --id has had
     * its say (tt_config_stats_spec). */
    char *stats_format;         /* "tnetstring" (default) or "json" */
    int stats_report_interval;  /* s, default 10; 0 = no reports */
    int stats_connection_ttl;   /* s, [global], default 120 */
    int stats_subscription_ttl; /* s, default 60 */
    bool stats_connection_send; /* [global], default true: "conn" messages */
    char *prometheus_port;      /* [handler] or [proxy]: "[addr:]port" or "ipc://path"; NULL off */
    char *prometheus_prefix;

    /* thumbtack extensions (documented in README) */
    int head_timeout_ms;        /* [runner] client_head_timeout, default 10000 ms */
    /* [proxy] backend_response_timeout / backend_idle_timeout (ms, 0 = none): longest wait
     * for a backend's response head, and for the next byte of an exchange once under way.
     * Default 600000, the inactivity timeout of the zurl that Pushpin 1.36 ships with. */
    int backend_response_timeout_ms;
    int backend_idle_timeout_ms;
    size_t subscriber_queue_max; /* [handler] subscriber_queue_bytes, default 1 MiB */
    bool http2;                  /* [runner] http2: ALPN h2 and h2c prior knowledge, default on */
    int http2_max_streams;       /* [runner] http2_max_concurrent_streams, default 100 */
};

/* Fill defaults: the values Pushpin's shipped config gives when the key is absent. */
void tt_config_defaults(struct tt_config *cfg);

/* Load `path` over the defaults. On error returns TT_ECONFIG and writes a message naming
 * file and line into err; cfg is then left exactly as it was (the load is all or nothing).
 * Call tt_config_defaults first: keys absent from the file keep cfg's current values.
 * {libdir} is, in order: [global] libdir from the file, cfg->libdir if the caller set it,
 * /usr/lib/pushpin if that directory exists, else the config file's directory. */
int tt_config_load(struct tt_config *cfg, const char *path, char *err, size_t errlen);

/* Same as tt_config_load but parses `text` (len bytes) as if it were the file at `path`
 * (used for messages and to resolve relative include/routesfile/file: paths; NULL means
 * "<text>" in the current directory). Includes are still read from disk. */
int tt_config_load_text(struct tt_config *cfg, const char *text, size_t len, const char *path,
                        char *err, size_t errlen);

/* Parse a comma list of [addr:]port / [v6]:port into out (replacing its contents). */
int tt_config_parse_ports(const char *value, struct tt_listen_addr *out, int max, int *count);

/* A log level as [runner] log_level or --loglevel give it: "N" or Pushpin's per-service
 * list "N,proxy:M,handler:K" (thumbtack logs at the highest of N and its two services'
 * levels, at most 3). Returns the level, or -1 when malformed or negative. */
int tt_config_parse_log_level(const char *v);

/* Move push_in_http_port and every tcp:// port of the ZMQ specs by offset (--id N).
 * Returns 0, or TT_ECONFIG (cfg unchanged) when a port would leave 1..65535. */
int tt_config_add_port_offset(struct tt_config *cfg, int offset);

/* The stats socket spec with {rundir} and {ipc_prefix} filled in (new string), or NULL
 * when stats_spec is off. */
char *tt_config_stats_spec(const struct tt_config *cfg);
/* Call changed(ctx, section, key) for every key whose value differs between a and b
 * (SIGHUP: what a reload would change). */
void tt_config_diff(const struct tt_config *a, const struct tt_config *b,
                    void (*changed)(void *ctx, const char *section, const char *key), void *ctx);

void tt_config_deinit(struct tt_config *cfg);

#endif
