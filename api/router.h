/* router.h: the route table and its matcher. A path is matched RAW: split on '/', nothing
 * percent-decoded, so "%2F" stays inside one segment; a template segment "{param}" captures one
 * raw segment, anything else must match literally. Knows nothing of layers or bodies: it names
 * the endpoint and hands back the captured segments. */
#ifndef HBN_ROUTER_H
#define HBN_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

/* One (method, template) pair the API serves. */
typedef enum hbn_endpoint {
    HBN_EP_LAYERS_LIST,
    HBN_EP_LAYERS_CREATE,
    HBN_EP_LAYER_GET,
    HBN_EP_LAYER_DELETE,
    HBN_EP_MODE_PUT,
    HBN_EP_WEIGHTS_GET,
    HBN_EP_WEIGHTS_PUT,
    HBN_EP_CHECKPOINT,
    HBN_EP_STATS_LATEST,
    HBN_EP_STATS_GET,
    HBN_EP_STATS_PUT,
    HBN_EP_FORWARD,
    HBN_EP_HEALTH_LIVE,
    HBN_EP_HEALTH_READY,
    HBN_EP_METRICS,
    HBN_EP_OIP_SERVER,      /* Open Inference Protocol: GET /v2 */
    HBN_EP_OIP_MODEL,
    HBN_EP_OIP_READY,
    HBN_EP_OIP_INFER,
    HBN_EP_STATE_GET,
    HBN_EP_STATE_PUT,
    HBN_EP_COUNT
} hbn_endpoint;

#define HBN_ROUTE_BODY 1u          /* the route reads a request body */
#define HBN_ROUTE_BODY_OPTIONAL 2u /* the body may be absent, no Content-Length needed */
#define HBN_ROUTE_PUBLIC 4u        /* no authentication (health probes) */

typedef struct hbn_route {
    const char *method;    /* "GET", "POST", "PUT", "DELETE" */
    const char *template;  /* "/v1/layers/{name}/stats/{id}" */
    hbn_endpoint endpoint;
    unsigned flags;        /* HBN_ROUTE_* */
} hbn_route;

#define HBN_ROUTE_MAX_PARAMS 4

/* A raw captured path segment (BORROWED from the matched path). */
typedef struct hbn_route_param {
    const char *start;
    size_t len;
} hbn_route_param;

typedef struct hbn_route_match {
    const hbn_route *route;   /* the route for method and path, or NULL (404 or 405) */
    const char *template;     /* the path's template (also on 405), "unknown" when none */
    bool known_path;          /* some route has this path (with any method) */
    unsigned path_flags;      /* flags shared by the path's routes (for 404/405 answers) */
    char allow[64];           /* the path's methods, "GET, POST", when known_path */
    hbn_route_param params[HBN_ROUTE_MAX_PARAMS]; /* the template's {...} segments, in order */
    int param_count;
} hbn_route_match;

/* The route table (BORROWED static storage) and its length in *COUNT: every (method, template)
 * pair the router knows, the set the OpenAPI document must describe. */
const hbn_route *hbn_router_table(size_t *count);

/* Matches METHOD and the raw PATH (without the query; BORROWED: M's params point into it) into
 * *M. Never fails: an unknown path gives known_path false and template "unknown". */
void hbn_router_match(const char *method, const char *path, hbn_route_match *m);

#endif
