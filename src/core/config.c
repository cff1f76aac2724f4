/* config.c: pushpin.conf loader (see config.h).
 *
 * Loading runs in two passes. First every line of the main file and of its includes is
 * read into a flat list of entries tagged with the include depth (main file = 0). Then each
 * known key is looked up: the shallowest entry wins, and among entries of equal depth the
 * last one, which gives Pushpin's "main file overrides internal.conf" rule without caring
 * where in the file the include= line sits. Values are applied to a copy of the caller's
 * struct so that a failed load leaves the caller's config untouched. */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"

#define DEFAULT_LIBDIR "/usr/lib/pushpin"
/* Config files are small; the cap keeps a mistaken include (a log file, a device) from
 * being slurped whole. */
#define MAX_CONFIG_FILE (1024 * 1024)
#define MAX_INCLUDE_DEPTH 4

struct entry {
    char *section;
    char *key;
    char *value;
    size_t file; /* index into loader.files */
    int line;
    int depth;
};

struct loader {
    struct entry *entries;
    size_t num_entries, cap_entries;
    char **files; /* file names for messages, owned */
    size_t num_files;
    char *err;
    size_t errlen;
    /* variables for {libdir} {rundir} {ipc_prefix}, owned */
    char *libdir, *rundir, *ipc_prefix;
    int port_offset;
    const char *basedir;
};

static void set_err(struct loader *ld, size_t file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(struct loader *ld, size_t file, int line, const char *fmt, ...)
{
    if (!ld->err || ld->errlen == 0)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(ld->err, ld->errlen, "%s:%d: %s", ld->files[file], line, msg);
    else
        snprintf(ld->err, ld->errlen, "%s: %s", ld->files[file], msg);
}

static size_t add_file(struct loader *ld, const char *name)
{
    ld->files = tt_realloc(ld->files, (ld->num_files + 1) * sizeof(*ld->files));
    ld->files[ld->num_files] = tt_strdup(name);
    return ld->num_files++;
}

static void loader_deinit(struct loader *ld)
{
    for (size_t i = 0; i < ld->num_entries; i++) {
        free(ld->entries[i].section);
        free(ld->entries[i].key);
        free(ld->entries[i].value);
    }
    free(ld->entries);
    for (size_t i = 0; i < ld->num_files; i++)
        free(ld->files[i]);
    free(ld->files);
    free(ld->libdir);
    free(ld->rundir);
    free(ld->ipc_prefix);
}

static void add_entry(struct loader *ld, const char *section, const char *key, size_t keylen,
                      const char *value, size_t valuelen, size_t file, int line, int depth)
{
    if (ld->num_entries == ld->cap_entries) {
        ld->cap_entries = ld->cap_entries ? ld->cap_entries * 2 : 64;
        ld->entries = tt_realloc(ld->entries, ld->cap_entries * sizeof(*ld->entries));
    }
    struct entry *e = &ld->entries[ld->num_entries++];
    e->section = tt_strdup(section);
    e->key = tt_strndup(key, keylen);
    e->value = tt_strndup(value, valuelen);
    e->file = file;
    e->line = line;
    e->depth = depth;
}

/* Parse one INI text into entries. Keys before any [section] land in section "". */
static int parse_ini(struct loader *ld, const char *text, size_t len, size_t file, int depth)
{
    char section[128] = "";
    int lineno = 0;
    size_t pos = 0, linelen;
    const char *line;
    while (tt_next_line(text, len, &pos, &line, &linelen)) {
        lineno++;
        if (memchr(line, '\0', linelen)) {
            set_err(ld, file, lineno, "NUL byte in line");
            return TT_ECONFIG;
        }
        tt_trim(&line, &linelen);
        if (linelen == 0 || line[0] == ';' || line[0] == '#')
            continue;
        if (line[0] == '[') {
            if (line[linelen - 1] != ']') {
                set_err(ld, file, lineno, "unterminated section header");
                return TT_ECONFIG;
            }
            const char *name = line + 1;
            size_t namelen = linelen - 2;
            tt_trim(&name, &namelen);
            if (namelen == 0 || namelen >= sizeof(section) || memchr(name, '[', namelen) ||
                memchr(name, ']', namelen)) {
                set_err(ld, file, lineno, "invalid section name");
                return TT_ECONFIG;
            }
            memcpy(section, name, namelen);
            section[namelen] = '\0';
            continue;
        }
        const char *eq = memchr(line, '=', linelen);
        if (!eq) {
            set_err(ld, file, lineno, "expected key=value, [section] or comment");
            return TT_ECONFIG;
        }
        const char *key = line;
        size_t keylen = (size_t)(eq - line);
        const char *value = eq + 1;
        size_t valuelen = linelen - keylen - 1;
        tt_trim(&key, &keylen);
        tt_trim(&value, &valuelen);
        if (keylen == 0) {
            set_err(ld, file, lineno, "empty key");
            return TT_ECONFIG;
        }
        /* QSettings strips one pair of double quotes around a value. */
        if (valuelen >= 2 && value[0] == '"' && value[valuelen - 1] == '"') {
            value++;
            valuelen -= 2;
        }
        add_entry(ld, section, key, keylen, value, valuelen, file, lineno, depth);
    }
    return 0;
}

/* The entry that defines section/key: the shallowest include depth wins, then the last
 * one in file order. */
static const struct entry *lookup(const struct loader *ld, const char *section, const char *key)
{
    const struct entry *best = NULL;
    for (size_t i = 0; i < ld->num_entries; i++) {
        const struct entry *e = &ld->entries[i];
        if (strcmp(e->section, section) != 0 || strcmp(e->key, key) != 0)
            continue;
        if (!best || e->depth <= best->depth)
            best = e;
    }
    return best;
}

static char *subst_vars(const struct loader *ld, const char *in)
{
    static const char *const names[] = {"{libdir}", "{rundir}", "{ipc_prefix}"};
    const char *values[] = {ld->libdir, ld->rundir, ld->ipc_prefix};
    struct tt_buf b;
    tt_buf_init(&b, 0);
    const char *p = in;
    while (*p) {
        bool done = false;
        if (*p == '{') {
            for (size_t i = 0; i < TT_ARRAY_LEN(names); i++) {
                size_t n = strlen(names[i]);
                if (strncmp(p, names[i], n) == 0) {
                    tt_buf_appends(&b, values[i] ? values[i] : "");
                    p += n;
                    done = true;
                    break;
                }
            }
        }
        if (!done)
            tt_buf_append(&b, p++, 1);
    }
    tt_buf_cstr(&b);
    return tt_buf_steal(&b, NULL);
}

static char *path_join(const char *dir, const char *rel)
{
    struct tt_buf b;
    tt_buf_init(&b, 0);
    tt_buf_appends(&b, dir);
    if (b.len == 0 || b.data[b.len - 1] != '/')
        tt_buf_appends(&b, "/");
    tt_buf_appends(&b, rel);
    tt_buf_cstr(&b);
    return tt_buf_steal(&b, NULL);
}

/* Absolute directory holding `path` (cwd when path has no directory part). */
static char *dir_of(const char *path)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        return tt_strdup(cwd);
    char *dir = slash == path ? tt_strdup("/") : tt_strndup(path, (size_t)(slash - path));
    if (dir[0] == '/')
        return dir;
    char *abs = path_join(cwd, dir);
    free(dir);
    return abs;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Read a whole regular file. Returns 0, -errno, or TT_ETOOBIG. */
static int read_file(const char *path, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    struct tt_buf b;
    tt_buf_init(&b, MAX_CONFIG_FILE);
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if (tt_buf_append(&b, chunk, (size_t)n) < 0) {
            rc = TT_ETOOBIG;
            break;
        }
    }
    if (rc < 0) {
        tt_buf_deinit(&b);
        goto out;
    }
    tt_buf_cstr(&b);
    *out = tt_buf_steal(&b, outlen);
out:
    close(fd);
    return rc;
}

