/* tensor_json.c: the float tensor codec. A vectorised comma count sizes one 64-byte aligned
 * buffer (numbers <= commas + 1: it never grows); one pass infers the nested shape from the first
 * path down, checks every later array against it and converts numbers: runs of plain decimals
 * (<= 15 digits, no exponent) by a word-at-a-time fast path, the rest by hbn_json_number_parse;
 * one float32 rounding (exact double, else strtof; overflow is +-Inf). The walk also parses a
 * member in place inside a larger document (prefix mode). Errors: invalid JSON, then non-numbers,
 * then shapes, whatever the order found. Nested printing stops at the first zero dimension
 * ([2, 0, 3] prints as [[],[]]; the object form is the faithful one for such shapes). */
#include "api/tensor_json.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/float_format.h"
#include "api/json_scan.h"
#include "core/alloc.h"

#define TOKEN_STACK_MAX 128 /* number tokens up to this length convert without malloc */

void hbn_tensor_init(hbn_tensor *t)
{
    memset(t, 0, sizeof *t);
}

void hbn_tensor_clear(hbn_tensor *t)
{
    hbn_free(t->data);
    hbn_tensor_init(t);
}

hbn_status hbn_tensor_alloc(hbn_tensor *t, int64_t numel, hbn_err *err)
{
    hbn_free(t->data);
    t->data = NULL;
    t->numel = 0;
    if (numel < 0 || (uint64_t)numel > (SIZE_MAX - 64) / sizeof(float))
        return hbn_err_set(err, HBN_E_NO_MEMORY, "cannot allocate a tensor of %lld floats",
                           (long long)numel);
    if (numel == 0)
        return HBN_OK;
    size_t bytes = ((size_t)numel * sizeof(float) + 63) & ~(size_t)63;
    t->data = hbn_aligned_alloc(64, bytes);
    if (t->data == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory for a tensor of %lld floats",
                           (long long)numel);
    t->numel = numel;
    return HBN_OK;
}

/* ---- number conversion --------------------------------------------------------------------- */

static const uint64_t POW10_U64[9] = {1,      10,      100,      1000,     10000,
                                      100000, 1000000, 10000000, 100000000};

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Converts the valid JSON number token S[N], read into DEC, to float32 with correct rounding.
 * Fast path: an exact significand W <= 2^53 and |E10| <= 22 give the correctly rounded double
 * D = W * 10^E10 in one operation. Rounding D to float equals rounding the exact value to float
 * unless D is exactly halfway between two floats (the exact value may then lie on either side),
 * so that case, and every other, goes to strtof (C locale) on a NUL-terminated copy. D is a
 * normal float here (1e-22 <= D < 1e38): float precision is the top 24 of its 53 bits. */
