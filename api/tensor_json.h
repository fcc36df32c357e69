/* tensor_json.h: the dedicated codec for float tensors in JSON: nested arrays
 * ([[1,2],[3,4]]) or the object form {"shape": [2, 2], "data": [1, 2, 3, 4]}; and flat float
 * vectors ([C] weights and statistics). Numbers are scanned strictly (JSON grammar) and converted
 * with float32 rounding; a value that overflows float32 (1e39) is kept as +-Inf so that core/
 * reports it as non_finite in SEMANTICS 3's order. No cJSON node per number; data is one aligned
 * allocation. */
#ifndef HBN_TENSOR_JSON_H
#define HBN_TENSOR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/strbuf.h"
#include "core/layer.h"
#include "core/status.h"

#define HBN_TENSOR_MAX_RANK 8 /* parse limit; routes check their own rank range */

typedef struct hbn_tensor {
    int rank;
    int64_t shape[HBN_TENSOR_MAX_RANK];
    int64_t numel;
    float *data;       /* NEW, 64-byte aligned (free with hbn_tensor_clear); NULL when numel 0 */
    bool object_form;  /* given as {"shape", "data"} (a response uses the same form) */
} hbn_tensor;

void hbn_tensor_init(hbn_tensor *t);
void hbn_tensor_clear(hbn_tensor *t); /* frees DATA and re-initialises */

/* Allocates T->data for NUMEL floats, 64-byte aligned (NULL when NUMEL is 0), freeing any data T
 * held and setting T->numel. HBN_E_NO_MEMORY (also for a negative NUMEL). */
hbn_status hbn_tensor_alloc(hbn_tensor *t, int64_t numel, hbn_err *err);

/* Parses the JSON value TEXT[LEN] (a member's raw span) as a tensor named FIELD (for messages).
 * Errors: HBN_E_INVALID_JSON (syntax), HBN_E_INVALID_ARGUMENT (a bare number, string, null, bool,
 * an object with missing/extra keys or a non-array shape/data, non-integer shape entries),
 * HBN_E_SHAPE_MISMATCH (ragged nesting, rank above HBN_TENSOR_MAX_RANK, negative dimension,
 * data length != product of shape, nonzero dimensions multiplying past 2^63 even when another is
 * 0; messages name FIELD and both numbers). Rank checks beyond that are the caller's.
 * OUT is overwritten, not freed: on HBN_OK its data is NEW (hbn_tensor_clear), on failure it is
 * empty. When several problems exist the status follows API.md's order: invalid JSON, then a
 * non-number value, then shape problems. */
hbn_status hbn_tensor_json_parse(const char *text, size_t len, const char *field, hbn_tensor *out,
                                 hbn_err *err);

/* Parses the tensor that TEXT[LEN] starts with (leading whitespace allowed): a member's value
 * inside a larger document, whose end is not known yet, parsed where it lies instead of being
 * skipped (validated) first and parsed afterwards. Returns true when TEXT starts with a
 * well-formed tensor: *USED is its length (leading whitespace included, none after it), OUT holds
 * exactly what
 * hbn_tensor_json_parse(TEXT, *USED, FIELD) gives (NEW data), and TEXT[0, *USED) is one valid
 * JSON value (hbn_json_iter_advance may take it). Otherwise returns false with OUT empty and
 * reports nothing: the caller skips the value as usual and parses its span with
 * hbn_tensor_json_parse, which reports the error with the precedence above. Memory: the data
 * buffer is sized by the commas of all of TEXT[LEN]. */
bool hbn_tensor_json_parse_prefix(const char *text, size_t len, const char *field,
                                  hbn_tensor *out, size_t *used);

/* Parses a flat JSON array of numbers (a [C] vector such as weight or running_mean) into OUT
 * (rank 1). Nested arrays -> HBN_E_SHAPE_MISMATCH; a bare number -> HBN_E_INVALID_ARGUMENT. */
hbn_status hbn_vector_json_parse(const char *text, size_t len, const char *field, hbn_tensor *out,
                                 hbn_err *err);

/* Appends DATA as a JSON tensor of RANK/SHAPE to SB: nested arrays, or the object form when
 * OBJECT_FORM. Floats printed with hbn_float_format. */
void hbn_tensor_json_print(hbn_strbuf *sb, const float *data, int rank, const int64_t *shape,
                           bool object_form);

/* Appends N floats as a flat JSON array. */
void hbn_vector_json_print(hbn_strbuf *sb, const float *data, int64_t n);

/* An upper bound on the bytes hbn_tensor_json_print appends for RANK/SHAPE in that form (16 per
 * float, 3 per array, some slack), to reserve a response buffer once; SIZE_MAX when absurd. */
size_t hbn_tensor_json_print_size(int rank, const int64_t *shape, bool object_form);

#endif