static int load_includes(struct loader *ld, size_t first, size_t last, const char *dir, int depth);

/* Load one include= value found in entry `inc` of a file living in `dir`. */
static int load_include(struct loader *ld, size_t inc, const char *dir, int depth)
{
    size_t file = ld->entries[inc].file;
    int line = ld->entries[inc].line;
    if (ld->entries[inc].value[0] == '\0')
        return 0;
    if (depth > MAX_INCLUDE_DEPTH) {
        set_err(ld, file, line, "includes nested too deeply");
        return TT_ECONFIG;
    }
    /* Pushpin rewrites a bare "internal.conf" to the one in libdir. */
    const char *raw = ld->entries[inc].value;
    char *name =
        strcmp(raw, "internal.conf") == 0 ? path_join(ld->libdir, raw) : subst_vars(ld, raw);
    if (name[0] != '/') {
        char *abs = path_join(dir, name);
        free(name);
        name = abs;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(name, &text, &len);
    if (rc == -ENOENT && ends_with(name, "internal.conf")) {
        tt_debug("config: %s:%d: include %s not found, ignored", ld->files[file], line, name);
        free(name);
        return 0;
    }
    if (rc < 0) {
        set_err(ld, file, line, "include %s: %s", name, tt_strerror(rc));
        free(name);
        return TT_ECONFIG;
    }
    size_t incfile = add_file(ld, name);
    size_t start = ld->num_entries;
    rc = parse_ini(ld, text, len, incfile, depth);
    free(text);
    if (rc == 0) {
        char *incdir = dir_of(name);
        rc = load_includes(ld, start, ld->num_entries, incdir, depth);
        free(incdir);
    }
    free(name);
    return rc;
}

/* Process include= entries among entries [first, last). Indexes, not pointers: loading an
 * include grows the entry array. */
static int load_includes(struct loader *ld, size_t first, size_t last, const char *dir, int depth)
{
    for (size_t i = first; i < last; i++) {
        if (strcmp(ld->entries[i].key, "include") != 0)
            continue;
        int rc = load_include(ld, i, dir, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- value parsers ---- */

/* Booleans as Pushpin reads them (QVariant::toBool of a string: false only for "0" and
 * "false"), except that "no" and "off" also mean false here: Qt would read them as true,
 * which is never what a config that says so means. Returns 1 for a word that is neither
 * (taken as true, as Pushpin does; the caller warns). */
static int parse_bool(const char *v, bool *out)
{
    size_t n = strlen(v);
    if (tt_strieq(v, n, "false") || tt_strieq(v, n, "no") || tt_strieq(v, n, "off") ||
        strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    *out = true;
    return tt_strieq(v, n, "true") || tt_strieq(v, n, "yes") || tt_strieq(v, n, "on") ||
                   strcmp(v, "1") == 0
               ? 0
               : 1;
}

/* A decimal with an optional sign (Qt's toInt takes "+5" and "-1" too). Values whose
 * magnitude is over max are refused. */
static int parse_int(const char *v, bool allow_negative, int64_t max, int64_t *out)
{
    bool neg = false;
    if (v[0] == '-' || v[0] == '+') {
        neg = v[0] == '-';
        if (neg && !allow_negative)
            return TT_ECONFIG;
        v++;
    }
    int64_t x = tt_parse_uint(v, strlen(v), max);
    if (x < 0)
        return TT_ECONFIG;
    *out = neg ? -x : x;
    return 0;
}

/* [runner] log_level: "N", or Pushpin's per-service list "N,proxy:M,handler:K". thumbtack
 * is the proxy and the handler in one, so it logs at the highest of the default level and
 * those two services' (clamped to 3, debug). Returns the level or -1. */
int tt_config_parse_log_level(const char *v)
{
    int def = -1, svc = -1;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        tt_trim(&item, &n);
        const char *colon = memchr(item, ':', n);
        const char *num = colon ? colon + 1 : item;
        size_t numlen = colon ? n - (size_t)(colon + 1 - item) : n;
        int64_t x = tt_parse_uint(num, numlen, INT_MAX);
        if (n == 0 || x < 0 || (colon && colon == item))
            return -1;
        if (!colon) {
            def = (int)x;
        } else {
            size_t nl = (size_t)(colon - item);
            if (tt_strieq(item, nl, "proxy") || tt_strieq(item, nl, "pushpin-proxy") ||
                tt_strieq(item, nl, "handler") || tt_strieq(item, nl, "pushpin-handler"))
                svc = TT_MAX(svc, (int)x);
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    int level = TT_MAX(def < 0 ? 2 : def, svc);
    return TT_MIN(level, 3);
}

/* Returns how many items were skipped (unknown, or a bad truncate number). */
static int parse_xff(const char *v, struct tt_xff_rule *out)
{
    struct tt_xff_rule r = {.truncate = -1, .append = false};
    int bad = 0;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        tt_trim(&item, &n);
        if (n == 6 && memcmp(item, "append", 6) == 0) {
            r.append = true;
        } else if (n > 9 && memcmp(item, "truncate:", 9) == 0) {
            /* truncate:-1 is Pushpin's "no truncation". */
            bool neg = item[9] == '-';
            int64_t t = tt_parse_uint(item + 9 + neg, n - 9 - neg, INT_MAX);
            if (t < 0)
                bad++;
            else
                r.truncate = neg ? -1 : (int)t;
        } else if (n > 0) {
            bad++; /* Pushpin skips what it does not know */
        }
        p = comma ? comma + 1 : p + strlen(p);
    }
    *out = r;
    return bad;
}

static int parse_one_port(const char *s, size_t n, struct tt_listen_addr *out)
{
    tt_trim(&s, &n);
    const char *addr = "0.0.0.0";
    size_t addrlen = 7;
    const char *port = s;
    size_t portlen = n;
    int family = AF_INET;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close + 1 >= s + n || close[1] != ':')
            return TT_ECONFIG;
        addr = s + 1;
        addrlen = (size_t)(close - addr);
        port = close + 2;
        portlen = n - (size_t)(port - s);
        family = AF_INET6;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
                return TT_ECONFIG; /* bare v6 is ambiguous: require brackets */
            addr = s;
            addrlen = (size_t)(colon - s);
            port = colon + 1;
            portlen = n - addrlen - 1;
        }
    }
    if (addrlen == 0 || addrlen >= sizeof(out->addr))
        return TT_ECONFIG;
    int64_t p = tt_parse_uint(port, portlen, 65535);
    if (p < 1)
        return TT_ECONFIG;
    char tmp[sizeof(out->addr)];
    memcpy(tmp, addr, addrlen);
    tmp[addrlen] = '\0';
    unsigned char bin[16];
    if (inet_pton(family, tmp, bin) != 1)
        return TT_ECONFIG;
    memcpy(out->addr, tmp, addrlen + 1);
    out->port = (uint16_t)p;
    return 0;
}

int tt_config_parse_ports(const char *value, struct tt_listen_addr *out, int max, int *count)
{
    struct tt_listen_addr tmp[TT_MAX_LISTEN];
    int n = 0;
    const char *p = value;
    if (max > TT_MAX_LISTEN)
        max = TT_MAX_LISTEN;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n >= max)
            return TT_ECONFIG;
        if (parse_one_port(p, len, &tmp[n]) < 0)
            return TT_ECONFIG;
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    memcpy(out, tmp, (size_t)n * sizeof(*tmp));
    *count = n;
    return 0;
}

/* Add port_offset to every tcp:// port in a comma list of ZMQ specs. */
static int offset_tcp_ports(char **spec, int offset)
{
    if (!*spec || offset == 0)
        return 0;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    const char *p = *spec;
    int rc = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = NULL;
        if (n > 6 && memcmp(p, "tcp://", 6) == 0) {
            /* the port follows the last ':' (v6 hosts are bracketed) */
            for (size_t i = n; i > 6; i--)
                if (p[i - 1] == ':') {
                    colon = p + i - 1;
                    break;
                }
            if (colon && memchr(colon, ']', n - (size_t)(colon - p)))
                colon = NULL;
        }
        if (colon) {
            int64_t port = tt_parse_uint(colon + 1, n - (size_t)(colon + 1 - p), 65535);
            if (port < 0 || port + offset < 1 || port + offset > 65535) {
                rc = TT_ECONFIG;
                break;
            }
            tt_buf_append(&b, p, (size_t)(colon + 1 - p));
            tt_buf_appendf(&b, "%d", (int)port + offset);
        } else {
            tt_buf_append(&b, p, n);
        }
        if (comma)
            tt_buf_append(&b, ",", 1);
        p = comma ? comma + 1 : p + n;
    }
    if (rc == 0) {
        tt_buf_cstr(&b);
        free(*spec);
        *spec = tt_buf_steal(&b, NULL);
    }
    tt_buf_deinit(&b);
    return rc;
}

