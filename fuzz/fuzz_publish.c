/* fuzz_publish.c: tt_pub_parse_body on arbitrary bytes, and for bodies that parse, every
 * body-patch applied to a small document. Errors must be clean; a success must hand back
 * a consistent array. */
#include <stdint.h>
#include <stdlib.h>

#include "pubsub/item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
