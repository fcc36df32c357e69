/* routes_forward.c: POST /v1/layers/{name}/forward, in two forms. JSON: tensors as nested arrays
 * or {shape, data}, answered in the request's form. Binary (Content-Type
 * application/octet-stream): ?shape=N,C[,...], optional ?stats_id= and ?mode=, a raw
 * little-endian float32 body answered with raw float32. Outputs are written in place over the
 * parsed inputs (one buffer per request; for the binary form the request's own body when the
 * server offers it writable, answered from there without a copy); the forward runs under the
 * store's read, a pending train update is applied afterwards, so a failing request changes
 * nothing (but the binary body it may have overwritten, which nothing reads again). */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_fields.h"
#include "api/query.h"
#include "api/routes.h"
#include "core/alloc.h"

enum { F_INPUTS, F_WEIGHT, F_BIAS, F_MEAN, F_VAR, F_COUNT, F_STATS_ID, F_MODE, F_N };

static const char *const forward_fields[F_N] = {
    "inputs", "weight", "bias", "running_mean", "running_var", "num_batches_tracked", "stats_id",
    "mode",
};

typedef struct forward_req {
    hbn_err body;          /* the body's error, reported after the path's */
    bool binary;           /* the raw float32 form */
    hbn_tensor inputs;     /* JSON form: inputs, then outputs in place */
    hbn_tensor vec[4];     /* JSON form: weight, bias, running_mean, running_var */
    float *raw;            /* binary form: numel floats, inputs then outputs in place: the
                            * request's writable body (BORROWED) or a NEW copy (RAW_OWNED) */
    bool raw_owned;
    int rank;
    int64_t shape[HBN_MAX_RANK];
    int64_t numel;
    bool count_overflow;   /* num_batches_tracked beyond int64: non_finite (a value) */
    int64_t channels;      /* the layer's C, read under its lock */
    float empty[1];        /* the output buffer of an empty JSON tensor */
    hbn_forward_args args;
    hbn_forward_result result;
} forward_req;

/* Reads the scalar members (stats_id, mode, num_batches_tracked) and the members' presence
 * rules into R->args, noting structural errors in E. */
static void read_scalars(const hbn_json_field *f, forward_req *r, hbn_json_fields_errors *e)
{
    hbn_forward_args *args = &r->args;
    bool given = f[F_MEAN].value != NULL && f[F_VAR].value != NULL;
    bool overflow;
    hbn_err err;
    hbn_status st = HBN_OK;

    if (f[F_STATS_ID].value != NULL) {
        args->has_stats_id = true;
        st = hbn_json_fields_int(&f[F_STATS_ID], "stats_id", &args->stats_id, &overflow, &err);
    }
    if (st == HBN_OK && f[F_MODE].value != NULL) {
        args->has_mode = true;
        st = hbn_json_fields_mode(&f[F_MODE], "mode", &args->mode, &err);
    }
    if (st == HBN_OK && (f[F_MEAN].value != NULL) != (f[F_VAR].value != NULL))
        st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                         "running_mean and running_var must be given together, got only %s",
                         f[F_MEAN].value != NULL ? "running_mean" : "running_var");
    if (st == HBN_OK && f[F_COUNT].value != NULL) {
        args->has_num_batches_tracked = true;
        st = hbn_json_fields_int(&f[F_COUNT], "num_batches_tracked", &args->num_batches_tracked,
                                 &r->count_overflow, &err);
        if (st == HBN_OK && !given)
            st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                             "num_batches_tracked is only accepted together with running_mean "
                             "and running_var");
        else if (st == HBN_OK && args->num_batches_tracked < 0)
            st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                             "num_batches_tracked must be >= 0, got %" PRId64,
                             args->num_batches_tracked);
        if (r->count_overflow)
            args->has_num_batches_tracked = false;
    }
    hbn_json_fields_note(e, st, &err);
}

/* Points the forward arguments at the parsed tensors of a JSON request. */
static void bind_json_args(forward_req *r)
{
    hbn_forward_args *args = &r->args;
    const float **ptr[4] = {&args->weight, &args->bias, &args->running_mean, &args->running_var};
    int64_t *len[4] = {&args->weight_len, &args->bias_len, &args->running_mean_len,
                       &args->running_var_len};
    int i;

    args->inputs = hbn_call_floats(&r->inputs);
    args->rank = r->inputs.rank;
    memcpy(args->shape, r->inputs.shape, sizeof args->shape);
    for (i = 0; i < 4; i++) {
        if (r->vec[i].rank == 0)
            continue; /* not given */
        *ptr[i] = hbn_call_floats(&r->vec[i]);
        *len[i] = r->vec[i].numel;
    }
}

