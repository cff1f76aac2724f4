/* tls.c: see tls.h. */
#include "net/tls.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "core/log.h"
#include "core/map.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/* A certificate set: name -> SSL_CTX (one reference each). Swapped whole on reload. */
struct cert_set {
    int refs; /* under the server's lock */
    struct tt_map by_name;
};

struct tt_tls_server {
    char *dir;
    bool h2;
    SSL_CTX *base; /* SSL objects start here: protocol settings, tickets, the hello hook */
    uv_mutex_t lock;
    struct cert_set *set;
};

static int port_index = -1;
static uv_once_t index_once = UV_ONCE_INIT;

static void make_index(void)
{
    port_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static void set_free(struct cert_set *s)
{
    size_t it;
    for (struct tt_map_entry *e = tt_map_first(&s->by_name, &it); e;
         e = tt_map_next(&s->by_name, e, &it))
        SSL_CTX_free(e->value);
    tt_map_deinit(&s->by_name);
    free(s);
}

static struct cert_set *set_acquire(struct tt_tls_server *ts)
{
    uv_mutex_lock(&ts->lock);
    struct cert_set *s = ts->set;
    s->refs++;
    uv_mutex_unlock(&ts->lock);
    return s;
}

static void set_release(struct tt_tls_server *ts, struct cert_set *s)
{
    uv_mutex_lock(&ts->lock);
    bool last = --s->refs == 0;
    uv_mutex_unlock(&ts->lock);
    if (last)
        set_free(s);
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    struct tt_tls_server *ts = arg;
    /* Ours in order of preference; the client's list is length-prefixed names. */
    static const unsigned char h2[] = "\x02h2", h11[] = "\x08http/1.1";
    const unsigned char *prefs[2] = {ts->h2 ? h2 : h11, h11};
    for (int k = 0; k < 2; k++) {
        for (unsigned i = 0; i < inlen;) {
            unsigned n = in[i];
            if (i + 1 + n > inlen)
                break;
            if (n == prefs[k][0] && memcmp(in + i + 1, prefs[k] + 1, n) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)n;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + n;
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* go on without ALPN: the client decides */
}

static void harden(SSL_CTX *ctx, struct tt_tls_server *ts)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS);
    /* IGNORE_UNEXPECTED_EOF: a client that closes without close_notify (most do) ends
     * like any other, instead of being answered with an alert on a socket it has already
     * left (a write per connection, as nginx does too). HTTP's own framing tells a cut
     * message from a whole one. */
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One read() per socket-full instead of two per record (header, then body); what is
     * read ahead is handed over by net/conn.c (kick_if_pending). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, ts);
    /* The same on every context, so that resumption survives the certificate switch. */
    static const unsigned char sid[] = "thumbtack";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
}

/* The SNI name from a ClientHello's server_name extension, lower-cased into out. */
static bool hello_server_name(SSL *ssl, char *out, size_t outlen)
{
    const unsigned char *p;
    size_t len;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return false;
    size_t list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name)
        return false;
    size_t n = (size_t)p[3] << 8 | p[4];
    if (n + 5 > len || n == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[5 + i];
        if (ch <= ' ' || ch >= 0x7f || ch == '/')
            return false; /* not a host name: no file is named after it */
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[n] = '\0';
    return true;
}

static SSL_CTX *lookup(struct cert_set *s, const char *name, uint16_t port)
{
    SSL_CTX *ctx = NULL;
    if (name && name[0]) {
        ctx = tt_map_get(&s->by_name, name, strlen(name));
        const char *dot = strchr(name, '.');
        if (!ctx && dot) {
            char wild[300];
            snprintf(wild, sizeof(wild), "_%s", dot);
            ctx = tt_map_get(&s->by_name, wild, strlen(wild));
        }
    }
    if (!ctx) {
        char def[32];
        int n = snprintf(def, sizeof(def), "default_%u", port);
        ctx = tt_map_get(&s->by_name, def, (size_t)n);
    }
    if (!ctx)
        ctx = tt_map_get(&s->by_name, "default", 7);
    return ctx;
}