/* ---- key table ---- */

enum key_type {
    K_STR,     /* empty value = NULL */
    K_STR_DEF, /* empty value = keep the default */
    K_BOOL,
    K_INT,
    K_SIZE,
    K_PORTS,
    K_XFP,
    K_XFF,
    K_PATH,     /* file path, relative to the config dir */
    K_KEYSPEC,  /* key spec; a relative file: path is made absolute */
    K_SPEC,     /* ZMQ spec list: tcp:// ports get port_offset */
    K_LOGLEVEL, /* "N" or Pushpin's "N,service:M,..." */
    K_HANDLED,  /* read before the table is applied */
};

/* What a number of zero or below means for a key. Pushpin reads every number with Qt's
 * toInt and gives some of them an "off" meaning; a config tuned for it carries those. */
enum num_policy {
    N_PLAIN,   /* a count or level: negative is refused */
    N_OFF,     /* <= 0 turns the limit or feature off (stored as 0) */
    N_DEFAULT, /* <= 0 keeps the default (a cap thumbtack will not drop), with a warning */
    N_NOLIMIT, /* < 0 means no limit (stored as the key's max) */
};

struct key_def {
    const char *section;
    const char *key;
    enum key_type type;
    size_t offset;
    int64_t max;
    enum num_policy policy;
};

