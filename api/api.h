/* api.h: the transport-free front door. hbn_api_route tells the server, from the method and raw
 * path alone, what it needs before reading a body (route template, whether a body is taken,
 * whether authentication applies); hbn_api_handle turns one complete request into one response.
 * Never prints, never exits, never blocks on I/O of its own. */
#ifndef HBN_API_H
#define HBN_API_H

#include <stdbool.h>

#include "api/message.h"
#include "api/store.h"
#include "api/strbuf.h"

typedef struct hbn_api {
    hbn_store store;         /* BORROWED */
    const char *version;     /* server version for GET /v2, static */
    /* Readiness as the server knows it (starting, draining, storage failure): NULL means ready.
     * Otherwise a static reason shown in GET /v2/health/ready's 503 body. */
    const char *(*not_ready_reason)(void *ctx);
    void *ready_ctx;
    /* Appends extra members to GET /v2/health/ready's JSON object, each preceded by a comma
     * (the data directory's quarantined files). NULL: none. */
    void (*ready_detail)(void *ctx, hbn_strbuf *sb);
    void *ready_detail_ctx;
    /* Appends the Prometheus text exposition for GET /metrics to SB (the server owns the
     * figures). NULL: /metrics answers 404. */
    void (*render_metrics)(void *ctx, hbn_strbuf *sb);
    void *metrics_ctx;
} hbn_api;

typedef struct hbn_route_info {
    const char *route;     /* route template, static ("/v1/layers/{name}/forward"; "unknown") */
    bool known_path;       /* some route matches the path (else 404 not_found) */
    bool method_allowed;   /* the method is allowed on that path (else 405) */
    bool takes_body;       /* the route reads a request body (Content-Length required) */
    bool length_optional;  /* a body is optional and needs no Content-Length (checkpoints) */
    bool needs_auth;       /* false only for /v2/health/... */
} hbn_route_info;

/* Classifies METHOD + raw PATH (no query) into *INFO without reading anything else. */
void hbn_api_route(const char *method, const char *path, hbn_route_info *info);

/* Handles one complete REQ into RES (initialised by the caller). Every outcome, including every
 * error, is a response: status, body {"error", "code"} for errors, headers. */
void hbn_api_handle(const hbn_api *api, const hbn_request *req, hbn_response *res);

/* Fills RES with the error body of STATUS and MESSAGE ({"error": MESSAGE, "code": ...}) and the
 * status's HTTP code; used by the server for errors decided before the body (401, 411, 413, 503). */
void hbn_api_error(hbn_response *res, hbn_status status, const char *message);

/* The HTTP status code of STATUS: the single status -> HTTP mapping. */
int hbn_http_status(hbn_status status);

#endif