/* Every ClientHello: pick the certificate (with or without SNI). */
static int on_hello(SSL *ssl, int *al, void *arg)
{
    struct tt_tls_server *ts = arg;
    char name[256];
    bool has = hello_server_name(ssl, name, sizeof(name));
    uint16_t port = (uint16_t)(uintptr_t)SSL_get_ex_data(ssl, port_index);
    struct cert_set *s = set_acquire(ts);
    SSL_CTX *ctx = lookup(s, has ? name : NULL, port);
    if (ctx)
        SSL_set_SSL_CTX(ssl, ctx); /* takes its own reference */
    set_release(ts, s);
    if (!ctx) {
        tt_debug("tls: no certificate for %s on port %u", has ? name : "(no SNI)", port);
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static void openssl_error(char *err, size_t errlen, const char *what, const char *file)
{
    char buf[160];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    snprintf(err, errlen, "%s %.200s: %.160s", what, file, buf);
    ERR_clear_error();
}

/* Load dir into a new set. Returns NULL (err set) if nothing could be loaded. */
static struct cert_set *load_dir(struct tt_tls_server *ts, char *err, size_t errlen)
{
    DIR *d = opendir(ts->dir);
    if (!d) {
        snprintf(err, errlen, "cannot read certificate directory %s: %s", ts->dir,
                 strerror(errno));
        return NULL;
    }
    struct cert_set *s = tt_calloc(1, sizeof(*s));
    s->refs = 1;
    tt_map_init(&s->by_name);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".crt") != 0)
            continue;
        char crt[4096], key[4096], msg[512];
        snprintf(crt, sizeof(crt), "%s/%s", ts->dir, e->d_name);
        snprintf(key, sizeof(key), "%s/%.*s.key", ts->dir, (int)(n - 4), e->d_name);
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        harden(ctx, ts);
        if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
            openssl_error(msg, sizeof(msg), "certificate", crt);
        } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            openssl_error(msg, sizeof(msg), "key", key);
        } else if (SSL_CTX_check_private_key(ctx) != 1) {
            openssl_error(msg, sizeof(msg), "key does not match", crt);
        } else {
            char name[256];
            size_t nl = TT_MIN(n - 4, sizeof(name) - 1);
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)(e->d_name[i] >= 'A' && e->d_name[i] <= 'Z' ? e->d_name[i] + 32
                                                                            : e->d_name[i]);
            name[nl] = '\0';
            SSL_CTX *old = tt_map_get(&s->by_name, name, nl);
            SSL_CTX_free(old);
            tt_map_put(&s->by_name, name, nl, ctx);
            continue;
        }
        tt_warn("tls: %s; skipped", msg);
        SSL_CTX_free(ctx);
    }
    closedir(d);
    if (s->by_name.size == 0) {
        snprintf(err, errlen, "no certificate (<name>.crt with <name>.key) in %s", ts->dir);
        set_free(s);
        return NULL;
    }
    return s;
}

int tt_tls_server_new(const char *dir, bool alpn_h2, struct tt_tls_server **out, char *err,
                      size_t errlen)
{
    uv_once(&index_once, make_index);
    struct tt_tls_server *ts = tt_calloc(1, sizeof(*ts));
    ts->dir = tt_strdup(dir);
    ts->h2 = alpn_h2;
    uv_mutex_init(&ts->lock);
    ts->set = load_dir(ts, err, errlen);
    if (!ts->set) {
        uv_mutex_destroy(&ts->lock);
        free(ts->dir);
        free(ts);
        return TT_ECONFIG;
    }
    ts->base = SSL_CTX_new(TLS_server_method());
    harden(ts->base, ts);
    SSL_CTX_set_client_hello_cb(ts->base, on_hello, ts);
    SSL_CTX_set_session_cache_mode(ts->base, SSL_SESS_CACHE_SERVER);
    /* One TLS 1.3 ticket per connection rather than OpenSSL's two: a client resuming
     * serially gets a fresh one each time, and each ticket is a session encrypted and
     * written per handshake. */
    SSL_CTX_set_num_tickets(ts->base, 1);
    *out = ts;
    return 0;
}

int tt_tls_server_reload(struct tt_tls_server *ts, char *err, size_t errlen)
{
    struct cert_set *s = load_dir(ts, err, errlen);
    if (!s)
        return TT_ECONFIG;
    uv_mutex_lock(&ts->lock);
    struct cert_set *old = ts->set;
    ts->set = s;
    uv_mutex_unlock(&ts->lock);
    set_release(ts, old);
    return 0;
}

size_t tt_tls_server_count(struct tt_tls_server *ts)
{
    struct cert_set *s = set_acquire(ts);
    size_t n = s->by_name.size;
    set_release(ts, s);
    return n;
}

void tt_tls_server_free(struct tt_tls_server *ts)
{
    if (!ts)
        return;
    set_release(ts, ts->set);
    SSL_CTX_free(ts->base);
    uv_mutex_destroy(&ts->lock);
    free(ts->dir);
    free(ts);
}

SSL *tt_tls_server_ssl(struct tt_tls_server *ts, int fd, uint16_t port)
{
    SSL *ssl = SSL_new(ts->base);
    if (!ssl)
        return NULL;
    SSL_set_ex_data(ssl, port_index, (void *)(uintptr_t)port);
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return ssl;
}

const char *tt_tls_alpn(const SSL *ssl)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (n == 2 && memcmp(p, "h2", 2) == 0)
        return "h2";
    if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
        return "http/1.1";
    return NULL;
}
