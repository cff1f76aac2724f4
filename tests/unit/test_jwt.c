/* test_jwt.c: keys, Grip-Sig signing/verification and base64.
 *
 * Byte compatibility is pinned by tokens produced outside this code base: the HS256
 * vectors were computed with Python's hmac module, the ES256/RS256 tokens with Python's
 * `cryptography` package from the test keys below (generated once with `openssl genpkey`;
 * test-only keys, never used anywhere else). */
#include "grip/jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tt_test.h"

static const char EC_PRIV[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDVTl6eCfU/OGot3P\n"
                              "x5rB+1f7GFPDif2PJqjYMjFmIgahRANCAAS7Uy+QjQEdoZjE6pr7OhjTQkl9qvER\n"
                              "8CYY2h48GHTjJRKOKFfo4VomBcRArl0idpkxKHJilkutrfxrYBK8XbSV\n"
                              "-----END PRIVATE KEY-----\n";

static const char EC_PRIV_TRAD[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIA1U5engn1PzhqLdz8eawftX+xhTw4n9jyao2DIxZiIGoAoGCCqGSM49\n"
    "AwEHoUQDQgAEu1MvkI0BHaGYxOqa+zoY00JJfarxEfAmGNoePBh04yUSjihX6OFa\n"
    "JgXEQK5dInaZMShyYpZLra38a2ASvF20lQ==\n"
    "-----END EC PRIVATE KEY-----\n";

static const char EC_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEu1MvkI0BHaGYxOqa+zoY00JJfarx\n"
                             "EfAmGNoePBh04yUSjihX6OFaJgXEQK5dInaZMShyYpZLra38a2ASvF20lQ==\n"
                             "-----END PUBLIC KEY-----\n";

static const char RSA_PRIV[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC6OyTG6soqY5XI\n"
                               "1aLskGCqDxbZ1IcNDYMOhWkLKtGcUeSvTUev3MgVGcrZSGN+naxlw/6h6e9vcw3V\n"
                               "OpDQ5yai9iUijGkTFmTqKGCLVg9YAyqzRKh0rQxS/+32zx++21pl3piQIRk5S03Y\n"
                               "BzGGMq4laM+APzIC4mNcMgAvViu83rDq1hA+7NWID2NBN76Ex3F4263MEw3PLrkp\n"
                               "ulTrf448m1pZvlUdN8QE5m5qTMNzO2lS6ApcMXavgtnUm6DnVZ9SPb/u99p2OGUw\n"
                               "apWj0GG7Eyk2oybmY1KEZeTfOozxgO7dX3uPzbOCkYA5TMiqIpYlqDDR6AQj7xMW\n"
                               "hbciPsp3AgMBAAECggEAHY2FKIvZySBEhLpiQGgo7tO2LJstU0TxpzxEjyEcYlIc\n"
                               "mDULSz0eAzs0lYaHQ3CCCyQvJEKbXHRFnbDNilkkKHgnLHRbuEu1d/MwXuwpQy49\n"
                               "eHVMxjcv3Xv/p0r3HrJwhfns+/JErnLkx4NcuI8SU51uUEu3A/4pBlho7xodlrr6\n"
                               "vcrcKSBTWUUFA385S9IRqozVgbRMERBB2DET5H1EvTjdnldJsZtia0owogH3wUcR\n"
                               "1ONnJ5txRLVO6mBb5PD5B3rJD4g/i8QW0J/rw4cT671/YXmghWkI6zz/6tOL410t\n"
                               "6ZkeM/4W1LqOI2mLRHh9aoL//n33nGFlDIYjymItAQKBgQDjJYmKWpmG80LSsrts\n"
                               "S+rBnmMckwUw8dqJd1VYIkGzQGEjzyvrI3UXmp5PBzbsHah6Mre8xm7XMKQq/LCQ\n"
                               "xBx3xZC98H1bq48gSXyOp4j5yAwF7cBMBxbrEiQxkaD+upXI8+Zn8G4yAo+w1H10\n"
                               "apeh1hRcTVvTdjFE6fzPVygauwKBgQDR4xflf5ZY+ploLLUdLMRUkHb9kQjMMOor\n"
                               "jOg8Dux+9fwcw48Qv1ihOSJp6uXyCTJdgI1ZIR4rs3u9B5dpzdX0iQmMX7ntXRUe\n"
                               "lTziqq7N4thj5pjDQ+NJzXu3DIeqy5G2rjkU4A4bbKyrNcDKDp0GWphMNdQdICEE\n"
                               "+EWMzU4JdQKBgQDDc2FOM3c3r8ooErNDFHAD+o294KPu4azx7ET7eT6fRx5O+c0I\n"
                               "n5H5pYni5opT0ZFO1KVVQknN0ITymEw1xQnZ5Z4OUgkMACs/1PvgpDgw9fmigFmf\n"
                               "EdqemxWZsX2esl6Ac54mgbPQRHPv7Gem7LFdCCCs68O/yUvLyKtIne5cUQKBgG4r\n"
                               "JX/xWJmb8KodzXNi7Cr3KX4vgs6rXj891yivLLP3qj3u6EmCJqN5ufaetdQ1v5oU\n"
                               "wBzopU2LCIhQU8nVoViaFcj49j8BfPRwoWTY8qhfSfYmNElKeSNkGGwcx5l/AR1C\n"
                               "lfO/J6h9gqTbsjZdNU8AfrCCELS5CJvzNY6StUOBAoGBAN/4RfO7m7JSXFaTm7WX\n"
                               "0DBjT3UMsBLsZmcWtqr3S7ETz/wj1X64zepkz4vwvjcjMVmy6QaJiZhSdJtBBibp\n"
                               "CYE7C1xSs0lw7lmxp7pRWnRMqGGplPulI///JFRcicfMNOe/wqypQEFTDflybUrW\n"
                               "tkuEJi1O22Kdt5TdsWuwZeYZ\n"
                               "-----END PRIVATE KEY-----\n";

static const char RSA_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAujskxurKKmOVyNWi7JBg\n"
                              "qg8W2dSHDQ2DDoVpCyrRnFHkr01Hr9zIFRnK2Uhjfp2sZcP+oenvb3MN1TqQ0Ocm\n"
                              "ovYlIoxpExZk6ihgi1YPWAMqs0SodK0MUv/t9s8fvttaZd6YkCEZOUtN2AcxhjKu\n"
                              "JWjPgD8yAuJjXDIAL1YrvN6w6tYQPuzViA9jQTe+hMdxeNutzBMNzy65KbpU63+O\n"
                              "PJtaWb5VHTfEBOZuakzDcztpUugKXDF2r4LZ1Jug51WfUj2/7vfadjhlMGqVo9Bh\n"
                              "uxMpNqMm5mNShGXk3zqM8YDu3V97j82zgpGAOUzIqiKWJagw0egEI+8TFoW3Ij7K\n"
                              "dwIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";

static const char RSA_PUB_PKCS1[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAujskxurKKmOVyNWi7JBgqg8W2dSHDQ2DDoVpCyrRnFHkr01Hr9zI\n"
    "FRnK2Uhjfp2sZcP+oenvb3MN1TqQ0OcmovYlIoxpExZk6ihgi1YPWAMqs0SodK0M\n"
    "Uv/t9s8fvttaZd6YkCEZOUtN2AcxhjKuJWjPgD8yAuJjXDIAL1YrvN6w6tYQPuzV\n"
    "iA9jQTe+hMdxeNutzBMNzy65KbpU63+OPJtaWb5VHTfEBOZuakzDcztpUugKXDF2\n"
    "r4LZ1Jug51WfUj2/7vfadjhlMGqVo9BhuxMpNqMm5mNShGXk3zqM8YDu3V97j82z\n"
    "gpGAOUzIqiKWJagw0egEI+8TFoW3Ij7KdwIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n";

static const char EC384_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCkG23DKljcZ3jQBgss\n"
    "couuoCbqLwszhWRXbD6AArUaUr89HNMenYrGIFvXTw0gTTahZANiAAQcDtIla9x4\n"
    "u5hGgJNOi/piT3EX2Fi2rkOWIDeS4RrOZWlxid4AmHKqThYOg8l6Nb0p4JMh7nQu\n"
    "7nA5KwnLz1yTZTVncoGrjhd6lB2mnVknA4ddrFRmKSVohdpE19zLeAo=\n"
    "-----END PRIVATE KEY-----\n";

static const char ED25519_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIKfFwJedyqirFjzGHHseH8sMJeM9wrRFhx4ugpEaj8j8\n"
    "-----END PRIVATE KEY-----\n";

/* {"typ":"JWT","alg":"HS256"} . {"iss":"pushpin","exp":2000000000}, key "changeme". */
static const char HS_VECTOR[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJwdXNocGluIiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "Jus1Aliirb1he8wyOFWuTMpARZORGcTSBIi-CsnQT2I";
/* The same claims as a library with other key order would write them. */
static const char HS_OTHER_ORDER[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAwMDAwMDAsImlzcyI6InB1c2hwaW4ifQ."
    "PTLCeVCcFiZXtMsaG6U2_OJ2IIxJp4T583GWB0Ur5RA";
static const char HS_NOEXP[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0."
                               "SDperznSmPsiyL0c-sP1mG1MdfQHtJy0ee8G9B5NgNs";
static const char HS_STREXP[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4IiwiZXhwIjoiMjAwMDAwMDAwMCJ9."
    "rf0Tz3YxUjKGB6vKUJ6gkR4uvPaEj5usdWvfAGgZNpI";
static const char HS_REALEXP[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwLjV9."
    "WMHq7gD5Mwadi1iILJLl71DVqZLpEtm_0RS2jqmZqi4";
static const char HS_HS384_HEADER[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzM4NCJ9.eyJpc3MiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "DaxGJGM_PVLDwMdteQFO4L1gf67K9J6qF5xPdJ_RbBY";
static const char ALG_NONE[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJpc3MiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwfQ.";
static const char HS_ARRAY_CLAIMS[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.WzFd."
                                      "Pv67fZgTdWpRXK9dO-ODZPEUMgeDOh8wtLnC2Vxyz0s";
/* Header {"alg":"none","alg":"HS256"}: duplicate keys must not let "none" hide. */
static const char HS_DUP_ALG[] = "eyJhbGciOiJub25lIiwiYWxnIjoiSFMyNTYifQ.eyJleHAiOjIwMDAwMDAwMDB9."
                                 "DvKcsgnM8rVLMr3XnQBrBYlN6UvPzkBwmcjS9Yo-cKQ";
/* Alg confusion: HMAC keyed with the RSA public key PEM, claiming HS256 and RS256. */
static const char CONFUSE_HS[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "ujTMbmsp7hYNmIWY0SrJBasb6jh1oHg2DKt9wYZ9J9I";
static const char CONFUSE_RS[] =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4IiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "53ibiEgT6zdM0ysvI9E_78nAAg0l46uvriqLD4FO3oY";
/* Signed by Python `cryptography` with EC_PRIV / RSA_PRIV. */
static const char PY_ES256[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwdXNocGluIiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "2I9BNFsZ611BfBlncjgLVIi_jeqL7i4slzEIzZt4y0Gtl3BMxxXvVYjFZB63S2Zpw6GfPQkf9X2dD_m5dQGQmw";
static const char PY_RS256[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwdXNocGluIiwiZXhwIjoyMDAwMDAwMDAwfQ."
    "U4Ne87hVf8tFOq7B-r-pAoj75C2yV0nen9JNb-HDSH9naW3vFzP9dynwruX2tplfS5grBTkEW8zvaTyXLFiR2NSu2"
    "BTBr-43w0JBM8NWYr-Rwkg5OzbhV9K7L-VPhH9Z0IBg_zG2tPi3bMfw49lD5iCR04x-fDY6ZlRg2IGCcw7fzJdZA1n"
    "Lupc26pFoJemDP7KocAGNM7Cb5WIDNz-wvtGCtO1ecPqkU_xhxLobQAe4LlS6quONxNr9npxG1nEAHXvaaPMqIAFRi"
    "bwepjG6quLR77ervuALg_s7E2Cv6z8cfBgefIp0x29COp0kMNk6RI9VOlOY_tdMXshA5ibePg";

#define NOW 1700000000
#define EXP 2000000000

static char keydir[64];

static void write_file(const char *name, const char *data)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", keydir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(data, f);
    fclose(f);
}

static void setup_keys(void)
{
    snprintf(keydir, sizeof(keydir), "/tmp/tt_jwt_XXXXXX");
    if (!mkdtemp(keydir)) {
        perror("mkdtemp");
        exit(2);
    }
    write_file("ec.pem", EC_PRIV);
    write_file("ec_trad.pem", EC_PRIV_TRAD);
    write_file("ec_pub.pem", EC_PUB);
    write_file("rsa.pem", RSA_PRIV);
    write_file("rsa_pub.pem", RSA_PUB);
    write_file("rsa_pub1.pem", RSA_PUB_PKCS1);
    write_file("ec384.pem", EC384_PRIV);
    write_file("ed.pem", ED25519_PRIV);
    write_file("hex.key", "  6368616e67656d65\n"); /* "changeme" */
    write_file("badhex.key", "6368616e67656d6\n");
    write_file("nothex.key", "zz68616e67656d65\n");
    write_file("badpem.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
}

static void cleanup_keys(void)
{
    const char *names[] = {"ec.pem",      "ec_trad.pem",  "ec_pub.pem", "rsa.pem",
                           "rsa_pub.pem", "rsa_pub1.pem", "ec384.pem",  "ed.pem",
                           "hex.key",     "badhex.key",   "nothex.key", "badpem.pem"};
    char path[256];
    for (size_t i = 0; i < TT_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", keydir, names[i]);
        unlink(path);
    }
    rmdir(keydir);
}

static struct tt_key *key(const char *spec)
{
    struct tt_key *k = NULL;
    char err[256] = "";
    int rc = tt_key_parse(spec, keydir, &k, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "key %s: %s\n", spec, err);
    CHECK_INT(rc, 0);
    return k;
}

static int verify(const struct tt_key *k, const char *tok)
{
    return tt_jwt_verify(k, tok, strlen(tok), NOW, false);
}

static void test_base64(void)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[32], dec[32];
    for (size_t i = 0; i < TT_ARRAY_LEN(plain); i++) {
        size_t n = strlen(plain[i]);
        CHECK_INT(tt_base64_encode(plain[i], n, out, sizeof(out), false), strlen(std[i]));
        CHECK_STR(out, std[i]);
        CHECK_INT(tt_base64_encode(plain[i], n, out, sizeof(out), true), strlen(url[i]));
        CHECK_STR(out, url[i]);
        CHECK_INT(tt_base64_decode(std[i], strlen(std[i]), dec, sizeof(dec), false), n);
        CHECK(memcmp(dec, plain[i], n) == 0);
        /* decode accepts missing padding */
        CHECK_INT(tt_base64_decode(url[i], strlen(url[i]), dec, sizeof(dec), false), n);
        CHECK_INT(tt_base64_decode(url[i], strlen(url[i]), dec, sizeof(dec), true), n);
        CHECK(memcmp(dec, plain[i], n) == 0);
    }
    /* the two alphabets differ in exactly 62/63 */
    const unsigned char hi[] = {0xfb, 0xff};
    CHECK_INT(tt_base64_encode(hi, 2, out, sizeof(out), false), 4);
    CHECK_STR(out, "+/8=");
    CHECK_INT(tt_base64_encode(hi, 2, out, sizeof(out), true), 3);
    CHECK_STR(out, "-_8");
    CHECK_INT(tt_base64_decode("-_8", 3, dec, sizeof(dec), false), TT_EPARSE);
    CHECK_INT(tt_base64_decode("+/8", 3, dec, sizeof(dec), true), TT_EPARSE);
    CHECK_INT(tt_base64_decode("+/8=", 4, dec, sizeof(dec), false), 2);
    CHECK((unsigned char)dec[0] == 0xfb && (unsigned char)dec[1] == 0xff);
    /* malformed */
    CHECK_INT(tt_base64_decode("Z", 1, dec, sizeof(dec), false), TT_EPARSE);
    CHECK_INT(tt_base64_decode("Zm9vY", 5, dec, sizeof(dec), true), TT_EPARSE);
    CHECK_INT(tt_base64_decode("Zg=", 3, dec, sizeof(dec), false), TT_EPARSE);
    CHECK_INT(tt_base64_decode("Z===", 4, dec, sizeof(dec), false), TT_EPARSE);
    CHECK_INT(tt_base64_decode("Zm 9v", 5, dec, sizeof(dec), false), TT_EPARSE);
    CHECK_INT(tt_base64_decode("Zm=v", 4, dec, sizeof(dec), false), TT_EPARSE);
    /* url: non-zero leftover bits make a second spelling of the same bytes */
    CHECK_INT(tt_base64_decode("Zh", 2, dec, sizeof(dec), true), TT_EPARSE);
    /* caps */
    CHECK_INT(tt_base64_encode("foo", 3, out, 4, false), TT_ETOOBIG);
    CHECK_INT(tt_base64_encode("foo", 3, out, 5, false), 4);
    CHECK_INT(tt_base64_decode("Zm9vYmFy", 8, dec, 5, false), TT_ETOOBIG);
    CHECK_INT(tt_base64_decode("Zm9vYmFy", 8, dec, 6, false), 6);
}

static void test_hs256_vector(void)
{
    struct tt_key *k = key("changeme");
    CHECK_INT(tt_key_alg(k), TT_ALG_HS256);
    char tok[512];
    int n = tt_jwt_sign_grip(k, "pushpin", EXP, tok, sizeof(tok));
    CHECK_INT(n, strlen(HS_VECTOR));
    CHECK_STR(tok, HS_VECTOR);
    CHECK_INT(verify(k, HS_VECTOR), 0);
    CHECK_INT(verify(k, HS_OTHER_ORDER), 0);
    /* too small an output buffer: exactly one byte short for the NUL */
    CHECK_INT(tt_jwt_sign_grip(k, "pushpin", EXP, tok, strlen(HS_VECTOR)), TT_ETOOBIG);
    CHECK_INT(tt_jwt_sign_grip(k, "pushpin", EXP, tok, strlen(HS_VECTOR) + 1), strlen(HS_VECTOR));

    /* iss is JSON-escaped, and what we sign we verify */
    n = tt_jwt_sign_grip(k, "a\"b\\c\n", EXP, tok, sizeof(tok));
    CHECK(n > 0);
    CHECK_INT(verify(k, tok), 0);
    char claims[128];
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    int cl = tt_base64_decode(d1 + 1, (size_t)(d2 - d1 - 1), claims, sizeof(claims) - 1, true);
    CHECK(cl > 0);
    claims[cl > 0 ? cl : 0] = '\0';
    CHECK_STR(claims, "{\"iss\":\"a\\\"b\\\\c\\u000a\",\"exp\":2000000000}");
    tt_key_free(k);
}

static void test_hs256_reject(void)
{
    struct tt_key *k = key("changeme");
    char tok[512];
    strcpy(tok, HS_VECTOR);
    size_t len = strlen(tok);
    /* tampered payload: one character of the claims segment */
    char *d1 = strchr(tok, '.');
    d1[5] = d1[5] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(k, tok), TT_EPARSE);
    strcpy(tok, HS_VECTOR);
    /* tampered signature: last character (keep the spelling canonical: 'I' -> 'Q' flips a
     * data bit, not a padding bit) */
    tok[len - 1] = 'Q';
    CHECK_INT(verify(k, tok), TT_EPARSE);
    /* truncated signature */
    CHECK_INT(tt_jwt_verify(k, HS_VECTOR, len - 4, NOW, false), TT_EPARSE);
    /* wrong key */
    struct tt_key *other = key("changeme2");
    CHECK_INT(verify(other, HS_VECTOR), TT_EPARSE);
    tt_key_free(other);
    /* expiry: exp must be strictly in the future */
    CHECK_INT(tt_jwt_verify(k, HS_VECTOR, len, EXP - 1, false), 0);
    CHECK_INT(tt_jwt_verify(k, HS_VECTOR, len, EXP, false), TT_EPARSE);
    CHECK_INT(tt_jwt_verify(k, HS_VECTOR, len, EXP + 100, true), TT_EPARSE);
    /* exp optional unless required */
    CHECK_INT(tt_jwt_verify(k, HS_NOEXP, strlen(HS_NOEXP), NOW, false), 0);
    CHECK_INT(tt_jwt_verify(k, HS_NOEXP, strlen(HS_NOEXP), NOW, true), TT_EPARSE);
    CHECK_INT(tt_jwt_verify(k, HS_VECTOR, len, NOW, true), 0);
    /* exp must be a number; reals compare by value */
    CHECK_INT(verify(k, HS_STREXP), TT_EPARSE);
    CHECK_INT(verify(k, HS_REALEXP), 0);
    CHECK_INT(tt_jwt_verify(k, HS_REALEXP, strlen(HS_REALEXP), EXP, false), 0);
    CHECK_INT(tt_jwt_verify(k, HS_REALEXP, strlen(HS_REALEXP), EXP + 1, false), TT_EPARSE);
    /* the token's alg must be the key's */
    CHECK_INT(verify(k, HS_HS384_HEADER), TT_EPARSE);
    CHECK_INT(verify(k, ALG_NONE), TT_EPARSE);
    CHECK_INT(verify(k, HS_DUP_ALG), TT_EPARSE);
    CHECK_INT(verify(k, HS_ARRAY_CLAIMS), TT_EPARSE);
    /* structure */
    const char *bad[] = {"",
                         "abc",
                         "a.b",
                         "a.b.c.d",
                         "..",
                         "e30.e30.",
                         "W10.e30.AAAA",
                         "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9..AAAA",
                         "!!!.e30.AAAA"};
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++)
        CHECK_INT(verify(k, bad[i]), TT_EPARSE);
    /* a valid token followed by a 4th segment */
    char four[512];
    snprintf(four, sizeof(four), "%s.e30", HS_VECTOR);
    CHECK_INT(verify(k, four), TT_EPARSE);
    /* over-long input */
    size_t big = 20000;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    huge[100] = '.';
    huge[200] = '.';
    CHECK_INT(tt_jwt_verify(k, huge, big, NOW, false), TT_EPARSE);
    free(huge);
    tt_key_free(k);
}

static void test_key_specs(void)
{
    char tok[512];
    /* base64: and hex file secrets are the same bytes as the plain string */
    struct tt_key *k = key("base64:Y2hhbmdlbWU=");
    CHECK_INT(tt_key_alg(k), TT_ALG_HS256);
    CHECK(tt_jwt_sign_grip(k, "pushpin", EXP, tok, sizeof(tok)) > 0);
    CHECK_STR(tok, HS_VECTOR);
    tt_key_free(k);
    k = key("base64:Y2hhbmdlbWU"); /* padding optional */
    CHECK_INT(verify(k, HS_VECTOR), 0);
    tt_key_free(k);
    k = key("file:hex.key");
    CHECK_INT(tt_key_alg(k), TT_ALG_HS256);
    CHECK(tt_jwt_sign_grip(k, "pushpin", EXP, tok, sizeof(tok)) > 0);
    CHECK_STR(tok, HS_VECTOR);
    tt_key_free(k);
    /* absolute path ignores basedir */
    char spec[256];
    snprintf(spec, sizeof(spec), "file:%s/hex.key", keydir);
    struct tt_key *abs = NULL;
    CHECK_INT(tt_key_parse(spec, "/nonexistent", &abs, NULL, 0), 0);
    CHECK(abs && verify(abs, HS_VECTOR) == 0);
    tt_key_free(abs);
    /* basedir with trailing slash */
    char based[128];
    snprintf(based, sizeof(based), "%s/", keydir);
    CHECK_INT(tt_key_parse("file:hex.key", based, &abs, NULL, 0), 0);
    tt_key_free(abs);

    /* errors carry a reason */
    struct {
        const char *spec, *needle;
    } bad[] = {
        {"", "empty"},
        {"base64:", "empty"},
        {"base64:!!!!", "base64"},
        {"file:", "path"},
        {"file:missing.key", "missing.key"},
        {"file:badhex.key", "hex"},
        {"file:nothex.key", "hex"},
        {"file:badpem.pem", "PEM"},
        {"file:ec384.pem", "P-256"},
        {"file:ed.pem", "neither EC nor RSA"},
    };
    for (size_t i = 0; i < TT_ARRAY_LEN(bad); i++) {
        struct tt_key *x = (struct tt_key *)1;
        char err[256] = "";
        int rc = tt_key_parse(bad[i].spec, keydir, &x, err, sizeof(err));
        CHECK(rc < 0);
        CHECK(x == NULL);
        if (!strstr(err, bad[i].needle)) {
            fprintf(stderr, "spec %s: err \"%s\" lacks \"%s\"\n", bad[i].spec, err, bad[i].needle);
            CHECK(0);
        }
    }
    tt_key_free(NULL);
}

static void check_asym(const char *priv, const char *pub, enum tt_key_alg alg, size_t siglen,
                       const char *py_token)
{
    struct tt_key *k = key(priv), *p = key(pub);
    CHECK_INT(tt_key_alg(k), alg);
    CHECK_INT(tt_key_alg(p), alg);
    char tok[2048];
    int n = tt_jwt_sign_grip(k, "pushpin", EXP, tok, sizeof(tok));
    CHECK(n > 0);
    CHECK_INT(verify(k, tok), 0);
    CHECK_INT(verify(p, tok), 0);
    CHECK_INT(tt_jwt_verify(p, tok, (size_t)n, EXP, false), TT_EPARSE);
    /* header and claims are exactly what Pushpin sends */
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char seg[1024];
    int sl = tt_base64_decode(tok, (size_t)(d1 - tok), seg, sizeof(seg) - 1, true);
    CHECK(sl > 0);
    seg[sl > 0 ? sl : 0] = '\0';
    CHECK_STR(seg, alg == TT_ALG_ES256 ? "{\"typ\":\"JWT\",\"alg\":\"ES256\"}"
                                       : "{\"typ\":\"JWT\",\"alg\":\"RS256\"}");
    sl = tt_base64_decode(d1 + 1, (size_t)(d2 - d1 - 1), seg, sizeof(seg) - 1, true);
    CHECK(sl > 0);
    seg[sl > 0 ? sl : 0] = '\0';
    CHECK_STR(seg, "{\"iss\":\"pushpin\",\"exp\":2000000000}");
    /* signature size: raw r||s for ES256, modulus size for RS256 */
    CHECK_INT(tt_base64_decode(d2 + 1, strlen(d2 + 1), seg, sizeof(seg), true), siglen);
    /* tamper the signature and the payload */
    char t2[2048];
    strcpy(t2, tok);
    t2[(d2 - tok) + 5] = t2[(d2 - tok) + 5] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(p, t2), TT_EPARSE);
    strcpy(t2, tok);
    t2[(d1 - tok) + 3] = t2[(d1 - tok) + 3] == 'A' ? 'B' : 'A';
    CHECK_INT(verify(p, t2), TT_EPARSE);
    /* tokens from another implementation */
    CHECK_INT(verify(p, py_token), 0);
    CHECK_INT(verify(k, py_token), 0);
    /* a public key cannot sign */
    CHECK_INT(tt_jwt_sign_grip(p, "pushpin", EXP, tok, sizeof(tok)), TT_EUNSUPP);
    /* alg mismatch both ways */
    struct tt_key *hs = key("changeme");
    CHECK_INT(verify(hs, py_token), TT_EPARSE);
    CHECK_INT(verify(p, HS_VECTOR), TT_EPARSE);
    CHECK_INT(verify(p, ALG_NONE), TT_EPARSE);
    tt_key_free(hs);
    tt_key_free(k);
    tt_key_free(p);
}

static void test_es256(void)
{
    check_asym("file:ec.pem", "file:ec_pub.pem", TT_ALG_ES256, 64, PY_ES256);
    /* traditional "EC PRIVATE KEY" PEM works too */
    struct tt_key *k = key("file:ec_trad.pem");
    CHECK_INT(tt_key_alg(k), TT_ALG_ES256);
    CHECK_INT(verify(k, PY_ES256), 0);
    char tok[512];
    CHECK(tt_jwt_sign_grip(k, "pushpin", EXP, tok, sizeof(tok)) > 0);
    tt_key_free(k);
    /* an ES256 signature of the wrong length is rejected, not truncated */
    struct tt_key *p = key("file:ec_pub.pem");
    char t[512];
    snprintf(t, sizeof(t), "%.*sAAAA", (int)(strrchr(PY_ES256, '.') - PY_ES256 + 1), PY_ES256);
    CHECK_INT(verify(p, t), TT_EPARSE);
    tt_key_free(p);
}

static void test_rs256(void)
{
    check_asym("file:rsa.pem", "file:rsa_pub.pem", TT_ALG_RS256, 256, PY_RS256);
    struct tt_key *p = key("file:rsa_pub1.pem"); /* "RSA PUBLIC KEY" (PKCS#1) */
    CHECK_INT(tt_key_alg(p), TT_ALG_RS256);
    CHECK_INT(verify(p, PY_RS256), 0);
    /* alg confusion: HMAC with the public key PEM as secret must not pass */
    CHECK_INT(verify(p, CONFUSE_HS), TT_EPARSE);
    CHECK_INT(verify(p, CONFUSE_RS), TT_EPARSE);
    tt_key_free(p);
}

static void run_with_keys(void)
{
    setup_keys();
    test_key_specs();
    test_es256();
    test_rs256();
    cleanup_keys();
}

TT_TEST_MAIN(test_base64, test_hs256_vector, test_hs256_reject, run_with_keys)
