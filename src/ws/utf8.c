/* utf8.c: incremental UTF-8 validator; see utf8.h for the contract.
 *
 * A lead byte sets how many continuation bytes follow and the range the first of them must
 * fall in; that first range is what excludes overlongs, surrogates and values above
 * U+10FFFF (RFC 3629 section 4), the later ones are always 80..BF. ASCII runs are skipped
 * eight bytes at a time because chat-like text is mostly ASCII. */
#include "ws/utf8.h"

void tt_ws_utf8_init(struct tt_ws_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
}

static bool lead(uint8_t b, struct tt_ws_utf8 *u)
{
    if (b >= 0xC2 && b <= 0xDF) {
        u->need = 1, u->lo = 0x80, u->hi = 0xBF;
    } else if (b == 0xE0) {
        u->need = 2, u->lo = 0xA0, u->hi = 0xBF;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        u->need = 2, u->lo = 0x80, u->hi = 0xBF;
    } else if (b == 0xED) {
        u->need = 2, u->lo = 0x80, u->hi = 0x9F;
    } else if (b == 0xF0) {
        u->need = 3, u->lo = 0x90, u->hi = 0xBF;
    } else if (b >= 0xF1 && b <= 0xF3) {
        u->need = 3, u->lo = 0x80, u->hi = 0xBF;
    } else if (b == 0xF4) {
        u->need = 3, u->lo = 0x80, u->hi = 0x8F;
    } else {
        return false; /* 80..C1 (continuation or overlong lead), F5..FF */
    }
    return true;
}

int tt_ws_utf8_feed(struct tt_ws_utf8 *u, const uint8_t *p, size_t len, size_t *bad_at)
{
    size_t i = 0;
    while (i < len) {
        if (u->need == 0) {
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == len)
                break;
            uint8_t b = p[i];
            if (b < 0x80) {
                i++;
                continue;
            }
            if (!lead(b, u))
                goto bad;
            i++;
            continue;
        }
        uint8_t b = p[i];
        if (b < u->lo || b > u->hi)
            goto bad;
        u->need--;
        u->lo = 0x80;
        u->hi = 0xBF;
        i++;
    }
    return 0;
bad:
    if (bad_at)
        *bad_at = i;
    return TT_EPARSE;
}

bool tt_ws_utf8_complete(const struct tt_ws_utf8 *u)
{
    return u->need == 0;
}

bool tt_ws_utf8_valid(const void *p, size_t len)
{
    struct tt_ws_utf8 u;
    tt_ws_utf8_init(&u);
    return tt_ws_utf8_feed(&u, p, len, NULL) == 0 && tt_ws_utf8_complete(&u);
}

size_t tt_ws_utf8_cut(const void *p, size_t len)
{
    const uint8_t *s = p;
    if (len == 0)
        return 0;
    /* Walk back over at most three continuation bytes to the lead of the last character. */
    size_t i = len;
    size_t back = 0;
    while (i > 0 && back < 4 && (s[i - 1] & 0xC0) == 0x80)
        i--, back++;
    if (i == 0)
        return 0;
    uint8_t b = s[i - 1];
    size_t want = b < 0x80 ? 0 : b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
    if (b >= 0x80 && want != back)
        return i - 1; /* the last character is incomplete: drop its lead too */
    return len;
}
