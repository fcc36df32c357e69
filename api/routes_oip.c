/* routes_oip.c: the Open Inference Protocol (KServe v2) over the layers: GET /v2 (server
 * metadata), GET /v2/models/{name} (model metadata), GET .../ready and POST .../infer, also under
 * /versions/1. A layer is a model; infer is v1's forward with OIP tensors. Copies are kept to what
 * the framing forces: an aligned FP32 binary input is read in place from the request body, a
 * binary `outputs` is written by the forward straight into the response buffer, and an input that
 * must be converted (FP64, unaligned) is converted once, into the buffer the forward then works
 * in. Like v1, the forward runs under the store's read and a pending train update is applied
 * afterwards, so a failing request changes nothing. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/name.h"
#include "api/oip_request.h"
#include "api/oip_response.h"
#include "api/routes.h"
#include "core/alloc.h"

/* ---- metadata and readiness --------------------------------------------------------------- */

hbn_status hbn_routes_oip_server(hbn_call *call, hbn_err *err)
{
    hbn_strbuf sb;
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"name\":\"hyperbn\",\"version\":");
    hbn_strbuf_json_string(&sb, call->api->version != NULL ? call->api->version : "unknown");
    hbn_strbuf_puts(&sb, ",\"extensions\":[\"binary_tensor_data\"]}");
    st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

static hbn_status read_channels(const hbn_layer *layer, void *arg, hbn_err *err)
{
    (void)err;
    *(int64_t *)arg = hbn_layer_num_features(layer);
    return HBN_OK;
}

/* Appends one metadata tensor: NAME, FP32, shape [-1, C] when BATCHED, else [C]. */
static void print_meta_tensor(hbn_strbuf *sb, const char *name, bool batched, int64_t c,
                              bool comma)
{
    hbn_strbuf_printf(sb, "%s{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[%s%" PRId64 "]}",
                      comma ? "," : "", name, batched ? "-1," : "", c);
}

/* Appends the model metadata after the name: versions, platform, inputs and outputs of a layer
 * with C channels. */
static void append_model_metadata(hbn_strbuf *sb, int64_t c)
{
    hbn_strbuf_puts(sb, ",\"versions\":[\"1\"],\"platform\":\"hyperbn\",\"inputs\":[");
    for (int k = 0; k < HBN_OIP_INPUTS; k++)
        print_meta_tensor(sb, hbn_oip_input_names[k], k == HBN_OIP_IN_INPUTS, c, k > 0);
    hbn_strbuf_puts(sb, "],\"outputs\":[");
    for (int k = 0; k < HBN_OIP_OUTPUTS; k++)
        print_meta_tensor(sb, hbn_oip_output_names[k], k == HBN_OIP_OUT_OUTPUTS, c, k > 0);
    hbn_strbuf_puts(sb, "]");
}

static void append_ready(hbn_strbuf *sb, int64_t c)
{
    (void)c;
    hbn_strbuf_puts(sb, ",\"ready\":true");
}

/* Answers 200 with {"name": NAME ...} where APPEND adds the members after the name for a layer of
 * C channels; an unknown layer is the store's HBN_E_LAYER_NOT_FOUND. */
static hbn_status respond_about_model(hbn_call *call, void (*append)(hbn_strbuf *, int64_t),
                                      hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    int64_t c = 0;
    hbn_strbuf sb;
    hbn_status st = store->ops->read(store->ctx, call->name, read_channels, &c, err);

    if (st != HBN_OK)
        return st;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"name\":");
    hbn_strbuf_json_string(&sb, call->name);
    append(&sb, c);
    hbn_strbuf_puts(&sb, "}");
    st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

hbn_status hbn_routes_oip_model(hbn_call *call, hbn_err *err)
{
    return respond_about_model(call, append_model_metadata, err);
}

hbn_status hbn_routes_oip_ready(hbn_call *call, hbn_err *err)
{
    return respond_about_model(call, append_ready, err);
}

/* ---- infer --------------------------------------------------------------------------------- */

typedef struct oip_infer {
    hbn_oip_request q;
    hbn_err body;                    /* the body's first error, reported after the path's */
    hbn_tensor t[HBN_OIP_INPUTS];    /* JSON data decoded into floats */
    float *conv[HBN_OIP_INPUTS];     /* binary data converted (FP64, unaligned): NEW */
    const float *in[HBN_OIP_INPUTS]; /* each given input's floats */
    float *scratch;                  /* the outputs when neither the inputs nor BUF can hold them */
    float *dest;                     /* where the forward writes the outputs */
    char *buf;                       /* a binary answer (NEW until sent), outputs at ROOM */
    size_t room;
    hbn_oip_reply reply;
    hbn_forward_args args;
    hbn_forward_result result;
} oip_infer;

/* Whether binary input IN can be read in place as float32: FP32, 4-byte aligned, little-endian
 * host. */
static bool usable_in_place(const hbn_oip_input *in)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    (void)in;
    return false;
#else
    return !in->fp64 && ((uintptr_t)in->data & (sizeof(float) - 1)) == 0;
#endif
}

