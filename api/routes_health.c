/* routes_health.c: GET /v2/health/live, GET /v2/health/ready and GET /metrics. Readiness and the
 * metrics text belong to the server (callbacks in hbn_api); this file only shapes the answers.
 * Not ready is a 503 that still reads as JSON: {"ready": false, "error", "code"}; the server may
 * add members to either body (the data directory's quarantined files). */
#include "api/routes.h"

hbn_status hbn_routes_health_live(hbn_call *call, hbn_err *err)
{
    hbn_strbuf sb;
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"live\":true}");
    st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

hbn_status hbn_routes_health_ready(hbn_call *call, hbn_err *err)
{
    const hbn_api *api = call->api;
    const char *reason = api->not_ready_reason != NULL ? api->not_ready_reason(api->ready_ctx)
                                                       : NULL;
    hbn_strbuf sb;
    hbn_status st;

    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, reason == NULL ? "{\"ready\":true" : "{\"ready\":false");
    if (api->ready_detail != NULL)
        api->ready_detail(api->ready_detail_ctx, &sb);
    if (reason == NULL) {
        hbn_strbuf_puts(&sb, "}");
        st = hbn_call_respond(call, 200, &sb, err);
    } else {
        hbn_strbuf_puts(&sb, ",\"error\":");
        hbn_strbuf_json_string(&sb, reason);
        hbn_strbuf_printf(&sb, ",\"code\":\"%s\"}", hbn_status_code(HBN_E_UNAVAILABLE));
        st = hbn_call_respond(call, hbn_http_status(HBN_E_UNAVAILABLE), &sb, err);
        if (st == HBN_OK) {
            call->res->error_code = hbn_status_code(HBN_E_UNAVAILABLE);
            hbn_response_add_header(call->res, "Retry-After", "1");
        }
    }
    hbn_strbuf_clear(&sb);
    return st;
}

hbn_status hbn_routes_metrics(hbn_call *call, hbn_err *err)
{
    const hbn_api *api = call->api;
    hbn_strbuf sb;
    size_t len;
    char *body;

    if (api->render_metrics == NULL)
        return hbn_err_set(err, HBN_E_NOT_FOUND, "metrics are not enabled on this server");
    hbn_strbuf_init(&sb);
    api->render_metrics(api->metrics_ctx, &sb);
    body = hbn_strbuf_take(&sb, &len);
    hbn_strbuf_clear(&sb);
    if (body == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while writing metrics");
    hbn_response_set_body(call->res, 200, "text/plain; version=0.0.4", body, len);
    return HBN_OK;
}