static hbn_status convert_number(const char *s, size_t n, const hbn_json_decimal *dec, float *out,
                                 hbn_err *err)
{
    uint64_t w = dec->significand;
    int32_t e10 = dec->exponent;
    if (w == 0) {
        *out = dec->negative ? -0.0f : 0.0f;
        return HBN_OK;
    }
    if (!dec->inexact && w <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        double d = e10 < 0 ? (double)w / POW10[-e10] : (double)w * POW10[e10];
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        if ((bits & ((UINT64_C(1) << 29) - 1)) != (UINT64_C(1) << 28)) {
            float f = (float)d;
            *out = dec->negative ? -f : f;
            return HBN_OK;
        }
    }
    char local[TOKEN_STACK_MAX];
    char *buf = n < sizeof local ? local : hbn_malloc(n + 1);
    if (buf == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory for a %zu-byte number", n);
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtof(buf, NULL);
    if (buf != local)
        hbn_free(buf);
    return HBN_OK;
}

/* The fast path reads this many bytes from a number's first byte (it never looks at a
 * document's last FAST_WINDOW - 1 bytes: those numbers take the general path). */
#define FAST_WINDOW 32

/* The 8 bytes at S as a word, the first byte lowest. */
static inline uint64_t load8(const char *s)
{
    uint64_t v;
    memcpy(&v, s, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* How many of the 8 bytes of V (first byte lowest) are ASCII digits before the first one that is
 * not (0 to 8). A byte is a digit when its high nibble is 3 and adding 6 keeps it so; a carry out
 * of a byte >= 0xFA can only disturb bytes after it, which do not count. No branch: the count is
 * as random as the data. */
static inline int digit_run(uint64_t v)
{
    uint64_t x = ((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
                  (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) ^
                 UINT64_C(0x3333333333333333);
    return __builtin_ctzll(x | UINT64_C(1) << 63) / 8 + (x == 0);
}

/* The value of the first K (0 to 8) bytes of V, all ASCII digits: the other bytes are shifted
 * out (in two steps, as a shift by 64 is undefined), leaving leading zero digits, then pairs,
 * quads and the octet are combined (SWAR). */
static inline uint64_t digits_value(uint64_t v, int k)
{
    v = (v & UINT64_C(0x0F0F0F0F0F0F0F0F)) << (4 * (8 - k)) << (4 * (8 - k));
    v = (v * 10 + (v >> 8)) & UINT64_C(0x00FF00FF00FF00FF);
    v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF);
    return (v * 10000 + (v >> 32)) & UINT64_C(0xFFFFFFFF);
}

/* Reads the number at S (FAST_WINDOW bytes readable) when it is a plain decimal: '-'?, 1 to 7
 * integer digits without a leading zero (or a lone 0), then '.' and fraction digits or nothing,
 * at most 15 digits in all (so the significand is exact in a double), not followed by '.', 'e',
 * 'E', '+' or '-', and exactly converted by the double fast path (see convert_number). Returns
 * its length with the float in *OUT, or 0 for anything else (which the general path then reads
 * or rejects: never a different verdict). The digits are gathered without the point into two
 * words (the first 8 and the next 8), so the integer and fraction parts cost one conversion. */
static inline __attribute__((always_inline)) size_t fast_number(const char *s, float *out)
{
    bool negative = *s == '-';
    const char *p = s + negative;
    uint64_t a = load8(p);
    int ki = digit_run(a);
    /* one branch, not three: which test fails is as random as the data */
    if ((unsigned)(ki - 1) > 6u - (unsigned)(p[0] == '0') * 6u)
        return 0; /* no digit, 8 or more, or a leading zero */
    bool dot = p[ki] == '.';
    uint64_t keep = (UINT64_C(1) << (8 * ki)) - 1, take = 0 - (uint64_t)dot;
    uint64_t m8 = (a & keep) | (load8(p + 1) & ~keep & take); /* digits 1-8, point removed */
    uint64_t m16 = load8(p + 9) & take;                       /* digits 9-16 */
    int n8 = digit_run(m8), n16 = digit_run(m16) & -(int)(n8 == 8), kf = n8 + n16 - ki;
    p += n8 + n16 + dot;
    if (n16 == 8 || (dot && kf == 0) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
        *p == '-')
        return 0;
    uint64_t w = digits_value(m8, n8) * POW10_U64[n16] + digits_value(m16, n16);
    double d = (double)w / POW10[kf];
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    if (w != 0 && (bits & ((UINT64_C(1) << 29) - 1)) == (UINT64_C(1) << 28))
        return 0; /* halfway between two floats: strtof decides */
    float f = (float)d;
    uint32_t fbits;
    memcpy(&fbits, &f, sizeof fbits);
    fbits ^= (uint32_t)negative << 31; /* the sign without a branch */
    memcpy(out, &fbits, sizeof fbits);
    return (size_t)(p - s);
}

/* ---- parsing ------------------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t'))
        pos++;
    return pos;
}

/* Number of ',' bytes in S[LEN]: byte compares summed in 64 byte-wide counters, which the
 * compiler vectorises (no popcount, so no libgcc call on targets without the instruction). */
static size_t count_commas(const char *s, size_t len)
{
    size_t n = 0, i = 0;
    while (len - i >= 64) {
        size_t end = i + (len - i < 64 * 255 ? (len - i) / 64 * 64 : 64 * 255);
        unsigned char acc[64] = {0}; /* at most 255 blocks: no counter overflows */
        for (; i < end; i += 64)
            for (int j = 0; j < 64; j++)
                acc[j] += s[i + j] == ',';
        for (int j = 0; j < 64; j++)
            n += acc[j];
    }
    for (; i < len; i++)
        n += s[i] == ',';
    return n;
}

/* True when the valid JSON array S[LEN] holds a string, object, boolean or null anywhere:
 * none of '"', '{', 't', 'f', 'n' can occur in an array of arrays of numbers. */
static bool has_non_number(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '"' || s[i] == '{' || s[i] == 't' || s[i] == 'f' || s[i] == 'n')
            return true;
    return false;
}

/* One nested-array parse: the text, limits, the inferred shape and the growing data. */
typedef struct nest_parse {
    const char *s;
    size_t len, pos;
    const char *field;  /* for messages: "inputs", "inputs: data" */
    int max_rank;       /* HBN_TENSOR_MAX_RANK, or 1 for flat vectors */
    int rank;           /* -1 until the first number or empty array fixes it */
    int depth;
    int64_t count[HBN_TENSOR_MAX_RANK + 1]; /* elements so far in the open array at each depth */
    int64_t shape[HBN_TENSOR_MAX_RANK];
    bool known[HBN_TENSOR_MAX_RANK];
    float *data;
    int64_t numel, cap;
} nest_parse;

static hbn_status nest_syntax(const nest_parse *np, size_t pos, const char *what, hbn_err *err)
{
    return hbn_err_set(err, HBN_E_INVALID_JSON, "invalid JSON in %s at byte %zu of the value: %s",
                       np->field, pos, what);
}

static hbn_status nest_ragged(const nest_parse *np, int depth, const char *what, hbn_err *err)
{
    return hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "%s is ragged at depth %d: %s", np->field, depth,
                       what);
}

/* An opening bracket at the current position, inside NP->depth arrays. */
static hbn_status nest_open(nest_parse *np, hbn_err *err)
{
    if (np->rank >= 0 && np->depth >= np->rank)
        return nest_ragged(np, np->depth, "expected a number, got an array", err);
    if (np->depth >= np->max_rank) {
        if (np->max_rank == 1)
            return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                               "%s must be a flat array of numbers, got a nested array",
                               np->field);
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "%s is nested deeper than %d levels",
                           np->field, np->max_rank);
    }
    np->count[np->depth]++;
    np->depth++;
    np->count[np->depth] = 0;
    np->pos++;
    return HBN_OK;
}

