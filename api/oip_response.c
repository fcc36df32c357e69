/* oip_response.c: OIP inference responses (oip_response.h). One header printer serves both the
 * real header and the sizing pass, which prints the worst case of every value the forward decides
 * (mode, slot id, count, warning) and counts HBN_FLOAT_CHARS_MAX bytes per JSON float. Binary
 * floats are written little-endian whatever the host. */
#include "api/oip_response.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/float_format.h"
#include "api/tensor_json.h"
#include "core/alloc.h"

#define ROOM_ALIGN 64

static const char warning_text[] =
    "stats_id was ignored because running_mean and running_var were given";

bool hbn_oip_response_outputs_binary(const hbn_oip_request *req)
{
    return req->outputs[HBN_OIP_OUT_OUTPUTS].requested && req->outputs[HBN_OIP_OUT_OUTPUTS].binary;
}

/* Copies N host floats to DST as little-endian bytes. */
static void put_le(void *dst, const float *src, int64_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;

        memcpy(&u, &src[i], sizeof u);
        u = __builtin_bswap32(u);
        memcpy((char *)dst + 4 * i, &u, sizeof u);
    }
#else
    if (n > 0 && dst != (const void *)src)
        memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* Whether output K goes into the response for RES. */
static bool output_present(const hbn_oip_reply *r, const hbn_forward_result *res, int k)
{
    return r->req->outputs[k].requested && (k == HBN_OIP_OUT_OUTPUTS || res->stats_returned);
}

/* Appends output K's object; DATA (N floats) is printed unless the output is binary or DATA is
 * NULL (sizing). */
static void print_output(hbn_strbuf *sb, const hbn_oip_reply *r, int k, const float *data)
{
    int64_t n = k == HBN_OIP_OUT_OUTPUTS ? r->numel : r->channels;

    hbn_strbuf_printf(sb, "{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[",
                      hbn_oip_output_names[k]);
    if (k == HBN_OIP_OUT_OUTPUTS)
        for (int i = 0; i < r->rank; i++)
            hbn_strbuf_printf(sb, "%s%" PRId64, i > 0 ? "," : "", r->shape[i]);
    else
        hbn_strbuf_printf(sb, "%" PRId64, n);
    if (r->req->outputs[k].binary) {
        hbn_strbuf_printf(sb, "],\"parameters\":{\"binary_data_size\":%" PRIu64 "}}",
                          (uint64_t)n * sizeof(float));
        return;
    }
    hbn_strbuf_puts(sb, "],\"data\":");
    if (data != NULL)
        hbn_vector_json_print(sb, data, n);
    else
        hbn_strbuf_puts(sb, "[]");
    hbn_strbuf_puts(sb, "}");
}

/* Appends the JSON header for RES (the worst case of any result when RES is NULL; JSON data is
 * then left out). OUTPUTS: the outputs tensor's floats, for a JSON `outputs`. */
static void print_header(hbn_strbuf *sb, const hbn_oip_reply *r, const hbn_forward_result *res,
                         const float *outputs)
{
    const hbn_oip_request *q = r->req;
    const float *data[HBN_OIP_OUTPUTS] = {outputs, NULL, NULL};
    hbn_forward_result worst;
    bool first = true;

    if (res == NULL) {
        bool given = q->inputs[HBN_OIP_IN_MEAN].present;

        worst = (hbn_forward_result){.mode = HBN_MODE_TRAIN, .has_stats_id = true,
                                     .stats_id = INT64_MIN, .stats_returned = given,
                                     .num_batches_tracked = INT64_MIN,
                                     .stats_id_ignored_warning = given && q->scalars.has_stats_id};
        res = &worst;
        data[0] = NULL;
    } else {
        data[1] = res->running_mean;
        data[2] = res->running_var;
    }
    hbn_strbuf_puts(sb, "{\"model_name\":");
    hbn_strbuf_json_string(sb, r->model);
    if (q->id.len > 0) {
        hbn_strbuf_puts(sb, ",\"id\":");
        hbn_strbuf_append(sb, q->id.p, q->id.len);
    }
    hbn_strbuf_printf(sb, ",\"parameters\":{\"mode\":\"%s\"", hbn_mode_name(res->mode));
    if (res->has_stats_id)
        hbn_strbuf_printf(sb, ",\"stats_id\":%" PRId64, res->stats_id);
    if (res->stats_returned)
        hbn_strbuf_printf(sb, ",\"num_batches_tracked\":%" PRId64, res->num_batches_tracked);
    if (res->stats_id_ignored_warning)
        hbn_strbuf_printf(sb, ",\"warning\":\"%s\"", warning_text);
    hbn_strbuf_puts(sb, "},\"outputs\":[");
    for (int k = 0; k < HBN_OIP_OUTPUTS; k++) {
        if (!output_present(r, res, k))
            continue;
        if (!first)
            hbn_strbuf_puts(sb, ",");
        first = false;
        print_output(sb, r, k, data[k]);
    }
    hbn_strbuf_puts(sb, "]}");
}

/* How many statistics outputs R can carry in the encoding BINARY (any result: the request gave
 * statistics and named them, or named no output). */
static int stats_outputs(const hbn_oip_reply *r, bool binary)
{
    int n = 0;

    if (r->req->inputs[HBN_OIP_IN_MEAN].present)
        for (int k = HBN_OIP_OUT_MEAN; k <= HBN_OIP_OUT_VAR; k++)
            n += r->req->outputs[k].requested && r->req->outputs[k].binary == binary;
    return n;
}

