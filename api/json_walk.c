/* json_walk.c: spans of already-validated JSON (json_walk.h). Skipping a value only tracks
 * strings (to ignore brackets inside them) and bracket depth, one byte at a time: no grammar is
 * checked, which json_scan did before. Every loop is bounded by the span's length. */
#include "api/json_walk.h"

#include <string.h>

#include "api/hex.h"

static size_t skip_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t'))
        pos++;
    return pos;
}

/* The position just after the string whose opening quote is at S[POS]. */
static size_t skip_string(const char *s, size_t len, size_t pos)
{
    pos++;
    while (pos < len) {
        const char *q = memchr(s + pos, '"', len - pos);
        size_t at, back = 0;

        if (q == NULL)
            return len;
        at = (size_t)(q - s);
        while (at - back > pos && s[at - back - 1] == '\\')
            back++;
        pos = at + 1;
        if (back % 2 == 0)
            return pos;
    }
    return len;
}

/* The position just after the value that starts at S[POS]. */
static size_t skip_value(const char *s, size_t len, size_t pos)
{
    size_t depth = 0;

    while (pos < len) {
        char c = s[pos];

        if (c == '"') {
            pos = skip_string(s, len, pos);
            if (depth == 0)
                return pos;
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return pos; /* the end of a scalar that closes its container */
            if (--depth == 0)
                return pos + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
            return pos; /* the end of a scalar */
        }
        pos++;
    }
    return len;
}

bool hbn_json_walk_init(hbn_json_walk *w, hbn_json_span container)
{
    size_t p = skip_ws(container.p, container.len, 0);

    w->s = container.p;
    w->len = container.len;
    w->pos = p + 1;
    w->object = p < container.len && container.p[p] == '{';
    return p < container.len && (container.p[p] == '{' || container.p[p] == '[');
}

bool hbn_json_walk_next(hbn_json_walk *w, hbn_json_span *key, hbn_json_span *value)
{
    const char *s = w->s;
    size_t p = skip_ws(s, w->len, w->pos);

    if (p < w->len && s[p] == ',')
        p = skip_ws(s, w->len, p + 1);
    if (p >= w->len || s[p] == ']' || s[p] == '}') {
        w->pos = w->len;
        return false;
    }
    if (w->object) {
        size_t end = skip_string(s, w->len, p);

        if (key != NULL) {
            key->p = s + p;
            key->len = end - p;
        }
        p = skip_ws(s, w->len, end);
        if (p < w->len && s[p] == ':')
            p = skip_ws(s, w->len, p + 1);
    }
    value->p = s + p;
    w->pos = skip_value(s, w->len, p);
    value->len = w->pos - p;
    return true;
}

/* Decodes the escape at K[*I] (just after the backslash) into *OUT when it stands for one ASCII
 * byte; false otherwise (a non-ASCII character can never equal an ASCII name). */
static bool unescape_ascii(const char *k, size_t n, size_t *i, char *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e;
    int v = 0;

    if (*i >= n)
        return false;
    if (k[*i] != 'u') {
        e = memchr(from, k[*i], sizeof from - 1);
        if (e == NULL)
            return false;
        *out = to[e - from];
        (*i)++;
        return true;
    }
    if (*i + 5 > n)
        return false;
    for (int d = 1; d <= 4; d++) {
        int h = hbn_hex_digit(k[*i + (size_t)d]);
        if (h < 0)
            return false;
        v = v * 16 + h;
    }
    if (v == 0 || v > 0x7f)
        return false;
    *out = (char)v;
    *i += 5;
    return true;
}

bool hbn_json_walk_string_is(hbn_json_span key, const char *name)
{
    size_t n = strlen(name), i = 1, j = 0;

    if (key.len < 2 || key.p[0] != '"')
        return false;
    if (key.len == n + 2 && memcmp(key.p + 1, name, n) == 0)
        return true; /* the usual case: no escapes */
    while (i + 1 < key.len) {
        char c = key.p[i++];

        if (c == '\\' && !unescape_ascii(key.p, key.len - 1, &i, &c))
            return false;
        if (j >= n || name[j++] != c)
            return false;
    }
    return j == n;
}

char hbn_json_walk_kind(hbn_json_span v)
{
    char c = v.len > 0 ? v.p[0] : '0';

    switch (c) {
    case '{':
    case '[':
    case '"':
    case 't':
    case 'f':
    case 'n':
        return c;
    default:
        return '0';
    }
}
