/* routes_stats.c: POST /v1/layers/{name}/checkpoints, GET .../stats, GET/PUT .../stats/{id}.
 * A slot is printed as {"stats_id", "running_mean", "running_var", "num_batches_tracked"}.
 * Path checks (slot, frozen statistics, tracking) come before the body's errors; writes run
 * through the store's modify, so a failing request changes nothing. */
#include <inttypes.h>
#include <stdlib.h>

#include "api/json_fields.h"
#include "api/routes.h"
#include "core/alloc.h"

/* Appends slot ID (latest when ID < 0) of LAYER to SB. HBN_E_STATS_NOT_FOUND, HBN_E_NO_MEMORY. */
static hbn_status print_slot(hbn_strbuf *sb, const hbn_layer *layer, int64_t id, hbn_err *err)
{
    int64_t c = hbn_layer_num_features(layer);
    float *mv = hbn_malloc((size_t)c * 2 * sizeof *mv);
    int64_t count, used;
    hbn_status st;

    if (mv == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while reading statistics");
    st = hbn_layer_get_stats(layer, id, mv, mv + c, &count, &used, err);
    if (st == HBN_OK) {
        hbn_strbuf_printf(sb, "{\"stats_id\":%" PRId64 ",\"running_mean\":", used);
        hbn_vector_json_print(sb, mv, c);
        hbn_strbuf_puts(sb, ",\"running_var\":");
        hbn_vector_json_print(sb, mv + c, c);
        hbn_strbuf_printf(sb, ",\"num_batches_tracked\":%" PRId64 "}", count);
        st = hbn_call_printed(sb, err);
    }
    hbn_free(mv);
    return st;
}

/* HBN_E_STATS_NOT_FOUND unless LAYER has slot ID. */
static hbn_status check_slot(const hbn_layer *layer, int64_t id, hbn_err *err)
{
    int64_t t = hbn_layer_num_stats(layer);

    if (t == 0)
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND, "layer %s has no statistics slots",
                           hbn_layer_name(layer));
    if (id == INT64_MAX)
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND,
                           "layer %s has no statistics slot that large; its slots are 0 to %"
                           PRId64, hbn_layer_name(layer), t - 1);
    if (id >= t)
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND,
                           "layer %s has no statistics slot %" PRId64 "; its slots are 0 to %"
                           PRId64, hbn_layer_name(layer), id, t - 1);
    return HBN_OK;
}

/* ---- POST /v1/layers/{name}/checkpoints -------------------------------------------------- */

typedef struct checkpoint_args {
    hbn_err body;
    int64_t max_slots;
    int64_t new_id;
    hbn_strbuf *sb; /* the answer, printed before the store commits the new slot */
} checkpoint_args;

static hbn_status checkpoint(hbn_layer *layer, void *arg, hbn_err *err)
{
    checkpoint_args *a = arg;
    int64_t t = hbn_layer_num_stats(layer);

    if (!hbn_layer_config(layer)->track_running_stats)
        return hbn_err_set(err, HBN_E_NOT_TRACKING,
                           "layer %s does not track running statistics, so it has no "
                           "checkpoints", hbn_layer_name(layer));
    if (hbn_call_deferred(&a->body, err) != HBN_OK)
        return err->status;
    if (a->max_slots > 0 && t >= a->max_slots)
        return hbn_err_set(err, HBN_E_QUOTA_EXCEEDED,
                           "layer %s already has %" PRId64 " statistics slots, the limit is %"
                           PRId64, hbn_layer_name(layer), t, a->max_slots);
    if (hbn_layer_checkpoint(layer, &a->new_id, err) != HBN_OK)
        return err->status;
    hbn_strbuf_printf(a->sb, "{\"stats_id\":%" PRId64 ",\"num_stats\":%" PRId64 "}", a->new_id,
                      a->new_id + 1);
    return hbn_call_printed(a->sb, err);
}

hbn_status hbn_routes_checkpoint(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_strbuf sb;
    checkpoint_args a = {.max_slots = store->max_slots, .new_id = -1, .sb = &sb};
    hbn_json_field none;
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_err_clear(&a.body);
    if (!hbn_call_body_empty(call) && hbn_call_require_json(call, &a.body) == HBN_OK)
        hbn_json_fields_scan((const char *)call->req->body, call->req->body_len, NULL, 0, &none,
                             &a.body);
    st = store->ops->modify(store->ctx, call->name, checkpoint, &a, err);
    if (st == HBN_OK)
        st = hbn_call_respond(call, 201, &sb, err);
    if (st == HBN_OK)
        hbn_response_add_header(call->res, "Location", "/v1/layers/%s/stats/%" PRId64,
                                call->name, a.new_id);
    hbn_strbuf_clear(&sb);
    return st;
}

