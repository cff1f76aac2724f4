/* ext.c: Sec-WebSocket-Extensions iterator; see ext.h. */
#include "ws/ext.h"

static bool tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool value_char(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f && c != ',' && c != ';' &&
           c != '"';
}

static void skip_ows(const char *v, size_t len, size_t *i)
{
    while (*i < len && (v[*i] == ' ' || v[*i] == '\t'))
        (*i)++;
}

static size_t token(const char *v, size_t len, size_t i)
{
    while (i < len && tchar(v[i]))
        i++;
    return i;
}

/* One parameter after its ";". */
static int parse_param(const char *v, size_t len, size_t *i, struct tt_ws_ext_param *p)
{
    skip_ows(v, len, i);
    size_t s = *i, e = token(v, len, s);
    if (e == s)
        return TT_EPARSE;
    p->name = v + s;
    p->name_len = e - s;
    p->value = NULL;
    p->value_len = 0;
    p->quoted = false;
    *i = e;
    skip_ows(v, len, i);
    if (*i >= len || v[*i] != '=')
        return 0;
    (*i)++;
    skip_ows(v, len, i);
    if (*i < len && v[*i] == '"') {
        size_t q = ++(*i);
        for (;;) {
            if (*i >= len)
                return TT_EPARSE; /* unterminated */
            char c = v[*i];
            if (c == '\\') {
                if (*i + 1 >= len)
                    return TT_EPARSE;
                *i += 2;
                continue;
            }
            if (c == '"')
                break;
            if ((unsigned char)c < 0x20 && c != '\t')
                return TT_EPARSE;
            (*i)++;
        }
        p->value = v + q;
        p->value_len = *i - q;
        p->quoted = true;
        (*i)++;
        return 0;
    }
    s = *i;
    while (*i < len && value_char(v[*i]))
        (*i)++;
    if (*i == s)
        return TT_EPARSE; /* "name=" with nothing after */
    p->value = v + s;
    p->value_len = *i - s;
    return 0;
}

int tt_ws_ext_next(const char *v, size_t len, size_t *pos, struct tt_ws_ext *ext)
{
    size_t i = *pos;
    for (;;) {
        skip_ows(v, len, &i);
        if (i >= len) {
            *pos = i;
            return 0;
        }
        if (v[i] != ',')
            break;
        i++;
    }
    size_t s = i, e = token(v, len, i);
    if (e == s)
        return TT_EPARSE;
    ext->name = v + s;
    ext->name_len = e - s;
    ext->num_params = 0;
    i = e;
    for (;;) {
        skip_ows(v, len, &i);
        if (i >= len || v[i] == ',')
            break;
        if (v[i] != ';')
            return TT_EPARSE;
        i++;
        if (ext->num_params == TT_WS_EXT_MAX_PARAMS)
            return TT_EPARSE;
        if (parse_param(v, len, &i, &ext->params[ext->num_params]) < 0)
            return TT_EPARSE;
        ext->num_params++;
    }
    if (i < len)
        i++; /* the comma */
    *pos = i;
    return 1;
}

int tt_ws_ext_value(const struct tt_ws_ext_param *p, char *out, size_t outlen)
{
    size_t n = 0;
    if (!outlen)
        return TT_ETOOBIG;
    for (size_t i = 0; p->value && i < p->value_len; i++) {
        char c = p->value[i];
        if (p->quoted && c == '\\' && i + 1 < p->value_len)
            c = p->value[++i];
        if (n + 1 >= outlen)
            return TT_ETOOBIG;
        out[n++] = c;
    }
    out[n] = 0;
    return (int)n;
}

const struct tt_ws_ext_param *tt_ws_ext_param(const struct tt_ws_ext *e, const char *name)
{
    for (size_t i = 0; i < e->num_params; i++)
        if (tt_strieq(e->params[i].name, e->params[i].name_len, name))
            return &e->params[i];
    return NULL;
}
