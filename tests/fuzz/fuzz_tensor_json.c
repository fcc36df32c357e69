/* fuzz_tensor_json.c: fuzz target of the float tensor codec (api/tensor_json.c): arbitrary bytes
 * through hbn_tensor_json_parse and hbn_vector_json_parse. Invariants: only the documented
 * statuses, invalid JSON exactly when hbn_json_validate says so (API.md's precedence), an empty
 * tensor on failure; on success a consistent shape, every float bit-identical to glibc's strtof
 * of its token (a differential check of the fast conversion path), and print -> parse giving the
 * same tensor back. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <string.h>

#include "api/json_scan.h"
#include "api/strbuf.h"
#include "api/tensor_json.h"

static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Compares T's data with strtof of each number token of the array S[LEN] in order. */
static void check_floats(const char *s, size_t len, const hbn_tensor *t)
{
    int64_t k = 0;
    size_t i = 0;

    while (i < len) {
        size_t n = 0;
        char *tok;
        float want;

        while (i + n < len && is_number_char(s[i + n]))
            n++;
        if (n == 0) {
            i++;
            continue;
        }
        tok = malloc(n + 1);
        if (tok == NULL)
            return;
        memcpy(tok, s + i, n);
        tok[n] = '\0';
        want = strtof(tok, NULL);
        HBN_FUZZ_CHECK(k < t->numel, "more number tokens than numel %lld", (long long)t->numel);
        HBN_FUZZ_CHECK(memcmp(&want, &t->data[k], sizeof want) == 0,
                       "value %lld: token '%.40s' parsed as %a, strtof gives %a", (long long)k,
                       tok, (double)t->data[k], (double)want);
        free(tok);
        k++;
        i += n;
    }
    HBN_FUZZ_CHECK(k == t->numel, "%lld number tokens for numel %lld", (long long)k,
                   (long long)t->numel);
}

/* The raw span of the tensor's data array: the text itself (nested form) or the "data" member. */
static void data_span(const char *s, size_t len, const hbn_tensor *t, const char **d,
                      size_t *dlen)
{
    hbn_json_iter it;
    hbn_json_member m;
    bool done = false;

    *d = s;
    *dlen = len;
    if (!t->object_form)
        return;
    HBN_FUZZ_CHECK(hbn_json_iter_init(&it, s, len, NULL) == HBN_OK, "object form not an object");
    while (hbn_json_iter_next(&it, &m, &done, NULL) == HBN_OK && !done) {
        if (strcmp(m.key, "data") == 0) {
            *d = m.value;
            *dlen = m.value_len;
            return;
        }
    }
    HBN_FUZZ_CHECK(false, "object form without a data member");
}

/* Prints T and parses it back: same form, rank, shape and bits. Skipped for non-finite values
 * (never printed) and nested shapes with a zero dimension (printing is documented as lossy). */
static void check_round_trip(const hbn_tensor *t, bool vector)
{
    hbn_strbuf sb;
    hbn_tensor back;
    hbn_err err;
    hbn_status st;
    int64_t i;

    for (i = 0; i < t->numel; i++)
        if (!isfinite(t->data[i]))
            return;
    for (i = 0; i < t->rank && !t->object_form; i++)
        if (t->shape[i] == 0 && i + 1 < t->rank)
            return;
    hbn_strbuf_init(&sb);
    hbn_tensor_json_print(&sb, t->data, t->rank, t->shape, t->object_form);
    if (sb.data == NULL || sb.failed) {
        hbn_strbuf_clear(&sb);
        return;
    }
    st = vector ? hbn_vector_json_parse(sb.data, sb.len, "back", &back, &err)
                : hbn_tensor_json_parse(sb.data, sb.len, "back", &back, &err);
    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_NO_MEMORY, "printed tensor '%.60s' rejected: %s",
                   sb.data, err.msg);
    if (st == HBN_OK) {
        HBN_FUZZ_CHECK(back.rank == t->rank && back.numel == t->numel &&
                           back.object_form == t->object_form &&
                           memcmp(back.shape, t->shape, sizeof(int64_t) * (size_t)t->rank) == 0,
                       "printed '%.60s' parses to another shape", sb.data);
        HBN_FUZZ_CHECK(t->numel == 0 ||
                           memcmp(back.data, t->data, sizeof(float) * (size_t)t->numel) == 0,
                       "printed '%.60s' parses to other values", sb.data);
    }
    hbn_tensor_clear(&back);
    hbn_strbuf_clear(&sb);
}

