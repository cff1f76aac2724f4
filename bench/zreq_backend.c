/*
 * bench/zreq_backend.c: a zhttpreq handler for the benchmarks: a ROUTER connected to the
 * proxy's DEALER (route target zhttpreq/<spec>), answering every request at once with
 * 200 "ok\n". A ROUTER (not a REP) so that many requests can be in flight, as behind a
 * real handler pool. The request id is taken from the packet's "id" field; everything
 * else is ignored.
 *
 *   zreq_backend <spec>        e.g. tcp://127.0.0.1:18150 (the proxy binds, we connect)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* The id of a "T" + tnetstring request: the value after the key "2:id,". */
static int find_id(const char *p, size_t n, const char **id, size_t *len)
{
    for (size_t i = 0; i + 5 < n; i++) {
        if (memcmp(p + i, "2:id,", 5) != 0)
            continue;
        size_t j = i + 5, l = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9')
            l = l * 10 + (size_t)(p[j++] - '0');
        if (j >= n || p[j] != ':' || j + 1 + l >= n || p[j + 1 + l] != ',')
            return -1;
        *id = p + j + 1;
        *len = l;
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: zreq_backend <spec>\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int hwm = 100000;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    if (zmq_connect(s, argv[1]) != 0) {
        fprintf(stderr, "zreq_backend: connect %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    static const char tail[] = "4:code,3:200#6:reason,2:OK,7:headers,34:30:12:Content-Type,"
                               "10:text/plain,]]4:body,3:ok\n,";
    char out[512];
    for (;;) {
        zmq_msg_t parts[4];
        int n = 0;
        for (;;) {
            if (n < 4)
                zmq_msg_init(&parts[n]);
            zmq_msg_t tmp;
            zmq_msg_t *m = n < 4 ? &parts[n] : &tmp;
            if (n >= 4)
                zmq_msg_init(m);
            if (zmq_msg_recv(m, s, 0) < 0)
                return 1;
            int more = zmq_msg_more(m);
            if (n >= 4)
                zmq_msg_close(m);
            n++;
            if (!more)
                break;
        }
        if (n == 3) {
            const char *id;
            size_t idlen;
            const char *data = zmq_msg_data(&parts[2]);
            size_t dlen = zmq_msg_size(&parts[2]);
            if (dlen > 1 && data[0] == 'T' && find_id(data + 1, dlen - 1, &id, &idlen) == 0 &&
                idlen < 100) {
                char idf[128];
                int il = snprintf(idf, sizeof(idf), "2:id,%zu:", idlen);
                memcpy(idf + il, id, idlen);
                il += (int)idlen;
                idf[il++] = ',';
                size_t payload = (size_t)il + sizeof(tail) - 1;
                int k = snprintf(out, sizeof(out), "T%zu:", payload);
                memcpy(out + k, idf, (size_t)il);
                k += il;
                memcpy(out + k, tail, sizeof(tail) - 1);
                k += (int)sizeof(tail) - 1;
                out[k++] = '}';
                zmq_send(s, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), ZMQ_SNDMORE);
                zmq_send(s, "", 0, ZMQ_SNDMORE);
                zmq_send(s, out, (size_t)k, 0);
            }
        }
        for (int i = 0; i < n && i < 4; i++)
            zmq_msg_close(&parts[i]);
    }
}
