/* jwt.c: Grip-Sig keys, JWT signing and verification on OpenSSL 3 EVP, base64.
 *
 * Only the compact JWS form with HS256, ES256 and RS256 exists here. The algorithm is a
 * property of the key: a token naming any other algorithm (including "none") is rejected
 * before its signature is even looked at, which is what closes the classic alg-confusion
 * holes (an RSA public key used as an HMAC secret, unsigned tokens). */
#include "grip/jwt.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/buf.h"

/* Key files are small; the cap keeps a misconfigured path (a log file, /dev/zero) from
 * being slurped whole. */
#define KEY_FILE_MAX 65536
/* Grip-Sig tokens are a few hundred bytes; anything this long is not ours. */
#define TOKEN_MAX 16384
#define SIG_MAX 1024 /* RSA-8192 */

struct tt_key {
    enum tt_key_alg alg;
    unsigned char *secret; /* HS256 */
    size_t secret_len;
    EVP_PKEY *pkey; /* ES256 / RS256 */
    bool can_sign;  /* pkey holds a private key */
};

static const char *alg_name(enum tt_key_alg alg)
{
    switch (alg) {
    case TT_ALG_ES256:
        return "ES256";
    case TT_ALG_RS256:
        return "RS256";
    default:
        return "HS256";
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- keys ---- */

void tt_key_free(struct tt_key *k)
{
    if (!k)
        return;
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

enum tt_key_alg tt_key_alg(const struct tt_key *k)
{
    return k->alg;
}

static struct tt_key *key_from_secret(unsigned char *secret, size_t len)
{
    struct tt_key *k = tt_calloc(1, sizeof(*k));
    k->alg = TT_ALG_HS256;
    k->secret = secret;
    k->secret_len = len;
    return k;
}

static EVP_PKEY *decode_pem(const char *data, size_t len, int selection)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, selection, NULL, NULL);
    if (!dctx)
        return NULL;
    const unsigned char *p = (const unsigned char *)data;
    size_t l = len;
    if (!OSSL_DECODER_from_data(dctx, &p, &l)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

static bool pkey_has_private(EVP_PKEY *pkey, bool is_ec)
{
    BIGNUM *bn = NULL;
    int ok =
        EVP_PKEY_get_bn_param(pkey, is_ec ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D, &bn);
    BN_clear_free(bn);
    return ok == 1;
}

static int key_from_pem(const char *data, size_t len, const char *path, struct tt_key **out,
                        char *err, size_t errlen)
{
    EVP_PKEY *pkey = decode_pem(data, len, EVP_PKEY_KEYPAIR);
    if (!pkey)
        pkey = decode_pem(data, len, EVP_PKEY_PUBLIC_KEY);
    if (!pkey) {
        ERR_clear_error();
        set_err(err, errlen, "key file %s: unreadable PEM key", path);
        return TT_ECONFIG;
    }
    ERR_clear_error();
    enum tt_key_alg alg;
    bool is_ec = false;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &glen) ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
            ERR_clear_error();
            EVP_PKEY_free(pkey);
            set_err(err, errlen, "key file %s: EC key is not on curve P-256 (ES256)", path);
            return TT_ECONFIG;
        }
        alg = TT_ALG_ES256;
        is_ec = true;
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) < 1024) {
            EVP_PKEY_free(pkey);
            set_err(err, errlen, "key file %s: RSA key shorter than 1024 bits", path);
            return TT_ECONFIG;
        }
        alg = TT_ALG_RS256;
    } else {
        EVP_PKEY_free(pkey);
        set_err(err, errlen, "key file %s: PEM key is neither EC nor RSA", path);
        return TT_ECONFIG;
    }
    struct tt_key *k = tt_calloc(1, sizeof(*k));
    k->alg = alg;
    k->pkey = pkey;
    k->can_sign = pkey_has_private(pkey, is_ec);
    ERR_clear_error();
    *out = k;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int key_from_hex(const char *data, size_t len, const char *path, struct tt_key **out,
                        char *err, size_t errlen)
{
    while (len && is_space(*data)) {
        data++;
        len--;
    }
    while (len && is_space(data[len - 1]))
        len--;
    if (len == 0 || len % 2) {
        set_err(err, errlen, "key file %s: neither a PEM key nor a hex secret", path);
        return TT_ECONFIG;
    }
    unsigned char *secret = tt_malloc(len / 2);
    for (size_t i = 0; i < len; i += 2) {
        int hi = tt_hexval(data[i]), lo = tt_hexval(data[i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(secret, len / 2);
            free(secret);
            set_err(err, errlen, "key file %s: neither a PEM key nor a hex secret", path);
            return TT_ECONFIG;
        }
        secret[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *out = key_from_secret(secret, len / 2);
    return 0;
}

static int read_key_file(const char *path, struct tt_buf *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "key file %s: %s", path, strerror(e));
        return -e;
    }
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (tt_buf_append(b, chunk, n) < 0) {
            set_err(err, errlen, "key file %s: too large", path);
            rc = TT_ECONFIG;
            break;
        }
    }
    if (!rc && ferror(f)) {
        set_err(err, errlen, "key file %s: read error", path);
        rc = TT_ECONFIG;
    }
    fclose(f);
    return rc;
}

