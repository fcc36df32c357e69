/* tensor_json.c: the float tensor codec. A word-at-a-time comma count sizes one 64-byte aligned
 * buffer (numbers <= commas + 1: it never grows), then one pass infers the nested shape from the
 * first path down, checks every later array against it and converts numbers (JSON grammar via
 * hbn_json_number_parse; one float32 rounding: exact double fast path, else strtof in the C
 * locale; overflow gives +-Inf, never an error here). Error precedence, whatever the order of
 * discovery: invalid JSON, then a non-number value, then shape problems. Nested printing stops at
 * the first zero dimension ([0, 4] prints as [], [2, 0, 3] as [[],[]]; the object form is the
 * faithful one for such shapes). */
#include "api/tensor_json.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/float_format.h"
#include "api/json_scan.h"

#define TOKEN_STACK_MAX 128 /* number tokens up to this length convert without malloc */

void hbn_tensor_init(hbn_tensor *t)
{
    memset(t, 0, sizeof *t);
}

void hbn_tensor_clear(hbn_tensor *t)
{
    free(t->data);
    hbn_tensor_init(t);
}

hbn_status hbn_tensor_alloc(hbn_tensor *t, int64_t numel, hbn_err *err)
{
    free(t->data);
    t->data = NULL;
    t->numel = 0;
    if (numel < 0 || (uint64_t)numel > (SIZE_MAX - 64) / sizeof(float))
        return hbn_err_set(err, HBN_E_NO_MEMORY, "cannot allocate a tensor of %lld floats",
                           (long long)numel);
    if (numel == 0)
        return HBN_OK;
    size_t bytes = ((size_t)numel * sizeof(float) + 63) & ~(size_t)63;
    t->data = aligned_alloc(64, bytes);
    if (t->data == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory for a tensor of %lld floats",
                           (long long)numel);
    t->numel = numel;
    return HBN_OK;
}

/* ---- number conversion --------------------------------------------------------------------- */

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
    char *buf = n < sizeof local ? local : malloc(n + 1);
    if (buf == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory for a %zu-byte number", n);
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtof(buf, NULL);
    if (buf != local)
        free(buf);
    return HBN_OK;
}

/* ---- parsing ------------------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t'))
        pos++;
    return pos;
}

/* Number of ',' bytes in S[LEN], a word at a time. */
static size_t count_commas(const char *s, size_t len)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), low7 = UINT64_C(0x7F7F7F7F7F7F7F7F);
    size_t n = 0, i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        uint64_t x = w ^ (ones * ',');
        uint64_t nonzero = ((x & low7) + low7) | x; /* high bit set in every byte != ',' */
        n += (size_t)((((~nonzero & ~low7) >> 7) * ones) >> 56); /* sum of the byte flags */
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

/* A value that is not an array: a number at the leaf depth, or an error. */
static hbn_status nest_scalar(nest_parse *np, hbn_err *err)
{
    const char *s = np->s;
    size_t p = np->pos;
    char c = s[p];
    if (c != '-' && (c < '0' || c > '9')) {
        if (c == '"' || c == '{' || c == 't' || c == 'f' || c == 'n')
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must hold only numbers", np->field);
        return nest_syntax(np, p, "unexpected character", err);
    }
    hbn_json_decimal dec;
    size_t n = hbn_json_number_parse(s + p, np->len - p, &dec);
    if (n == 0)
        return nest_syntax(np, p, "invalid number", err);
    if (np->rank < 0)
        np->rank = np->depth;
    else if (np->depth != np->rank)
        return nest_ragged(np, np->depth, "expected an array, got a number", err);
    assert(np->numel < np->cap); /* numbers <= commas + 1 */
    hbn_status st = convert_number(s + p, n, &dec, &np->data[np->numel], err);
    if (st != HBN_OK)
        return st;
    np->numel++;
    np->count[np->depth]++;
    np->pos = p + n;
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

/* Parses the array at S[LEN] (leading whitespace skipped, '[' first) into OUT's rank, shape and
 * data; trailing bytes other than whitespace are a syntax error. */
static hbn_status parse_array(const char *s, size_t len, const char *field, int max_rank,
                              hbn_tensor *out, hbn_err *err)
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
    if (st != HBN_OK)
        goto fail;
    np.pos = skip_ws(s, len, np.pos);
    if (np.pos != len) {
        st = nest_syntax(&np, np.pos, "unexpected data after the array", err);
        goto fail;
    }
    out->rank = np.rank;
    out->numel = 1;
    for (int d = 0; d < np.rank; d++) {
        out->shape[d] = np.shape[d];
        out->numel *= np.shape[d];
    }
    assert(out->numel == np.numel);
    if (out->numel == 0)
        hbn_tensor_clear(&buf);
    out->data = buf.data;
    return HBN_OK;
fail:
    hbn_tensor_clear(&buf);
    return st;
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

/* Finds the "shape" and "data" members of the tensor object S[LEN]. */
static hbn_status object_members(const char *s, size_t len, const char *field,
                                 hbn_json_member *shape, hbn_json_member *data, hbn_err *err)
{
    hbn_json_iter it;
    hbn_json_member m;
    bool done = false, have_shape = false, have_data = false;
    hbn_status st = hbn_json_iter_init(&it, s, len, err);
    while (st == HBN_OK && (st = hbn_json_iter_next(&it, &m, &done, err)) == HBN_OK && !done) {
        bool is_shape = strcmp(m.key, "shape") == 0;
        if (!is_shape && strcmp(m.key, "data") != 0)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "%s: unexpected key \"%s\" in a tensor object (only \"shape\" "
                               "and \"data\")", field, m.key);
        if (is_shape ? have_shape : have_data)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: duplicate key \"%s\"", field,
                               m.key);
        *(is_shape ? shape : data) = m;
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

/* The object form {"shape": [...], "data": [...]}. */
static hbn_status parse_object(const char *s, size_t len, const char *field, hbn_tensor *out,
                               hbn_err *err)
{
    hbn_json_member shape, data;
    hbn_status shape_err = HBN_OK;
    hbn_err shape_msg;
    char data_field[HBN_ERR_MSG_MAX / 2];
    hbn_status st = object_members(s, len, field, &shape, &data, err);
    if (st != HBN_OK)
        return st;
    st = parse_shape(shape.value, shape.value_len, field, out, &shape_err, &shape_msg, err);
    if (st != HBN_OK)
        return st;
    if (data.value[0] != '[' || has_non_number(data.value, data.value_len))
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: data must be an array of numbers",
                           field);
    snprintf(data_field, sizeof data_field, "%s: data", field);
    hbn_tensor flat;
    hbn_tensor_init(&flat);
    st = parse_array(data.value, data.value_len, data_field, 1, &flat, err);
    if (st == HBN_OK && shape_err != HBN_OK)
        st = hbn_err_set(err, shape_err, "%s", shape_msg.msg);
    if (st == HBN_OK)
        st = check_numel(out, flat.shape[0], field, err);
    if (st != HBN_OK) {
        hbn_tensor_clear(&flat);
        return st;
    }
    out->numel = flat.shape[0];
    out->data = flat.data;
    out->object_form = true;
    return HBN_OK;
}

