#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void tt_buf_init(struct tt_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void tt_buf_deinit(struct tt_buf *b)
{
    free(b->data);
    tt_buf_init(b, b->cap);
}

static int reserve(struct tt_buf *b, size_t extra)
{
    if (b->cap && b->len + extra > b->cap)
        return TT_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    b->data = tt_realloc(b->data, n);
    b->alloc = n;
    return 0;
}

int tt_buf_append(struct tt_buf *b, const void *data, size_t len)
{
    int r = reserve(b, len);
    if (r)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int tt_buf_appends(struct tt_buf *b, const char *s)
{
    return tt_buf_append(b, s, strlen(s));
}

int tt_buf_appendf(struct tt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TT_EPARSE;
    int r = reserve(b, (size_t)n);
    if (r)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int tt_buf_append_uint(struct tt_buf *b, uint64_t v, int base)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = digits[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v);
    return tt_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void tt_buf_consume(struct tt_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void tt_buf_reset(struct tt_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *tt_buf_cstr(struct tt_buf *b)
{
    if (!b->data) {
        b->data = tt_malloc(1);
        b->alloc = 1;
        b->data[0] = '\0';
    }
    return b->data;
}

char *tt_buf_steal(struct tt_buf *b, size_t *len)
{
    char *p = tt_buf_cstr(b);
    if (len)
        *len = b->len;
    tt_buf_init(b, b->cap);
    return p;
}
