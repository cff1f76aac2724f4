/*
 * bench/zpub.c: a ZeroMQ publisher for the benchmarks: PUSH to a server's PULL input
 * (push_in_spec), one tnetstring item per message, as Pushpin's publishers send them.
 *
 *   zpub spec= chan= [nchan=1] [count=1] [interval_ms=0] [maxtime=120]
 *
 * count rounds; a round is one item to each of the nchan channels ("{i}" in chan becomes
 * 0..nchan-1); rounds start interval_ms apart (0: back to back). Every item's http-stream
 * content is "@<CLOCK_REALTIME ns>\n" (the stamp loadc's subscribers measure latency
 * from). The socket waits for the PULL side to be connected before the first send, and
 * sends block at the high-water mark (the server's pace). Prints one JSON line shaped like
 * loadc pub's: first_ns, last_ns, last_resp_ns (= last_ns), posts (messages), items,
 * errors.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *arg(int argc, char **argv, const char *key, const char *def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=')
            return argv[i] + kl + 1;
    return def;
}

/* "<len>:<bytes>," */
static size_t tn_str(char *out, const char *s, size_t n)
{
    size_t k = (size_t)sprintf(out, "%zu:", n);
    memcpy(out + k, s, n);
    out[k + n] = ',';
    return k + n + 1;
}

int main(int argc, char **argv)
{
    const char *spec = arg(argc, argv, "spec", NULL);
    const char *chan = arg(argc, argv, "chan", NULL);
    if (!spec || !chan) {
        fprintf(stderr, "usage: zpub spec= chan= [nchan=1] [count=1] [interval_ms=0]\n");
        return 2;
    }
    long nchan = atol(arg(argc, argv, "nchan", "1"));
    long count = atol(arg(argc, argv, "count", "1"));
    long interval = atol(arg(argc, argv, "interval_ms", "0"));
    int maxtime = atoi(arg(argc, argv, "maxtime", "120"));
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    int one = 1, linger = maxtime * 1000, hwm = 10000;
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (zmq_connect(s, spec) != 0) {
        fprintf(stderr, "zpub: connect %s: %s\n", spec, zmq_strerror(zmq_errno()));
        return 1;
    }
    zmq_pollitem_t pi = {s, 0, ZMQ_POLLOUT, 0};
    if (zmq_poll(&pi, 1, 10000) <= 0) {
        fprintf(stderr, "zpub: %s not reachable\n", spec);
        return 1;
    }
    const char *brace = strstr(chan, "{i}");
    uint64_t first = 0, last = 0;
    long sent = 0, errors = 0;
    char name[256], item[1024], inner[512], fmt[512], stamp[64];
    for (long r = 0; r < count; r++) {
        uint64_t round_start = real_ns();
        for (long i = 0; i < nchan; i++) {
            if (brace)
                snprintf(name, sizeof(name), "%.*s%ld%s", (int)(brace - chan), chan, i, brace + 3);
            else
                snprintf(name, sizeof(name), "%s", chan);
            uint64_t now = real_ns();
            int sl = snprintf(stamp, sizeof(stamp), "@%" PRIu64 "\n", now);
            /* {"channel": name, "formats": {"http-stream": {"content": stamp}}} */
            size_t k = 0;
            k += tn_str(inner + k, "content", 7);
            k += tn_str(inner + k, stamp, (size_t)sl);
            size_t f = 0;
            f += tn_str(fmt + f, "http-stream", 11);
            f += (size_t)sprintf(fmt + f, "%zu:", k);
            memcpy(fmt + f, inner, k);
            f += k;
            fmt[f++] = '}';
            char body[900];
            size_t b = 0;
            b += tn_str(body + b, "channel", 7);
            b += tn_str(body + b, name, strlen(name));
            b += tn_str(body + b, "formats", 7);
            b += (size_t)sprintf(body + b, "%zu:", f);
            memcpy(body + b, fmt, f);
            b += f;
            body[b++] = '}';
            size_t n = (size_t)sprintf(item, "%zu:", b);
            memcpy(item + n, body, b);
            n += b;
            item[n++] = '}';
            if (!first)
                first = now;
            if (zmq_send(s, item, n, 0) < 0)
                errors++;
            else
                sent++;
            last = real_ns();
        }
        if (interval > 0 && r + 1 < count) {
            uint64_t next = round_start + (uint64_t)interval * 1000000ull;
            uint64_t now = real_ns();
            if (next > now)
                usleep((useconds_t)((next - now) / 1000));
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    printf("{\"first_ns\": %" PRIu64 ", \"last_ns\": %" PRIu64 ", \"last_resp_ns\": %" PRIu64
           ", \"posts\": %ld, \"items\": %ld, \"errors\": %ld}\n",
           first, last, last, sent, sent, errors);
    return 0;
}