#define F(field) offsetof(struct tt_config, field)

static const struct key_def keys[] = {
    {"global", "include", K_HANDLED, 0, 0, N_PLAIN},
    {"global", "libdir", K_HANDLED, 0, 0, N_PLAIN},
    {"global", "rundir", K_HANDLED, 0, 0, N_PLAIN},
    {"global", "ipc_prefix", K_HANDLED, 0, 0, N_PLAIN},
    {"global", "port_offset", K_HANDLED, 0, 0, N_PLAIN},
    {"runner", "rundir", K_HANDLED, 0, 0, N_PLAIN},
    {"runner", "http_port", K_PORTS, F(http_ports), 0, N_PLAIN},
    {"runner", "https_ports", K_PORTS, F(https_ports), 0, N_PLAIN},
    {"runner", "tls_certs_dir", K_PATH, F(tls_certs_dir), 0, N_PLAIN},
    {"runner", "log_level", K_LOGLEVEL, F(log_level), 0, N_PLAIN},
    {"runner", "client_buffer_size", K_SIZE, F(client_buffer_size), 1 << 30, N_DEFAULT},
    {"runner", "client_maxconn", K_INT, F(client_maxconn), INT_MAX, N_DEFAULT},
    {"runner", "client_head_timeout", K_INT, F(head_timeout_ms), INT_MAX, N_DEFAULT},
    {"runner", "allow_compression", K_BOOL, F(allow_compression), 0, N_PLAIN},
    {"runner", "http2", K_BOOL, F(http2), 0, N_PLAIN},
    {"runner", "http2_max_concurrent_streams", K_INT, F(http2_max_streams), 10000, N_DEFAULT},
    {"proxy", "routesfile", K_PATH, F(routesfile), 0, N_PLAIN},
    {"proxy", "debug", K_BOOL, F(debug), 0, N_PLAIN},
    {"proxy", "auto_cross_origin", K_BOOL, F(auto_cross_origin), 0, N_PLAIN},
    {"proxy", "accept_x_forwarded_protocol", K_BOOL, F(accept_x_forwarded_protocol), 0, N_PLAIN},
    {"proxy", "set_x_forwarded_protocol", K_XFP, F(set_x_forwarded_protocol), 0, N_PLAIN},
    {"proxy", "x_forwarded_for", K_XFF, F(xff), 0, N_PLAIN},
    {"proxy", "x_forwarded_for_trusted", K_XFF, F(xff_trusted), 0, N_PLAIN},
    {"proxy", "log_from", K_BOOL, F(log_from), 0, N_PLAIN},
    {"proxy", "log_user_agent", K_BOOL, F(log_user_agent), 0, N_PLAIN},
    {"proxy", "sig_iss", K_STR_DEF, F(sig_iss), 0, N_PLAIN},
    {"proxy", "sig_key", K_KEYSPEC, F(sig_key), 0, N_PLAIN},
    {"proxy", "upstream_key", K_KEYSPEC, F(upstream_key), 0, N_PLAIN},
    {"proxy", "workers", K_INT, F(workers), 1024, N_OFF},
    {"proxy", "cdn_loop", K_STR, F(cdn_loop), 0, N_PLAIN},
    {"proxy", "accept_pushpin_route", K_BOOL, F(accept_pushpin_route), 0, N_PLAIN},
    {"proxy", "backend_response_timeout", K_INT, F(backend_response_timeout_ms), INT_MAX, N_OFF},
    {"proxy", "backend_idle_timeout", K_INT, F(backend_idle_timeout_ms), INT_MAX, N_OFF},
    {"handler", "push_in_http_addr", K_STR_DEF, F(push_in_http_addr), 0, N_PLAIN},
    {"handler", "push_in_http_port", K_INT, F(push_in_http_port), 65535, N_OFF},
    {"handler", "push_in_http_max_headers_size", K_SIZE, F(push_in_http_max_headers_size), 1 << 30,
     N_DEFAULT},
    {"handler", "push_in_http_max_body_size", K_SIZE, F(push_in_http_max_body_size), 1 << 30,
     N_DEFAULT},
    {"handler", "message_rate", K_INT, F(message_rate), INT_MAX, N_OFF},
    {"handler", "message_hwm", K_INT, F(message_hwm), INT_MAX, N_OFF},
    {"handler", "message_wait", K_INT, F(message_wait), INT_MAX, N_OFF},
    {"handler", "id_cache_ttl", K_INT, F(id_cache_ttl), INT_MAX, N_OFF},
    {"handler", "update_on_first_subscription", K_BOOL, F(update_on_first_subscription), 0,
     N_PLAIN},
    /* Pushpin's HTTP sessions keep every channel when it is negative (QList::mid(0, -1));
     * a hold's channels stay bounded by the 64 KiB head and 100000-byte body caps. */
    {"handler", "connection_subscription_max", K_INT, F(connection_subscription_max), INT_MAX,
     N_NOLIMIT},
    {"handler", "subscription_linger", K_INT, F(subscription_linger), INT_MAX, N_OFF},
    {"handler", "publish_key", K_STR, F(publish_key), 0, N_PLAIN},
    {"handler", "subscriber_queue_bytes", K_SIZE, F(subscriber_queue_max), (int64_t)1 << 40,
     N_DEFAULT},
    {"handler", "push_in_spec", K_SPEC, F(push_in_spec), 0, N_PLAIN},
    {"handler", "push_in_sub_specs", K_SPEC, F(push_in_sub_specs), 0, N_PLAIN},
    {"handler", "push_in_sub_connect", K_BOOL, F(push_in_sub_connect), 0, N_PLAIN},
    {"handler", "command_spec", K_SPEC, F(command_spec), 0, N_PLAIN},
    {"handler", "stats_spec", K_SPEC, F(stats_spec), 0, N_PLAIN},
    {"global", "stats_connection_ttl", K_INT, F(stats_connection_ttl), 86400, N_DEFAULT},
    {"global", "stats_connection_send", K_BOOL, F(stats_connection_send), 0, N_PLAIN},
    {"proxy", "stats_report_interval", K_INT, F(stats_report_interval), 86400, N_OFF},
    {"handler", "stats_report_interval", K_INT, F(stats_report_interval), 86400, N_OFF},
    {"handler", "stats_subscription_ttl", K_INT, F(stats_subscription_ttl), 86400, N_DEFAULT},
    {"handler", "stats_format", K_STR_DEF, F(stats_format), 0, N_PLAIN},
    {"proxy", "prometheus_port", K_STR, F(prometheus_port), 0, N_PLAIN},
    {"proxy", "prometheus_prefix", K_STR, F(prometheus_prefix), 0, N_PLAIN},
    {"handler", "prometheus_port", K_STR, F(prometheus_port), 0, N_PLAIN},
    {"handler", "prometheus_prefix", K_STR, F(prometheus_prefix), 0, N_PLAIN},
};