size_t hbn_oip_response_room(const hbn_oip_reply *r)
{
    hbn_strbuf sb;
    size_t room;

    hbn_strbuf_init(&sb);
    print_header(&sb, r, NULL, NULL);
    /* each JSON statistic holds C numbers of at most HBN_FLOAT_CHARS_MAX - 1 bytes and a comma */
    room = sb.len + (size_t)stats_outputs(r, false) * (size_t)r->channels * HBN_FLOAT_CHARS_MAX;
    if (sb.failed)
        room = 0;
    hbn_strbuf_clear(&sb);
    return (room + ROOM_ALIGN - 1) / ROOM_ALIGN * ROOM_ALIGN;
}

char *hbn_oip_response_buffer(const hbn_oip_reply *r, size_t *room)
{
    uint64_t floats = (uint64_t)r->numel + (uint64_t)stats_outputs(r, true) * (uint64_t)r->channels;
    size_t bound = hbn_oip_response_room(r);
    char *buf;

    if (bound == 0 || r->numel < 0 || floats > (SIZE_MAX - bound - ROOM_ALIGN) / sizeof(float))
        return NULL;
    /* plain malloc, not aligned_alloc: glibc serves a large malloc again from the memory the
     * last one freed, while a large aligned_alloc is a fresh mmap (page faults) every time; the
     * room grows instead, so that the outputs still start 64-byte aligned */
    buf = hbn_malloc(bound + ROOM_ALIGN + (size_t)floats * sizeof(float));
    if (buf != NULL)
        *room = bound + (ROOM_ALIGN - (size_t)((uintptr_t)(buf + bound) % ROOM_ALIGN)) % ROOM_ALIGN;
    return buf;
}

/* Appends the binary statistics of RES that R asks for to DST (little-endian); returns the
 * bytes written. */
static size_t put_binary_stats(char *dst, const hbn_oip_reply *r, const hbn_forward_result *res)
{
    const float *src[HBN_OIP_OUTPUTS] = {NULL, res->running_mean, res->running_var};
    size_t at = 0;

    for (int k = HBN_OIP_OUT_MEAN; k <= HBN_OIP_OUT_VAR; k++) {
        if (!output_present(r, res, k) || !r->req->outputs[k].binary)
            continue;
        put_le(dst + at, src[k], r->channels);
        at += (size_t)r->channels * sizeof(float);
    }
    return at;
}

/* The answer when the outputs are not in a response buffer: the header, JSON data included,
 * then any binary outputs. */
static hbn_status send_built(const hbn_oip_reply *r, const float *outputs, hbn_response *res,
                             hbn_err *err)
{
    const hbn_forward_result *fr = r->result;
    bool binary_outputs = hbn_oip_response_outputs_binary(r->req), any_binary = false;
    size_t extra = 2 * (size_t)r->channels * sizeof(float), header, len;
    hbn_strbuf sb;
    char *body;

    for (int k = 0; k < HBN_OIP_OUTPUTS; k++)
        any_binary |= output_present(r, fr, k) && r->req->outputs[k].binary;
    hbn_strbuf_init(&sb);
    if (!binary_outputs && (uint64_t)r->numel < SIZE_MAX / 32)
        hbn_strbuf_reserve(&sb, (size_t)r->numel * 16 + 512);
    print_header(&sb, r, fr, outputs);
    header = sb.len;
    if (binary_outputs)
        extra += (size_t)r->numel * sizeof(float);
    if (any_binary && hbn_strbuf_reserve(&sb, extra)) {
        if (binary_outputs) {
            put_le(sb.data + sb.len, outputs, r->numel);
            sb.len += (size_t)r->numel * sizeof(float);
        }
        sb.len += put_binary_stats(sb.data + sb.len, r, fr);
    }
    body = hbn_strbuf_take(&sb, &len);
    hbn_strbuf_clear(&sb);
    if (body == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while writing the response");
    hbn_response_set_body(res, 200, any_binary ? "application/octet-stream" : "application/json",
                          body, len);
    if (any_binary)
        hbn_response_add_header(res, "Inference-Header-Content-Length", "%zu", header);
    return HBN_OK;
}

hbn_status hbn_oip_response_send(const hbn_oip_reply *r, const float *outputs, char *buf,
                                 size_t room, hbn_response *res, hbn_err *err)
{
    size_t len, at;
    hbn_strbuf sb;

    if (buf == NULL)
        return send_built(r, outputs, res, err);
    hbn_strbuf_init(&sb);
    print_header(&sb, r, r->result, NULL);
    len = sb.len;
    if (sb.failed || len > room) {
        hbn_status st = sb.failed ? hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while "
                                                "writing the response")
                                  : hbn_err_set(err, HBN_E_INTERNAL, "the response header of "
                                                "%zu bytes outgrew its room of %zu", len, room);
        hbn_strbuf_clear(&sb);
        hbn_free(buf);
        return st;
    }
    memcpy(buf, sb.data, len);
    memset(buf + len, ' ', room - len);
    hbn_strbuf_clear(&sb);
    at = room + (size_t)r->numel * sizeof(float);
    put_le(buf + room, (const float *)(const void *)(buf + room), r->numel);
    at += put_binary_stats(buf + at, r, r->result);
    hbn_response_set_body(res, 200, "application/octet-stream", buf, at);
    hbn_response_add_header(res, "Inference-Header-Content-Length", "%zu", room);
    return HBN_OK;
}
