#include "core/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *tt_strerror(int err)
{
    switch (err) {
    case TT_EAGAIN:
        return "need more input";
    case TT_EPARSE:
        return "malformed input";
    case TT_ETOOBIG:
        return "size limit exceeded";
    case TT_ECONFIG:
        return "configuration error";
    case TT_EUNSUPP:
        return "unsupported";
    default:
        return err < 0 ? strerror(-err) : "success";
    }
}

static void oom(size_t n)
{
    fprintf(stderr, "thumbtack: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tt_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tt_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *tt_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *tt_strndup(const char *s, size_t n)
{
    char *p = tt_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tt_strdup(const char *s)
{
    return tt_strndup(s, strlen(s));
}

bool tt_strieq(const char *a, size_t alen, const char *b)
{
    return tt_strieqn(a, alen, b, strlen(b));
}

bool tt_next_item(const char *s, size_t len, size_t *pos, const char **item, size_t *item_len)
{
    if (*pos > len || (*pos == len && len > 0 && s[len - 1] != ','))
        return false;
    if (len == 0)
        return false;
    const char *start = s + *pos;
    const char *comma = memchr(start, ',', len - *pos);
    size_t n = comma ? (size_t)(comma - start) : len - *pos;
    *pos += n + 1;
    *item = start;
    *item_len = n;
    tt_trim(item, item_len);
    return true;
}

bool tt_next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *line_len)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n && start[n - 1] == '\r')
        n--;
    *line = start;
    *line_len = n;
    return true;
}

bool tt_strieqn(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return false;
    return true;
}

bool tt_strihas_prefix(const char *a, size_t alen, const char *prefix)
{
    size_t plen = strlen(prefix);
    return alen >= plen && tt_strieq(a, plen, prefix);
}

void tt_trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

int64_t tt_parse_uint(const char *s, size_t len, int64_t max)
{
    if (len == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        /* Checked before multiplying: v * 10 may not be representable when max is large. */
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

int tt_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *tt_percent_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = tt_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = tt_hexval(s[i + 1])) >= 0 &&
            (lo = tt_hexval(s[i + 2])) >= 0) {
            out[o++] = (char)((hi << 4) | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

uint64_t tt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t tt_unix_now(void)
{
    return (int64_t)time(NULL);
}
