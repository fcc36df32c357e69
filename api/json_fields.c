/* json_fields.c: the request envelope over json_scan (member spans, unknown and repeated
 * members; optionally one large tensor member parsed where it lies, in the same pass) and typed
 * readers for small members. Types are read from the first byte of a span json_scan already
 * validated; numbers and strings are converted by cJSON on the member's span only, integers by
 * an exact literal scan. Messages name the member and quote its value. */
#include "api/json_fields.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/json_hooks.h"
#include "api/json_scan.h"
#include "api/name.h"
#include "api/query.h"

/* A printable excerpt of F's raw value for messages. */
static void shown_value(const hbn_json_field *f, char *out, size_t cap)
{
    hbn_name_excerpt(f->value, f->len, out, cap);
}

/* The JSON type of a validated span, from its first byte. */
static const char *span_type(const hbn_json_field *f)
{
    switch (f->value[0]) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* After a structural error, a syntax error later in the document still decides. */
static hbn_status syntax_first(const char *text, size_t len, hbn_status st, hbn_err *err)
{
    hbn_err syntax;

    if (hbn_json_validate(text, len, &syntax) != HBN_OK) {
        *err = syntax;
        return syntax.status;
    }
    return st;
}

hbn_status hbn_json_fields_scan_tensor(const char *text, size_t len, const char *const *names,
                                       size_t n, hbn_json_field *fields, size_t tensor,
                                       hbn_tensor *t, hbn_err *err)
{
    hbn_json_iter it;
    hbn_json_member m;
    hbn_status st;
    bool done = false;
    size_t i, used;

    for (i = 0; i < n; i++) {
        fields[i].value = NULL;
        fields[i].len = 0;
        fields[i].parsed = false;
    }
    st = hbn_json_iter_init(&it, text, len, err);
    if (st == HBN_E_INVALID_ARGUMENT)
        return hbn_err_set(err, st, "the request body must be a JSON object");
    while (st == HBN_OK) {
        st = hbn_json_iter_next_key(&it, &m, &done, err);
        if (st != HBN_OK || done)
            break;
        for (i = 0; i < n; i++)
            if (strcmp(names[i], m.key) == 0)
                break;
        /* the value is consumed before the key is judged, as hbn_json_iter_next does */
        bool eager = i < n && i == tensor && fields[i].value == NULL &&
                     hbn_tensor_json_parse_prefix(m.value, m.value_len, names[i], t, &used);
        if (eager)
            hbn_json_iter_advance(&it, &m, used);
        else if ((st = hbn_json_iter_skip(&it, &m, err)) != HBN_OK)
            break;
        if (i == n) {
            char shown[80];

            hbn_name_excerpt(m.key, strlen(m.key), shown, sizeof shown);
            st = hbn_err_set(err, HBN_E_UNKNOWN_FIELD, "unknown field '%s'", shown);
        } else if (fields[i].value != NULL) {
            st = hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "field %s is given more than once",
                             names[i]);
        } else {
            fields[i].value = m.value;
            fields[i].len = m.value_len;
            fields[i].parsed = eager;
        }
    }
    if (st != HBN_OK && st != HBN_E_INVALID_JSON)
        return syntax_first(text, len, st, err);
    return st;
}

hbn_status hbn_json_fields_scan(const char *text, size_t len, const char *const *names, size_t n,
                                hbn_json_field *fields, hbn_err *err)
{
    return hbn_json_fields_scan_tensor(text, len, names, n, fields, SIZE_MAX, NULL, err);
}

bool hbn_json_fields_present(const hbn_json_field *f)
{
    return f->value != NULL;
}

bool hbn_json_fields_is_null(const hbn_json_field *f)
{
    return f->value != NULL && f->len == 4 && memcmp(f->value, "null", 4) == 0;
}

hbn_status hbn_json_fields_int(const hbn_json_field *f, const char *name, int64_t *out,
                               bool *overflow, hbn_err *err)
{
    char shown[48];

    *overflow = false;
    if (hbn_query_parse_int(f->value, f->len, out, overflow))
        return HBN_OK;
    if (strcmp(span_type(f), "a number") == 0)
        shown_value(f, shown, sizeof shown);
    else
        snprintf(shown, sizeof shown, "%s", span_type(f));
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be an integer, got %s", name,
                       shown);
}

/* Parses F's span with cJSON (NEW item in *ITEM). */
static hbn_status parse_span(const hbn_json_field *f, cJSON **item, hbn_err *err)
{
    const char *end = NULL;

    hbn_json_hooks_install();
    *item = cJSON_ParseWithLengthOpts(f->value, f->len, &end, 0);
    if (*item == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while reading a JSON member");
    return HBN_OK;
}

hbn_status hbn_json_fields_number(const hbn_json_field *f, const char *name, double *out,
                                  hbn_err *err)
{
    cJSON *item;
    hbn_status st;

    if (strcmp(span_type(f), "a number") != 0)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be a number, got %s", name,
                           span_type(f));
    st = parse_span(f, &item, err);
    if (st != HBN_OK)
        return st;
    *out = cJSON_GetNumberValue(item);
    cJSON_Delete(item);
    return HBN_OK;
}