/* A closing bracket: the array at NP->depth is complete. */
static hbn_status nest_close(nest_parse *np, hbn_err *err)
{
    int d = np->depth;
    int64_t n = np->count[d];
    if (np->rank < 0)
        np->rank = d; /* only an empty array closes before any number */
    if (!np->known[d - 1]) {
        np->known[d - 1] = true;
        np->shape[d - 1] = n;
    } else if (np->shape[d - 1] != n) {
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "%s is ragged at depth %d: expected %lld elements, got %lld", np->field,
                           d, (long long)np->shape[d - 1], (long long)n);
    }
    np->depth--;
    np->pos++;
    return HBN_OK;
}

/* Reads the number token at NP->s[P] into *OUT: its length, or 0 when it is not a valid number.
 * A conversion failure (out of memory for a long token) goes to *ST. */
static size_t read_number(const nest_parse *np, size_t p, float *out, hbn_status *st,
                          hbn_err *err)
{
    if (np->len - p >= FAST_WINDOW) {
        size_t n = fast_number(np->s + p, out);
        if (n > 0)
            return n;
    }
    hbn_json_decimal dec;
    size_t n = hbn_json_number_parse(np->s + p, np->len - p, &dec);
    if (n > 0)
        *st = convert_number(np->s + p, n, &dec, out, err);
    return n;
}

/* A value that is not an array: a number at the leaf depth, or an error. A number is followed
 * here by the plain decimals after it in the same array ("1.5,2.25, 3" ...) and in the rows
 * after it ("],[" once the row length is known and matched), which need none of the general
 * structure checks; the first token that is anything else is left to nest_walk, from the
 * separator before it. */