/* Parses a JSON forward body into R; its first error (SEMANTICS 3's order for what api/
 * decides: structure, then shapes) goes to R->body. */
static void parse_json(const hbn_call *call, forward_req *r)
{
    hbn_json_field f[F_N];
    hbn_json_fields_errors e;
    hbn_err err;
    int i;

    if (hbn_call_require_json(call, &r->body) != HBN_OK ||
        hbn_json_fields_scan_tensor((const char *)call->req->body, call->req->body_len,
                                    forward_fields, F_N, f, F_INPUTS, &r->inputs,
                                    &r->body) != HBN_OK)
        return;
    hbn_json_fields_errors_init(&e);
    read_scalars(f, r, &e);
    hbn_json_fields_tensor(&f[F_INPUTS], "inputs", &r->inputs, &e);
    for (i = 0; i < 4; i++)
        hbn_json_fields_vector(&f[F_WEIGHT + i], forward_fields[F_WEIGHT + i], false, &r->vec[i],
                               &e);
    if (e.structure.status == HBN_OK && e.shape.status == HBN_OK &&
        (r->inputs.rank < HBN_MIN_RANK || r->inputs.rank > HBN_MAX_RANK)) {
        hbn_err_set(&err, HBN_E_SHAPE_MISMATCH,
                    "inputs has rank %d, expected 2 to 5 dimensions (N, C, ...)",
                    r->inputs.rank);
        hbn_json_fields_note(&e, err.status, &err);
    }
    if (hbn_json_fields_first(&e, &r->body) != HBN_OK)
        return;
    r->rank = r->inputs.rank;
    memcpy(r->shape, r->inputs.shape, sizeof r->shape);
    r->numel = r->inputs.numel;
    bind_json_args(r);
}

/* Converts N little-endian float32 values to host order (or back): a no-op on little-endian
 * hosts. */
static void swap_le(float *v, int64_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    int64_t i;

    for (i = 0; i < n; i++) {
        uint32_t u;

        memcpy(&u, &v[i], sizeof u);
        u = __builtin_bswap32(u);
        memcpy(&v[i], &u, sizeof u);
    }
#else
    (void)v;
    (void)n;
#endif
}

/* Reads the binary form's query (structure, then the shape) and body into R, its first error
 * into R->body. */
static void parse_binary(const hbn_call *call, forward_req *r)
{
    static const char *const names[] = {"shape", "stats_id", "mode"};
    hbn_query_value v[3];
    hbn_forward_args *args = &r->args;
    hbn_err *err = &r->body;
    size_t bytes;

    if (hbn_query_parse(call->req->query, names, 3, v, err) != HBN_OK)
        return;
    if (!v[0].present) {
        hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                    "the binary form needs the query parameter shape=N,C[,...]");
        return;
    }
    args->has_stats_id = v[1].present;
    args->has_mode = v[2].present;
    if ((v[1].present && hbn_query_int(&v[1], "stats_id", &args->stats_id, err) != HBN_OK) ||
        (v[2].present && hbn_query_mode(&v[2], "mode", &args->mode, err) != HBN_OK) ||
        hbn_query_shape(&v[0], "shape", &r->rank, r->shape, err) != HBN_OK)
        return;
    if (hbn_shape_numel(r->rank, r->shape, &r->numel, err) != HBN_OK) {
        hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "shape %s has more elements than any body can hold",
                    v[0].text);
        return;
    }
    bytes = (size_t)r->numel * sizeof(float);
    if (call->req->body_len != bytes) {
        hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                    "the body has %zu bytes, shape %s needs %zu (float32, little-endian)",
                    call->req->body_len, v[0].text, bytes);
        return;
    }
    if (bytes > 0 && call->req->body_mut != NULL &&
        (uintptr_t)call->req->body_mut % _Alignof(float) == 0) {
        r->raw = (float *)(void *)call->req->body_mut; /* compute in the request's buffer */
    } else {
        r->raw = hbn_malloc(bytes > 0 ? bytes : 1);
        if (r->raw == NULL) {
            hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory for %zu bytes of inputs", bytes);
            return;
        }
        r->raw_owned = true;
        if (bytes > 0)
            memcpy(r->raw, call->req->body, bytes);
    }
    swap_le(r->raw, r->numel);
    args->inputs = r->raw;
    args->rank = r->rank;
    memcpy(args->shape, r->shape, sizeof args->shape);
}

