/* json_scan.c: strict RFC 8259 scanning without allocation: the top-level member walker (of a
 * whole document or of an object a text starts with; a member's value skipped and validated, or
 * taken over by a caller that parses it), full validation of skipped values (iterative, with a
 * 64-bit stack of container kinds, so depth costs no recursion), and the number grammar shared
 * with the tensor codec.
 * Rejects: trailing commas, comments, NaN/Infinity, leading zeros, '+' signs, control characters
 * in strings, lone or reversed surrogate escapes, invalid UTF-8 (overlong, surrogates, above
 * U+10FFFF), a byte-order mark, and nesting deeper than HBN_JSON_MAX_DEPTH. Knows no field. */
#include "api/json_scan.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "api/hex.h"

enum { ITER_FIRST = 0, ITER_AFTER_MEMBER = 1, ITER_DONE = 2, ITER_FAILED = 3, ITER_AT_VALUE = 4 };

#define STR_(x) #x
#define STR(x) STR_(x)

static hbn_status syntax_error(hbn_err *err, size_t pos, const char *what)
{
    return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON at byte %zu: %s", pos, what);
}

static size_t skip_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t'))
        pos++;
    return pos;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* True when the 8 bytes at S are all ASCII digits. */
static bool eight_digits(const char *s)
{
    uint64_t v;
    memcpy(&v, s, sizeof v);
    return (((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
             (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) ==
            UINT64_C(0x3333333333333333));
}

/* The value of the 8 ASCII digits at S (SWAR: pairs, then quads, then the octet). */
static uint32_t eight_digits_value(const char *s)
{
    uint64_t v;
    memcpy(&v, s, sizeof v);
    v = (v & UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561 >> 8;
    v = (v & UINT64_C(0x00FF00FF00FF00FF)) * 6553601 >> 16;
    return (uint32_t)((v & UINT64_C(0x0000FFFF0000FFFF)) * UINT64_C(42949672960001) >> 32);
}

/* True when the 4 bytes at S are all ASCII digits; their value in *VALUE. */
static bool four_digits(const char *s, uint32_t *value)
{
    uint32_t v;
    memcpy(&v, s, sizeof v);
    if (((v & 0xF0F0F0F0u) | (((v + 0x06060606u) & 0xF0F0F0F0u) >> 4)) != 0x33333333u)
        return false;
    v = (v & 0x0F0F0F0Fu) * 2561 >> 8;
    *value = ((v & 0x00FF00FFu) * 6553601) >> 16;
    return true;
}

/* Reads a run of digits at S[*I..LEN) into DEC: appended to the significand while it stays below
 * 10^18 (8 and 4 at a time where they fit), the rest dropped: dropped integer digits scale the
 * exponent, a dropped nonzero digit makes the value inexact. FRACTION digits lower the exponent. */
static void scan_digits(const char *s, size_t len, size_t *i, bool fraction, hbn_json_decimal *dec)
{
    size_t p = *i, start = p;
    uint64_t w = dec->significand;
    uint32_t four;
    while (p + 8 <= len && w < UINT64_C(100000000000) && eight_digits(s + p)) {
        w = w * 100000000 + eight_digits_value(s + p);
        p += 8;
    }
    if (p + 4 <= len && w < UINT64_C(1000000000000000) && four_digits(s + p, &four)) {
        w = w * 10000 + four;
        p += 4;
    }
    for (; p < len && is_digit(s[p]) && w < UINT64_C(1000000000000000000); p++)
        w = w * 10 + (uint64_t)(s[p] - '0');
    size_t taken = p - start, dropped = p;
    for (; p < len && is_digit(s[p]); p++)
        dec->inexact |= s[p] != '0';
    dropped = p - dropped;
    int64_t e = dec->exponent + (fraction ? -(int64_t)taken : (int64_t)dropped);
    dec->significand = w;
    dec->exponent = (int32_t)(e < -1000000000 ? -1000000000 : e > 1000000000 ? 1000000000 : e);
    *i = p;
}

/* Skips a run of digits at S[*I..LEN), 8 at a time where possible. */
static void skip_digits(const char *s, size_t len, size_t *i)
{
    size_t p = *i;
    while (p + 8 <= len && eight_digits(s + p))
        p += 8;
    while (p < len && is_digit(s[p]))
        p++;
    *i = p;
}

/* The number grammar, once for both entry points: with DEC NULL it only measures the token.
 * Always inlined so that the measuring copy carries no value arithmetic. */
static inline __attribute__((always_inline)) size_t
number_scan(const char *s, size_t len, hbn_json_decimal *dec, bool *integer)
{
    size_t i = 0;
    *integer = true;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !is_digit(s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else if (dec != NULL)
        scan_digits(s, len, &i, false, dec);
    else
        skip_digits(s, len, &i);
    if (i < len && s[i] == '.') {
        *integer = false;
        if (++i >= len || !is_digit(s[i]))
            return 0;
        if (dec != NULL)
            scan_digits(s, len, &i, true, dec);
        else
            skip_digits(s, len, &i);
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *integer = false;
        bool neg = ++i < len && s[i] == '-';
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return 0;
        int64_t e = 0;
        for (; i < len && is_digit(s[i]); i++)
            e = e < 1000000000 ? e * 10 + (s[i] - '0') : e; /* saturates */
        if (dec != NULL) {
            e = dec->exponent + (neg ? -e : e);
            dec->exponent = (int32_t)(e < -2000000000 ? -2000000000
                                      : e > 2000000000 ? 2000000000
                                                       : e);
        }
    }
    /* "01", "1.2.3", "1e5e5", "1-2": the token runs on, so it is not a number. */
    if (i < len && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' ||
                    s[i] == '-'))
        return 0;
    return i;
}

size_t hbn_json_number_parse(const char *s, size_t len, hbn_json_decimal *dec)
{
    memset(dec, 0, sizeof *dec);
    dec->negative = len > 0 && s[0] == '-';
    return number_scan(s, len, dec, &dec->integer);
}

size_t hbn_json_number_span(const char *s, size_t len, bool *is_integer)
{
    bool integer;
    size_t n = number_scan(s, len, NULL, &integer);
    if (n > 0 && is_integer != NULL)
        *is_integer = integer;
    return n;
}

/* Length of the valid UTF-8 sequence at S[0..AVAIL) whose first byte is >= 0x80, 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
                       (s[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static int hex4(const char *s, size_t avail)
{
    int v = 0;
    if (avail < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = hbn_hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A decoded string, when the caller wants it: bytes beyond CAP - 1 set TRUNCATED. */
typedef struct decoded {
    char *buf;
    size_t cap, len;
    bool truncated;
    bool has_nul;
} decoded;

static void decoded_put(decoded *d, const char *bytes, size_t n)
{
    if (d == NULL || d->truncated)
        return;
    size_t room = d->cap - 1 - d->len;
    if (n > room) {
        d->truncated = true;
        n = room; /* keep the prefix for messages */
    }
    memcpy(d->buf + d->len, bytes, n);
    d->len += n;
}

/* Reads the escape at S[*POS] (just after the backslash) and appends what it stands for. */
static hbn_status scan_escape(const char *s, size_t len, size_t *pos, decoded *d, hbn_err *err)
{
    size_t p = *pos;
    static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
    const char *hit = p < len && s[p] != '\0' ? strchr(simple_in, s[p]) : NULL;
    if (hit != NULL) {
        decoded_put(d, &simple_out[hit - simple_in], 1);
        *pos = p + 1;
        return HBN_OK;
    }
    if (p >= len || s[p] != 'u')
        return syntax_error(err, p, "invalid escape in string");
    int cp = hex4(s + p + 1, len - p - 1);
    if (cp < 0)
        return syntax_error(err, p, "invalid \\u escape");
    p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return syntax_error(err, p - 6, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        int lo = p + 1 < len && s[p] == '\\' && s[p + 1] == 'u' ? hex4(s + p + 2, len - p - 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return syntax_error(err, p - 6, "unpaired high surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    if (d != NULL && cp == 0)
        d->has_nul = true;
    decoded_put(d, u, n);
    *pos = p;
    return HBN_OK;
}

/* Scans the string whose opening quote is at S[*POS]; leaves *POS after the closing quote.
 * Decodes into D when D is not NULL. */
static hbn_status scan_string(const char *s, size_t len, size_t *pos, decoded *d, hbn_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *pos + 1;
    for (;;) {
        size_t run = p;
        while (p < len && u[p] >= 0x20 && u[p] < 0x80 && u[p] != '"' && u[p] != '\\')
            p++;
        decoded_put(d, s + run, p - run);
        if (p >= len)
            return syntax_error(err, *pos, "unterminated string");
        if (u[p] == '"')
            break;
        if (u[p] < 0x20)
            return syntax_error(err, p, "control character in string");
        if (u[p] == '\\') {
            p++;
            hbn_status st = scan_escape(s, len, &p, d, err);
            if (st != HBN_OK)
                return st;
            continue;
        }
        size_t n = utf8_len(u + p, len - p);
        if (n == 0)
            return syntax_error(err, p, "invalid UTF-8");
        decoded_put(d, s + p, n);
        p += n;
    }
    *pos = p + 1;
    return HBN_OK;
}

static hbn_status scan_scalar(const char *s, size_t len, size_t *pos, hbn_err *err)
{
    size_t p = *pos;
    static const char *const literals[] = {"true", "false", "null"};
    if (s[p] == '"')
        return scan_string(s, len, pos, NULL, err);
    if (s[p] == '-' || is_digit(s[p])) {
        size_t n = hbn_json_number_span(s + p, len - p, NULL);
        if (n == 0)
            return syntax_error(err, p, "invalid number");
        *pos = p + n;
        return HBN_OK;
    }
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        size_t n = strlen(literals[i]);
        if (len - p >= n && memcmp(s + p, literals[i], n) == 0) {
            *pos = p + n;
            return HBN_OK;
        }
    }
    return syntax_error(err, p, "unexpected character");
}

/* Scans an object key and its colon at S[*POS] (after whitespace); leaves *POS at the value. */
static hbn_status scan_key(const char *s, size_t len, size_t *pos, decoded *d, hbn_err *err)
{
    size_t p = skip_ws(s, len, *pos);
    if (p >= len || s[p] != '"')
        return syntax_error(err, p, "expected a string key");
    hbn_status st = scan_string(s, len, &p, d, err);
    if (st != HBN_OK)
        return st;
    p = skip_ws(s, len, p);
    if (p >= len || s[p] != ':')
        return syntax_error(err, p, "expected ':'");
    *pos = skip_ws(s, len, p + 1);
    return HBN_OK;
}

/* After a value inside containers deeper than BASE: consumes closers and separators until the
 * next value is due (*DUE true) or the depth is back to BASE. STACK bit d-1 is set when the
 * container at depth d is an object. */
static hbn_status after_value(const char *s, size_t len, size_t *pos, int *depth, int base,
                              uint64_t stack, bool *due, hbn_err *err)
{
    size_t p = *pos;
    *due = false;
    while (*depth > base) {
        bool object = (stack >> (*depth - 1)) & 1;
        p = skip_ws(s, len, p);
        if (p < len && s[p] == ',') {
            p++;
            if (object) {
                hbn_status st = scan_key(s, len, &p, NULL, err);
                if (st != HBN_OK)
                    return st;
            }
            *due = true;
            break;
        }
        if (p >= len || s[p] != (object ? '}' : ']'))
            return syntax_error(err, p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        p++;
        (*depth)--;
    }
    *pos = p;
    return HBN_OK;
}

/* Skips and validates the value at S[*POS] found inside DEPTH levels of containers. */
static hbn_status skip_value(const char *s, size_t len, size_t *pos, int depth, hbn_err *err)
{
    const int base = depth;
    uint64_t stack = 0;
    size_t p = *pos;
    for (;;) {
        hbn_status st;
        p = skip_ws(s, len, p);
        if (p >= len)
            return syntax_error(err, p, "unexpected end, expected a value");
        if (s[p] == '{' || s[p] == '[') {
            bool object = s[p] == '{';
            if (depth >= HBN_JSON_MAX_DEPTH)
                return syntax_error(err, p,
                                    "nesting deeper than " STR(HBN_JSON_MAX_DEPTH) " levels");
            depth++;
            stack = object ? stack | (UINT64_C(1) << (depth - 1))
                           : stack & ~(UINT64_C(1) << (depth - 1));
            p = skip_ws(s, len, p + 1);
            if (p < len && s[p] == (object ? '}' : ']')) {
                p++;
                depth--;
            } else {
                if (object && (st = scan_key(s, len, &p, NULL, err)) != HBN_OK)
                    return st;
                continue;
            }
        } else if ((st = scan_scalar(s, len, &p, err)) != HBN_OK) {
            return st;
        }
        bool due;
        if ((st = after_value(s, len, &p, &depth, base, stack, &due, err)) != HBN_OK)
            return st;
        if (!due) {
            *pos = p;
            return HBN_OK;
        }
    }
}

hbn_status hbn_json_validate(const char *text, size_t len, hbn_err *err)
{
    size_t p = skip_ws(text, len, 0);
    if (p >= len)
        return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON: empty document");
    hbn_status st = skip_value(text, len, &p, 0, err);
    if (st != HBN_OK)
        return st;
    p = skip_ws(text, len, p);
    if (p != len)
        return syntax_error(err, p, "unexpected data after the JSON value");
    return HBN_OK;
}

static const char *kind_name(char c)
{
    switch (c) {
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

hbn_status hbn_json_iter_init(hbn_json_iter *it, const char *text, size_t len, hbn_err *err)
{
    it->text = text;
    it->len = len;
    it->pos = 0;
    it->state = ITER_FAILED;
    it->prefix = false;
    size_t p = skip_ws(text, len, 0);
    if (p >= len)
        return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON: empty document");
    if (text[p] != '{') {
        hbn_status st = hbn_json_validate(text, len, err);
        if (st != HBN_OK)
            return st;
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "expected a JSON object, got %s",
                           kind_name(text[p]));
    }
    it->pos = p + 1;
    it->state = ITER_FIRST;
    return HBN_OK;
}

hbn_status hbn_json_iter_init_prefix(hbn_json_iter *it, const char *text, size_t len,
                                     hbn_err *err)
{
    size_t p = skip_ws(text, len, 0);
    it->text = text;
    it->len = len;
    it->pos = p;
    it->state = ITER_FAILED;
    it->prefix = true;
    if (p >= len || text[p] != '{')
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "expected a JSON object");
    it->pos = p + 1;
    it->state = ITER_FIRST;
    return HBN_OK;
}

/* Consumes the closing brace at IT->pos and, for a whole document, checks that only whitespace
 * follows. */
static hbn_status iter_finish(hbn_json_iter *it, bool *done, hbn_err *err)
{
    size_t p = it->prefix ? it->pos + 1 : skip_ws(it->text, it->len, it->pos + 1);
    if (p != it->len && !it->prefix)
        return syntax_error(err, p, "unexpected data after the JSON object");
    it->pos = p;
    it->state = ITER_DONE;
    *done = true;
    return HBN_OK;
}

/* Reports a key that cannot be a field (too long, or holding U+0000), unless the document is not
 * JSON at all, which takes precedence (a prefix walk does not look at the rest). */
static hbn_status iter_bad_key(const hbn_json_iter *it, const decoded *d, hbn_err *err)
{
    hbn_status st = it->prefix ? HBN_OK : hbn_json_validate(it->text, it->len, err);
    if (st != HBN_OK)
        return st;
    size_t shown = d->len > 40 ? 40 : d->len;
    while (shown > 0 && shown < d->len && ((unsigned char)d->buf[shown] & 0xC0) == 0x80)
        shown--; /* cut on a UTF-8 boundary */
    return hbn_err_set(err, HBN_E_UNKNOWN_FIELD, "unknown field \"%.*s%s\"", (int)shown, d->buf,
                       shown < d->len || d->truncated ? "..." : "");
}

/* Walks to the next key and stops at its value (state ITER_AT_VALUE), or finishes the object;
 * hbn_json_iter_next_key wraps it so that an error is final. */
static hbn_status iter_key(hbn_json_iter *it, hbn_json_member *m, bool *done, hbn_err *err)
{
    const char *s = it->text;
    size_t len = it->len;
    size_t p = skip_ws(s, len, it->pos);
    if (it->state == ITER_AFTER_MEMBER) {
        if (p < len && s[p] == '}') {
            it->pos = p;
            return iter_finish(it, done, err);
        }
        if (p >= len || s[p] != ',')
            return syntax_error(err, p, "expected ',' or '}'");
        p++;
    } else if (p < len && s[p] == '}') {
        it->pos = p;
        return iter_finish(it, done, err);
    }
    decoded d = {m->key, sizeof m->key, 0, false, false};
    hbn_status st = scan_key(s, len, &p, &d, err);
    if (st != HBN_OK)
        return st;
    m->key[d.len] = '\0';
    if (d.truncated || d.has_nul)
        return iter_bad_key(it, &d, err);
    m->value = s + p;
    m->value_len = len - p;
    it->pos = p;
    it->state = ITER_AT_VALUE;
    return HBN_OK;
}

hbn_status hbn_json_iter_next_key(hbn_json_iter *it, hbn_json_member *m, bool *done,
                                  hbn_err *err)
{
    *done = false;
    assert(it->state != ITER_AT_VALUE); /* the previous member's value was not consumed */
    if (it->state == ITER_DONE) {
        *done = true;
        return HBN_OK;
    }
    if (it->state == ITER_FAILED)
        return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON: the document was rejected");
    hbn_status st = iter_key(it, m, done, err);
    if (st != HBN_OK)
        it->state = ITER_FAILED;
    return st;
}

hbn_status hbn_json_iter_skip(hbn_json_iter *it, hbn_json_member *m, hbn_err *err)
{
    if (it->state == ITER_FAILED)
        return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON: the document was rejected");
    assert(it->state == ITER_AT_VALUE);
    size_t p = it->pos;
    hbn_status st = skip_value(it->text, it->len, &p, 1, err);
    if (st != HBN_OK) {
        it->state = ITER_FAILED;
        return st;
    }
    m->value_len = p - it->pos;
    it->pos = p;
    it->state = ITER_AFTER_MEMBER;
    return HBN_OK;
}

void hbn_json_iter_advance(hbn_json_iter *it, hbn_json_member *m, size_t used)
{
    assert(it->state == ITER_AT_VALUE && used > 0 && used <= it->len - it->pos);
    m->value_len = used;
    it->pos += used;
    it->state = ITER_AFTER_MEMBER;
}

size_t hbn_json_iter_offset(const hbn_json_iter *it)
{
    return it->pos;
}

hbn_status hbn_json_iter_next(hbn_json_iter *it, hbn_json_member *m, bool *done, hbn_err *err)
{
    hbn_status st = hbn_json_iter_next_key(it, m, done, err);
    if (st != HBN_OK || *done)
        return st;
    return hbn_json_iter_skip(it, m, err);
}