static hbn_status nest_scalar(nest_parse *np, hbn_err *err)
{
    const char *s = np->s;
    size_t p = np->pos, len = np->len;
    char c = s[p];
    if (c != '-' && (c < '0' || c > '9')) {
        if (c == '"' || c == '{' || c == 't' || c == 'f' || c == 'n')
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must hold only numbers", np->field);
        return nest_syntax(np, p, "unexpected character", err);
    }
    assert(np->numel < np->cap); /* numbers <= commas + 1 */
    hbn_status st = HBN_OK;
    size_t n = read_number(np, p, &np->data[np->numel], &st, err);
    if (n == 0)
        return nest_syntax(np, p, "invalid number", err);
    if (np->rank < 0)
        np->rank = np->depth;
    else if (np->depth != np->rank)
        return nest_ragged(np, np->depth, "expected an array, got a number", err);
    if (st != HBN_OK)
        return st;
    int d = np->depth;
    int64_t numel = np->numel + 1, count = np->count[d] + 1;
    p += n;
    while (len - p > FAST_WINDOW) {
        size_t q = p + 1;
        bool next_row = false;
        if (s[p] == ',') {
            if (s[q] == ' ' || s[q] == '\n' || s[q] == '\r' || s[q] == '\t')
                q = skip_ws(s, len, q);
        } else if (s[p] == ']' && s[p + 1] == ',' && s[p + 2] == '[' && d > 1 &&
                   np->known[d - 1] && count == np->shape[d - 1]) {
            q = p + 3; /* "],[": this row is complete, the next one starts */
            next_row = true;
        } else {
            break;
        }
        if (len - q < FAST_WINDOW)
            break;
        assert(numel < np->cap);
        if ((n = fast_number(s + q, &np->data[numel])) == 0)
            break;
        if (next_row) { /* what nest_close and nest_open would do, as it cannot fail */
            np->count[d - 1]++;
            count = 0;
        }
        numel++;
        count++;
        p = q + n;
    }
    np->count[d] = count;
    np->numel = numel;
    np->pos = p;
    return HBN_OK;
}

/* Walks the array at NP->pos to its end; on HBN_OK NP->rank/shape/data describe it. */
static hbn_status nest_walk(nest_parse *np, hbn_err *err)
{
    hbn_status st = nest_open(np, err);
    while (st == HBN_OK) {
        /* A value is due, or a closing bracket right after an opening one. */
        np->pos = skip_ws(np->s, np->len, np->pos);
        if (np->pos >= np->len)
            return nest_syntax(np, np->pos, "unexpected end", err);
        char c = np->s[np->pos];
        if (c == '[') {
            st = nest_open(np, err);
            continue;
        }
        st = c == ']' && np->count[np->depth] == 0 ? nest_close(np, err) : nest_scalar(np, err);
        /* After a value: closing brackets until a comma or the end of the outermost array. */
        while (st == HBN_OK && np->depth > 0) {
            np->pos = skip_ws(np->s, np->len, np->pos);
            c = np->pos < np->len ? np->s[np->pos] : '\0';
            if (c == ',') {
                np->pos++;
                break;
            }
            if (c != ']')
                return nest_syntax(np, np->pos, "expected ',' or ']'", err);
            st = nest_close(np, err);
        }
        if (st == HBN_OK && np->depth == 0)
            return HBN_OK;
    }
    return st;
}

/* Parses the array at S (leading whitespace skipped, '[' first) into OUT's rank, shape and data,
 * stopping after its closing bracket, whose offset + 1 goes to *END. S[LEN] is the array's own
 * span or the rest of a document: it bounds the walk and sizes the buffer (the rest of a document
 * may hold many more commas: the untouched excess costs address space only, and a buffer more
 * than twice too large is replaced by an exact one). */