hbn_status hbn_json_fields_bool(const hbn_json_field *f, const char *name, bool *out,
                                hbn_err *err)
{
    if (f->len == 4 && memcmp(f->value, "true", 4) == 0) {
        *out = true;
        return HBN_OK;
    }
    if (f->len == 5 && memcmp(f->value, "false", 5) == 0) {
        *out = false;
        return HBN_OK;
    }
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be true or false, got %s", name,
                       span_type(f));
}

/* Whether the raw string span escapes a NUL character (\u0000), which cJSON would cut at. */
static bool has_escaped_nul(const hbn_json_field *f)
{
    size_t i;

    for (i = 0; i + 6 <= f->len; i++) {
        if (f->value[i] == '\\') {
            if (memcmp(f->value + i, "\\u0000", 6) == 0)
                return true;
            i++; /* skip the escaped character, so "\\\\u0000" is not taken for an escape */
        }
    }
    return false;
}

hbn_status hbn_json_fields_string(const hbn_json_field *f, const char *name, char *out,
                                  size_t cap, bool *fits, hbn_err *err)
{
    cJSON *item;
    const char *s;
    size_t len;
    hbn_status st;

    if (f->value[0] != '"')
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be a string, got %s", name,
                           span_type(f));
    st = parse_span(f, &item, err);
    if (st != HBN_OK)
        return st;
    s = cJSON_GetStringValue(item);
    len = s != NULL ? strlen(s) : 0;
    *fits = s != NULL && len < cap && !has_escaped_nul(f);
    if (len >= cap)
        len = cap - 1;
    if (s != NULL)
        memcpy(out, s, len);
    out[len] = '\0';
    cJSON_Delete(item);
    return HBN_OK;
}

hbn_status hbn_json_fields_mode(const hbn_json_field *f, const char *name, hbn_mode *out,
                                hbn_err *err)
{
    char text[16];
    char shown[48];
    bool fits;
    hbn_status st = hbn_json_fields_string(f, name, text, sizeof text, &fits, err);

    if (st != HBN_OK)
        return st;
    if (fits && hbn_mode_parse(text, out) == HBN_OK)
        return HBN_OK;
    shown_value(f, shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be \"train\" or \"eval\", got %s",
                       name, shown);
}

void hbn_json_fields_errors_init(hbn_json_fields_errors *e)
{
    hbn_err_clear(&e->structure);
    hbn_err_clear(&e->shape);
}

hbn_status hbn_json_fields_note(hbn_json_fields_errors *e, hbn_status st, const hbn_err *err)
{
    hbn_err *slot = st == HBN_E_SHAPE_MISMATCH ? &e->shape : &e->structure;

    if (st != HBN_OK && slot->status == HBN_OK) {
        *slot = *err;
        slot->status = st;
    }
    return st;
}

hbn_status hbn_json_fields_first(const hbn_json_fields_errors *e, hbn_err *err)
{
    const hbn_err *pick = e->structure.status != HBN_OK ? &e->structure : &e->shape;

    if (pick->status != HBN_OK)
        *err = *pick;
    return pick->status;
}

hbn_status hbn_json_fields_require(const hbn_json_field *f, const char *name,
                                   hbn_json_fields_errors *e)
{
    hbn_err err;

    if (f->value != NULL)
        return HBN_OK;
    hbn_err_set(&err, HBN_E_INVALID_ARGUMENT, "field %s is required", name);
    return hbn_json_fields_note(e, err.status, &err);
}

hbn_status hbn_json_fields_vector(const hbn_json_field *f, const char *name, bool required,
                                  hbn_tensor *t, hbn_json_fields_errors *e)
{
    hbn_err err;
    hbn_status st;

    if (f->value == NULL)
        return required ? hbn_json_fields_require(f, name, e) : HBN_OK;
    st = hbn_vector_json_parse(f->value, f->len, name, t, &err);
    return hbn_json_fields_note(e, st, &err);
}

hbn_status hbn_json_fields_tensor(const hbn_json_field *f, const char *name, hbn_tensor *t,
                                  hbn_json_fields_errors *e)
{
    hbn_err err;
    hbn_status st;

    if (f->value == NULL)
        return hbn_json_fields_require(f, name, e);
    if (f->parsed)
        return HBN_OK;
    st = hbn_tensor_json_parse(f->value, f->len, name, t, &err);
    return hbn_json_fields_note(e, st, &err);
}
