#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int tt_log_level = TT_LOG_INFO;
/* The file lines go to (NULL: stderr). Swapped by tt_log_open while other threads log:
 * the lock keeps a line from being written to a file being closed. */
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void tt_log_set_level(int level)
{
    __atomic_store_n(&tt_log_level, level, __ATOMIC_RELAXED);
}

int tt_log_open(const char *path)
{
    FILE *f = NULL;
    if (path) {
        f = fopen(path, "a");
        if (!f)
            return -1;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    FILE *old = log_file;
    log_file = f;
    pthread_mutex_unlock(&log_lock);
    if (old)
        fclose(old);
    return 0;
}

void tt_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"ERR", "WARN", "INFO", "DEBUG"};
    if (!TT_LOG_ON(level))
        return;
    char line[4096];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "[%s] %04d-%02d-%02d %02d:%02d:%02d.%03d ",
                     names[level < 0 ? 0 : level > 3 ? 3 : level], tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : TT_MIN((size_t)m, sizeof(line) - (size_t)n - 2));
    line[len++] = '\n';
    pthread_mutex_lock(&log_lock);
    fwrite(line, 1, len, log_file ? log_file : stderr);
    pthread_mutex_unlock(&log_lock);
}

char *tt_log_escape(const char *s, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        if (o + need + 4 > outlen) {
            if (outlen >= 4) {
                memcpy(out + (o <= outlen - 4 ? o : outlen - 4), "...", 3);
                o = (o <= outlen - 4 ? o : outlen - 4) + 3;
            }
            break;
        }
        if (need == 1) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (outlen)
        out[o < outlen ? o : outlen - 1] = '\0';
    return out;
}
