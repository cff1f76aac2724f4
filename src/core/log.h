/* log.h: leveled logging to stderr (or a log file), thread-safe line writes.
 *
 * Levels follow Pushpin: 0 error, 1 warning, 2 info, 3 debug. Peer-controlled text must go
 * through tt_log_escape so that no raw control bytes reach the log. Thread: any. */
#ifndef TT_LOG_H
#define TT_LOG_H

#include "core/common.h"

enum { TT_LOG_ERROR = 0, TT_LOG_WARN = 1, TT_LOG_INFO = 2, TT_LOG_DEBUG = 3 };

/* The level in force. Read by every thread, changed by main at start-up and on SIGHUP:
 * only through the atomic accessors (TT_LOG_ON, tt_log_set_level). */
extern int tt_log_level;

void tt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reopen the log file (SIGHUP); NULL path logs to stderr. Lines being written by other
 * threads meanwhile go whole to the old file or to the new one. */
int tt_log_open(const char *path);
/* Change the level (any thread; takes effect at once in every thread). */
void tt_log_set_level(int level);
/* Copy at most len bytes of s into out (size outlen, NUL-terminated), escaping bytes
 * outside printable ASCII as \xHH and truncating with "..." when it does not fit.
 * Returns out. */
char *tt_log_escape(const char *s, size_t len, char *out, size_t outlen);

#define TT_LOG_ON(lvl) ((lvl) <= __atomic_load_n(&tt_log_level, __ATOMIC_RELAXED))
#define tt_err(...) tt_log(TT_LOG_ERROR, __VA_ARGS__)
#define tt_warn(...) tt_log(TT_LOG_WARN, __VA_ARGS__)
#define tt_info(...)                                                                           \
    do {                                                                                       \
        if (TT_LOG_ON(TT_LOG_INFO))                                                            \
            tt_log(TT_LOG_INFO, __VA_ARGS__);                                                  \
    } while (0)
#define tt_debug(...)                                                                          \
    do {                                                                                       \
        if (TT_LOG_ON(TT_LOG_DEBUG))                                                           \
            tt_log(TT_LOG_DEBUG, __VA_ARGS__);                                                 \
    } while (0)

#endif
