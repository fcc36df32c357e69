/* json_fields.h: the envelope of a JSON request body: one object whose members a route names in
 * advance. The scan records each known member's raw span (large tensors go to tensor_json, small
 * members to the typed readers below) and rejects unknown and repeated members; a syntax error
 * anywhere in the document wins over those. Readers check JSON types strictly: integers are
 * integer literals, booleans are true/false, strings are strings. */
#ifndef HBN_JSON_FIELDS_H
#define HBN_JSON_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/tensor_json.h"
#include "core/layer.h"
#include "core/status.h"

#define HBN_JSON_FIELDS_MAX 16

/* One member's raw value (BORROWED from the body); VALUE is NULL when the member is absent.
 * PARSED: hbn_json_fields_scan_tensor already parsed it into its tensor. */
typedef struct hbn_json_field {
    const char *value;
    size_t len;
    bool parsed;
} hbn_json_field;

/* Walks TEXT[LEN] (one JSON object) and stores the span of every member named in NAMES[N]
 * (N <= HBN_JSON_FIELDS_MAX) into FIELDS[N]. Errors: HBN_E_INVALID_JSON (syntax anywhere, empty
 * body), HBN_E_INVALID_ARGUMENT (not an object, a member given twice), HBN_E_UNKNOWN_FIELD
 * (naming the member). */
hbn_status hbn_json_fields_scan(const char *text, size_t len, const char *const *names, size_t n,
                                hbn_json_field *fields, hbn_err *err);

/* hbn_json_fields_scan that parses member NAMES[TENSOR] as a tensor into *T (caller-initialised)
 * while walking past it: one pass over a large tensor's text instead of a validating skip and a
 * parse. When the member is a well-formed tensor, FIELDS[TENSOR].parsed is set and *T holds it
 * (NEW, hbn_tensor_clear); otherwise only its span is recorded and hbn_json_fields_tensor parses
 * and reports it later, as without this call. Statuses and messages are exactly those of
 * hbn_json_fields_scan. *T may hold data whatever the status: the caller clears it as usual. */
hbn_status hbn_json_fields_scan_tensor(const char *text, size_t len, const char *const *names,
                                       size_t n, hbn_json_field *fields, size_t tensor,
                                       hbn_tensor *t, hbn_err *err);

/* Whether F is present / is the literal null. */
bool hbn_json_fields_present(const hbn_json_field *f);
bool hbn_json_fields_is_null(const hbn_json_field *f);

/* Reads F (member NAME) as an integer literal (no fraction, no exponent: 2.5 and 1e300 are
 * HBN_E_INVALID_ARGUMENT, as is any non-number) into *OUT. A literal beyond int64 saturates
 * (INT64_MAX / INT64_MIN) and sets *OVERFLOW; the caller decides what that means. */
hbn_status hbn_json_fields_int(const hbn_json_field *f, const char *name, int64_t *out,
                               bool *overflow, hbn_err *err);

/* Reads F as a JSON number (parsed with cJSON; a value beyond double is +-Inf) into *OUT.
 * HBN_E_INVALID_ARGUMENT for any other type. */
hbn_status hbn_json_fields_number(const hbn_json_field *f, const char *name, double *out,
                                  hbn_err *err);

/* Reads F as true or false. HBN_E_INVALID_ARGUMENT for any other value. */
hbn_status hbn_json_fields_bool(const hbn_json_field *f, const char *name, bool *out,
                                hbn_err *err);

/* Reads F as a JSON string, decoded into OUT[CAP]. HBN_E_INVALID_ARGUMENT for another type;
 * *FITS is false (and OUT holds a cut prefix) when the decoded string is CAP bytes or longer or
 * contains a NUL character. HBN_E_NO_MEMORY. */
hbn_status hbn_json_fields_string(const hbn_json_field *f, const char *name, char *out,
                                  size_t cap, bool *fits, hbn_err *err);

/* Reads F as "train" or "eval". HBN_E_INVALID_ARGUMENT otherwise. */
hbn_status hbn_json_fields_mode(const hbn_json_field *f, const char *name, hbn_mode *out,
                                hbn_err *err);

/* The first error of each class met while reading a body's members, so that SEMANTICS 3's order
 * holds whatever the member order: structure (types, required members, NO_MEMORY) before shapes
 * (HBN_E_SHAPE_MISMATCH). */
typedef struct hbn_json_fields_errors {
    hbn_err structure;
    hbn_err shape;
} hbn_json_fields_errors;

void hbn_json_fields_errors_init(hbn_json_fields_errors *e);

/* Records ST with ERR's message in its class unless that class already has an error. Returns
 * ST. */
hbn_status hbn_json_fields_note(hbn_json_fields_errors *e, hbn_status st, const hbn_err *err);

/* The error to report: the first structural one, else the first shape one (copied into ERR),
 * else HBN_OK. */
hbn_status hbn_json_fields_first(const hbn_json_fields_errors *e, hbn_err *err);

/* Notes a structural error in E when F (member NAME) is absent; returns the status. */
hbn_status hbn_json_fields_require(const hbn_json_field *f, const char *name,
                                   hbn_json_fields_errors *e);

/* Reads F (member NAME), when present, as a flat vector ([C] weights or statistics) into T
 * (caller-initialised; NEW data, freed with hbn_tensor_clear), noting any error in E; absent
 * and REQUIRED is a structural error. Returns the status. */
hbn_status hbn_json_fields_vector(const hbn_json_field *f, const char *name, bool required,
                                  hbn_tensor *t, hbn_json_fields_errors *e);

/* Reads the required member F (named NAME) as a tensor (nested arrays or {shape, data}) into T,
 * noting any error in E. Returns the status. A member that hbn_json_fields_scan_tensor parsed
 * already (F->parsed, into this same T) is HBN_OK at once. */
hbn_status hbn_json_fields_tensor(const hbn_json_field *f, const char *name, hbn_tensor *t,
                                  hbn_json_fields_errors *e);

#endif
