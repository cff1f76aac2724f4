/* tt_test.h: a tiny unit-test harness. Each test binary ends by printing
 * "N passed, N failed" and exits non-zero on any failure. */
#ifndef TT_TEST_H
#define TT_TEST_H

#include <stdio.h>
#include <string.h>

static int tt_test_pass, tt_test_fail;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            tt_test_pass++;                                                                    \
        } else {                                                                               \
            tt_test_fail++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

#define CHECK_INT(a, b)                                                                        \
    do {                                                                                       \
        long long tt_a_ = (long long)(a), tt_b_ = (long long)(b);                              \
        if (tt_a_ == tt_b_) {                                                                  \
            tt_test_pass++;                                                                    \
        } else {                                                                               \
            tt_test_fail++;                                                                    \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,      \
                    tt_a_, tt_b_);                                                             \
        }                                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *tt_a_ = (a), *tt_b_ = (b);                                                 \
        if (tt_a_ && tt_b_ && strcmp(tt_a_, tt_b_) == 0) {                                     \
            tt_test_pass++;                                                                    \
        } else {                                                                               \
            tt_test_fail++;                                                                    \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,  \
                    tt_a_ ? tt_a_ : "(null)", tt_b_ ? tt_b_ : "(null)");                       \
        }                                                                                      \
    } while (0)

#define TT_TEST_MAIN(...)                                                                      \
    int main(void)                                                                             \
    {                                                                                          \
        void (*tests[])(void) = {__VA_ARGS__};                                                 \
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)                          \
            tests[i]();                                                                        \
        printf("%d passed, %d failed\n", tt_test_pass, tt_test_fail);                          \
        return tt_test_fail ? 1 : 0;                                                           \
    }

#endif
