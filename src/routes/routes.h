/* routes.h: Pushpin routes file parser and matcher (SPEC.md section 2).
 *
 * A parsed route table is an immutable, ref-counted snapshot: workers hold a ref for
 * every request in flight so a reload never pulls strings from under them.
 * Parsing is sans-I/O: text in, snapshot out; lines Pushpin would skip are skipped with a
 * warning (line number and reason) passed to the warn callback.
 * Thread: parse on any thread; a snapshot is read-only and may be shared. */
#ifndef TT_ROUTES_H
#define TT_ROUTES_H

#include "core/common.h"

enum tt_target_type { TT_TARGET_HTTP, TT_TARGET_TEST, TT_TARGET_ZHTTP, TT_TARGET_ZHTTPREQ };

struct tt_route_target {
    enum tt_target_type type;
    char *host; /* connect host (no brackets for v6), NULL for test */
    uint16_t port;
    char *zhttp_spec; /* for zhttp/ zhttpreq/ targets */
    bool ssl, insecure, untrusted, trust_connect_host, over_http, one_event;
    char *host_header; /* host= value or NULL */
    char **subs;       /* sub= channels */
    size_t num_subs;
    char *client_cert, *client_key;
};

struct tt_header_kv {
    char *name;
    char *value; /* empty string = remove */
};

enum tt_route_proto { TT_PROTO_ANY = 0, TT_PROTO_HTTP, TT_PROTO_WS };

struct tt_route {
    int line;      /* 1-based line in the file, 0 for --route */
    char *domain;  /* NULL = "*"; "" = id-only route */
    enum tt_route_proto proto;
    int ssl;        /* -1 any, 0 no, 1 yes */
    char *path_beg; /* NULL = none */
    char *id;
    char *sig_iss, *sig_key; /* overrides or NULL */
    char *prefix;
    bool orig_headers;
    char *as_host;
    int path_rem; /* -1 = unset */
    char *replace_beg;
    bool debug, aco, no_grip, session;
    int jsonp_mode; /* 0 extended (default), 1 basic */
    char *jsonp_cb; /* default "callback" */
    char *jsonp_body, *jsonp_defcb, *jsonp_defmethod;
    char *sockjs, *sockjs_as_path;
    struct tt_header_kv *headers; /* header= */
    size_t num_headers;
    int log_level; /* -1 = unset */
    struct tt_route_target *targets;
    size_t num_targets;
};

struct tt_routes {
    int refs; /* atomic */
    struct tt_route *routes;
    size_t num_routes;
};

typedef void (*tt_routes_warn_fn)(void *ctx, int line, const char *msg);

/* Parse a whole routes file. Never fails as a whole: bad lines are skipped with a warning
 * (as Pushpin). Returns a snapshot with one ref. *num_errors (if not NULL) counts skipped
 * lines so a reload can refuse a file with errors. */
struct tt_routes *tt_routes_parse(const char *text, size_t len, tt_routes_warn_fn warn, void *ctx,
                                  int *num_errors);

/* Build a snapshot from --route lines (each a full route line). */
struct tt_routes *tt_routes_from_lines(char **lines, size_t n, tt_routes_warn_fn warn, void *ctx,
                                       int *num_errors);

void tt_routes_ref(struct tt_routes *r);
void tt_routes_unref(struct tt_routes *r);

/* Select the route for a request per SPEC.md section 2 "Selection": host (port stripped
 * by the caller; lowercase compare), raw path, ws or http, ssl. Exact-domain routes win
 * and then no fallback to "*". NULL = no route. */
const struct tt_route *tt_routes_match(const struct tt_routes *r, const char *host,
                                       size_t host_len, const char *path, size_t path_len,
                                       bool ws, bool ssl);

/* Route by id (Pushpin-Route); path_beg must still match. NULL if unknown/ambiguous. */
const struct tt_route *tt_routes_find_id(const struct tt_routes *r, const char *id,
                                         size_t id_len, const char *path, size_t path_len);

#endif