int tt_key_parse(const char *spec, const char *basedir, struct tt_key **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!spec || !*spec) {
        set_err(err, errlen, "empty key");
        return TT_ECONFIG;
    }
    if (strncmp(spec, "file:", 5) == 0) {
        const char *name = spec + 5;
        if (!*name) {
            set_err(err, errlen, "key spec \"file:\" without a path");
            return TT_ECONFIG;
        }
        struct tt_buf path;
        tt_buf_init(&path, 0);
        if (name[0] != '/' && basedir && *basedir) {
            tt_buf_appends(&path, basedir);
            if (basedir[strlen(basedir) - 1] != '/')
                tt_buf_appends(&path, "/");
        }
        tt_buf_appends(&path, name);
        const char *p = tt_buf_cstr(&path);
        struct tt_buf data;
        tt_buf_init(&data, KEY_FILE_MAX);
        int rc = read_key_file(p, &data, err, errlen);
        if (rc == 0) {
            if (data.len >= 10 && memcmp(data.data, "-----BEGIN", 10) == 0)
                rc = key_from_pem(data.data, data.len, p, out, err, errlen);
            else
                rc = key_from_hex(data.data, data.len, p, out, err, errlen);
        }
        if (data.data)
            OPENSSL_cleanse(data.data, data.alloc);
        tt_buf_deinit(&data);
        tt_buf_deinit(&path);
        return rc;
    }
    if (strncmp(spec, "base64:", 7) == 0) {
        const char *b = spec + 7;
        size_t blen = strlen(b);
        unsigned char *secret = tt_malloc(blen / 4 * 3 + 3);
        int n = tt_base64_decode(b, blen, secret, blen / 4 * 3 + 3, false);
        if (n <= 0) {
            free(secret);
            set_err(err, errlen, "%s", n == 0 ? "empty key" : "key spec: invalid base64");
            return TT_ECONFIG;
        }
        *out = key_from_secret(secret, (size_t)n);
        return 0;
    }
    size_t len = strlen(spec);
    unsigned char *secret = tt_malloc(len);
    memcpy(secret, spec, len);
    *out = key_from_secret(secret, len);
    return 0;
}

/* ---- signatures ---- */

static int hmac_sha256(const struct tt_key *k, const char *data, size_t len, unsigned char mac[32])
{
    size_t maclen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret, k->secret_len,
                   (const unsigned char *)data, len, mac, 32, &maclen) ||
        maclen != 32) {
        ERR_clear_error();
        return TT_EPARSE;
    }
    return 0;
}

/* Produce the JWS signature bytes (ES256 as raw r||s, as RFC 7518 3.4 requires). */
static int sign_bytes(const struct tt_key *k, const char *data, size_t len, unsigned char *sig,
                      size_t *siglen)
{
    if (k->alg == TT_ALG_HS256) {
        if (*siglen < 32 || hmac_sha256(k, data, len, sig) < 0)
            return TT_EUNSUPP;
        *siglen = 32;
        return 0;
    }
    if (!k->can_sign)
        return TT_EUNSUPP;
    int rc = TT_EUNSUPP;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        goto out;
    if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1)
        goto out;
    size_t dlen = 0;
    if (EVP_DigestSign(md, NULL, &dlen, (const unsigned char *)data, len) != 1)
        goto out;
    der = tt_malloc(dlen);
    if (EVP_DigestSign(md, der, &dlen, (const unsigned char *)data, len) != 1)
        goto out;
    if (k->alg == TT_ALG_RS256) {
        if (dlen > *siglen)
            goto out;
        memcpy(sig, der, dlen);
        *siglen = dlen;
        rc = 0;
        goto out;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!es)
        goto out;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    if (*siglen >= 64 && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32) {
        *siglen = 64;
        rc = 0;
    }
    ECDSA_SIG_free(es);
out:
    free(der);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

