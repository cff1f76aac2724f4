/* fuzz_publish.c: tt_pub_parse_body on arbitrary bytes, and for bodies that parse, every
 * body-patch applied to a small document. Errors must be clean; a success must hand back
 * a consistent array. Every body the fast path (pubsub/pubfast.c) takes must also parse
 * through the jansson tree, into the same items field for field. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "pubsub/item.h"
#include "pubsub/pubfast.h"

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (!a) == (!b) && (!a || memcmp(a, b, al) == 0);
}

static bool same_list(char **a, size_t an, char **b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!same_str(a[i], b[i]))
            return false;
    return true;
}

static bool same_kvs(const struct tt_kv *a, size_t an, const struct tt_kv *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (!same_str(a[i].name, b[i].name) || !same_str(a[i].value, b[i].value))
            return false;
    return true;
}

static bool same_item(const struct tt_pub_item *a, const struct tt_pub_item *b)
{
    if (!same_str(a->channel, b->channel) || !same_str(a->id, b->id) ||
        !same_str(a->prev_id, b->prev_id) || a->no_seq != b->no_seq || a->size != b->size ||
        !same_kvs(a->meta, a->num_meta, b->meta, b->num_meta))
        return false;
    if (a->has_http_response != b->has_http_response ||
        a->http_response.action != b->http_response.action ||
        a->http_response.code != b->http_response.code ||
        !same_str(a->http_response.reason, b->http_response.reason) ||
        !same_kvs(a->http_response.headers, a->http_response.num_headers, b->http_response.headers,
                  b->http_response.num_headers) ||
        !same_bytes(a->http_response.body, a->http_response.body_len, b->http_response.body,
                    b->http_response.body_len) ||
        (a->http_response.body_patch != NULL) != (b->http_response.body_patch != NULL) ||
        !same_list(a->http_response.content_filters, a->http_response.num_content_filters,
                   b->http_response.content_filters, b->http_response.num_content_filters))
        return false;
    if (a->has_http_stream != b->has_http_stream ||
        a->http_stream.action != b->http_stream.action ||
        !same_bytes(a->http_stream.content, a->http_stream.content_len, b->http_stream.content,
                    b->http_stream.content_len) ||
        !same_list(a->http_stream.content_filters, a->http_stream.num_content_filters,
                   b->http_stream.content_filters, b->http_stream.num_content_filters))
        return false;
    return a->has_ws_message == b->has_ws_message &&
           a->ws_message.action == b->ws_message.action &&
           a->ws_message.type == b->ws_message.type && a->ws_message.code == b->ws_message.code &&
           same_str(a->ws_message.reason, b->ws_message.reason) &&
           same_bytes(a->ws_message.content, a->ws_message.content_len, b->ws_message.content,
                      b->ws_message.content_len) &&
           same_list(a->ws_message.content_filters, a->ws_message.num_content_filters,
                     b->ws_message.content_filters, b->ws_message.num_content_filters);
}

static void check_fast_path(const char *body, size_t size)
{
    struct tt_pub_item *fast = NULL, *tree = NULL;
    size_t nf = 0, nt = 0;
    char err[256];
    if (!tt__pub_parse_fast(body, size, &fast, &nf)) {
        ENSURE(!fast && !nf);
        return;
    }
    ENSURE(fast);
    ENSURE(tt_pub_parse_body_tree(body, size, &tree, &nt, err, sizeof(err)) == 0);
    ENSURE(nf == nt);
    for (size_t i = 0; i < nf; i++)
        ENSURE(same_item(&fast[i], &tree[i]));
    tt_pub_items_free(fast, nf);
    tt_pub_items_free(tree, nt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_fast_path((const char *)data, size);
    struct tt_pub_item *items = NULL;
    size_t n = 0;
    char err[256];
    int r = tt_pub_parse_body((const char *)data, size, &items, &n, err, sizeof(err));
    if (r < 0) {
        if (items || n)
            abort();
        if (strncmp(err, "Body is not valid JSON.", 23) != 0 &&
            strncmp(err, "Invalid format", 14) != 0)
            abort();
        return 0;
    }
    static const char doc[] = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":{\"e~f\":null,\"g/h\":0.5}}\n";
    for (size_t i = 0; i < n; i++) {
        if (!items[i].channel)
            abort();
        if (items[i].http_response.body_patch) {
            size_t len = 0;
            char *out =
                tt_json_patch_apply(doc, sizeof(doc) - 1, items[i].http_response.body_patch, &len);
            if (out && strlen(out) > len)
                abort();
            free(out);
        }
    }
    tt_pub_items_free(items, n);
    return 0;
}
