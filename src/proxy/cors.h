/* cors.h: Pushpin's auto cross-origin headers (SPEC.md section 8), added when absent.
 * Thread: any. */
#ifndef TT_CORS_H
#define TT_CORS_H

#include "http/resp.h"

void tt_cors_apply(struct tt_resp *r, const char *origin, const char *req_method,
                   const char *req_headers);

#endif
