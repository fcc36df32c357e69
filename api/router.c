/* router.c: the route table of the v1 API, the Open Inference Protocol, the health probes and
 * /metrics, and the raw-path matcher. Table order decides between templates that match the same
 * path (none do today); new routes slot in as rows plus an endpoint. The OIP's "/versions/1" is
 * a literal segment, so that any other version is an unknown route (404 not_found). Invariant:
 * a path matching no template is "unknown" (404); matching a template but not the method is 405
 * with the template's methods in Allow. */
#include "api/router.h"

#include <string.h>

static const hbn_route routes[] = {
    {"GET", "/v1/layers", HBN_EP_LAYERS_LIST, 0},
    {"POST", "/v1/layers", HBN_EP_LAYERS_CREATE, HBN_ROUTE_BODY},
    {"GET", "/v1/layers/{name}", HBN_EP_LAYER_GET, 0},
    {"DELETE", "/v1/layers/{name}", HBN_EP_LAYER_DELETE, 0},
    {"PUT", "/v1/layers/{name}/mode", HBN_EP_MODE_PUT, HBN_ROUTE_BODY},
    {"GET", "/v1/layers/{name}/weights", HBN_EP_WEIGHTS_GET, 0},
    {"PUT", "/v1/layers/{name}/weights", HBN_EP_WEIGHTS_PUT, HBN_ROUTE_BODY},
    {"POST", "/v1/layers/{name}/checkpoints", HBN_EP_CHECKPOINT,
     HBN_ROUTE_BODY | HBN_ROUTE_BODY_OPTIONAL},
    {"GET", "/v1/layers/{name}/stats", HBN_EP_STATS_LATEST, 0},
    {"GET", "/v1/layers/{name}/stats/{id}", HBN_EP_STATS_GET, 0},
    {"PUT", "/v1/layers/{name}/stats/{id}", HBN_EP_STATS_PUT, HBN_ROUTE_BODY},
    {"POST", "/v1/layers/{name}/forward", HBN_EP_FORWARD, HBN_ROUTE_BODY},
    {"GET", "/v1/layers/{name}/state", HBN_EP_STATE_GET, 0},
    {"PUT", "/v1/layers/{name}/state", HBN_EP_STATE_PUT, HBN_ROUTE_BODY},
    {"GET", "/v2/health/live", HBN_EP_HEALTH_LIVE, HBN_ROUTE_PUBLIC},
    {"GET", "/v2/health/ready", HBN_EP_HEALTH_READY, HBN_ROUTE_PUBLIC},
    {"GET", "/metrics", HBN_EP_METRICS, 0},
    /* Open Inference Protocol: a layer is a model whose only version is 1 */
    {"GET", "/v2", HBN_EP_OIP_SERVER, 0},
    {"GET", "/v2/models/{name}", HBN_EP_OIP_MODEL, 0},
    {"GET", "/v2/models/{name}/versions/1", HBN_EP_OIP_MODEL, 0},
    {"GET", "/v2/models/{name}/ready", HBN_EP_OIP_READY, 0},
    {"GET", "/v2/models/{name}/versions/1/ready", HBN_EP_OIP_READY, 0},
    {"POST", "/v2/models/{name}/infer", HBN_EP_OIP_INFER, HBN_ROUTE_BODY},
    {"POST", "/v2/models/{name}/versions/1/infer", HBN_EP_OIP_INFER, HBN_ROUTE_BODY},
};

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

const hbn_route *hbn_router_table(size_t *count)
{
    *count = ROUTE_COUNT;
    return routes;
}

/* Matches the raw PATH against TEMPLATE segment by segment, recording "{...}" segments in
 * PARAMS[*COUNT]. Both start with '/'; an empty segment is a segment like any other. */
static bool template_match(const char *template, const char *path, hbn_route_param *params,
                           int *count)
{
    const char *t = template;
    const char *p = path;

    *count = 0;
    if (*t != '/' || *p != '/')
        return false;
    while (*t == '/' && *p == '/') {
        size_t tlen, plen;

        t++;
        p++;
        tlen = strcspn(t, "/");
        plen = strcspn(p, "/");
        if (tlen > 1 && t[0] == '{' && t[tlen - 1] == '}') {
            if (*count == HBN_ROUTE_MAX_PARAMS)
                return false;
            params[*count].start = p;
            params[*count].len = plen;
            (*count)++;
        } else if (tlen != plen || memcmp(t, p, tlen) != 0) {
            return false;
        }
        t += tlen;
        p += plen;
    }
    return *t == '\0' && *p == '\0';
}

/* Appends METHOD to the comma-separated ALLOW list (of CAP bytes) unless already there. */
static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow);
    size_t mlen = strlen(method);

    if (strstr(allow, method) != NULL || len + mlen + 3 > cap)
        return;
    if (len > 0) {
        memcpy(allow + len, ", ", 2);
        len += 2;
    }
    memcpy(allow + len, method, mlen + 1);
}

void hbn_router_match(const char *method, const char *path, hbn_route_match *m)
{
    size_t i;

    memset(m, 0, sizeof *m);
    m->template = "unknown";
    if (path == NULL || method == NULL)
        return;
    for (i = 0; i < ROUTE_COUNT; i++) {
        hbn_route_param params[HBN_ROUTE_MAX_PARAMS];
        int count;

        if (m->known_path && strcmp(routes[i].template, m->template) != 0)
            continue;
        if (!template_match(routes[i].template, path, params, &count))
            continue;
        if (!m->known_path) {
            m->known_path = true;
            m->template = routes[i].template;
            m->path_flags = routes[i].flags & HBN_ROUTE_PUBLIC;
            memcpy(m->params, params, sizeof params);
            m->param_count = count;
        }
        allow_add(m->allow, sizeof m->allow, routes[i].method);
        if (m->route == NULL && strcmp(routes[i].method, method) == 0)
            m->route = &routes[i];
    }
}
