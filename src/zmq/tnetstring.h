/* tnetstring.h: sans-I/O tnetstring codec (the wire encoding of Pushpin's ZeroMQ
 * protocols: zhttp, ZRPC commands, publish items, stats).
 *
 * A tnetstring element is `<decimal length>:<payload><tag>`, tags `,` byte string, `#`
 * integer, `^` float, `!` bool (`true`/`false`), `~` null (empty payload), `}` dict
 * (key/value elements, keys are byte strings), `]` list. Parsing yields a jansson tree:
 * byte strings become json strings made with json_stringn_nocheck, so binary payloads
 * (NUL bytes, invalid UTF-8) survive unchanged; use json_string_length, never strlen.
 * Dict keys may hold any bytes, NUL included (json_object_keylen gives their length); a
 * repeated key keeps its last value, as Pushpin does.
 *
 * Peer input is bounded by struct tt_tnet_limits: input bytes, nesting depth and the
 * number of elements (each costs a jansson node, so this caps memory too). Errors are
 * exact (enum tt_tnet_err) and never abort. Unlike Pushpin (which reads past the end of
 * a truncated tnetstring), every length is checked against the input and against the
 * enclosing container.
 *
 * Serializing is deterministic: dict keys in the object's insertion order, floats in the
 * shortest form that reads back to the same double, strings always as `,`.
 * Owner: parse returns a new reference (*out) the caller decrefs; serialize appends to
 * the caller's buffer. Thread: any. */
#ifndef TT_ZMQ_TNETSTRING_H
#define TT_ZMQ_TNETSTRING_H

#include <jansson.h>

#include "core/buf.h"
#include "core/common.h"

/* A single input is never read beyond 1 GiB, whatever the limits say. */
#define TT_TNET_HARD_MAX_SIZE ((size_t)1 << 30)

struct tt_tnet_limits {
    size_t max_size;     /* largest declared length of any element (and the input) */
    int max_depth;       /* containers nested inside each other; top level is depth 1 */
    size_t max_elements; /* elements in total, at every level, keys included */
};

/* 16 MiB, 64 levels, 100000 elements. */
extern const struct tt_tnet_limits tt_tnet_default_limits;

enum tt_tnet_err {
    TT_TNET_OK = 0,
    TT_TNET_TRUNCATED,     /* input ends inside an element (parse returns TT_EAGAIN) */
    TT_TNET_BAD_LENGTH,    /* length prefix empty, not decimal digits, or too long */
    TT_TNET_TOO_BIG,       /* a length above max_size (TT_ETOOBIG) */
    TT_TNET_BAD_TAG,       /* the byte after the payload is not a known type tag */
    TT_TNET_OVERRUN,       /* an element inside a container runs past the container's end */
    TT_TNET_BAD_INT,       /* `#` payload not an optional '-' and digits within int64 */
    TT_TNET_BAD_FLOAT,     /* `^` payload not a finite decimal number */
    TT_TNET_BAD_BOOL,      /* `!` payload not "true" or "false" */
    TT_TNET_BAD_NULL,      /* `~` with a payload */
    TT_TNET_BAD_KEY,       /* a dict key that is not a byte string */
    TT_TNET_MISSING_VALUE, /* a dict ends after a key */
    TT_TNET_TOO_DEEP,      /* nesting above max_depth (TT_ETOOBIG) */
    TT_TNET_TOO_MANY,      /* more than max_elements elements (TT_ETOOBIG) */
};

struct tt_tnet_error {
    enum tt_tnet_err code;
    size_t offset; /* input offset where the faulty element (or its length) starts */
};

/* A short fixed text for an error code, e.g. "truncated input", "bad length prefix". */
const char *tt_tnet_strerror(enum tt_tnet_err code);

/* Parse one element from buf[0..len). Returns the bytes it spans (> 0; bytes after it are
 * not looked at) with *out set, or TT_EAGAIN when the input ends inside the element
 * (err TT_TNET_TRUNCATED; a complete message that yields this is truncated), TT_ETOOBIG
 * for TT_TNET_TOO_BIG/TOO_DEEP/TOO_MANY, TT_EPARSE for every other error. On error *out
 * is NULL. lim may be NULL for tt_tnet_default_limits; err may be NULL. */
int tt_tnet_parse(const char *buf, size_t len, const struct tt_tnet_limits *lim, json_t **out,
                  struct tt_tnet_error *err);

/* Append the tnetstring of v to out. Returns 0, TT_ETOOBIG when out's cap is reached or
 * v nests deeper than 64 levels, or TT_EPARSE for a non-finite real. On error out may
 * hold a partial element; the caller discards it. */
int tt_tnet_serialize(json_t *v, struct tt_buf *out);

#endif
