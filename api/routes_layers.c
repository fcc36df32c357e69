/* routes_layers.c: POST/GET /v1/layers, GET/DELETE /v1/layers/{name}, PUT .../mode and
 * GET/PUT .../weights. Bodies are parsed before the store call, but their errors are reported
 * only after the path's (layer, conflicts), as API.md orders them; mutations run through the
 * store's modify, so a failing request changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "api/json_fields.h"
#include "api/layer_json.h"
#include "api/name.h"
#include "api/routes.h"
#include "core/alloc.h"

/* ---- POST /v1/layers --------------------------------------------------------------------- */

enum { C_NAME, C_NUM, C_MOMENTUM, C_EPS, C_AFFINE, C_TRACK, C_FROZEN, C_LEARNABLE, C_MODE, C_N };

static const char *const create_fields[C_N] = {
    "name", "num_features", "momentum", "eps", "affine", "track_running_stats", "frozen_stats",
    "learnable_stats", "mode",
};

typedef struct create_args {
    char name[HBN_NAME_MAX + 2];
    bool name_fits;
    hbn_config cfg;
    bool has_mode;
    hbn_mode mode;
} create_args;

/* Reads the creation options' types (structure) into A. */
static hbn_status read_create_options(const hbn_json_field *f, create_args *a, hbn_err *err)
{
    bool *flags[4] = {&a->cfg.affine, &a->cfg.track_running_stats, &a->cfg.frozen_stats,
                      &a->cfg.learnable_stats};
    bool overflow;
    hbn_status st;
    int i;

    if (f[C_NAME].value == NULL || f[C_NUM].value == NULL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "field %s is required",
                           f[C_NAME].value == NULL ? "name" : "num_features");
    st = hbn_json_fields_string(&f[C_NAME], "name", a->name, sizeof a->name, &a->name_fits, err);
    if (st == HBN_OK)
        st = hbn_json_fields_int(&f[C_NUM], "num_features", &a->cfg.num_features, &overflow,
                                 err);
    if (st == HBN_OK && f[C_MOMENTUM].value != NULL) {
        a->cfg.has_momentum = !hbn_json_fields_is_null(&f[C_MOMENTUM]);
        if (a->cfg.has_momentum)
            st = hbn_json_fields_number(&f[C_MOMENTUM], "momentum", &a->cfg.momentum, err);
    }
    if (st == HBN_OK && f[C_EPS].value != NULL)
        st = hbn_json_fields_number(&f[C_EPS], "eps", &a->cfg.eps, err);
    for (i = 0; i < 4 && st == HBN_OK; i++)
        if (f[C_AFFINE + i].value != NULL)
            st = hbn_json_fields_bool(&f[C_AFFINE + i], create_fields[C_AFFINE + i], flags[i],
                                      err);
    a->has_mode = f[C_MODE].value != NULL;
    if (st == HBN_OK && a->has_mode)
        st = hbn_json_fields_mode(&f[C_MODE], "mode", &a->mode, err);
    return st;
}

/* Parses a creation body into A: structure, then the name's pattern. Options' values are
 * checked by hbn_layer_create (invalid_config). */
static hbn_status parse_create(const hbn_call *call, create_args *a, hbn_err *err)
{
    hbn_json_field f[C_N];
    hbn_status st;

    hbn_config_init(&a->cfg, 0);
    st = hbn_call_require_json(call, err);
    if (st == HBN_OK)
        st = hbn_json_fields_scan((const char *)call->req->body, call->req->body_len,
                                  create_fields, C_N, f, err);
    if (st == HBN_OK)
        st = read_create_options(f, a, err);
    if (st != HBN_OK)
        return st;
    if (!a->name_fits)
        return hbn_err_set(err, HBN_E_INVALID_NAME,
                           "layer name is invalid: it is longer than 128 characters or contains "
                           "a NUL character");
    return hbn_name_check(a->name, strlen(a->name), err);
}

hbn_status hbn_routes_layers_create(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    create_args a;
    hbn_layer *layer = NULL;
    hbn_strbuf sb;
    hbn_status st;

    hbn_strbuf_init(&sb);
    st = parse_create(call, &a, err);
    if (st == HBN_OK)
        st = hbn_layer_create(a.name, &a.cfg, &layer, err);
    if (st != HBN_OK)
        goto out;
    if (a.has_mode)
        hbn_layer_set_mode(layer, a.mode);
    hbn_layer_json_print(&sb, layer);
    st = hbn_call_printed(&sb, err);
    if (st != HBN_OK)
        goto out;
    st = store->ops->create(store->ctx, layer, err);
    if (st != HBN_OK)
        goto out;
    layer = NULL; /* the store took it */
    st = hbn_call_respond(call, 201, &sb, err);
    if (st == HBN_OK)
        hbn_response_add_header(call->res, "Location", "/v1/layers/%s", a.name);
out:
    hbn_layer_free(layer);
    hbn_strbuf_clear(&sb);
    return st;
}

/* ---- GET /v1/layers, GET/DELETE /v1/layers/{name} ---------------------------------------- */

typedef struct list_state {
    hbn_strbuf *sb;
    int64_t count;
} list_state;

static hbn_status list_one(const hbn_layer *layer, void *arg, hbn_err *err)
{
    list_state *ls = arg;

    if (ls->count++ > 0)
        hbn_strbuf_puts(ls->sb, ",");
    hbn_layer_json_print(ls->sb, layer);
    if (ls->sb->failed)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while listing layers");
    return HBN_OK;
}

hbn_status hbn_routes_layers_list(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_strbuf sb;
    list_state ls = {&sb, 0};
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"layers\":[");
    st = store->ops->list(store->ctx, list_one, &ls, err);
    hbn_strbuf_puts(&sb, "]}");
    if (st == HBN_OK)
        st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