/* Keys of Pushpin's config that thumbtack accepts whatever their value and does not act
 * on, with the reason (README lists them). Keys for Pushpin's own processes are here:
 * thumbtack is one process and needs none of them. */
static const struct {
    const char *section, *key, *why;
} ignored_keys[] = {
    {"runner", "services", "thumbtack is one process"},
    {"runner", "logdir", "thumbtack logs to stderr or --logfile"},
    {"runner", "condure_bin", "thumbtack is one process"},
    {"runner", "connmgr_bin", "thumbtack is one process"},
    {"runner", "mongrel2_bin", "thumbtack is one process"},
    {"runner", "m2sh_bin", "thumbtack is one process"},
    {"runner", "zurl_bin", "thumbtack is one process"},
    {"runner", "m2a_bin", "thumbtack is one process"},
    {"proxy", "orig_headers_need_mark", "the orig_headers route option is not acted on"},
    {"proxy", "sockjs_url", "SockJS is not supported"},
    {"proxy", "updates_check", "thumbtack never reports or checks for updates"},
    {"proxy", "organization_name", "thumbtack never reports or checks for updates"},
    {"proxy", "max_open_requests", "client_maxconn bounds requests (one per connection)"},
    {"proxy", "ipc_file_mode", "no ZeroMQ IPC sockets between processes"},
    {"proxy", "stats_connections_max_ttl", "connection reports use [global] stats_connection_ttl"},
    {"proxy", "allow_compression", "permessage-deflate is [runner] allow_compression"},
    {"handler", "ipc_file_mode", "no ZeroMQ IPC sockets between processes"},
    {"handler", "message_block_size", "the blocks-* report counters are not produced"},
    {"handler", "share_all", "identical requests are not shared (invisible to clients)"},
    {"handler", "state_spec", "sessions (Grip-Session-*) are not supported"},
};

/* Every owned string of struct tt_config, for copy and free. */
static const size_t str_fields[] = {
    F(path),
    F(basedir),
    F(libdir),
    F(rundir),
    F(ipc_prefix),
    F(routesfile),
    F(sig_iss),
    F(sig_key),
    F(upstream_key),
    F(cdn_loop),
    F(push_in_http_addr),
    F(publish_key),
    F(push_in_spec),
    F(push_in_sub_specs),
    F(command_spec),
    F(stats_spec),
    F(stats_format),
    F(prometheus_port),
    F(prometheus_prefix),
    F(tls_certs_dir),
};

#undef F

static char **str_at(struct tt_config *cfg, size_t off)
{
    return (char **)((char *)cfg + off);
}

static void set_str(struct tt_config *cfg, size_t off, char *v)
{
    char **p = str_at(cfg, off);
    free(*p);
    *p = v;
}

static void config_copy(struct tt_config *dst, const struct tt_config *src)
{
    *dst = *src;
    for (size_t i = 0; i < TT_ARRAY_LEN(str_fields); i++) {
        char **p = str_at(dst, str_fields[i]);
        if (*p)
            *p = tt_strdup(*p);
    }
}

void tt_config_deinit(struct tt_config *cfg)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(str_fields); i++) {
        char **p = str_at(cfg, str_fields[i]);
        free(*p);
        *p = NULL;
    }
}

void tt_config_defaults(struct tt_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->basedir = dir_of(NULL);
    cfg->rundir = tt_strdup("run");
    cfg->ipc_prefix = tt_strdup("pushpin-");
    snprintf(cfg->http_ports[0].addr, sizeof(cfg->http_ports[0].addr), "0.0.0.0");
    cfg->http_ports[0].port = 7999;
    cfg->num_http_ports = 1;
    cfg->log_level = 2;
    cfg->client_buffer_size = 8192;
    cfg->client_maxconn = 50000;
    cfg->set_x_forwarded_protocol = TT_XFP_OFF;
    cfg->xff.truncate = -1;
    cfg->xff_trusted.truncate = -1;
    cfg->sig_iss = tt_strdup("pushpin");
    cfg->push_in_http_addr = tt_strdup("127.0.0.1");
    cfg->push_in_http_port = 5561;
    cfg->push_in_http_max_headers_size = 10000;
    cfg->push_in_http_max_body_size = 1000000;
    cfg->push_in_spec = tt_strdup("tcp://127.0.0.1:5560");
    cfg->push_in_sub_specs = tt_strdup("tcp://127.0.0.1:5562");
    cfg->command_spec = tt_strdup("tcp://127.0.0.1:5563");
    cfg->stats_spec = tt_strdup("ipc://{rundir}/{ipc_prefix}stats");
    cfg->stats_format = tt_strdup("tnetstring");
    cfg->stats_report_interval = 10;
    cfg->stats_connection_ttl = 120;
    cfg->stats_subscription_ttl = 60;
    cfg->stats_connection_send = true;
    cfg->message_wait = 5000;
    cfg->update_on_first_subscription = true;
    cfg->connection_subscription_max = 20;
    cfg->subscription_linger = 60;
    cfg->head_timeout_ms = 10000;
    cfg->backend_response_timeout_ms = 600000;
    cfg->backend_idle_timeout_ms = 600000;
    cfg->subscriber_queue_max = 1048576;
    cfg->http2 = true;
    cfg->http2_max_streams = 100;
}

