/* base64.c: see base64.h. */
#include "core/base64.h"

#include <limits.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int tt_base64_encode(const void *in, size_t len, char *out, size_t outlen, bool url)
{
    const unsigned char *p = in;
    const char *tab = url ? b64_url : b64_std;
    if (len > (SIZE_MAX / 4) - 4)
        return TT_ETOOBIG;
    size_t full = len / 3, rem = len % 3;
    size_t n = full * 4 + (rem ? (url ? rem + 1 : 4) : 0);
    if (n > INT_MAX || outlen < n + 1)
        return TT_ETOOBIG;
    size_t o = 0;
    for (size_t i = 0; i < full; i++, p += 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (rem) {
        uint32_t v = (uint32_t)p[0] << 16 | (rem == 2 ? (uint32_t)p[1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        if (rem == 2)
            out[o++] = tab[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return (int)o;
}

static int b64_val(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int tt_base64_decode(const char *in, size_t len, void *out, size_t outlen, bool url)
{
    unsigned char *o = out;
    size_t n = len;
    if (n && in[n - 1] == '=') {
        /* Padding, when present, must complete the last quantum exactly. */
        if (len % 4)
            return TT_EPARSE;
        n--;
        if (n && in[n - 1] == '=')
            n--;
    }
    size_t rem = n % 4;
    if (rem == 1)
        return TT_EPARSE;
    size_t need = n / 4 * 3 + (rem ? rem - 1 : 0);
    if (need > INT_MAX)
        return TT_ETOOBIG;
    if (need > outlen)
        return TT_ETOOBIG;
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(in[i], url);
        if (v < 0)
            return TT_EPARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* A JWT segment has exactly one valid spelling; leftover bits must be zero so that a
     * signature cannot be re-encoded into a second token that still verifies. */
    if (url && acc != 0)
        return TT_EPARSE;
    return (int)w;
}