static hbn_status print_layer(const hbn_layer *layer, hbn_strbuf *sb, void *arg, hbn_err *err)
{
    (void)arg;
    (void)err;
    hbn_layer_json_print(sb, layer);
    return HBN_OK;
}

hbn_status hbn_routes_layer_get(hbn_call *call, hbn_err *err)
{
    return hbn_call_answer_layer(call, print_layer, NULL, err);
}

hbn_status hbn_routes_layer_delete(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_status st = store->ops->remove(store->ctx, call->name, err);

    if (st == HBN_OK)
        hbn_response_set_body(call->res, 204, NULL, NULL, 0);
    return st;
}

/* ---- PUT /v1/layers/{name}/mode ---------------------------------------------------------- */

typedef struct mode_args {
    hbn_err body;   /* the body's error, reported after the path's */
    hbn_mode mode;
    hbn_strbuf *sb; /* receives the updated layer object */
} mode_args;

static hbn_status set_mode(hbn_layer *layer, void *arg, hbn_err *err)
{
    mode_args *a = arg;

    if (hbn_call_deferred(&a->body, err) != HBN_OK)
        return err->status;
    hbn_layer_set_mode(layer, a->mode);
    hbn_layer_json_print(a->sb, layer);
    return hbn_call_printed(a->sb, err);
}

hbn_status hbn_routes_mode_put(hbn_call *call, hbn_err *err)
{
    static const char *const fields[] = {"mode"};
    const hbn_store *store = &call->api->store;
    hbn_json_field f[1];
    hbn_strbuf sb;
    mode_args a = {.sb = &sb};
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_err_clear(&a.body);
    st = hbn_call_require_json(call, &a.body);
    if (st == HBN_OK)
        st = hbn_json_fields_scan((const char *)call->req->body, call->req->body_len, fields, 1,
                                  f, &a.body);
    if (st == HBN_OK && f[0].value == NULL)
        hbn_err_set(&a.body, HBN_E_INVALID_ARGUMENT, "field mode is required");
    else if (st == HBN_OK)
        hbn_json_fields_mode(&f[0], "mode", &a.mode, &a.body);
    st = store->ops->modify(store->ctx, call->name, set_mode, &a, err);
    if (st == HBN_OK)
        st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

/* ---- GET/PUT /v1/layers/{name}/weights --------------------------------------------------- */

/* Appends {"weight": [...], "bias": [...]} of LAYER to SB (an hbn_call_print_fn; ARG unused).
 * HBN_E_NOT_AFFINE, HBN_E_NO_MEMORY. */
static hbn_status print_weights(const hbn_layer *layer, hbn_strbuf *sb, void *arg, hbn_err *err)
{
    int64_t c = hbn_layer_num_features(layer);
    float *w = hbn_malloc((size_t)c * 2 * sizeof *w);
    hbn_status st;

    (void)arg;
    if (w == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while reading weights");
    st = hbn_layer_get_weights(layer, w, w + c, err);
    if (st == HBN_OK) {
        hbn_strbuf_puts(sb, "{\"weight\":");
        hbn_vector_json_print(sb, w, c);
        hbn_strbuf_puts(sb, ",\"bias\":");
        hbn_vector_json_print(sb, w + c, c);
        hbn_strbuf_puts(sb, "}");
        st = hbn_call_printed(sb, err);
    }
    hbn_free(w);
    return st;
}

hbn_status hbn_routes_weights_get(hbn_call *call, hbn_err *err)
{
    return hbn_call_answer_layer(call, print_weights, NULL, err);
}

typedef struct weights_args {
    hbn_err body;
    hbn_tensor weight;
    hbn_tensor bias;
    hbn_strbuf *sb;
} weights_args;

static hbn_status set_weights(hbn_layer *layer, void *arg, hbn_err *err)
{
    weights_args *a = arg;
    hbn_status st;

    if (!hbn_layer_config(layer)->affine)
        return hbn_err_set(err, HBN_E_NOT_AFFINE,
                           "layer %s is not affine: it has no weight or bias to write",
                           hbn_layer_name(layer));
    if (hbn_call_deferred(&a->body, err) != HBN_OK)
        return err->status;
    st = hbn_layer_set_weights(layer, hbn_call_floats(&a->weight), a->weight.numel,
                               hbn_call_floats(&a->bias), a->bias.numel, err);
    if (st == HBN_OK)
        st = print_weights(layer, a->sb, NULL, err);
    return st;
}

hbn_status hbn_routes_weights_put(hbn_call *call, hbn_err *err)
{
    static const char *const fields[] = {"weight", "bias"};
    const hbn_store *store = &call->api->store;
    hbn_json_field f[2];
    hbn_json_fields_errors e;
    hbn_strbuf sb;
    weights_args a = {.sb = &sb};
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_tensor_init(&a.weight);
    hbn_tensor_init(&a.bias);
    hbn_err_clear(&a.body);
    st = hbn_call_require_json(call, &a.body);
    if (st == HBN_OK)
        st = hbn_json_fields_scan((const char *)call->req->body, call->req->body_len, fields, 2,
                                  f, &a.body);
    if (st == HBN_OK) {
        hbn_json_fields_errors_init(&e);
        hbn_json_fields_vector(&f[0], "weight", true, &a.weight, &e);
        hbn_json_fields_vector(&f[1], "bias", true, &a.bias, &e);
        hbn_json_fields_first(&e, &a.body);
    }
    st = store->ops->modify(store->ctx, call->name, set_weights, &a, err);
    if (st == HBN_OK)
        st = hbn_call_respond(call, 200, &sb, err);
    hbn_tensor_clear(&a.weight);
    hbn_tensor_clear(&a.bias);
    hbn_strbuf_clear(&sb);
    return st;
}
