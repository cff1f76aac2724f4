/* routes.c: routes file parser and matcher (see routes.h and SPEC.md section 2).
 *
 * The line grammar follows Pushpin's RoutesFile::LineParser: a line is sections separated
 * by spaces; a section is an initial value and ","-separated props; `"..."` parts (with
 * \\ and \" escapes) may appear anywhere inside a value and protect spaces, commas and
 * '#'; an unquoted '#' ends the line. A section whose first part holds '=' has an empty
 * initial value and is re-read as props, which is how ",id=x" and "id=x" both work. */
#include "routes/routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/log.h"

struct prop {
    char *name;
    char *value;
};

struct section {
    char *value;
    struct prop *props;
    size_t num_props;
};

struct line_parse {
    struct section *sections;
    size_t num_sections;
    const char *error; /* static reason when parsing failed */
};

static void line_parse_free(struct line_parse *lp)
{
    for (size_t i = 0; i < lp->num_sections; i++) {
        struct section *s = &lp->sections[i];
        free(s->value);
        for (size_t j = 0; j < s->num_props; j++) {
            free(s->props[j].name);
            free(s->props[j].value);
        }
        free(s->props);
    }
    free(lp->sections);
    lp->sections = NULL;
    lp->num_sections = 0;
}

static void add_section(struct line_parse *lp, const char *value, size_t len)
{
    lp->sections = tt_realloc(lp->sections, (lp->num_sections + 1) * sizeof(*lp->sections));
    struct section *s = &lp->sections[lp->num_sections++];
    s->value = tt_strndup(value, len);
    s->props = NULL;
    s->num_props = 0;
}

