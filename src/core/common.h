/* common.h: error codes, allocation wrappers and small helpers shared by every layer.
 *
 * Error contract (house style): functions return 0 (or a byte count) on success and a
 * negative code on failure: -errno, or one of the TT_E* codes below. tt_strerror()
 * names either kind. Thread: any. */
#ifndef TT_COMMON_H
#define TT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define TT_EAGAIN (-20001)  /* parser: need more input */
#define TT_EPARSE (-20002)  /* malformed input */
#define TT_ETOOBIG (-20003) /* a cap was exceeded */
#define TT_ECONFIG (-20004) /* configuration error */
#define TT_EUNSUPP (-20005) /* valid but unsupported */

const char *tt_strerror(int err);

/* A name and a value, both owned by whoever owns the array they are in. */
struct tt_kv {
    char *name;
    char *value;
};

/* Allocation failure aborts the process (house style: caps are the real defence). */
void *tt_malloc(size_t n);
void *tt_calloc(size_t n, size_t size);
void *tt_realloc(void *p, size_t n);
char *tt_strdup(const char *s);
char *tt_strndup(const char *s, size_t n);

#define TT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TT_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TT_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Case-insensitive ASCII compare of a length-delimited string with a C string. */
bool tt_strieq(const char *a, size_t alen, const char *b);
/* Case-insensitive prefix test. */
bool tt_strihas_prefix(const char *a, size_t alen, const char *prefix);
/* Case-insensitive ASCII compare of two length-delimited strings. */
bool tt_strieqn(const char *a, size_t alen, const char *b, size_t blen);
/* Next item of a comma-separated list s[0..len): start with *pos = 0; returns false at the
 * end. Items are trimmed of spaces and tabs and may be empty. */
bool tt_next_item(const char *s, size_t len, size_t *pos, const char **item, size_t *item_len);
/* Next line of text[0..len): start with *pos = 0; returns false at the end. The line
 * excludes its LF and a CR before it. */
bool tt_next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *line_len);
/* Trim ASCII space and tab both sides of [*s, *s+*len). */
void tt_trim(const char **s, size_t *len);
/* Parse a non-negative decimal integer that must fill [s, s+len) exactly; -1 on error or
 * on a value above max. */
int64_t tt_parse_uint(const char *s, size_t len, int64_t max);

/* Value of a hex digit, or -1. */
int tt_hexval(char c);
/* Percent-decode s[0..len) into a new NUL-terminated string (which may hold NUL bytes);
 * "%" not followed by two hex digits stays as it is; "+" is not special. */
char *tt_percent_decode(const char *s, size_t len, size_t *out_len);

/* Monotonic milliseconds and wall-clock seconds. */
uint64_t tt_now_ms(void);
int64_t tt_unix_now(void);

#endif
