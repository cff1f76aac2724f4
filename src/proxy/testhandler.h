/* testhandler.h: the built-in `test` target (SPEC.md section 10): `/`, `/response`,
 * `/stream`, with `?channel=` (repeatable; default "test"). Its answers go through the
 * same GRIP processing as a backend's. Thread: any. */
#ifndef TT_TESTHANDLER_H
#define TT_TESTHANDLER_H

#include "http/resp.h"
#include "routes/routes.h"

/* Fill out (initialised here) with the test backend's answer to method+path. */
void tt_testhandler_respond(const struct tt_route *route, const char *method, const char *path,
                            const char *body, size_t body_len, bool body_too_big,
                            struct tt_resp *out);

#endif
