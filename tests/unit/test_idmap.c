/* test_idmap.c: the id map against a plain array model, through growth and removals
 * (backward shift must keep every remaining id reachable). */
#include <stdlib.h>

#include "core/idmap.h"
#include "tt_test.h"

#define N 5000

int main(void)
{
    struct tt_idmap m;
    tt_idmap_init(&m);
    static void *model[N + 1];
    unsigned seed = 12345;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t id = 1 + (seed >> 8) % N;
        /* Sequential-looking ids with a worker index in the low bits, as requests use. */
        uint64_t key = id * 64 + 3;
        if ((seed >> 4) & 1) {
            void *v = (void *)(uintptr_t)(round + 1);
            tt_idmap_put(&m, key, v);
            model[id] = v;
        } else {
            void *old = tt_idmap_remove(&m, key);
            if (old != model[id]) {
                CHECK(old == model[id]);
                break;
            }
            model[id] = NULL;
        }
    }
    size_t live = 0;
    int bad = 0;
    for (uint64_t id = 1; id <= N; id++) {
        if (model[id])
            live++;
        if (tt_idmap_get(&m, id * 64 + 3) != model[id])
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(m.size, live);
    CHECK(tt_idmap_get(&m, 0) == NULL);
    CHECK(tt_idmap_remove(&m, 999999) == NULL);
    tt_idmap_deinit(&m);
    printf("%d passed, %d failed\n", tt_test_pass, tt_test_fail);
    return tt_test_fail ? 1 : 0;
}