/* Everything a successful parse of S[LEN] must satisfy. */
static void check_tensor(const char *s, size_t len, const hbn_tensor *t, bool vector)
{
    int64_t numel = 1;
    const char *d;
    size_t dlen;

    HBN_FUZZ_CHECK(t->rank >= 0 && t->rank <= HBN_TENSOR_MAX_RANK, "rank %d", t->rank);
    HBN_FUZZ_CHECK(!vector || (t->rank == 1 && !t->object_form), "vector of rank %d", t->rank);
    HBN_FUZZ_CHECK(t->rank > 0 || t->object_form, "nested form of rank 0");
    for (int i = 0; i < t->rank; i++) {
        HBN_FUZZ_CHECK(t->shape[i] >= 0, "dimension %d is %lld", i, (long long)t->shape[i]);
        numel *= t->shape[i];
    }
    HBN_FUZZ_CHECK(numel == t->numel, "numel %lld, shape product %lld", (long long)t->numel,
                   (long long)numel);
    HBN_FUZZ_CHECK((t->data != NULL) == (t->numel > 0), "data %p for numel %lld",
                   (void *)t->data, (long long)t->numel);
    HBN_FUZZ_CHECK(((uintptr_t)t->data & 63) == 0, "data not 64-byte aligned");
    data_span(s, len, t, &d, &dlen);
    check_floats(d, dlen, t);
    check_round_trip(t, vector);
}

/* Parses S[LEN] as a tensor (or a vector) and checks the outcome; returns the status. */
static hbn_status parse_one(const char *s, size_t len, bool vector, bool valid_json)
{
    hbn_tensor t;
    hbn_err err;
    hbn_status st;

    memset(&t, 0xA5, sizeof t); /* OUT is overwritten, not freed */
    hbn_err_clear(&err);
    st = vector ? hbn_vector_json_parse(s, len, "inputs", &t, &err)
                : hbn_tensor_json_parse(s, len, "inputs", &t, &err);
    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_INVALID_JSON || st == HBN_E_INVALID_ARGUMENT ||
                       st == HBN_E_SHAPE_MISMATCH || st == HBN_E_NO_MEMORY,
                   "undocumented status %s: %s", hbn_status_code(st), err.msg);
    if (st != HBN_E_NO_MEMORY)
        HBN_FUZZ_CHECK((st == HBN_E_INVALID_JSON) == !valid_json,
                       "%s parse says %s, hbn_json_validate says %s: %s",
                       vector ? "vector" : "tensor", hbn_status_code(st),
                       valid_json ? "valid" : "invalid", err.msg);
    if (st != HBN_OK) {
        HBN_FUZZ_CHECK(t.data == NULL && t.numel == 0 && t.rank == 0, "non-empty tensor on %s",
                       hbn_status_code(st));
        HBN_FUZZ_CHECK(err.status == st && err.msg[0] != '\0', "no message for %s",
                       hbn_status_code(st));
        return st;
    }
    check_tensor(s, len, &t, vector);
    hbn_tensor_clear(&t);
    return st;
}

int hbn_fuzz_tensor_json(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool valid = hbn_json_validate(s, size, NULL) == HBN_OK;
    hbn_status tensor = parse_one(s, size, false, valid);
    hbn_status vector = parse_one(s, size, true, valid);

    HBN_FUZZ_CHECK(vector != HBN_OK || tensor == HBN_OK, "a vector that is no tensor (%s)",
                   hbn_status_code(tensor));
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_tensor_json)