static void add_prop(struct section *s, const char *name, size_t namelen, const char *value,
                     size_t valuelen)
{
    s->props = tt_realloc(s->props, (s->num_props + 1) * sizeof(*s->props));
    s->props[s->num_props].name = tt_strndup(name, namelen);
    s->props[s->num_props].value = tt_strndup(value, valuelen);
    s->num_props++;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Index of the next '"', ',', space or '#' at or after i, or len. */
static size_t find_delim(const char *line, size_t len, size_t i)
{
    for (; i < len; i++) {
        char c = line[i];
        if (c == '"' || c == ',' || c == '#' || is_space(c))
            break;
    }
    return i;
}

enum lp_state { LP_SEPARATOR, LP_INITIAL, LP_PROP };

/* Split one line into sections. Returns 0, or -1 with lp->error set. */
static int tokenize(const char *line, size_t len, struct line_parse *lp)
{
    enum lp_state state = LP_SEPARATOR;
    struct tt_buf part;
    size_t i = 0;
    tt_buf_init(&part, 0);
    int rc = 0;

    if (memchr(line, '\0', len)) {
        lp->error = "NUL byte in line";
        return -1;
    }
    for (;;) {
        if (state == LP_SEPARATOR) {
            while (i < len && is_space(line[i]))
                i++;
            if (i >= len || line[i] == '#')
                break;
            state = LP_INITIAL;
            continue;
        }
        size_t start = i;
        size_t at;
        tt_buf_reset(&part);
        for (;;) {
            at = find_delim(line, len, i);
            if (at >= len || line[at] != '"')
                break;
            tt_buf_append(&part, line + i, at - i);
            for (at++; at < len && line[at] != '"'; at++) {
                if (line[at] == '\\') {
                    if (++at >= len || (line[at] != '\\' && line[at] != '"')) {
                        lp->error = "bad escape in quoted string";
                        rc = -1;
                        goto out;
                    }
                }
                tt_buf_append(&part, line + at, 1);
            }
            if (at >= len) {
                lp->error = "unterminated quote";
                rc = -1;
                goto out;
            }
            i = at + 1;
        }
        tt_buf_append(&part, line + i, at - i);
        const char *p = tt_buf_cstr(&part);

        if (state == LP_INITIAL) {
            if (memchr(p, '=', part.len)) {
                /* "name=value" first: empty initial value, read the text again as props */
                add_section(lp, "", 0);
                i = start;
                state = LP_PROP;
                continue;
            }
            add_section(lp, p, part.len);
        } else {
            if (part.len == 0) {
                lp->error = "expecting prop";
                rc = -1;
                goto out;
            }
            const char *eq = memchr(p, '=', part.len);
            size_t namelen = eq ? (size_t)(eq - p) : part.len;
            if (namelen == 0) {
                lp->error = "empty prop name";
                rc = -1;
                goto out;
            }
            const char *value = eq ? eq + 1 : "";
            size_t valuelen = eq ? part.len - namelen - 1 : 0;
            add_prop(&lp->sections[lp->num_sections - 1], p, namelen, value, valuelen);
        }
        if (at < len && line[at] == ',') {
            i = at + 1;
            state = LP_PROP;
        } else {
            i = at;
            state = LP_SEPARATOR;
        }
    }
out:
    tt_buf_deinit(&part);
    if (rc < 0)
        line_parse_free(lp);
    return rc;
}

/* The last value given for a prop (Pushpin's QMultiHash::value), or NULL if absent. */
static const char *prop_get(const struct section *s, const char *name)
{
    for (size_t i = s->num_props; i > 0; i--)
        if (strcmp(s->props[i - 1].name, name) == 0)
            return s->props[i - 1].value;
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? tt_strdup(s) : NULL;
}

static void target_free(struct tt_route_target *t)
{
    free(t->host);
    free(t->zhttp_spec);
    free(t->host_header);
    for (size_t i = 0; i < t->num_subs; i++)
        free(t->subs[i]);
    free(t->subs);
    free(t->client_cert);
    free(t->client_key);
}

static void route_free(struct tt_route *r)
{
    free(r->domain);
    free(r->path_beg);
    free(r->id);
    free(r->sig_iss);
    free(r->sig_key);
    free(r->prefix);
    free(r->as_host);
    free(r->replace_beg);
    free(r->jsonp_cb);
    free(r->jsonp_body);
    free(r->jsonp_defcb);
    free(r->jsonp_defmethod);
    free(r->sockjs);
    free(r->sockjs_as_path);
    for (size_t i = 0; i < r->num_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    for (size_t i = 0; i < r->num_targets; i++)
        target_free(&r->targets[i]);
    free(r->targets);
}

/* Signed decimal int that must fill s; false on error. */
static bool parse_small_int(const char *s, int *out)
{
    bool neg = s[0] == '-';
    int64_t v = tt_parse_uint(s + neg, strlen(s + neg), 1000000000);
    if (v < 0)
        return false;
    *out = neg ? (int)-v : (int)v;
    return true;
}

static const char *parse_target(const struct section *s, struct tt_route_target *t)
{
    const char *v = s->value;
    memset(t, 0, sizeof(*t));
    if (strcmp(v, "test") == 0) {
        t->type = TT_TARGET_TEST;
    } else if (strncmp(v, "zhttp/", 6) == 0) {
        t->type = TT_TARGET_ZHTTP;
        t->zhttp_spec = tt_strdup(v + 6);
    } else if (strncmp(v, "zhttpreq/", 9) == 0) {
        t->type = TT_TARGET_ZHTTPREQ;
        t->zhttp_spec = tt_strdup(v + 9);
    } else {
        t->type = TT_TARGET_HTTP;
        const char *host = v, *port;
        size_t hostlen;
        if (v[0] == '[') {
            const char *close = strchr(v, ']');
            if (!close || close[1] != ':')
                return "target bad format";
            host = v + 1;
            hostlen = (size_t)(close - host);
            port = close + 2;
        } else {
            const char *colon = strrchr(v, ':');
            if (!colon)
                return "target bad format";
            hostlen = (size_t)(colon - v);
            if (memchr(v, ':', hostlen))
                return "target bad format"; /* a v6 address needs brackets */
            port = colon + 1;
        }
        if (hostlen == 0)
            return "target bad format";
        int64_t p = tt_parse_uint(port, strlen(port), 65535);
        if (p < 1)
            return "target invalid port";
        t->host = tt_strndup(host, hostlen);
        t->port = (uint16_t)p;
    }
    for (size_t i = 0; i < s->num_props; i++) {
        const struct prop *pr = &s->props[i];
        if (strcmp(pr->name, "sub") == 0 && pr->value[0]) {
            t->subs = tt_realloc(t->subs, (t->num_subs + 1) * sizeof(*t->subs));
            t->subs[t->num_subs++] = tt_strdup(pr->value);
        }
    }
    t->ssl = prop_get(s, "ssl") != NULL;
    t->untrusted = prop_get(s, "untrusted") != NULL;
    t->trust_connect_host = prop_get(s, "trust_connect_host") != NULL;
    t->insecure = prop_get(s, "insecure") != NULL;
    t->over_http = prop_get(s, "over_http") != NULL;
    t->one_event = prop_get(s, "one_event") != NULL;
    t->host_header = dup_or_null(prop_get(s, "host"));
    t->client_cert = dup_or_null(prop_get(s, "client_cert"));
    t->client_key = dup_or_null(prop_get(s, "client_key"));
    /* ipc_file_mode only matters for zhttp ipc sockets, which we do not create; Pushpin
     * ignores a bad value, so do we. */
    return NULL;
}

/* Build a route from parsed sections. Returns NULL or a static reason. */
static const char *build_route(const struct line_parse *lp, struct tt_route *r)
{
    const struct section *c = &lp->sections[0];
    const char *v;
    memset(r, 0, sizeof(*r));
    r->ssl = -1;
    r->path_rem = -1;
    r->log_level = -1;

    if (strcmp(c->value, "*") == 0) {
        r->domain = NULL;
    } else {
        r->domain = tt_strdup(c->value);
        for (char *p = r->domain; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    if ((v = prop_get(c, "proto"))) {
        if (strcmp(v, "http") == 0)
            r->proto = TT_PROTO_HTTP;
        else if (strcmp(v, "ws") == 0)
            r->proto = TT_PROTO_WS;
        else
            return "proto must be set to 'http' or 'ws'";
    }
    if ((v = prop_get(c, "ssl"))) {
        if (strcmp(v, "yes") == 0)
            r->ssl = 1;
        else if (strcmp(v, "no") == 0)
            r->ssl = 0;
        else
            return "ssl must be set to 'yes' or 'no'";
    }
    if ((v = prop_get(c, "id")) && v[0])
        r->id = tt_strdup(v);
    if (r->domain && r->domain[0] == '\0' && !r->id)
        return "condition has no domain or id";
    if ((v = prop_get(c, "path_beg"))) {
        if (!v[0])
            return "path_beg cannot be empty";
        r->path_beg = tt_strdup(v);
    }
    if ((v = prop_get(c, "path_rem")) && !parse_small_int(v, &r->path_rem))
        return "path_rem must be a number";
    if ((v = prop_get(c, "log_level")) && !parse_small_int(v, &r->log_level))
        return "log_level must be a number";
    if ((v = prop_get(c, "jsonp_mode"))) {
        if (strcmp(v, "basic") == 0)
            r->jsonp_mode = 1;
        else if (strcmp(v, "extended") == 0)
            r->jsonp_mode = 0;
        else
            return "jsonp_mode must be set to 'basic' or 'extended'";
    }
    for (size_t i = 0; i < c->num_props; i++) {
        const struct prop *pr = &c->props[i];
        if (strcmp(pr->name, "header") != 0)
            continue;
        const char *colon = strchr(pr->value, ':');
        if (!colon || colon == pr->value)
            return "header must use format 'name:value'";
        const char *hv = colon + 1;
        while (*hv == ' ')
            hv++;
        r->headers = tt_realloc(r->headers, (r->num_headers + 1) * sizeof(*r->headers));
        r->headers[r->num_headers].name = tt_strndup(pr->value, (size_t)(colon - pr->value));
        r->headers[r->num_headers].value = tt_strdup(hv);
        r->num_headers++;
    }
    r->sig_iss = dup_or_null(prop_get(c, "sig_iss"));
    r->sig_key = dup_or_null(prop_get(c, "sig_key"));
    r->prefix = dup_or_null(prop_get(c, "prefix"));
    r->as_host = dup_or_null(prop_get(c, "as_host"));
    r->replace_beg = dup_or_null(prop_get(c, "replace_beg"));
    r->orig_headers = prop_get(c, "orig_headers") != NULL;
    r->debug = prop_get(c, "debug") != NULL;
    r->aco = prop_get(c, "aco") != NULL;
    r->session = prop_get(c, "session") != NULL;
    r->no_grip = prop_get(c, "no_grip") != NULL;
    v = prop_get(c, "jsonp_cb");
    r->jsonp_cb = tt_strdup(v ? v : "callback");
    r->jsonp_body = dup_or_null(prop_get(c, "jsonp_body"));
    r->jsonp_defcb = dup_or_null(prop_get(c, "jsonp_defcb"));
    v = prop_get(c, "jsonp_defmethod");
    r->jsonp_defmethod = tt_strdup(v ? v : r->jsonp_mode == 1 ? "POST" : "GET");
    r->sockjs = dup_or_null(prop_get(c, "sockjs"));
    r->sockjs_as_path = dup_or_null(prop_get(c, "sockjs_as_path"));

    r->targets = tt_calloc(lp->num_sections - 1, sizeof(*r->targets));
    for (size_t i = 1; i < lp->num_sections; i++) {
        const char *why = parse_target(&lp->sections[i], &r->targets[r->num_targets]);
        r->num_targets++;
        if (why)
            return why;
    }
    return NULL;
}

static bool str_eq_null(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool is_id_only(const struct tt_route *r)
{
    return r->domain && r->domain[0] == '\0';
}

static bool is_duplicate(const struct tt_routes *rs, const struct tt_route *r)
{
    if (is_id_only(r))
        return false;
    for (size_t i = 0; i < rs->num_routes; i++) {
        const struct tt_route *o = &rs->routes[i];
        if (!is_id_only(o) && str_eq_null(o->domain, r->domain) && o->proto == r->proto &&
            o->ssl == r->ssl && str_eq_null(o->path_beg, r->path_beg))
            return true;
    }
    return false;
}

struct parse_ctx {
    struct tt_routes *rs;
    size_t cap;
    tt_routes_warn_fn warn;
    void *ctx;
    int errors;
};

static void skip_line(struct parse_ctx *pc, int line, const char *why)
{
    pc->errors++;
    if (pc->warn)
        pc->warn(pc->ctx, line, why);
}

static void parse_line(struct parse_ctx *pc, const char *text, size_t len, int warn_line,
                       int route_line)
{
    struct line_parse lp = {0};
    if (tokenize(text, len, &lp) < 0) {
        skip_line(pc, warn_line, lp.error);
        return;
    }
    if (lp.num_sections == 0)
        return; /* blank or comment */
    if (lp.num_sections < 2) {
        line_parse_free(&lp);
        skip_line(pc, warn_line, "must specify condition and at least one target");
        return;
    }
    struct tt_route r;
    const char *why = build_route(&lp, &r);
    line_parse_free(&lp);
    if (!why && is_duplicate(pc->rs, &r))
        why = "skipping duplicate condition";
    if (why) {
        route_free(&r);
        skip_line(pc, warn_line, why);
        return;
    }
    r.line = route_line;
    if (pc->rs->num_routes == pc->cap) {
        pc->cap = pc->cap ? pc->cap * 2 : 8;
        pc->rs->routes = tt_realloc(pc->rs->routes, pc->cap * sizeof(*pc->rs->routes));
    }
    pc->rs->routes[pc->rs->num_routes++] = r;
}

static struct tt_routes *routes_new(void)
{
    struct tt_routes *rs = tt_calloc(1, sizeof(*rs));
    rs->refs = 1;
    return rs;
}

struct tt_routes *tt_routes_parse(const char *text, size_t len, tt_routes_warn_fn warn, void *ctx,
                                  int *num_errors)
{
    struct parse_ctx pc = {.rs = routes_new(), .warn = warn, .ctx = ctx};
    size_t pos = 0, linelen;
    const char *line;
    int lineno = 0;
    while (tt_next_line(text, len, &pos, &line, &linelen)) {
        lineno++;
        parse_line(&pc, line, linelen, lineno, lineno);
    }
    if (num_errors)
        *num_errors = pc.errors;
    return pc.rs;
}

struct tt_routes *tt_routes_from_lines(char **lines, size_t n, tt_routes_warn_fn warn, void *ctx,
                                       int *num_errors)
{
    struct parse_ctx pc = {.rs = routes_new(), .warn = warn, .ctx = ctx};
    /* warnings name the --route by its 1-based position; the route itself records line 0 */
    for (size_t i = 0; i < n; i++)
        parse_line(&pc, lines[i], strlen(lines[i]), (int)i + 1, 0);
    if (num_errors)
        *num_errors = pc.errors;
    return pc.rs;
}

void tt_routes_ref(struct tt_routes *r)
{
    __atomic_fetch_add(&r->refs, 1, __ATOMIC_RELAXED);
}

void tt_routes_unref(struct tt_routes *r)
{
    if (!r)
        return;
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < r->num_routes; i++)
        route_free(&r->routes[i]);
    free(r->routes);
    free(r);
}

static bool path_matches(const struct tt_route *r, const char *path, size_t path_len)
{
    if (!r->path_beg)
        return true;
    size_t n = strlen(r->path_beg);
    return path && path_len >= n && memcmp(path, r->path_beg, n) == 0;
}

static bool route_matches(const struct tt_route *r, const char *path, size_t path_len, bool ws,
                          bool ssl)
{
    if (r->proto == TT_PROTO_HTTP && ws)
        return false;
    if (r->proto == TT_PROTO_WS && !ws)
        return false;
    if (r->ssl == 1 && !ssl)
        return false;
    if (r->ssl == 0 && ssl)
        return false;
    return path_matches(r, path, path_len);
}

/* Pushpin's isMoreSpecificMatch, quirk included: once proto-ness ties, a longer path_beg
 * wins, but so does having ssl set when the current best has none, regardless of which
 * path_beg is longer. */
static bool more_specific(const struct tt_route *cand, const struct tt_route *best)
{
    bool cp = cand->proto != TT_PROTO_ANY, bp = best->proto != TT_PROTO_ANY;
    if (cp != bp)
        return cp;
    size_t cl = cand->path_beg ? strlen(cand->path_beg) : 0;
    size_t bl = best->path_beg ? strlen(best->path_beg) : 0;
    if (cl > bl)
        return true;
    return cand->ssl != -1 && best->ssl == -1;
}

static bool domain_is(const struct tt_route *r, const char *host, size_t host_len)
{
    return r->domain && r->domain[0] && tt_strieq(host, host_len, r->domain);
}

const struct tt_route *tt_routes_match(const struct tt_routes *r, const char *host, size_t host_len,
                                       const char *path, size_t path_len, bool ws, bool ssl)
{
    if (!r)
        return NULL;
    bool exact = false;
    for (size_t i = 0; host && host_len && i < r->num_routes && !exact; i++)
        exact = domain_is(&r->routes[i], host, host_len);

    const struct tt_route *best = NULL;
    for (size_t i = 0; i < r->num_routes; i++) {
        const struct tt_route *cand = &r->routes[i];
        if (exact ? !domain_is(cand, host, host_len) : cand->domain != NULL)
            continue;
        if (!route_matches(cand, path, path_len, ws, ssl))
            continue;
        if (!best || more_specific(cand, best))
            best = cand;
    }
    return best;
}

const struct tt_route *tt_routes_find_id(const struct tt_routes *r, const char *id, size_t id_len,
                                         const char *path, size_t path_len)
{
    if (!r || !id || id_len == 0)
        return NULL;
    const struct tt_route *found = NULL;
    for (size_t i = 0; i < r->num_routes; i++) {
        const struct tt_route *cand = &r->routes[i];
        if (!cand->id || strlen(cand->id) != id_len || memcmp(cand->id, id, id_len) != 0)
            continue;
        if (found)
            return NULL; /* duplicate ids make the id unusable, as in Pushpin */
        found = cand;
    }
    if (found && !path_matches(found, path, path_len))
        return NULL;
    return found;
}
