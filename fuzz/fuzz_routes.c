/* fuzz_routes.c: routes file parser and matcher. Parses the input as a routes file, then
 * runs a few lookups against the snapshot, including hosts and paths taken from it. */
#include <stdint.h>
#include <stdlib.h>

#include "routes/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_warn(void *ctx, int line, const char *msg)
{
    int *n = ctx;
    if (line > 0 && msg && msg[0])
        (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int warnings = 0, errors = 0;
    struct tt_routes *r = tt_routes_parse((const char *)data, size, on_warn, &warnings, &errors);
    if (errors != warnings)
        abort();
    static const char *const paths[] = {"/", "/api/x", "", "/jsonp-basic"};
    for (size_t i = 0; i < r->num_routes; i++) {
        const struct tt_route *rt = &r->routes[i];
        if (rt->num_targets == 0)
            abort();
        const char *host = rt->domain ? rt->domain : "localhost";
        const char *path = rt->path_beg ? rt->path_beg : "/";
        for (int mode = 0; mode < 4; mode++) {
            const struct tt_route *m =
                tt_routes_match(r, host, strlen(host), path, strlen(path), mode & 1, mode & 2);
            if (m && (m < r->routes || m >= r->routes + r->num_routes))
                abort();
        }
        if (rt->id)
            (void)tt_routes_find_id(r, rt->id, strlen(rt->id), path, strlen(path));
    }
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        (void)tt_routes_match(r, "example.com", 11, paths[i], strlen(paths[i]), false, false);

    /* the same text as --route lines */
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *lines[64];
    size_t n = 0;
    for (char *p = copy; p && n < 64;) {
        lines[n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    struct tt_routes *r2 = tt_routes_from_lines(lines, n, NULL, NULL, NULL);
    tt_routes_ref(r2);
    tt_routes_unref(r2);
    tt_routes_unref(r2);
    free(copy);
    tt_routes_unref(r);
    return 0;
}