static bool verify_bytes(const struct tt_key *k, const char *data, size_t len,
                         const unsigned char *sig, size_t siglen)
{
    if (k->alg == TT_ALG_HS256) {
        unsigned char mac[32];
        if (siglen != 32 || hmac_sha256(k, data, len, mac) < 0)
            return false;
        return CRYPTO_memcmp(mac, sig, 32) == 0;
    }
    bool ok = false;
    unsigned char *der = NULL;
    int derlen = 0;
    ECDSA_SIG *es = NULL;
    if (k->alg == TT_ALG_ES256) {
        if (siglen != 64)
            return false;
        es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            goto out;
        }
        derlen = i2d_ECDSA_SIG(es, &der);
        if (derlen <= 0)
            goto out;
        sig = der;
        siglen = (size_t)derlen;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k->pkey, NULL) == 1 &&
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)data, len) == 1)
        ok = true;
    EVP_MD_CTX_free(md);
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return ok;
}

/* ---- tokens ---- */

static void json_escape(struct tt_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            tt_buf_appendf(b, "\\%c", *p);
        else if (*p < 0x20)
            tt_buf_appendf(b, "\\u%04x", *p);
        else
            tt_buf_append(b, p, 1);
    }
}

static int append_b64url(struct tt_buf *b, const void *data, size_t len)
{
    size_t n = (len + 2) / 3 * 4 + 1;
    char *tmp = tt_malloc(n);
    int w = tt_base64_encode(data, len, tmp, n, true);
    if (w >= 0)
        tt_buf_append(b, tmp, (size_t)w);
    free(tmp);
    return w < 0 ? w : 0;
}

int tt_jwt_sign_grip(const struct tt_key *k, const char *iss, int64_t exp, char *out, size_t outlen)
{
    if (k->alg != TT_ALG_HS256 && !k->can_sign)
        return TT_EUNSUPP;
    struct tt_buf json, tok;
    tt_buf_init(&json, 0);
    tt_buf_init(&tok, 0);
    tt_buf_appendf(&json, "{\"typ\":\"JWT\",\"alg\":\"%s\"}", alg_name(k->alg));
    append_b64url(&tok, json.data, json.len);
    tt_buf_reset(&json);
    tt_buf_appends(&json, "{\"iss\":\"");
    json_escape(&json, iss ? iss : "");
    tt_buf_appendf(&json, "\",\"exp\":%lld}", (long long)exp);
    tt_buf_appends(&tok, ".");
    append_b64url(&tok, json.data, json.len);

    unsigned char sig[SIG_MAX];
    size_t siglen = sizeof(sig);
    int rc = sign_bytes(k, tok.data, tok.len, sig, &siglen);
    if (rc == 0) {
        tt_buf_appends(&tok, ".");
        append_b64url(&tok, sig, siglen);
        if (tok.len + 1 > outlen || tok.len > INT_MAX) {
            rc = TT_ETOOBIG;
        } else {
            memcpy(out, tok.data, tok.len);
            out[tok.len] = '\0';
            rc = (int)tok.len;
        }
    }
    tt_buf_deinit(&json);
    tt_buf_deinit(&tok);
    return rc;
}

/* Decode one base64url segment and parse it as a JSON object. */
static json_t *segment_json(const char *s, size_t len)
{
    size_t cap = len / 4 * 3 + 3;
    char *raw = tt_malloc(cap);
    int n = tt_base64_decode(s, len, raw, cap, true);
    json_t *j = NULL;
    if (n > 0) {
        json_error_t e;
        j = json_loadb(raw, (size_t)n, JSON_REJECT_DUPLICATES, &e);
        if (j && !json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
    }
    free(raw);
    return j;
}

int tt_jwt_verify(const struct tt_key *k, const char *token, size_t len, int64_t now,
                  bool require_exp)
{
    if (!k || !token || len == 0 || len > TOKEN_MAX)
        return TT_EPARSE;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return TT_EPARSE;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return TT_EPARSE;
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - token);

    int rc = TT_EPARSE;
    json_t *claims = NULL;
    json_t *hdr = segment_json(token, hlen);
    if (!hdr)
        goto out;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, alg_name(k->alg)) != 0)
        goto out;

    unsigned char sig[SIG_MAX];
    int siglen = tt_base64_decode(d2 + 1, slen, sig, sizeof(sig), true);
    if (siglen <= 0 || !verify_bytes(k, token, (size_t)(d2 - token), sig, (size_t)siglen))
        goto out;

    claims = segment_json(d1 + 1, plen);
    if (!claims)
        goto out;
    json_t *exp = json_object_get(claims, "exp");
    if (exp) {
        if (json_is_integer(exp)) {
            if (json_integer_value(exp) <= now)
                goto out;
        } else if (json_is_real(exp)) {
            if (!(json_real_value(exp) > (double)now))
                goto out;
        } else {
            goto out;
        }
    } else if (require_exp) {
        goto out;
    }
    rc = 0;
out:
    json_decref(hdr);
    json_decref(claims);
    return rc;
}
