/* log.h: leveled logging to stderr (or a log file), thread-safe line writes.
 *
 * Levels follow Pushpin: 0 error, 1 warning, 2 info, 3 debug. Peer-controlled text must go
 * through tt_log_escape so that no raw control bytes reach the log. Thread: any. */
#ifndef TT_LOG_H
#define TT_LOG_H

#include "core/common.h"

enum { TT_LOG_ERROR = 0, TT_LOG_WARN = 1, TT_LOG_INFO = 2, TT_LOG_DEBUG = 3 };

extern int tt_log_level;

void tt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reopen the log file (SIGHUP); NULL path logs to stderr. */
int tt_log_open(const char *path);
/* Copy at most len bytes of s into out (size outlen, NUL-terminated), escaping bytes
 * outside printable ASCII as \xHH and truncating with "..." when it does not fit.
 * Returns out. */
char *tt_log_escape(const char *s, size_t len, char *out, size_t outlen);

#define TT_LOG_ON(lvl) ((lvl) <= tt_log_level)
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
