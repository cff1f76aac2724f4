/* fuzz_jwt.c: JWT verification and base64.
 *
 * Byte 0 picks the mode:
 *   0: the rest is a token, verified against the fixed HS256 key "changeme";
 *   1: the rest is "HEADER\nCLAIMS"; both are base64url-encoded and correctly HMAC-signed
 *      here, so the fuzzer reaches the header/claims checks behind the signature;
 *   2: base64 round trips (both alphabets) must reproduce the input.
 * The first three bytes of mode 1's input also pick "now" and require_exp. */
#include "fuzz.h"
#include "grip/jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static struct tt_key *hs_key;

static size_t b64url(const void *in, size_t len, char *out, size_t outlen)
{
    int n = tt_base64_encode(in, len, out, outlen, true);
    ENSURE(n >= 0);
    return (size_t)n;
}

static void signed_token(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    int64_t now = (data[0] & 1) ? 2000000000 : 1000000000;
    bool require_exp = data[0] & 2;
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const uint8_t *claims = nl ? nl + 1 : data + size;
    size_t clen = size - hlen - (nl ? 1 : 0);
    size_t cap = (hlen + clen) * 2 + 128;
    char *tok = malloc(cap);
    size_t n = b64url(data, hlen, tok, cap);
    tok[n++] = '.';
    n += b64url(claims, clen, tok + n, cap - n);
    unsigned char mac[32];
    size_t maclen = 0;
    ENSURE(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, "changeme", 8, (const unsigned char *)tok,
                     n, mac, sizeof(mac), &maclen));
    tok[n++] = '.';
    n += b64url(mac, maclen, tok + n, cap - n);
    int rc = tt_jwt_verify(hs_key, tok, n, now, require_exp);
    ENSURE(rc == 0 || rc == TT_EPARSE);
    /* An accepted token must have said HS256; a one-byte change of the signature must
     * always be rejected. */
    if (rc == 0) {
        ENSURE(memmem(data, hlen, "HS256", 5) != NULL || memmem(data, hlen, "\\u", 2) != NULL);
        tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
        ENSURE(tt_jwt_verify(hs_key, tok, n, now, require_exp) == TT_EPARSE);
    }
    free(tok);
}

static void base64_roundtrip(const uint8_t *data, size_t size)
{
    size_t cap = size / 3 * 4 + 8;
    char *enc = malloc(cap);
    unsigned char *dec = malloc(size + 4);
    for (int url = 0; url < 2; url++) {
        int n = tt_base64_encode(data, size, enc, cap, url);
        ENSURE(n >= 0 && (size_t)n < cap && enc[n] == '\0');
        int m = tt_base64_decode(enc, (size_t)n, dec, size + 4, url);
        ENSURE(m >= 0 && (size_t)m == size && memcmp(dec, data, size) == 0);
    }
    /* decoding arbitrary text never overruns and never claims more than it may */
    int m = tt_base64_decode((const char *)data, size, dec, size + 4, data[0] & 1);
    ENSURE(m < 0 || (size_t)m <= size);
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hs_key)
        ENSURE(tt_key_parse("changeme", NULL, &hs_key, NULL, 0) == 0);
    if (size < 1 || size > 20000)
        return 0;
    switch (data[0] % 3) {
    case 0: {
        int rc = tt_jwt_verify(hs_key, (const char *)data + 1, size - 1, 1700000000, false);
        ENSURE(rc == 0 || rc == TT_EPARSE);
        break;
    }
    case 1:
        signed_token(data + 1, size - 1);
        break;
    default:
        if (size > 1)
            base64_roundtrip(data + 1, size - 1);
        break;
    }
    return 0;
}
