/* routes_state.c: GET and PUT /v1/layers/{name}/state: a layer's whole state as the safetensors
 * file of SEMANTICS 7 (api/state.h does the bytes). PUT creates (201) or replaces (200) the layer
 * named by the path from hyperbn's own files, seed BatchNormLayer or torch.nn.BatchNorm*
 * state_dicts; the query gives the options a file does not carry. Checked in order: media type
 * (415), the query's structure (400), the query's values against the configuration rules (422
 * invalid_config), the file (422 invalid_state), the slot quota (429), then the store. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/layer_json.h"
#include "api/name.h"
#include "api/query.h"
#include "api/routes.h"
#include "api/state.h"

/* ---- GET /v1/layers/{name}/state --------------------------------------------------------- */

typedef struct state_bytes {
    char *data; /* NEW */
    size_t len;
} state_bytes;

static hbn_status encode_state(const hbn_layer *layer, void *arg, hbn_err *err)
{
    state_bytes *b = arg;

    return hbn_state_encode(layer, &b->data, &b->len, err);
}

hbn_status hbn_routes_state_get(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    state_bytes b = {NULL, 0};
    hbn_status st = store->ops->read(store->ctx, call->name, encode_state, &b, err);

    if (st != HBN_OK)
        return st;
    hbn_response_set_body(call->res, 200, "application/octet-stream", b.data, b.len);
    return HBN_OK;
}

/* ---- PUT /v1/layers/{name}/state: the query ---------------------------------------------- */

enum { Q_MOMENTUM, Q_EPS, Q_MODE, Q_FROZEN, Q_LEARNABLE, Q_N };

static const char *const state_query[Q_N] = {"momentum", "eps", "mode", "frozen_stats",
                                             "learnable_stats"};

/* Reads V (named NAME) as a finite decimal number: digits, sign, point and exponent only. */
static hbn_status query_number(const hbn_query_value *v, const char *name, double *out,
                               hbn_err *err)
{
    const char *s = v->text;
    char *end = NULL, shown[48];

    if (s[0] != '\0' && strspn(s, "0123456789+-.eE") == strlen(s)) {
        *out = strtod(s, &end);
        if (*end == '\0' && isfinite(*out))
            return HBN_OK;
    }
    hbn_name_excerpt(s, strlen(s), shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                       "query parameter %s must be a finite decimal number, got '%s'", name,
                       shown);
}

/* Reads V (named NAME) as true or false. */
static hbn_status query_bool(const hbn_query_value *v, const char *name, bool *out, hbn_err *err)
{
    char shown[48];

    if (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0) {
        *out = v->text[0] == 't';
        return HBN_OK;
    }
    hbn_name_excerpt(v->text, strlen(v->text), shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                       "query parameter %s must be true or false, got '%s'", name, shown);
}

/* Checks the options O gives against SEMANTICS 1 (frozen with learnable, momentum range, eps),
 * on a configuration built from them alone: HBN_E_INVALID_CONFIG names the option. */
static hbn_status check_options(const hbn_state_options *o, hbn_err *err)
{
    hbn_config cfg;

    hbn_config_init(&cfg, 1);
    if (o->has_momentum) {
        cfg.has_momentum = !o->momentum_null;
        cfg.momentum = o->momentum_null ? 0.0 : o->momentum;
    }
    if (o->has_eps)
        cfg.eps = o->eps;
    cfg.frozen_stats = o->has_frozen_stats && o->frozen_stats;
    cfg.learnable_stats = o->has_learnable_stats && o->learnable_stats;
    cfg.track_running_stats = !cfg.frozen_stats && !cfg.learnable_stats;
    return hbn_config_validate(&cfg, err);
}

/* Parses the query of CALL into O: structure first (400), then the values' rules (422). */
static hbn_status parse_state_query(const hbn_call *call, hbn_state_options *o, hbn_err *err)
{
    hbn_query_value v[Q_N];
    hbn_status st;

    hbn_state_options_init(o);
    st = hbn_query_parse(call->req->query, state_query, Q_N, v, err);
    if (st == HBN_OK && v[Q_MOMENTUM].present) {
        o->has_momentum = true;
        o->momentum_null = strcmp(v[Q_MOMENTUM].text, "null") == 0;
        if (!o->momentum_null)
            st = query_number(&v[Q_MOMENTUM], "momentum", &o->momentum, err);
    }
    if (st == HBN_OK && (o->has_eps = v[Q_EPS].present))
        st = query_number(&v[Q_EPS], "eps", &o->eps, err);
    if (st == HBN_OK && (o->has_mode = v[Q_MODE].present))
        st = hbn_query_mode(&v[Q_MODE], "query parameter mode", &o->mode, err);
    if (st == HBN_OK && (o->has_frozen_stats = v[Q_FROZEN].present))
        st = query_bool(&v[Q_FROZEN], "frozen_stats", &o->frozen_stats, err);
    if (st == HBN_OK && (o->has_learnable_stats = v[Q_LEARNABLE].present))
        st = query_bool(&v[Q_LEARNABLE], "learnable_stats", &o->learnable_stats, err);
    return st == HBN_OK ? check_options(o, err) : st;
}

/* ---- PUT /v1/layers/{name}/state --------------------------------------------------------- */

/* Decodes the body into *LAYER (NEW) under the slot quota of the store. */
static hbn_status decode_body(const hbn_call *call, const hbn_state_options *o,
                              hbn_layer **layer, hbn_err *err)
{
    static const uint8_t empty[1] = {0};
    const hbn_request *req = call->req;
    int64_t max = call->api->store.max_slots, t;
    hbn_status st = hbn_state_decode(req->body != NULL ? req->body : empty,
                                     req->body != NULL ? req->body_len : 0, call->name, o, layer,
                                     err);

    if (st != HBN_OK)
        return st;
    t = hbn_layer_num_stats(*layer);
    if (max > 0 && t > max) {
        hbn_layer_free(*layer);
        *layer = NULL;
        return hbn_err_set(err, HBN_E_QUOTA_EXCEEDED,
                           "the state file holds %" PRId64 " statistics slots, the limit is %"
                           PRId64, t, max);
    }
    return HBN_OK;
}

hbn_status hbn_routes_state_put(hbn_call *call, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_state_options o;
    hbn_layer *layer = NULL;
    hbn_strbuf sb;
    int replaced = 0;
    hbn_status st;

    hbn_strbuf_init(&sb);
    st = hbn_call_require_media(call, "application/octet-stream", " (a safetensors file)", err);
    if (st == HBN_OK)
        st = parse_state_query(call, &o, err);
    if (st == HBN_OK)
        st = decode_body(call, &o, &layer, err);
    if (st != HBN_OK)
        goto out;
    hbn_layer_json_print(&sb, layer);
    st = hbn_call_printed(&sb, err);
    if (st != HBN_OK)
        goto out;
    st = store->ops->put(store->ctx, layer, &replaced, err);
    if (st != HBN_OK)
        goto out;
    layer = NULL; /* the store took it */
    st = hbn_call_respond(call, replaced ? 200 : 201, &sb, err);
    if (st == HBN_OK && !replaced)
        hbn_response_add_header(call->res, "Location", "/v1/layers/%s", call->name);
out:
    hbn_layer_free(layer);
    hbn_strbuf_clear(&sb);
    return st;
}