/* The count that goes with a K_PORTS key's array. */
static int *port_count(struct tt_config *cfg, const struct key_def *k)
{
    return k->offset == offsetof(struct tt_config, https_ports) ? &cfg->num_https_ports
                                                                 : &cfg->num_http_ports;
}

static int apply_key(struct loader *ld, struct tt_config *cfg, const struct key_def *k,
                     const struct entry *e)
{
    char *v = subst_vars(ld, e->value);
    int rc = 0;
    int64_t n;
    bool b;
    switch (k->type) {
    case K_HANDLED:
        break;
    case K_STR:
        set_str(cfg, k->offset, v[0] ? v : NULL);
        if (v[0])
            v = NULL;
        break;
    case K_STR_DEF:
        if (v[0]) {
            set_str(cfg, k->offset, v);
            v = NULL;
        }
        break;
    case K_BOOL:
        if (!v[0])
            break; /* empty: the default */
        if (parse_bool(v, &b) > 0)
            tt_warn("config: %s:%d: %s: \"%.64s\" is neither true nor false; taken as true "
                    "(as Pushpin does)",
                    ld->files[e->file], e->line, e->key, v);
        *(bool *)((char *)cfg + k->offset) = b;
        break;
    case K_INT:
    case K_SIZE:
        if (!v[0])
            break; /* empty: the default */
        if (parse_int(v, k->policy != N_PLAIN, k->max, &n) < 0) {
            set_err(ld, e->file, e->line, "%s: invalid number \"%.64s\"", e->key, v);
            rc = TT_ECONFIG;
            break;
        }
        if (n <= 0 && k->policy == N_DEFAULT) {
            tt_warn("config: %s:%d: %s=%s: thumbtack always has this cap; keeping %lld",
                    ld->files[e->file], e->line, e->key, v,
                    k->type == K_INT ? (long long)*(int *)((char *)cfg + k->offset)
                                     : (long long)*(size_t *)((char *)cfg + k->offset));
            break;
        }
        if (n < 0)
            n = k->policy == N_NOLIMIT ? k->max : 0; /* N_OFF: 0 is "off" for these keys */
        if (k->type == K_INT)
            *(int *)((char *)cfg + k->offset) = (int)n;
        else
            *(size_t *)((char *)cfg + k->offset) = (size_t)n;
        break;
    case K_LOGLEVEL:
        if (!v[0])
            break;
        if ((n = tt_config_parse_log_level(v)) < 0) {
            set_err(ld, e->file, e->line,
                    "%s: expected a level >= 0, or a list of level and service:level (\"%.64s\")",
                    e->key, v);
            rc = TT_ECONFIG;
            break;
        }
        cfg->log_level = (int)n;
        break;
    case K_PORTS: {
        struct tt_listen_addr *ports = (struct tt_listen_addr *)((char *)cfg + k->offset);
        int *count = port_count(cfg, k);
        if (!v[0] && k->offset == offsetof(struct tt_config, https_ports)) {
            *count = 0;
        } else if (tt_config_parse_ports(v, ports, TT_MAX_LISTEN, count) < 0) {
            set_err(ld, e->file, e->line, "%s: invalid port list \"%.64s\"", e->key, v);
            rc = TT_ECONFIG;
        }
        break;
    }
    case K_XFP:
        if (strcmp(v, "true") == 0)
            cfg->set_x_forwarded_protocol = TT_XFP_TRUE;
        else if (strcmp(v, "proto-only") == 0)
            cfg->set_x_forwarded_protocol = TT_XFP_PROTO_ONLY;
        else
            cfg->set_x_forwarded_protocol = TT_XFP_OFF;
        break;
    case K_XFF:
        if (parse_xff(v, (struct tt_xff_rule *)((char *)cfg + k->offset)) > 0)
            tt_warn("config: %s:%d: %s: items other than truncate:N and append skipped",
                    ld->files[e->file], e->line, e->key);
        break;
    case K_PATH:
        if (!v[0]) {
            set_str(cfg, k->offset, NULL);
        } else if (v[0] == '/') {
            set_str(cfg, k->offset, v);
            v = NULL;
        } else {
            set_str(cfg, k->offset, path_join(ld->basedir, v));
        }
        break;
    case K_KEYSPEC:
        if (!v[0]) {
            set_str(cfg, k->offset, NULL);
        } else if (strncmp(v, "file:", 5) == 0 && v[5] != '/' && v[5] != '\0') {
            char *abs = path_join(ld->basedir, v + 5);
            struct tt_buf buf;
            tt_buf_init(&buf, 0);
            tt_buf_appendf(&buf, "file:%s", abs);
            free(abs);
            tt_buf_cstr(&buf);
            set_str(cfg, k->offset, tt_buf_steal(&buf, NULL));
        } else {
            set_str(cfg, k->offset, v);
            v = NULL;
        }
        break;
    case K_SPEC:
        set_str(cfg, k->offset, v[0] ? v : NULL);
        if (v[0])
            v = NULL;
        if (offset_tcp_ports(str_at(cfg, k->offset), ld->port_offset) < 0) {
            set_err(ld, e->file, e->line, "%s: bad tcp port (port_offset %d)", e->key,
                    ld->port_offset);
            rc = TT_ECONFIG;
        }
        break;
    }
    free(v);
    return rc;
}