/* Converts binary input IN (little-endian FP32 or FP64) into DST[numel] float32; an FP64 value
 * beyond float32 becomes +-Inf (SEMANTICS 4: non_finite), as a JSON number would. */
static void convert_binary(const hbn_oip_input *in, float *dst)
{
    size_t esize = in->fp64 ? 8 : 4;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
    if (!in->fp64) { /* unaligned FP32: one copy, no per-element work */
        if (in->numel > 0)
            memcpy(dst, in->data, (size_t)in->numel * sizeof(float));
        return;
    }
#endif
    for (int64_t i = 0; i < in->numel; i++) {
        const uint8_t *p = in->data + (size_t)i * esize;
        uint64_t u = 0;

        for (size_t b = 0; b < esize; b++)
            u |= (uint64_t)p[b] << (8 * b);
        if (in->fp64) {
            double d;

            memcpy(&d, &u, sizeof d);
            dst[i] = d >= 0x1.ffffffp127 ? HUGE_VALF : d <= -0x1.ffffffp127 ? -HUGE_VALF : (float)d;
        } else {
            uint32_t w = (uint32_t)u;

            memcpy(&dst[i], &w, sizeof w);
        }
    }
}

/* A NEW buffer of N floats (hbn_free()), at least one float: plain malloc, so that glibc serves a
 * large one again from the memory the last request freed (a large aligned_alloc is a fresh
 * mmap, with its page faults, every time). NULL when out of memory or too large. */
static float *floats_alloc(int64_t n)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float))
        return NULL;
    return hbn_malloc(n > 0 ? (size_t)n * sizeof(float) : sizeof(float));
}

/* Decodes given input K into floats at X->in[K]: JSON data parsed (into X->t[K]), a binary
 * tensor read in place when it can be, else converted once into TARGET (when not NULL) or a NEW
 * X->conv[K]. Errors are noted in the request's classes. */
static void decode_input(oip_infer *x, int k, float *target)
{
    const hbn_oip_input *in = &x->q.inputs[k];
    const char *name = hbn_oip_input_names[k];
    hbn_err err;

    if (!in->binary) {
        hbn_status st;

        if (in->len == 0 || in->data[0] != '[')
            st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                             "the data of %s must be an array of numbers", name);
        else if ((st = hbn_tensor_json_parse((const char *)in->data, in->len, name, &x->t[k],
                                             &err)) == HBN_OK &&
                 x->t[k].numel != in->numel)
            st = hbn_err_set(&err, HBN_E_SHAPE_MISMATCH,
                             "%s has %" PRId64 " values in data, its shape holds %" PRId64, name,
                             x->t[k].numel, in->numel);
        hbn_json_fields_note(&x->q.errors, st, &err);
        x->in[k] = hbn_call_floats(&x->t[k]);
        return;
    }
    if (usable_in_place(in)) {
        x->in[k] = (const float *)(const void *)in->data;
        return;
    }
    if (target == NULL) {
        target = x->conv[k] = floats_alloc(in->numel);
        if (target == NULL) {
            hbn_err_set(&err, HBN_E_NO_MEMORY, "out of memory converting %s", name);
            hbn_json_fields_note(&x->q.errors, err.status, &err);
            return;
        }
    }
    convert_binary(in, target);
    x->in[k] = target;
}

/* Points the forward's arguments at the decoded inputs and picks X->dest: the response buffer,
 * else the inputs' own decoded buffer (in place), else a scratch tensor. */
static void bind_args(oip_infer *x)
{
    const hbn_oip_input *in = x->q.inputs;
    hbn_forward_args *a = &x->args;
    const float **ptr[4] = {&a->weight, &a->bias, &a->running_mean, &a->running_var};
    int64_t *len[4] = {&a->weight_len, &a->bias_len, &a->running_mean_len, &a->running_var_len};

    *a = x->q.scalars;
    a->inputs = x->in[0];
    a->rank = in[0].rank;
    memcpy(a->shape, in[0].shape, sizeof a->shape);
    for (int k = 1; k < HBN_OIP_INPUTS; k++) {
        if (!in[k].present)
            continue;
        *ptr[k - 1] = x->in[k];
        *len[k - 1] = in[k].numel;
    }
    if (x->buf != NULL)
        x->dest = (float *)(void *)(x->buf + x->room);
    else if (x->t[0].data != NULL && x->in[0] == x->t[0].data)
        x->dest = x->t[0].data;
    else if (x->conv[0] != NULL)
        x->dest = x->conv[0];
    else if ((x->dest = x->scratch = floats_alloc(in[0].numel)) == NULL)
        hbn_err_set(&x->body, HBN_E_NO_MEMORY, "out of memory for %" PRId64 " outputs",
                    in[0].numel);
}

/* Reads the request into X: media type, envelope and framing, then the tensors' data; the first
 * error of all, in API.md's order, into X->body. On success the forward's arguments are bound and
 * X->dest is where its outputs go. */
