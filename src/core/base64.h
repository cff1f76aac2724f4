/* base64.h: base64 encoding and decoding (RFC 4648), standard alphabet with padding or
 * the URL alphabet without. Sans-I/O. Thread: any. */
#ifndef TT_BASE64_H
#define TT_BASE64_H

#include "core/common.h"

/* Encode len bytes into out (NUL-terminated). Returns the output length, or TT_ETOOBIG if
 * outlen is too small. */
int tt_base64_encode(const void *in, size_t len, char *out, size_t outlen, bool url);
/* Decode into out. Padding is optional, but when present must complete the last quantum.
 * With url, leftover bits must be zero (one spelling per value). Returns the decoded
 * length, TT_EPARSE on a bad character or length, TT_ETOOBIG if outlen is too small. */
int tt_base64_decode(const char *in, size_t len, void *out, size_t outlen, bool url);

#endif
