/* buf.h: growable byte buffer with a hard cap.
 *
 * Owner: whoever embeds the struct. tt_buf_deinit frees the storage. Appends that would
 * exceed cap fail with TT_ETOOBIG and leave the buffer unchanged. Thread: owner's. */
#ifndef TT_BUF_H
#define TT_BUF_H

#include "core/common.h"

struct tt_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* 0 = unlimited */
};

void tt_buf_init(struct tt_buf *b, size_t cap);
void tt_buf_deinit(struct tt_buf *b);
int tt_buf_append(struct tt_buf *b, const void *data, size_t len);
int tt_buf_appendf(struct tt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tt_buf_appends(struct tt_buf *b, const char *s);
/* Drop the first n bytes. */
void tt_buf_consume(struct tt_buf *b, size_t n);
/* Append an unsigned number in decimal (base 10) or hex (base 16), without printf. */
int tt_buf_append_uint(struct tt_buf *b, uint64_t v, int base);
void tt_buf_reset(struct tt_buf *b);
/* Make sure data is NUL-terminated (not counted in len); returns data. */
char *tt_buf_cstr(struct tt_buf *b);
/* Give the storage to the caller (NUL-terminated); the buffer becomes empty. */
char *tt_buf_steal(struct tt_buf *b, size_t *len);

#endif