static void read_request(const hbn_call *call, oip_infer *x)
{
    const hbn_request *req = call->req;
    hbn_oip_request *q = &x->q;
    bool clean;
    char shown[64];

    if (req->content_type != NULL &&
        !hbn_call_media_type_is(req->content_type, "application/json") &&
        !hbn_call_media_type_is(req->content_type, "application/octet-stream")) {
        hbn_name_excerpt(req->content_type, strlen(req->content_type), shown, sizeof shown);
        hbn_err_set(&x->body, HBN_E_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be "
                    "application/json or application/octet-stream, got '%s'", shown);
        return;
    }
    hbn_oip_request_parse(req->body, req->body_len, req->inference_header_length, q, &x->body);
    if (q->errors.structure.status != HBN_OK)
        return;
    clean = q->errors.shape.status == HBN_OK;
    x->reply = (hbn_oip_reply){.model = call->name, .req = q, .rank = q->inputs[0].rank,
                               .shape = q->inputs[0].shape, .numel = q->inputs[0].numel,
                               .channels = q->inputs[HBN_OIP_IN_MEAN].numel};
    if (clean && hbn_oip_response_outputs_binary(q)) {
        x->buf = hbn_oip_response_buffer(&x->reply, &x->room);
        if (x->buf == NULL) {
            hbn_err_set(&x->body, HBN_E_NO_MEMORY, "out of memory for a response of %" PRId64
                        " floats", q->inputs[0].numel);
            return;
        }
    }
    /* JSON data is read even after a shape error: a value that is not a number outranks it. A
     * binary tensor is read only when every size is known to hold. */
    for (int k = 0; k < HBN_OIP_INPUTS; k++)
        if (q->inputs[k].present && (clean || !q->inputs[k].binary))
            decode_input(x, k, k == 0 && x->buf != NULL ? (float *)(void *)(x->buf + x->room)
                                                        : NULL);
    if (hbn_json_fields_first(&q->errors, &x->body) == HBN_OK)
        bind_args(x);
}

/* Named statistics outputs must exist: they do exactly when v1 would return the statistics
 * (given running_mean and running_var, train mode). */
static hbn_status check_named_outputs(const hbn_layer *layer, const hbn_oip_request *q,
                                      hbn_err *err)
{
    hbn_mode mode = q->scalars.has_mode ? q->scalars.mode : hbn_layer_mode(layer);

    if (!q->outputs_named ||
        (q->inputs[HBN_OIP_IN_MEAN].present && q->inputs[HBN_OIP_IN_VAR].present &&
         mode == HBN_MODE_TRAIN))
        return HBN_OK;
    for (int k = HBN_OIP_OUT_MEAN; k <= HBN_OIP_OUT_VAR; k++)
        if (q->outputs[k].requested)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "output %s does not exist here: the statistics come back only "
                               "when running_mean and running_var are given and the mode is "
                               "train (this call: %s)",
                               hbn_oip_output_names[k], hbn_mode_name(mode));
    return HBN_OK;
}

static hbn_status run_infer(const hbn_layer *layer, void *arg, hbn_err *err)
{
    oip_infer *x = arg;
    hbn_status st;

    /* structure (400) before shapes (422): a missing output is structure */
    if (x->body.status != HBN_OK && x->body.status != HBN_E_SHAPE_MISMATCH)
        return hbn_call_deferred(&x->body, err);
    if ((st = check_named_outputs(layer, &x->q, err)) != HBN_OK ||
        (st = hbn_call_deferred(&x->body, err)) != HBN_OK)
        return st;
    x->reply.channels = hbn_layer_num_features(layer);
    st = hbn_layer_forward(layer, &x->args, x->dest, &x->result, err);
    /* a count beyond int64 is a value error: after shapes and stats_id, before batch size */
    if (x->q.count_overflow && (st == HBN_OK || st == HBN_E_BATCH_TOO_SMALL))
        st = hbn_err_set(err, HBN_E_NON_FINITE,
                         "num_batches_tracked is beyond the largest 64-bit integer");
    return st;
}

hbn_status hbn_routes_oip_infer(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    oip_infer x;
    hbn_status st;

    memset(&x, 0, sizeof x);
    hbn_err_clear(&x.body);
    for (int k = 0; k < HBN_OIP_INPUTS; k++)
        hbn_tensor_init(&x.t[k]);
    hbn_forward_args_init(&x.args);
    hbn_forward_result_init(&x.result);
    read_request(call, &x);
    st = store->ops->read(store->ctx, call->name, run_infer, &x, err);
    /* answer first, then commit the update (as routes_forward.c, for the same reason) */
    if (st == HBN_OK) {
        x.reply.result = &x.result;
        call->res->forward_elements = (uint64_t)x.q.inputs[0].numel;
        st = hbn_oip_response_send(&x.reply, x.dest, x.buf, x.room, call->res, err);
        x.buf = NULL; /* taken */
    }
    if (st == HBN_OK && x.result.update.pending)
        st = store->ops->apply(store->ctx, call->name, &x.result.update, err);
    if (st != HBN_OK)
        call->res->forward_elements = 0;
    hbn_forward_result_clear(&x.result);
    for (int k = 0; k < HBN_OIP_INPUTS; k++) {
        hbn_tensor_clear(&x.t[k]);
        hbn_free(x.conv[k]);
    }
    hbn_free(x.scratch);
    hbn_free(x.buf);
    return st;
}
