/* ext.h: syntax of the Sec-WebSocket-Extensions header (RFC 6455 section 9.1).
 *
 *   extension-list = 1#( extension-token *( ";" extension-param ) )
 *   extension-param = token [ "=" ( token / quoted-string ) ]
 *
 * An iterator over the extensions of one header value, each with its parameters as spans
 * into the value (no allocation). Names are RFC 7230 tokens; an unquoted value may be any
 * visible characters except , ; and " (lenient: backends write grip prefixes such as
 * message-prefix=m: unquoted); a quoted value keeps its backslash escapes in the span and
 * is unescaped on demand with tt_ws_ext_value. Empty list elements (", ,") are skipped as
 * RFC 7230 7 allows. Thread: any. */
#ifndef TT_WS_EXT_H
#define TT_WS_EXT_H

#include "core/common.h"

#define TT_WS_EXT_MAX_PARAMS 16

struct tt_ws_ext_param {
    const char *name;
    size_t name_len;
    const char *value; /* NULL when the parameter has no "=" */
    size_t value_len;  /* raw span: for a quoted value, the text between the quotes */
    bool quoted;
};

struct tt_ws_ext {
    const char *name;
    size_t name_len;
    struct tt_ws_ext_param params[TT_WS_EXT_MAX_PARAMS];
    size_t num_params;
};

/* Next extension of v[0..len): start with *pos = 0. Returns 1 with *ext filled, 0 at the
 * end, TT_EPARSE on a syntax error (or more than TT_WS_EXT_MAX_PARAMS parameters). */
int tt_ws_ext_next(const char *v, size_t len, size_t *pos, struct tt_ws_ext *ext);

/* Unescape a parameter value into out (outlen bytes, NUL-terminated). Returns its length,
 * 0 for a parameter without value, or TT_ETOOBIG. */
int tt_ws_ext_value(const struct tt_ws_ext_param *p, char *out, size_t outlen);

/* Find a parameter by exact (case-insensitive) name; NULL when absent. */
const struct tt_ws_ext_param *tt_ws_ext_param(const struct tt_ws_ext *e, const char *name);

#endif