static hbn_status array_walk(const char *s, size_t len, const char *field, int max_rank,
                             hbn_tensor *out, size_t *end, hbn_err *err)
{
    nest_parse np = {.s = s, .len = len, .pos = skip_ws(s, len, 0), .field = field,
                     .max_rank = max_rank, .rank = -1};
    hbn_tensor buf;
    hbn_tensor_init(&buf);
    hbn_status st = hbn_tensor_alloc(&buf, (int64_t)count_commas(s, len) + 1, err);
    if (st != HBN_OK)
        return st;
    np.data = buf.data;
    np.cap = buf.numel;
    st = nest_walk(&np, err);
    if (st != HBN_OK) {
        hbn_tensor_clear(&buf);
        return st;
    }
    *end = np.pos;
    out->rank = np.rank;
    out->numel = 1;
    for (int d = 0; d < np.rank; d++) {
        out->shape[d] = np.shape[d];
        out->numel *= np.shape[d];
    }
    assert(out->numel == np.numel);
    hbn_tensor exact;
    hbn_err ignored; /* without memory for the exact copy, the large buffer does */
    hbn_tensor_init(&exact);
    if (np.numel == 0) {
        hbn_tensor_clear(&buf);
    } else if (np.cap / 2 > np.numel + 4096 &&
               hbn_tensor_alloc(&exact, np.numel, &ignored) == HBN_OK) {
        /* far more commas followed than numbers (a short tensor early in a long document) */
        memcpy(exact.data, buf.data, sizeof(float) * (size_t)np.numel);
        hbn_tensor_clear(&buf);
        buf = exact;
    }
    out->data = buf.data;
    return HBN_OK;
}

/* Parses the array that is all of S[LEN] (whitespace around it allowed). */
static hbn_status parse_array(const char *s, size_t len, const char *field, int max_rank,
                              hbn_tensor *out, hbn_err *err)
{
    size_t end;
    hbn_status st = array_walk(s, len, field, max_rank, out, &end, err);
    if (st != HBN_OK)
        return st;
    end = skip_ws(s, len, end);
    if (end == len)
        return HBN_OK;
    hbn_tensor_clear(out);
    return hbn_err_set(err, HBN_E_INVALID_JSON,
                       "invalid JSON in %s at byte %zu of the value: unexpected data after the "
                       "array", field, end);
}

/* Formats SHAPE[RANK] as "[2, 3]" into BUF. */
static const char *shape_text(const int64_t *shape, int rank, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < rank && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Parses the shape array of the object form into T->rank/shape. Type errors are returned;
 * a rank above the limit or a negative dimension is left in *SHAPE_ERR for later (shape problems
 * come after structure problems). */
static hbn_status parse_shape(const char *s, size_t len, const char *field, hbn_tensor *t,
                              hbn_status *shape_err, hbn_err *shape_msg, hbn_err *err)
{
    size_t p = skip_ws(s, len, 0);
    t->rank = 0;
    if (s[p] != '[' || has_non_number(s, len))
        goto not_integers;
    p = skip_ws(s, len, p + 1);
    while (p < len && s[p] != ']') { /* S is a member span the walker validated */
        bool integer;
        size_t n = hbn_json_number_span(s + p, len - p, &integer);
        if (n == 0 || !integer) /* also a nested array: '[' is not a number */
            goto not_integers;
        long long v = strtoll(s + p, NULL, 10); /* saturates; s is a valid document */
        if (t->rank == HBN_TENSOR_MAX_RANK) {
            *shape_err = hbn_err_set(shape_msg, HBN_E_SHAPE_MISMATCH,
                                     "%s: shape has more than %d dimensions", field,
                                     HBN_TENSOR_MAX_RANK);
        } else {
            if (v < 0 && *shape_err == HBN_OK)
                *shape_err = hbn_err_set(shape_msg, HBN_E_SHAPE_MISMATCH,
                                         "%s: shape has a negative dimension %lld", field, v);
            t->shape[t->rank++] = v;
        }
        p = skip_ws(s, len, p + n);
        if (p < len && s[p] == ',')
            p = skip_ws(s, len, p + 1);
    }
    return HBN_OK;
not_integers:
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: shape must be an array of integers",
                       field);
}

/* Checks that the data length COUNT matches the product of T's shape. The product of the nonzero
 * dimensions must fit in int64 even when a zero dimension makes the tensor empty, so that no
 * caller overflows multiplying any subset of them. */