static bool is_known(const struct entry *e)
{
    if (strcmp(e->key, "include") == 0)
        return true;
    for (size_t i = 0; i < TT_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].section, e->section) == 0 && strcmp(keys[i].key, e->key) == 0)
            return true;
    return false;
}

/* Why a key of the main file is not acted on, or NULL for a key thumbtack does not know. */
static const char *ignored_why(const struct entry *e)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(ignored_keys); i++)
        if (strcmp(ignored_keys[i].section, e->section) == 0 &&
            strcmp(ignored_keys[i].key, e->key) == 0)
            return ignored_keys[i].why;
    /* The ZeroMQ sockets that wire Pushpin's processes together (internal.conf's keys,
     * sometimes copied into the main file). */
    if ((strcmp(e->section, "proxy") == 0 || strcmp(e->section, "handler") == 0) &&
        (ends_with(e->key, "_spec") || ends_with(e->key, "_specs")))
        return "ZeroMQ wiring between Pushpin's processes; thumbtack is one process";
    return NULL;
}

/* Log what the main file carries that is not acted on: debug level, except client ports
 * thumbtack cannot serve, which a user must hear about. */
static void report_ignored(const struct loader *ld)
{
    for (size_t i = 0; i < ld->num_entries; i++) {
        const struct entry *e = &ld->entries[i];
        if (e->depth != 0 || is_known(e))
            continue;
        const char *f = ld->files[e->file];
        if (strcmp(e->section, "runner") == 0 && strcmp(e->key, "local_ports") == 0) {
            if (e->value[0])
                tt_warn("config: %s:%d: [runner] local_ports: Unix socket listeners are not "
                        "supported; not listening on %.100s",
                        f, e->line, e->value);
            continue;
        }
        if (strcmp(e->section, "handler") == 0 && strcmp(e->key, "push_in_sub_spec") == 0)
            continue; /* merged into push_in_sub_specs */
        const char *why = ignored_why(e);
        if (why)
            tt_debug("config: %s:%d: [%s] %s accepted, not acted on: %s", f, e->line, e->section,
                     e->key, why);
        else
            tt_debug("config: %s:%d: unknown key [%s] %s ignored", f, e->line, e->section, e->key);
    }
}

/* Resolve {libdir} {rundir} {ipc_prefix} and port_offset from the main file (as Pushpin
 * does: they decide where includes live, so they cannot come from an include). */
static int read_globals(struct loader *ld, const struct tt_config *cfg, const char *basedir)
{
    const struct entry *e = lookup(ld, "global", "libdir");
    if (e && e->value[0])
        ld->libdir = tt_strdup(e->value);
    else if (cfg->libdir)
        ld->libdir = tt_strdup(cfg->libdir);
    else if (is_dir(DEFAULT_LIBDIR))
        ld->libdir = tt_strdup(DEFAULT_LIBDIR);
    else
        ld->libdir = tt_strdup(basedir);

    e = lookup(ld, "global", "rundir");
    if (!e || !e->value[0])
        e = lookup(ld, "runner", "rundir");
    if (e && e->value[0])
        ld->rundir = subst_vars(ld, e->value);
    else
        ld->rundir = tt_strdup(cfg->rundir ? cfg->rundir : "run");

    e = lookup(ld, "global", "ipc_prefix");
    if (cfg->ipc_prefix_override)
        ld->ipc_prefix = tt_strdup(cfg->ipc_prefix_override);
    else if (e)
        ld->ipc_prefix = subst_vars(ld, e->value);
    else
        ld->ipc_prefix = tt_strdup(cfg->ipc_prefix ? cfg->ipc_prefix : "pushpin-");

    e = lookup(ld, "global", "port_offset");
    ld->port_offset = 0;
    if (e && e->value[0]) {
        int64_t n;
        if (parse_int(e->value, true, 65535, &n) < 0) {
            set_err(ld, e->file, e->line, "port_offset: invalid number \"%.64s\"", e->value);
            return TT_ECONFIG;
        }
        ld->port_offset = (int)n;
    }
    return 0;
}