/* Parses TEXT as a tensor (MAX_RANK levels) or a flat vector (MAX_RANK 1, no object form), then
 * restores the error precedence: syntax, then non-numbers, then shape. */
static hbn_status parse_value(const char *text, size_t len, const char *field, int max_rank,
                              hbn_tensor *out, hbn_err *err)
{
    hbn_tensor_init(out);
    size_t p = skip_ws(text, len, 0);
    hbn_status st;
    if (p < len && text[p] == '[')
        st = parse_array(text, len, field, max_rank, out, err);
    else if (p < len && text[p] == '{' && max_rank > 1)
        st = parse_object(text, len, field, out, err);
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

/* ---- printing ------------------------------------------------------------------------------ */

/* Appends N floats separated by commas (no brackets), formatting straight into SB's storage.
 * A float prints in at most FLOAT_PRINTED_MAX bytes (checked exhaustively by the tests), and
 * hbn_float_format needs HBN_FLOAT_CHARS_MAX bytes of room at its start. */
#define FLOAT_PRINTED_MAX 15
#define PRINT_CHUNK 1024
static void print_floats(hbn_strbuf *sb, const float *data, int64_t n)
{
    for (int64_t i = 0; i < n;) {
        int64_t k = n - i < PRINT_CHUNK ? n - i : PRINT_CHUNK;
        if (!hbn_strbuf_reserve(sb, (size_t)k * (FLOAT_PRINTED_MAX + 1) + HBN_FLOAT_CHARS_MAX))
            return;
        char *p = sb->data + sb->len;
        for (int64_t end = i + k; i < end; i++) {
            if (i > 0)
                *p++ = ',';
            p += hbn_float_format(data[i], p);
        }
        sb->len = (size_t)(p - sb->data);
    }
}

void hbn_vector_json_print(hbn_strbuf *sb, const float *data, int64_t n)
{
    hbn_strbuf_append(sb, "[", 1);
    print_floats(sb, data, n);
    hbn_strbuf_append(sb, "]", 1);
}

/* Prints level D of the nested form of SHAPE[RANK] from DATA and returns the data after it.
 * Level ZERO (the first zero dimension, RANK if none) prints as an empty array. */
static const float *print_level(hbn_strbuf *sb, const float *data, int rank, const int64_t *shape,
                                int d, int zero)
{
    hbn_strbuf_append(sb, "[", 1);
    if (d == rank - 1 && d != zero) {
        print_floats(sb, data, shape[d]);
        data += shape[d];
    } else if (d != zero) {
        for (int64_t i = 0; i < shape[d]; i++) {
            if (i > 0)
                hbn_strbuf_append(sb, ",", 1);
            data = print_level(sb, data, rank, shape, d + 1, zero);
        }
    }
    hbn_strbuf_append(sb, "]", 1);
    return data;
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
        hbn_vector_json_print(sb, data, n);
        hbn_strbuf_puts(sb, "}");
        return;
    }
    int zero = 0;
    while (zero < rank && shape[zero] != 0)
        zero++;
    if (rank == 0)
        print_floats(sb, data, 1); /* a scalar: the bare number */
    else
        print_level(sb, data, rank, shape, 0, zero);
}