/* ---- GET /v1/layers/{name}/stats[/{id}] -------------------------------------------------- */

/* Prints slot *ARG (an int64_t; -1: the latest) of LAYER into SB (an hbn_call_print_fn). */
static hbn_status read_slot(const hbn_layer *layer, hbn_strbuf *sb, void *arg, hbn_err *err)
{
    int64_t id = *(const int64_t *)arg;
    hbn_status st = check_slot(layer, id, err);

    return st == HBN_OK ? print_slot(sb, layer, id, err) : st;
}

/* Answers slot ID (-1: latest) of the call's layer. */
static hbn_status get_slot(hbn_call *call, int64_t id, hbn_err *err)
{
    return hbn_call_answer_layer(call, read_slot, &id, err);
}

hbn_status hbn_routes_stats_latest(hbn_call *call, hbn_err *err)
{
    return get_slot(call, -1, err);
}

hbn_status hbn_routes_stats_get(hbn_call *call, hbn_err *err)
{
    return get_slot(call, call->slot, err);
}

/* ---- PUT /v1/layers/{name}/stats/{id} ---------------------------------------------------- */

typedef struct stats_args {
    hbn_err body;
    int64_t id;
    hbn_tensor mean;
    hbn_tensor var;
    bool has_count;
    bool count_overflow; /* a count beyond int64: non_finite, after core's shape checks */
    int64_t count;
    hbn_strbuf *sb;
} stats_args;

static hbn_status set_slot(hbn_layer *layer, void *arg, hbn_err *err)
{
    stats_args *a = arg;
    bool use_count = a->has_count && !a->count_overflow;
    hbn_status st = check_slot(layer, a->id, err);

    if (st != HBN_OK)
        return st;
    if (hbn_layer_config(layer)->frozen_stats)
        return hbn_err_set(err, HBN_E_FROZEN_STATS,
                           "layer %s has frozen statistics (mean 0, variance 1); they cannot be "
                           "written", hbn_layer_name(layer));
    if (hbn_call_deferred(&a->body, err) != HBN_OK)
        return err->status;
    st = hbn_layer_set_stats(layer, a->id, hbn_call_floats(&a->mean), a->mean.numel,
                             hbn_call_floats(&a->var), a->var.numel,
                             use_count ? &a->count : NULL, err);
    if (st == HBN_OK && a->count_overflow)
        st = hbn_err_set(err, HBN_E_NON_FINITE,
                         "num_batches_tracked is beyond the largest 64-bit integer");
    if (st == HBN_OK)
        st = print_slot(a->sb, layer, a->id, err);
    return st;
}

/* Parses a PUT stats body into A->mean, A->var and the count, into A->body on failure. */
static void parse_stats(const hbn_call *call, stats_args *a)
{
    static const char *const fields[] = {"running_mean", "running_var", "num_batches_tracked"};
    hbn_json_field f[3];
    hbn_json_fields_errors e;
    hbn_err err;

    if (hbn_call_require_json(call, &a->body) != HBN_OK ||
        hbn_json_fields_scan((const char *)call->req->body, call->req->body_len, fields, 3, f,
                             &a->body) != HBN_OK)
        return;
    hbn_json_fields_errors_init(&e);
    a->has_count = f[2].value != NULL;
    if (a->has_count &&
        hbn_json_fields_int(&f[2], "num_batches_tracked", &a->count, &a->count_overflow, &err) !=
            HBN_OK)
        hbn_json_fields_note(&e, err.status, &err);
    if (a->has_count && a->count < 0 && e.structure.status == HBN_OK) {
        hbn_err_set(&err, HBN_E_INVALID_ARGUMENT, "num_batches_tracked must be >= 0, got %" PRId64,
                    a->count);
        hbn_json_fields_note(&e, err.status, &err);
    }
    hbn_json_fields_vector(&f[0], "running_mean", true, &a->mean, &e);
    hbn_json_fields_vector(&f[1], "running_var", true, &a->var, &e);
    hbn_json_fields_first(&e, &a->body);
}

hbn_status hbn_routes_stats_put(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_strbuf sb;
    stats_args a = {.id = call->slot, .sb = &sb};
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_tensor_init(&a.mean);
    hbn_tensor_init(&a.var);
    hbn_err_clear(&a.body);
    parse_stats(call, &a);
    st = store->ops->modify(store->ctx, call->name, set_slot, &a, err);
    if (st == HBN_OK)
        st = hbn_call_respond(call, 200, &sb, err);
    hbn_tensor_clear(&a.mean);
    hbn_tensor_clear(&a.var);
    hbn_strbuf_clear(&sb);
    return st;
}
