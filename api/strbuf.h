/* strbuf.h: a growable byte buffer for building response bodies (geometric growth, checked
 * allocation). After any failed append the buffer is marked failed and further appends do
 * nothing, so a caller checks once at the end. */
#ifndef HBN_STRBUF_H
#define HBN_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hbn_strbuf {
    char *data;   /* NEW; NUL-terminated when not failed */
    size_t len;
    size_t cap;
    bool failed;  /* an allocation failed */
} hbn_strbuf;

void hbn_strbuf_init(hbn_strbuf *sb);
void hbn_strbuf_clear(hbn_strbuf *sb);                 /* frees and re-initialises */
bool hbn_strbuf_reserve(hbn_strbuf *sb, size_t extra);  /* room for EXTRA more bytes */
void hbn_strbuf_append(hbn_strbuf *sb, const char *s, size_t n);
void hbn_strbuf_puts(hbn_strbuf *sb, const char *s);
void hbn_strbuf_printf(hbn_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S as a JSON string literal (quotes and escapes included). */
void hbn_strbuf_json_string(hbn_strbuf *sb, const char *s);
/* Hands the buffer over: returns DATA (NEW, caller frees) with *LEN, leaving SB empty; NULL when
 * the buffer failed. */
char *hbn_strbuf_take(hbn_strbuf *sb, size_t *len);

#endif
