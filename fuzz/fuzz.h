/* fuzz.h: what every fuzz target shares: the libFuzzer entry point and an invariant check
 * that aborts (so both libFuzzer and the corpus replay report it). */
#ifndef TT_FUZZ_H
#define TT_FUZZ_H

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENSURE(c)                                                                              \
    do {                                                                                       \
        if (!(c))                                                                              \
            abort();                                                                           \
    } while (0)

#endif