static hbn_status check_numel(const hbn_tensor *t, int64_t count, const char *field, hbn_err *err)
{
    char text[200];
    int64_t need = 1;
    bool huge = false, zero = false;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] == 0)
            zero = true;
        else if (need > INT64_MAX / t->shape[d])
            huge = true;
        else
            need *= t->shape[d];
    }
    shape_text(t->shape, t->rank, text, sizeof text);
    if (huge)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "%s: shape %s is too large (its dimensions multiply past 2^63)", field,
                           text);
    need = zero ? 0 : need;
    if (need == count)
        return HBN_OK;
    return hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "%s: data has %lld values, shape %s needs %lld",
                       field, (long long)count, text, (long long)need);
}

/* The members of a tensor object: their spans, and "data" already parsed when it was a flat
 * array of numbers (then its span is exactly what that parse consumed). */
typedef struct tensor_members {
    hbn_json_member shape, data;
    hbn_tensor flat;   /* NEW when DATA_PARSED */
    bool data_parsed;
} tensor_members;

/* Walks the tensor object of IT into TM. A "data" member is parsed as it is passed (one pass
 * over its text); when that fails it is skipped and validated like any member, for
 * parse_object to parse and report. Statuses and messages are those of the plain walk. */
static hbn_status object_members(hbn_json_iter *it, const char *field, const char *data_field,
                                 tensor_members *tm, hbn_err *err)
{
    hbn_json_member m;
    bool done = false, have_shape = false, have_data = false;
    hbn_status st;
    while ((st = hbn_json_iter_next_key(it, &m, &done, err)) == HBN_OK && !done) {
        bool is_shape = strcmp(m.key, "shape") == 0, is_data = strcmp(m.key, "data") == 0;
        size_t used;
        hbn_err ignored;
        if (is_data && !have_data && m.value_len > 0 && m.value[0] == '[' &&
            array_walk(m.value, m.value_len, data_field, 1, &tm->flat, &used, &ignored) ==
                HBN_OK) {
            hbn_json_iter_advance(it, &m, used);
            tm->data_parsed = true;
        } else if ((st = hbn_json_iter_skip(it, &m, err)) != HBN_OK) {
            break;
        }
        if (!is_shape && !is_data)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "%s: unexpected key \"%s\" in a tensor object (only \"shape\" "
                               "and \"data\")", field, m.key);
        if (is_shape ? have_shape : have_data)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: duplicate key \"%s\"", field,
                               m.key);
        *(is_shape ? &tm->shape : &tm->data) = m;
        *(is_shape ? &have_shape : &have_data) = true;
    }
    if (st == HBN_E_UNKNOWN_FIELD) /* a key too long to be "shape" or "data" */
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "%s: unexpected key in a tensor object (only \"shape\" and \"data\")",
                           field);
    if (st != HBN_OK)
        return st;
    if (!have_shape || !have_data)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: a tensor object needs \"%s\"", field,
                           have_shape ? "data" : "shape");
    return HBN_OK;
}

/* The object form {"shape": [...], "data": [...]}: all of S[LEN] (PREFIX false), or the object
 * S[LEN] starts with (PREFIX true; its length goes to *USED). */
