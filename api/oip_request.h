/* oip_request.h: an Open Inference Protocol (KServe v2) inference request decoded from its body,
 * binary tensor data extension included: the body is a JSON header of
 * Inference-Header-Content-Length bytes (the whole body without that header), then the raw bytes
 * of every input that declares parameters.binary_data_size, in the order of the inputs list.
 * A pure function of (body, length, header value): it knows the model's tensor names, never a
 * layer, and converts no float; tensor data stays in spans of the body (JSON text or bytes). */
#ifndef HBN_OIP_REQUEST_H
#define HBN_OIP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/json_fields.h"
#include "api/json_walk.h"
#include "api/tensor_json.h"
#include "core/layer.h"
#include "core/status.h"

/* The model's inputs and outputs, by OIP tensor name (hbn_oip_input_names, _output_names). */
enum { HBN_OIP_IN_INPUTS, HBN_OIP_IN_WEIGHT, HBN_OIP_IN_BIAS, HBN_OIP_IN_MEAN, HBN_OIP_IN_VAR,
       HBN_OIP_INPUTS };
enum { HBN_OIP_OUT_OUTPUTS, HBN_OIP_OUT_MEAN, HBN_OIP_OUT_VAR, HBN_OIP_OUTPUTS };

extern const char *const hbn_oip_input_names[HBN_OIP_INPUTS];
extern const char *const hbn_oip_output_names[HBN_OIP_OUTPUTS];

/* One input tensor as the request declares it. */
typedef struct hbn_oip_input {
    bool present;
    bool fp64;              /* datatype FP64 (converted to float32), else FP32 */
    int rank;               /* entries of shape (<= HBN_TENSOR_MAX_RANK once parsing succeeded) */
    int64_t shape[HBN_TENSOR_MAX_RANK];
    int64_t numel;          /* product of shape; INT64_MAX when it overflows */
    bool binary;            /* data in the binary part (parameters.binary_data_size) */
    const uint8_t *data;    /* BORROWED from the body: the JSON "data" value, or the raw bytes */
    size_t len;
} hbn_oip_input;

/* One output: whether the response carries it and in which encoding. */
typedef struct hbn_oip_output {
    bool requested;         /* named in "outputs", or every output when none is named */
    bool binary;            /* binary_data, else the request's binary_data_output */
} hbn_oip_output;

typedef struct hbn_oip_request {
    size_t header_len;      /* bytes of the JSON header */
    hbn_json_span id;       /* the raw JSON string "id" (quotes included); len 0 when absent */
    hbn_forward_args scalars; /* parameters stats_id, mode, num_batches_tracked; no tensors */
    bool count_overflow;    /* num_batches_tracked beyond int64 (saturated, not passed on) */
    bool outputs_named;     /* the request has an "outputs" list */
    hbn_oip_input inputs[HBN_OIP_INPUTS];
    hbn_oip_output outputs[HBN_OIP_OUTPUTS];
    hbn_json_fields_errors errors; /* what went wrong, by class (structure before shape) */
} hbn_oip_request;

/* Decodes BODY[LEN] (BORROWED: OUT's spans point into it) with the raw header value
 * HEADER_LENGTH (NULL when absent) into *OUT and returns the error to report, if any, its
 * sentence in ERR. Checked: the header value (decimal, 0 <= H <= LEN), the JSON header's syntax
 * (invalid_json), its structure (invalid_argument: types, required members, tensor and output
 * names, datatype FP32 / FP64, shape entries that are not integers, a running_mean without a
 * running_var, num_batches_tracked without them or < 0; unknown_field for unknown members, except
 * inside "parameters" objects, whose unknown entries are ignored), the binary framing
 * (invalid_argument: a binary_data_size other than numel x element size, sizes that do not sum to
 * the LEN - H bytes after the header, an input with both or neither of data and binary data),
 * then the declared shapes (shape_mismatch: a negative dimension, a rank other than 2..5 for
 * "inputs" or 1 for the vectors). JSON data is not read here. OUT->errors keeps every class's
 * first error so that a caller reading the data can add its own and still report in API.md's
 * order. */
hbn_status hbn_oip_request_parse(const uint8_t *body, size_t len, const char *header_length,
                                 hbn_oip_request *out, hbn_err *err);

#endif
