/* fuzz_ws_events.c: the application/websocket-events parser. Counting and iterating must
 * agree; every event points inside the body; what parses, written back with the writer,
 * parses to the same events. */
#include "fuzz.h"
#include "ws/events.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    int count = tt_ws_events_count(body, size, 1000);
    ENSURE(count >= 0 || count == TT_EPARSE || count == TT_ETOOBIG);
    size_t pos = 0, n = 0;
    struct tt_ws_event ev;
    int rc;
    struct tt_buf again;
    tt_buf_init(&again, 0);
    bool rewritable = true;
    while ((rc = tt_ws_events_next(body, size, &pos, &ev)) == 1) {
        n++;
        ENSURE(pos <= size);
        ENSURE(ev.name >= body && ev.name + ev.name_len <= body + size && ev.name_len > 0);
        if (ev.has_content)
            ENSURE((const char *)ev.content >= body &&
                   (const char *)ev.content + ev.content_len <= body + size);
        if (ev.type == TT_WS_EV_UNKNOWN) {
            rewritable = false;
            continue;
        }
        ENSURE(tt_ws_events_append(&again, ev.type, ev.has_content, ev.content,
                                   ev.content_len) == 0);
        if (ev.type == TT_WS_EV_CLOSE) {
            int code;
            const uint8_t *r;
            size_t rl;
            tt_ws_events_close_parse(&ev, &code, &r, &rl);
            ENSURE(code >= -1 && code <= 65535);
            ENSURE(rl == 0 || (r >= ev.content && r + rl <= ev.content + ev.content_len));
        }
    }
    ENSURE(rc == 0 || rc == TT_EPARSE);
    if (rc == 0 && n <= 1000)
        ENSURE(count == (int)n);
    if (rc == 0 && rewritable) {
        /* Our writer's form is canonical (lowercase hex, no leading zeros): parse it back. */
        ENSURE(tt_ws_events_count(again.data ? again.data : "", again.len, 1000000) == (int)n);
        size_t p1 = 0, p2 = 0;
        struct tt_ws_event a, b;
        while (tt_ws_events_next(body, size, &p1, &a) == 1) {
            ENSURE(tt_ws_events_next(again.data, again.len, &p2, &b) == 1);
            ENSURE(a.type == b.type && a.has_content == b.has_content &&
                   a.content_len == b.content_len);
            ENSURE(a.content_len == 0 || memcmp(a.content, b.content, a.content_len) == 0);
        }
    }
    tt_buf_deinit(&again);
    free(body);
    return 0;
}