static hbn_status parse_object(const char *s, size_t len, bool prefix, const char *field,
                               hbn_tensor *out, size_t *used, hbn_err *err)
{
    tensor_members tm = {.data_parsed = false};
    hbn_status shape_err = HBN_OK;
    hbn_err shape_msg;
    hbn_json_iter it;
    char data_field[HBN_ERR_MSG_MAX / 2];
    snprintf(data_field, sizeof data_field, "%s: data", field);
    hbn_tensor_init(&tm.flat);
    hbn_status st = prefix ? hbn_json_iter_init_prefix(&it, s, len, err)
                           : hbn_json_iter_init(&it, s, len, err);
    if (st == HBN_OK)
        st = object_members(&it, field, data_field, &tm, err);
    if (st == HBN_OK)
        st = parse_shape(tm.shape.value, tm.shape.value_len, field, out, &shape_err, &shape_msg,
                         err);
    if (st == HBN_OK && !tm.data_parsed) {
        if (tm.data.value[0] != '[' || has_non_number(tm.data.value, tm.data.value_len))
            st = hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: data must be an array of numbers",
                             field);
        else
            st = parse_array(tm.data.value, tm.data.value_len, data_field, 1, &tm.flat, err);
    }
    if (st == HBN_OK && shape_err != HBN_OK)
        st = hbn_err_set(err, shape_err, "%s", shape_msg.msg);
    if (st == HBN_OK)
        st = check_numel(out, tm.flat.shape[0], field, err);
    if (st == HBN_OK) {
        out->numel = tm.flat.shape[0];
        out->data = tm.flat.data;
        out->object_form = true;
        tm.flat.data = NULL;
        *used = hbn_json_iter_offset(&it);
    }
    hbn_tensor_clear(&tm.flat);
    return st;
}

/* Parses TEXT as a tensor (MAX_RANK levels) or a flat vector (MAX_RANK 1, no object form), then
 * restores the error precedence: syntax, then non-numbers, then shape. */
static hbn_status parse_value(const char *text, size_t len, const char *field, int max_rank,
                              hbn_tensor *out, hbn_err *err)
{
    hbn_tensor_init(out);
    size_t p = skip_ws(text, len, 0), used;
    hbn_status st;
    if (p < len && text[p] == '[')
        st = parse_array(text, len, field, max_rank, out, err);
    else if (p < len && text[p] == '{' && max_rank > 1)
        st = parse_object(text, len, false, field, out, &used, err);
    else if ((st = hbn_json_validate(text, len, err)) == HBN_OK)
        st = hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be %s", field,
                         max_rank > 1 ? "a tensor (nested arrays or {\"shape\", \"data\"})"
                                      : "an array of numbers");
    if (st == HBN_OK || st == HBN_E_INVALID_JSON || st == HBN_E_NO_MEMORY)
        goto out;
    hbn_status syntax = hbn_json_validate(text, len, err);
    if (syntax != HBN_OK)
        st = syntax;
    else if (st == HBN_E_SHAPE_MISMATCH && text[p] == '[' && has_non_number(text, len))
        st = hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must hold only numbers", field);
out:
    if (st != HBN_OK)
        hbn_tensor_clear(out);
    return st;
}

hbn_status hbn_tensor_json_parse(const char *text, size_t len, const char *field, hbn_tensor *out,
                                 hbn_err *err)
{
    return parse_value(text, len, field, HBN_TENSOR_MAX_RANK, out, err);
}

hbn_status hbn_vector_json_parse(const char *text, size_t len, const char *field, hbn_tensor *out,
                                 hbn_err *err)
{
    return parse_value(text, len, field, 1, out, err);
}

bool hbn_tensor_json_parse_prefix(const char *text, size_t len, const char *field,
                                  hbn_tensor *out, size_t *used)
{
    hbn_err ignored; /* a failure is reported by hbn_tensor_json_parse on the measured span */
    hbn_status st = HBN_E_INVALID_ARGUMENT;
    size_t p = skip_ws(text, len, 0);
    hbn_tensor_init(out);
    if (p < len && text[p] == '[')
        st = array_walk(text, len, field, HBN_TENSOR_MAX_RANK, out, used, &ignored);
    else if (p < len && text[p] == '{')
        st = parse_object(text, len, true, field, out, used, &ignored);
    if (st == HBN_OK)
        return true;
    hbn_tensor_clear(out);
    return false;
}

/* ---- printing ------------------------------------------------------------------------------ */

size_t hbn_tensor_json_print_size(int rank, const int64_t *shape, bool object_form)
{
    const uint64_t limit = (uint64_t)SIZE_MAX / 64; /* keeps every sum below from overflowing */
    uint64_t numel = 1, arrays = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > limit / numel)
            return SIZE_MAX;
        if (shape[d] == 0) {
            numel = 0; /* nested: arrays end here, empty */
            break;
        }
        numel *= (uint64_t)shape[d];
        if (d + 1 < rank)
            arrays += numel; /* the arrays of level d + 1 */
    }
    if (object_form)
        arrays = 1;
    return (size_t)(numel * 16 + arrays * 3 + 64 + (object_form ? 32 + (uint64_t)rank * 21 : 0));
}