static hbn_status run_forward(const hbn_layer *layer, void *arg, hbn_err *err)
{
    forward_req *r = arg;
    float *outputs = r->binary ? r->raw : r->inputs.data;
    hbn_status st;

    if (hbn_call_deferred(&r->body, err) != HBN_OK)
        return err->status;
    r->channels = hbn_layer_num_features(layer);
    st = hbn_layer_forward(layer, &r->args, outputs != NULL ? outputs : r->empty, &r->result,
                           err);
    /* A count beyond int64 is a value error: after shapes and stats_id, before batch size. */
    if (r->count_overflow && (st == HBN_OK || st == HBN_E_BATCH_TOO_SMALL))
        st = hbn_err_set(err, HBN_E_NON_FINITE,
                         "num_batches_tracked is beyond the largest 64-bit integer");
    return st;
}

/* Appends the JSON forward response (API.md) of R to SB. */
static void print_json(hbn_strbuf *sb, const forward_req *r)
{
    const hbn_forward_result *res = &r->result;
    int64_t c = r->channels;
    size_t size = hbn_tensor_json_print_size(r->rank, r->shape, r->inputs.object_form);

    if (size < SIZE_MAX / 2) /* one buffer, never grown */
        hbn_strbuf_reserve(sb, size + 256 + (size_t)(res->stats_returned ? c * 32 : 0));
    hbn_strbuf_puts(sb, "{\"outputs\":");
    hbn_tensor_json_print(sb, r->inputs.data, r->rank, r->shape, r->inputs.object_form);
    hbn_strbuf_printf(sb, ",\"mode\":\"%s\",\"stats_id\":", hbn_mode_name(res->mode));
    if (res->has_stats_id)
        hbn_strbuf_printf(sb, "%" PRId64, res->stats_id);
    else
        hbn_strbuf_puts(sb, "null");
    if (res->stats_returned) {
        hbn_strbuf_puts(sb, ",\"running_mean\":");
        hbn_vector_json_print(sb, res->running_mean, c);
        hbn_strbuf_puts(sb, ",\"running_var\":");
        hbn_vector_json_print(sb, res->running_var, c);
        hbn_strbuf_printf(sb, ",\"num_batches_tracked\":%" PRId64, res->num_batches_tracked);
    }
    if (res->stats_id_ignored_warning)
        hbn_strbuf_puts(sb, ",\"warning\":\"stats_id was ignored because running_mean and "
                            "running_var were given\"");
    hbn_strbuf_puts(sb, "}");
}

/* Answers R's outputs in the request's form. */
static hbn_status respond(hbn_call *call, forward_req *r, hbn_err *err)
{
    hbn_strbuf sb;
    hbn_status st;

    call->res->forward_elements = (uint64_t)r->numel;
    if (r->binary) {
        swap_le(r->raw, r->numel);
        if (r->raw_owned)
            hbn_response_set_body(call->res, 200, "application/octet-stream", (char *)r->raw,
                                  (size_t)r->numel * sizeof(float));
        else
            hbn_response_set_request_body(call->res, 200, "application/octet-stream", call->req,
                                          (char *)r->raw, (size_t)r->numel * sizeof(float));
        r->raw = NULL;
        return HBN_OK;
    }
    hbn_strbuf_init(&sb);
    print_json(&sb, r);
    st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

hbn_status hbn_routes_forward(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    forward_req r;
    hbn_status st;
    int i;

    memset(&r, 0, sizeof r);
    hbn_err_clear(&r.body);
    hbn_tensor_init(&r.inputs);
    for (i = 0; i < 4; i++)
        hbn_tensor_init(&r.vec[i]);
    hbn_forward_args_init(&r.args);
    hbn_forward_result_init(&r.result);
    r.binary = hbn_call_media_type_is(call->req->content_type, "application/octet-stream");
    if (r.binary)
        parse_binary(call, &r);
    else
        parse_json(call, &r);
    st = store->ops->read(store->ctx, call->name, run_forward, &r, err);
    /* the answer is made before the update commits, so an answer that cannot be made (out of
     * memory) never follows an update that was made; a failed commit replaces the answer */
    if (st == HBN_OK)
        st = respond(call, &r, err);
    if (st == HBN_OK && r.result.update.pending)
        st = store->ops->apply(store->ctx, call->name, &r.result.update, err);
    if (st != HBN_OK)
        call->res->forward_elements = 0;
    hbn_forward_result_clear(&r.result);
    hbn_tensor_clear(&r.inputs);
    for (i = 0; i < 4; i++)
        hbn_tensor_clear(&r.vec[i]);
    if (r.raw_owned)
        hbn_free(r.raw);
    return st;
}
