/* fuzz_json_scan.c: fuzz target of the strict JSON scanner (api/json_scan.c): arbitrary bytes
 * through hbn_json_validate, the member walker hbn_json_iter_* and hbn_json_number_span.
 * Invariants: the walker agrees with the validator (a full walk only over valid documents, invalid
 * JSON taking precedence over an unknown field), member values are valid JSON inside the input,
 * and a document the strict validator accepts is accepted by cJSON too (differentially: same
 * members, same decoded keys, in order). Numbers: the span is what strtod reads. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "api/json_scan.h"

#define LONG_NUMBER 60 /* cJSON reads at most 63 number characters: longer runs skip the diff */

static size_t skip_ws(const char *s, size_t len, size_t p)
{
    while (p < len && (s[p] == ' ' || s[p] == '\n' || s[p] == '\r' || s[p] == '\t'))
        p++;
    return p;
}

/* True when S[LEN] holds a run of number characters too long for cJSON's number buffer. */
static bool has_long_number(const char *s, size_t len)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        bool num = (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.' ||
                   s[i] == 'e' || s[i] == 'E';
        run = num ? run + 1 : 0;
        if (run >= LONG_NUMBER)
            return true;
    }
    return false;
}

/* A document the validator accepted must parse with cJSON, with only whitespace after it. */
static cJSON *check_cjson(const char *s, size_t len)
{
    const char *end = NULL;
    cJSON *doc;

    if (has_long_number(s, len))
        return NULL;
    doc = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    HBN_FUZZ_CHECK(doc != NULL, "valid for hbn_json_validate, rejected by cJSON near byte %td",
                   end != NULL ? end - s : -1);
    HBN_FUZZ_CHECK(skip_ws(s, len, (size_t)(end - s)) == len, "cJSON stops at byte %td of %zu",
                   end - s, len);
    return doc;
}

/* Walks the document's members, checking each; returns the walk's final status. */
static hbn_status walk(const char *s, size_t len, bool valid, const cJSON *doc)
{
    const cJSON *child = doc != NULL && cJSON_IsObject(doc) ? doc->child : NULL;
    hbn_json_iter it;
    hbn_json_member m;
    hbn_status st;
    bool done = false;
    size_t members = 0;

    st = hbn_json_iter_init(&it, s, len, NULL);
    while (st == HBN_OK && !done) {
        HBN_FUZZ_CHECK(members <= len, "more members than bytes");
        st = hbn_json_iter_next(&it, &m, &done, NULL);
        if (st != HBN_OK || done)
            break;
        HBN_FUZZ_CHECK(strlen(m.key) < sizeof m.key, "key not terminated");
        HBN_FUZZ_CHECK(m.value >= s && m.value_len > 0 && m.value + m.value_len <= s + len,
                       "member %zu's value lies outside the input", members);
        HBN_FUZZ_CHECK(hbn_json_validate(m.value, m.value_len, NULL) == HBN_OK,
                       "member \"%s\": its value span is not valid JSON", m.key);
        if (child != NULL) {
            HBN_FUZZ_CHECK(strcmp(child->string, m.key) == 0, "member %zu: key \"%s\" vs cJSON "
                           "\"%s\"", members, m.key, child->string);
            child = child->next;
        }
        members++;
    }
    if (st == HBN_OK && done) {
        HBN_FUZZ_CHECK(valid, "a full walk over a document the validator rejects");
        HBN_FUZZ_CHECK(child == NULL, "cJSON has more members than the walk (%zu)", members);
        HBN_FUZZ_CHECK(hbn_json_iter_next(&it, &m, &done, NULL) == HBN_OK && done,
                       "the walk does not stay done");
    }
    return st;
}

/* The walker's outcome against the validator's verdict VALID on S[LEN]. */
static void check_walk(const char *s, size_t len, bool valid, const cJSON *doc)
{
    size_t p = skip_ws(s, len, 0);
    bool object = valid && s[p] == '{';
    hbn_status st = walk(s, len, valid, doc);

    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_INVALID_JSON || st == HBN_E_INVALID_ARGUMENT ||
                       st == HBN_E_UNKNOWN_FIELD,
                   "walk status %s", hbn_status_code(st));
    if (st == HBN_E_INVALID_JSON)
        HBN_FUZZ_CHECK(!valid, "the walk says invalid JSON, the validator accepts");
    if (st == HBN_E_INVALID_ARGUMENT)
        HBN_FUZZ_CHECK(valid && !object, "not-an-object for a %s document",
                       valid ? "object" : "invalid");
    if (st == HBN_E_UNKNOWN_FIELD)
        HBN_FUZZ_CHECK(object, "unknown field reported before invalid JSON");
    if (object)
        HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_UNKNOWN_FIELD,
                       "a valid object fails the walk with %s", hbn_status_code(st));
}

/* hbn_json_number_span against strtod on a NUL-terminated copy of the token. */
static void check_number(const char *s, size_t len, bool valid)
{
    bool integer = false;
    size_t n = hbn_json_number_span(s, len, &integer);
    char *copy, *end;

    HBN_FUZZ_CHECK(n <= len, "number span %zu beyond %zu bytes", n, len);
    if (valid && len > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        HBN_FUZZ_CHECK(skip_ws(s, len, n) == len,
                       "a valid number document spans %zu of %zu bytes", n, len);
    if (n == 0)
        return;
    copy = malloc(n + 1);
    if (copy == NULL)
        return;
    memcpy(copy, s, n);
    copy[n] = '\0';
    (void)strtod(copy, &end);
    HBN_FUZZ_CHECK(end == copy + n, "number span %zu, strtod reads %td of '%.40s'", n,
                   end - copy, copy);
    HBN_FUZZ_CHECK(integer == (strpbrk(copy, ".eE") == NULL), "is_integer wrong for '%.40s'",
                   copy);
    HBN_FUZZ_CHECK(hbn_json_validate(copy, n, NULL) == HBN_OK, "number '%.40s' is not JSON",
                   copy);
    free(copy);
}

int hbn_fuzz_json_scan(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    hbn_err err;
    hbn_status st = hbn_json_validate(s, size, &err);
    cJSON *doc = NULL;

    HBN_FUZZ_CHECK(st == HBN_OK || (st == HBN_E_INVALID_JSON && err.msg[0] != '\0'),
                   "validate: %s '%s'", hbn_status_code(st), err.msg);
    if (st == HBN_OK)
        doc = check_cjson(s, size);
    check_walk(s, size, st == HBN_OK, doc);
    check_number(s, size, st == HBN_OK);
    cJSON_Delete(doc);
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_json_scan)