/* Appends N floats as a flat JSON array, formatting straight into SB's storage. */
static void print_vector(hbn_strbuf *sb, const float *data, int64_t n)
{
    if (!hbn_strbuf_reserve(sb, HBN_FLOAT_LIST_BYTES(n) + 2))
        return;
    char *p = sb->data + sb->len;
    *p++ = '[';
    p += hbn_float_format_list(data, (size_t)n, p);
    *p++ = ']';
    *p = '\0'; /* SB stays NUL-terminated */
    sb->len = (size_t)(p - sb->data);
}

void hbn_vector_json_print(hbn_strbuf *sb, const float *data, int64_t n)
{
    print_vector(sb, data, n);
}

_Static_assert(HBN_TENSOR_MAX_RANK == 8, "write_nested stores brackets 8 at a time");

/* Writes the nested form of DATA (SHAPE[RANK], RANK >= 1, no zero dimension) at P, one row of
 * the last dimension at a time with the brackets around it; returns the end. */
static char *write_nested(char *p, const float *data, int rank, const int64_t *shape)
{
    int64_t idx[HBN_TENSOR_MAX_RANK] = {0};
    size_t row = (size_t)shape[rank - 1];
    int open = rank; /* brackets to open before the next row */
    for (;;) {
        memcpy(p, "[[[[[[[[", HBN_TENSOR_MAX_RANK); /* OPEN of them count; the slack takes the rest */
        p += open;
        p += hbn_float_format_list(data, row, p);
        data += row;
        int d = rank - 2; /* the odometer over the outer dimensions */
        while (d >= 0 && ++idx[d] == shape[d])
            idx[d--] = 0;
        int close = rank - 1 - d; /* the row's array and every level that wrapped */
        memcpy(p, "]]]]]]]]", HBN_TENSOR_MAX_RANK);
        p += close;
        if (d < 0)
            return p;
        *p++ = ',';
        open = close;
    }
}

/* Prints level D of the nested form of SHAPE[RANK], whose level ZERO (< RANK) is the first zero
 * dimension: arrays down to it, empty there; no floats. */
static void print_empty_level(hbn_strbuf *sb, const int64_t *shape, int d, int zero)
{
    hbn_strbuf_append(sb, "[", 1);
    for (int64_t i = 0; d != zero && i < shape[d]; i++) {
        if (i > 0)
            hbn_strbuf_append(sb, ",", 1);
        print_empty_level(sb, shape, d + 1, zero);
    }
    hbn_strbuf_append(sb, "]", 1);
}

void hbn_tensor_json_print(hbn_strbuf *sb, const float *data, int rank, const int64_t *shape,
                           bool object_form)
{
    if (object_form) {
        hbn_strbuf_puts(sb, "{\"shape\":[");
        for (int d = 0; d < rank; d++)
            hbn_strbuf_printf(sb, "%s%lld", d ? "," : "", (long long)shape[d]);
        int64_t n = 1;
        for (int d = 0; d < rank; d++)
            n *= shape[d];
        hbn_strbuf_puts(sb, "],\"data\":");
        print_vector(sb, data, n);
        hbn_strbuf_puts(sb, "}");
        return;
    }
    int zero = 0;
    while (zero < rank && shape[zero] != 0)
        zero++;
    if (zero < rank) {
        print_empty_level(sb, shape, 0, zero);
        return;
    }
    if (!hbn_strbuf_reserve(sb, hbn_tensor_json_print_size(rank, shape, false)))
        return;
    char *p = sb->data + sb->len;
    if (rank == 0) /* a scalar: the bare number */
        p += hbn_float_format_list(data, 1, p);
    else
        p = write_nested(p, data, rank, shape);
    *p = '\0'; /* SB stays NUL-terminated */
    sb->len = (size_t)(p - sb->data);
}
