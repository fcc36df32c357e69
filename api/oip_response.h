/* oip_response.h: the answer to an OIP inference request: a JSON header
 * {"model_name", "id"?, "parameters": {"mode", "stats_id"?, "num_batches_tracked"?, "warning"?},
 * "outputs": [...]} and, when any output is binary, its raw little-endian float32 bytes after the
 * header (Content-Type application/octet-stream, Inference-Header-Content-Length). Outputs are
 * listed in the model's order (outputs, running_mean, running_var), the binary ones' bytes in the
 * same order. So that the large `outputs` tensor is written once, straight into the response, a
 * binary answer reserves room for the header in front of it (hbn_oip_response_buffer) and pads
 * the header to that room with JSON whitespace. Knows no layer and no store. */
#ifndef HBN_OIP_RESPONSE_H
#define HBN_OIP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "api/message.h"
#include "api/oip_request.h"
#include "core/layer.h"
#include "core/status.h"

/* What a response reports; every pointer BORROWED for the duration of a call. */
typedef struct hbn_oip_reply {
    const char *model;                /* the model's name */
    const hbn_oip_request *req;       /* id, requested outputs and their encodings */
    int rank;                         /* shape of the outputs (that of the inputs) */
    const int64_t *shape;
    int64_t numel;
    int64_t channels;                 /* C of the statistics outputs */
    const hbn_forward_result *result; /* the forward's report; NULL while sizing (any result) */
} hbn_oip_reply;

/* Whether the `outputs` tensor goes out binary, so that it belongs in a response buffer. */
bool hbn_oip_response_outputs_binary(const hbn_oip_request *req);

/* An upper bound of the JSON header's length for any result of the forward, a multiple of 64;
 * 0 when out of memory. R->result is ignored. */
size_t hbn_oip_response_room(const hbn_oip_reply *r);

/* A NEW buffer (hbn_free()) for a binary answer of R: *ROOM header bytes (at least
 * hbn_oip_response_room, so that the outputs at BUF + *ROOM are 64-byte aligned), the outputs,
 * then room for binary statistics. NULL when out of memory or too large. */
char *hbn_oip_response_buffer(const hbn_oip_reply *r, size_t *room);

/* Answers R into RES (status 200). With BUF (from hbn_oip_response_buffer, TAKES it, also on
 * failure) the outputs are already at BUF + ROOM; otherwise OUTPUTS (numel floats) is printed or
 * copied as the request asked. HBN_E_NO_MEMORY; HBN_E_INTERNAL if the header outgrew ROOM. */
hbn_status hbn_oip_response_send(const hbn_oip_reply *r, const float *outputs, char *buf,
                                 size_t room, hbn_response *res, hbn_err *err);

#endif