int tt_config_load_text(struct tt_config *cfg, const char *text, size_t len, const char *path,
                        char *err, size_t errlen)
{
    struct loader ld = {.err = err, .errlen = errlen};
    struct tt_config tmp;
    char *basedir = dir_of(path);
    size_t mainfile = add_file(&ld, path ? path : "<text>");
    ld.basedir = basedir;
    if (err && errlen)
        err[0] = '\0';

    config_copy(&tmp, cfg);
    int rc = parse_ini(&ld, text, len, mainfile, 0);
    if (rc == 0)
        rc = read_globals(&ld, cfg, basedir);
    if (rc == 0)
        rc = load_includes(&ld, 0, ld.num_entries, basedir, 0);
    if (rc < 0)
        goto out;

    set_str(&tmp, offsetof(struct tt_config, path), path ? tt_strdup(path) : NULL);
    set_str(&tmp, offsetof(struct tt_config, basedir), tt_strdup(basedir));
    set_str(&tmp, offsetof(struct tt_config, libdir), tt_strdup(ld.libdir));
    set_str(&tmp, offsetof(struct tt_config, rundir), tt_strdup(ld.rundir));
    set_str(&tmp, offsetof(struct tt_config, ipc_prefix), tt_strdup(ld.ipc_prefix));
    tmp.port_offset = ld.port_offset;

    for (size_t i = 0; i < TT_ARRAY_LEN(keys); i++) {
        const struct entry *e = lookup(&ld, keys[i].section, keys[i].key);
        if (e && (rc = apply_key(&ld, &tmp, &keys[i], e)) < 0)
            goto out;
        /* A default ZMQ spec moves with port_offset like one from the file. */
        if (!e && keys[i].type == K_SPEC &&
            offset_tcp_ports(str_at(&tmp, keys[i].offset), ld.port_offset) < 0) {
            set_err(&ld, mainfile, 0, "port_offset %d puts %s out of range", ld.port_offset,
                    keys[i].key);
            rc = TT_ECONFIG;
            goto out;
        }
    }
    /* port_offset moves the control port too (not the client ports). */
    if (ld.port_offset && tmp.push_in_http_port > 0) {
        int p = tmp.push_in_http_port + ld.port_offset;
        if (p < 1 || p > 65535) {
            set_err(&ld, mainfile, 0, "port_offset %d puts push_in_http_port out of range",
                    ld.port_offset);
            rc = TT_ECONFIG;
            goto out;
        }
        tmp.push_in_http_port = p;
    }
    /* Pushpin's older single-valued [handler] push_in_sub_spec adds to the list. */
    const struct entry *sub1 = lookup(&ld, "handler", "push_in_sub_spec");
    if (sub1 && sub1->value[0]) {
        char *one = subst_vars(&ld, sub1->value);
        if (offset_tcp_ports(&one, ld.port_offset) < 0) {
            free(one);
            set_err(&ld, sub1->file, sub1->line, "push_in_sub_spec: bad tcp port");
            rc = TT_ECONFIG;
            goto out;
        }
        struct tt_buf b;
        tt_buf_init(&b, 0);
        if (tmp.push_in_sub_specs)
            tt_buf_appendf(&b, "%s,", tmp.push_in_sub_specs);
        tt_buf_appends(&b, one);
        tt_buf_cstr(&b);
        free(one);
        set_str(&tmp, offsetof(struct tt_config, push_in_sub_specs), tt_buf_steal(&b, NULL));
    }
    report_ignored(&ld);

out:
    if (rc < 0) {
        tt_config_deinit(&tmp);
    } else {
        tt_config_deinit(cfg);
        *cfg = tmp;
    }
    loader_deinit(&ld);
    free(basedir);
    return rc < 0 ? TT_ECONFIG : 0;
}

char *tt_config_stats_spec(const struct tt_config *cfg)
{
    if (!cfg->stats_spec || !cfg->stats_spec[0])
        return NULL;
    struct tt_buf b;
    tt_buf_init(&b, 0);
    for (const char *p = cfg->stats_spec; *p;) {
        if (strncmp(p, "{rundir}", 8) == 0) {
            tt_buf_appends(&b, cfg->rundir ? cfg->rundir : "");
            p += 8;
        } else if (strncmp(p, "{ipc_prefix}", 12) == 0) {
            tt_buf_appends(&b, cfg->ipc_prefix ? cfg->ipc_prefix : "");
            p += 12;
        } else {
            tt_buf_append(&b, p++, 1);
        }
    }
    tt_buf_cstr(&b);
    return tt_buf_steal(&b, NULL);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool field_eq(const struct tt_config *a, const struct tt_config *b, const struct key_def *k)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
    switch (k->type) {
    case K_STR:
    case K_STR_DEF:
    case K_PATH:
    case K_KEYSPEC:
    case K_SPEC:
        return str_eq(*(char *const *)pa, *(char *const *)pb);
    case K_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case K_INT:
    case K_LOGLEVEL:
    case K_XFP:
        return *(const int *)pa == *(const int *)pb;
    case K_SIZE:
        return *(const size_t *)pa == *(const size_t *)pb;
    case K_XFF: {
        const struct tt_xff_rule *x = (const void *)pa, *y = (const void *)pb;
        return x->truncate == y->truncate && x->append == y->append;
    }
    case K_PORTS: {
        int na = *port_count((struct tt_config *)a, k);
        int nb = *port_count((struct tt_config *)b, k);
        return na == nb && memcmp(pa, pb, (size_t)na * sizeof(a->http_ports[0])) == 0;
    }
    case K_HANDLED:
        break;
    }
    return true;
}

void tt_config_diff(const struct tt_config *a, const struct tt_config *b,
                    void (*changed)(void *ctx, const char *section, const char *key), void *ctx)
{
    if (!str_eq(a->rundir, b->rundir))
        changed(ctx, "global", "rundir");
    if (!str_eq(a->ipc_prefix, b->ipc_prefix))
        changed(ctx, "global", "ipc_prefix");
    if (a->port_offset != b->port_offset)
        changed(ctx, "global", "port_offset");
    for (size_t i = 0; i < TT_ARRAY_LEN(keys); i++)
        if (keys[i].type != K_HANDLED && !field_eq(a, b, &keys[i]))
            changed(ctx, keys[i].section, keys[i].key);
}

int tt_config_add_port_offset(struct tt_config *cfg, int offset)
{
    char **specs[] = {&cfg->push_in_spec, &cfg->push_in_sub_specs, &cfg->command_spec,
                      &cfg->stats_spec};
    int port = cfg->push_in_http_port + offset;
    if (cfg->push_in_http_port > 0 && (port < 1 || port > 65535))
        return TT_ECONFIG;
    char *moved[TT_ARRAY_LEN(specs)];
    for (size_t i = 0; i < TT_ARRAY_LEN(specs); i++) {
        moved[i] = *specs[i] ? tt_strdup(*specs[i]) : NULL;
        if (offset_tcp_ports(&moved[i], offset) < 0) {
            for (size_t j = 0; j <= i; j++)
                free(moved[j]);
            return TT_ECONFIG;
        }
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(specs); i++) {
        free(*specs[i]);
        *specs[i] = moved[i];
    }
    if (cfg->push_in_http_port > 0)
        cfg->push_in_http_port = port;
    return 0;
}

int tt_config_load(struct tt_config *cfg, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, tt_strerror(rc));
        return TT_ECONFIG;
    }
    rc = tt_config_load_text(cfg, text, len, path, err, errlen);
    free(text);
    return rc;
}
