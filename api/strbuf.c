/* strbuf.c: the growable response-body buffer. Capacity doubles (at least 64 bytes); one byte is
 * always kept for the terminating NUL. A failed allocation marks the buffer failed for good and
 * frees nothing, so the caller checks `failed` (or hbn_strbuf_take's NULL) once at the end.
 * hbn_strbuf_json_string always emits valid UTF-8: invalid input bytes become U+FFFD. */
#include "api/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void hbn_strbuf_init(hbn_strbuf *sb)
{
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->failed = false;
}

void hbn_strbuf_clear(hbn_strbuf *sb)
{
    hbn_free(sb->data);
    hbn_strbuf_init(sb);
}

bool hbn_strbuf_reserve(hbn_strbuf *sb, size_t extra)
{
    if (sb->failed)
        return false;
    if (extra >= SIZE_MAX - sb->len) {
        sb->failed = true;
        return false;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return true;
    size_t cap = sb->cap < 64 ? 64 : sb->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *grown = hbn_realloc(sb->data, cap);
    if (grown == NULL) {
        sb->failed = true;
        return false;
    }
    sb->data = grown;
    sb->cap = cap;
    return true;
}

void hbn_strbuf_append(hbn_strbuf *sb, const char *s, size_t n)
{
    if (!hbn_strbuf_reserve(sb, n))
        return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void hbn_strbuf_puts(hbn_strbuf *sb, const char *s)
{
    hbn_strbuf_append(sb, s, strlen(s));
}

void hbn_strbuf_printf(hbn_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    if (!hbn_strbuf_reserve(sb, 64))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->data[sb->len] = '\0';
        sb->failed = true;
        return;
    }
    if ((size_t)n >= sb->cap - sb->len) {
        if (!hbn_strbuf_reserve(sb, (size_t)n))
            return;
        va_start(ap, fmt);
        vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
    }
    sb->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at S (1-4 bytes), or 0 when it is invalid (overlong,
 * surrogate, above U+10FFFF, truncated). S[0] >= 0x80. */
static size_t utf8_valid_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4
                                                                                           : 0;
    }
    return 0;
}

void hbn_strbuf_json_string(hbn_strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    hbn_strbuf_append(sb, "\"", 1);
    while (*p != '\0') {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        hbn_strbuf_append(sb, (const char *)run, (size_t)(p - run));
        if (*p == '\0')
            break;
        if (*p >= 0x80) {
            /* The NUL terminator stops utf8_valid_len before it reads past the string. */
            size_t n = utf8_valid_len(p);
            hbn_strbuf_append(sb, n ? (const char *)p : "\xEF\xBF\xBD", n ? n : 3);
            p += n ? n : 1;
            continue;
        }
        char esc[6] = {'\\', (char)*p, 0, 0, 0, 0};
        size_t n = 2;
        switch (*p) {
        case '"': case '\\': break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        }
        hbn_strbuf_append(sb, esc, n);
        p++;
    }
    hbn_strbuf_append(sb, "\"", 1);
}

char *hbn_strbuf_take(hbn_strbuf *sb, size_t *len)
{
    if (sb->failed) {
        hbn_strbuf_clear(sb);
        *len = 0;
        return NULL;
    }
    if (sb->data == NULL && !hbn_strbuf_reserve(sb, 0)) {
        hbn_strbuf_clear(sb);
        *len = 0;
        return NULL;
    }
    if (sb->len == 0)
        sb->data[0] = '\0';
    char *data = sb->data;
    *len = sb->len;
    hbn_strbuf_init(sb);
    return data;
}
