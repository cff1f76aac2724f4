/* jwt.h: keys and the JWTs of Grip-Sig (HS256, ES256, RS256) and publish auth.
 *
 * Key spec syntax (Pushpin): plain string = HMAC secret bytes; "base64:<b64>";
 * "file:<path>" (relative to basedir) -- a file starting "-----BEGIN" is a PEM key (EC =>
 * ES256, RSA => RS256; private or public), otherwise the file holds a hex-encoded secret
 * (whitespace trimmed). The algorithm always comes from the key, never from the token.
 * Owner: tt_key_free frees. Thread: a key is read-only after parse and may be shared. */
#ifndef TT_JWT_H
#define TT_JWT_H

#include "core/base64.h"

enum tt_key_alg { TT_ALG_HS256, TT_ALG_ES256, TT_ALG_RS256 };

struct tt_key; /* opaque */

int tt_key_parse(const char *spec, const char *basedir, struct tt_key **out, char *err,
                 size_t errlen);
void tt_key_free(struct tt_key *k);
enum tt_key_alg tt_key_alg(const struct tt_key *k);

/* Sign {"iss":iss,"exp":exp} with header {"typ":"JWT","alg":...}. Writes a NUL-terminated
 * token into out. Returns token length or a negative code (TT_ETOOBIG if outlen too
 * small; an ES/RS public-only key cannot sign: TT_EUNSUPP). */
int tt_jwt_sign_grip(const struct tt_key *k, const char *iss, int64_t exp, char *out,
                     size_t outlen);

/* Verify a compact JWT: signature with k (the token's alg must equal the key's), and
 * "exp" (if present, or if require_exp) > now. Returns 0 when valid, TT_EPARSE when not. */
int tt_jwt_verify(const struct tt_key *k, const char *token, size_t len, int64_t now,
                  bool require_exp);

#endif
