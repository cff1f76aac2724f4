/* fuzz_grip.c: GRIP instruction parsing from a response built out of the input.
 *
 * Layout: byte 0 picks the status (bit 0: 200 or 404) and max_channels (bits 1-3); then
 * "Name: value" lines separated by '\n' up to an empty line; the rest is the body. Each
 * header value is also fed to tt_grip_split_header. Checks: a failed parse leaves the
 * struct zeroed with an error text; a successful one respects the caps. */
#include "fuzz.h"
#include "grip/grip.h"

#include <stdlib.h>
#include <string.h>

static struct tt_h1_response resp;

static int count_item(void *ctx, const char *value, size_t value_len, struct tt_grip_param *params,
                      size_t num_params)
{
    (void)value;
    (void)value_len;
    for (size_t i = 0; i < num_params; i++)
        if (params[i].value)
            ENSURE(strlen(params[i].value) < 1000000);
    (*(size_t *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 200000)
        return 0;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1, pos = 0;
    memset(&resp, 0, sizeof(resp));
    resp.status = (data[0] & 1) ? 404 : 200;
    resp.minor_version = 1;
    resp.framing.content_length = -1;
    size_t max_channels = (data[0] >> 1) & 7;
    while (pos < len && resp.num_headers < TT_H1_MAX_HEADERS) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end == pos) {
            pos++;
            break; /* empty line: body follows */
        }
        const char *line = buf + pos;
        size_t llen = end - pos;
        const char *colon = memchr(line, ':', llen);
        if (colon) {
            struct tt_h1_header *h = &resp.headers[resp.num_headers++];
            h->name = line;
            h->name_len = (size_t)(colon - line);
            h->value = colon + 1;
            h->value_len = llen - h->name_len - 1;
            tt_trim(&h->value, &h->value_len);
            size_t items = 0;
            tt_grip_split_header(h->value, h->value_len, count_item, &items);
        }
        pos = end + (nl ? 1 : 0);
    }
    const char *body = buf + pos;
    size_t body_len = len - pos;

    struct tt_grip g, zero;
    memset(&zero, 0, sizeof(zero));
    char err[200];
    int rc = tt_grip_parse(&resp, body, body_len, "p-", max_channels, &g, err, sizeof(err));
    if (rc < 0) {
        ENSURE(rc == TT_EPARSE);
        ENSURE(err[0] != '\0');
        ENSURE(memcmp(&g, &zero, sizeof(g)) == 0);
    } else {
        ENSURE(rc == 0);
        ENSURE(g.is_grip == tt_grip_detect(&resp));
        ENSURE(g.num_channels <= max_channels);
        for (size_t i = 0; i < g.num_channels; i++) {
            ENSURE(strncmp(g.channels[i].name, "p-", 2) == 0 && g.channels[i].name[2]);
            ENSURE(g.channels[i].num_filters >= 0 &&
                   g.channels[i].num_filters <= TT_GRIP_MAX_FILTERS);
        }
        ENSURE(tt_grip_hold_timeout(&g) >= 5);
        ENSURE(!g.ka_data || g.ka_timeout >= 1);
        ENSURE(g.status >= 0 && g.status <= 999);
        ENSURE(g.resp_code >= 0 && g.resp_code <= 999);
        for (size_t i = 0; i < g.num_resp_headers; i++)
            ENSURE(!strpbrk(g.resp_headers[i].value, "\r\n") && g.resp_headers[i].name[0]);
        const char *reason;
        size_t rlen;
        int code = tt_grip_status_line(&g, 200, "OK", 2, &reason, &rlen);
        ENSURE(code >= 0 && code <= 999);
        ENSURE(!reason || rlen > 0);
        tt_grip_deinit(&g);
        ENSURE(memcmp(&g, &zero, sizeof(g)) == 0);
    }
    free(buf);
    return 0;
}
