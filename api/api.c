/* api.c: the front door: classifies a request with the router, validates the path's parameters
 * ({name}, {id}), dispatches to the endpoint's handler and turns every failing status into the
 * error response {"error", "code"}. Order of the path's checks (API.md): route, name, slot id
 * syntax; the layer, its slots and conflicts are the handlers' (under the store's lock). */
#include "api/api.h"

#include <string.h>

#include "api/name.h"
#include "api/query.h"
#include "api/router.h"
#include "api/routes.h"

static const hbn_call_fn handlers[HBN_EP_COUNT] = {
    [HBN_EP_LAYERS_LIST] = hbn_routes_layers_list,
    [HBN_EP_LAYERS_CREATE] = hbn_routes_layers_create,
    [HBN_EP_LAYER_GET] = hbn_routes_layer_get,
    [HBN_EP_LAYER_DELETE] = hbn_routes_layer_delete,
    [HBN_EP_MODE_PUT] = hbn_routes_mode_put,
    [HBN_EP_WEIGHTS_GET] = hbn_routes_weights_get,
    [HBN_EP_WEIGHTS_PUT] = hbn_routes_weights_put,
    [HBN_EP_CHECKPOINT] = hbn_routes_checkpoint,
    [HBN_EP_STATS_LATEST] = hbn_routes_stats_latest,
    [HBN_EP_STATS_GET] = hbn_routes_stats_get,
    [HBN_EP_STATS_PUT] = hbn_routes_stats_put,
    [HBN_EP_FORWARD] = hbn_routes_forward,
    [HBN_EP_STATE_GET] = hbn_routes_state_get,
    [HBN_EP_STATE_PUT] = hbn_routes_state_put,
    [HBN_EP_HEALTH_LIVE] = hbn_routes_health_live,
    [HBN_EP_HEALTH_READY] = hbn_routes_health_ready,
    [HBN_EP_METRICS] = hbn_routes_metrics,
    [HBN_EP_OIP_SERVER] = hbn_routes_oip_server,
    [HBN_EP_OIP_MODEL] = hbn_routes_oip_model,
    [HBN_EP_OIP_READY] = hbn_routes_oip_ready,
    [HBN_EP_OIP_INFER] = hbn_routes_oip_infer,
};

void hbn_api_route(const char *method, const char *path, hbn_route_info *info)
{
    hbn_route_match m;
    unsigned flags;

    hbn_router_match(method, path, &m);
    flags = m.route != NULL ? m.route->flags : m.path_flags;
    info->route = m.template;
    info->known_path = m.known_path;
    info->method_allowed = m.route != NULL;
    info->takes_body = (flags & HBN_ROUTE_BODY) != 0;
    info->length_optional = (flags & HBN_ROUTE_BODY_OPTIONAL) != 0;
    info->needs_auth = (flags & HBN_ROUTE_PUBLIC) == 0;
}

void hbn_api_error(hbn_response *res, hbn_status status, const char *message)
{
    hbn_strbuf sb;
    size_t len;
    char *body;
    int http = hbn_http_status(status);

    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"error\":");
    hbn_strbuf_json_string(&sb, message != NULL && message[0] != '\0' ? message
                                                                      : hbn_status_code(status));
    hbn_strbuf_printf(&sb, ",\"code\":\"%s\"}", hbn_status_code(status));
    body = hbn_strbuf_take(&sb, &len);
    hbn_strbuf_clear(&sb);
    hbn_response_set_body(res, http, body != NULL ? "application/json" : NULL, body,
                          body != NULL ? len : 0);
    res->error_code = hbn_status_code(status);
    if (http == 503)
        hbn_response_add_header(res, "Retry-After", "1");
}

/* Validates the path's parameters of M against its template into CALL: "{name}" must be a
 * layer name, "{id}" a non-negative decimal integer (saturated when huge: no such slot). */
static hbn_status bind_params(const hbn_route_match *m, hbn_call *call, hbn_err *err)
{
    const char *t = m->template;
    int i = 0;

    while ((t = strchr(t, '{')) != NULL && i < m->param_count) {
        const hbn_route_param *p = &m->params[i++];
        hbn_status st;

        if (strncmp(t, "{name}", 6) == 0) {
            st = hbn_name_check(p->start, p->len, err);
            if (st != HBN_OK)
                return st;
            memcpy(call->name, p->start, p->len);
            call->name[p->len] = '\0';
        } else if (strncmp(t, "{id}", 4) == 0) {
            char shown[48];

            if (p->len == 0 || p->start[0] == '-' ||
                !hbn_query_parse_int(p->start, p->len, &call->slot, NULL)) {
                hbn_name_excerpt(p->start, p->len, shown, sizeof shown);
                return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                                   "statistics slot id must be a non-negative integer, got '%s'",
                                   shown);
            }
        }
        t++;
    }
    return HBN_OK;
}

/* The response to a path no route knows, or a method its routes do not allow. */
static hbn_status route_error(const hbn_request *req, const hbn_route_match *m, hbn_err *err)
{
    char shown[80];

    if (!m->known_path) {
        hbn_name_excerpt(req->path, req->path != NULL ? strlen(req->path) : 0, shown,
                         sizeof shown);
        return hbn_err_set(err, HBN_E_NOT_FOUND, "no route for path '%s'", shown);
    }
    hbn_name_excerpt(req->method, req->method != NULL ? strlen(req->method) : 0, shown,
                     sizeof shown);
    return hbn_err_set(err, HBN_E_METHOD_NOT_ALLOWED, "method %s is not allowed on %s; allowed: %s",
                       shown, m->template, m->allow);
}

void hbn_api_handle(const hbn_api *api, const hbn_request *req, hbn_response *res)
{
    hbn_route_match m;
    hbn_call call;
    hbn_err err;
    hbn_status st;
    int headers = res->header_count;

    hbn_err_clear(&err);
    hbn_router_match(req->method, req->path, &m);
    memset(&call, 0, sizeof call);
    call.api = api;
    call.req = req;
    call.res = res;
    call.slot = -1;
    if (m.route == NULL)
        st = route_error(req, &m, &err);
    else
        st = bind_params(&m, &call, &err);
    if (st == HBN_OK && m.route != NULL)
        st = handlers[m.route->endpoint](&call, &err);
    res->route = m.template;
    if (st == HBN_OK)
        return;
    res->header_count = headers;
    res->forward_elements = 0;
    hbn_api_error(res, st, err.msg);
    if (st == HBN_E_METHOD_NOT_ALLOWED)
        hbn_response_add_header(res, "Allow", "%s", m.allow);
}
