/* fuzz_api.c: fuzz target of every body-taking route's decoder, through hbn_api_handle and a real
 * registry holding "a" (C 2, tracking, two slots), "b" (C 3, frozen, not affine) and "c" (C 1,
 * learnable, eval). Byte 0 picks the route; byte 1 the layer (bits 0-1), Content-Type (2-3), query
 * (4-6; 7: the body's first line) and slot (7); the rest is the body. Invariants: API.md's statuses
 * only (never 500/503), {"error","code"} matching the status (and the route, for route-specific
 * codes), Allow on 405, no null in any array (a non-finite float), a 4xx changes nothing, after a
 * success every layer reads back and its state file decodes. HBN_FUZZ_VERBOSE=1 prints each
 * request and response. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "api/api.h"
#include "api/state.h"
#include "server/registry.h"

static const struct {
    const char *method;
    const char *head; /* the path is HEAD, then (when TAIL) the layer's name, TAIL, the slot */
    const char *tail;
    bool slot;
} routes[] = {
    {"POST", "/v1/layers", NULL, false},
    {"PUT", "/v1/layers/", "/mode", false},
    {"PUT", "/v1/layers/", "/weights", false},
    {"POST", "/v1/layers/", "/checkpoints", false},
    {"PUT", "/v1/layers/", "/stats/", true},
    {"POST", "/v1/layers/", "/forward", false},
    {"PUT", "/v1/layers/", "/state", false},
    {"POST", "/v2/models/", "/infer", false}, /* OIP infer, JSON bodies (binary: fuzz_oip) */
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

static const char *const names[4] = {"a", "b", "c", "zz"};
static const char *const content_types[4] = {"application/json", NULL, "application/octet-stream",
                                             "Application/JSON ; charset=UTF-8"};
static const char *const queries[7] = {
    NULL, "shape=2,2", "shape=4,2&stats_id=1&mode=train", "shape=2,3,2&mode=eval",
    "momentum=0.5&eps=0.001&mode=eval", "frozen_stats=true", "learnable_stats=true&momentum=null",
};

/* Sends one request to API and returns the response (initialised here; the caller clears it). */
static void send(const hbn_api *api, hbn_response *res, const char *method, const char *path,
                 const char *query, const char *ctype, const uint8_t *body, size_t len)
{
    hbn_request req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = len > 0 ? body : NULL, .body_len = len};

    hbn_response_init(res);
    hbn_api_handle(api, &req, res);
}

/* Sends a JSON request that must answer STATUS (the fixture's own requests). */
static void expect(const hbn_api *api, const char *method, const char *path, const char *body,
                   int status)
{
    hbn_response res;

    send(api, &res, method, path, NULL, "application/json", (const uint8_t *)body,
         body != NULL ? strlen(body) : 0);
    HBN_FUZZ_CHECK(res.http_status == status, "fixture %s %s: %d", method, path, res.http_status);
    hbn_response_clear(&res);
}

/* A fresh registry behind API holding the three layers. */
static hbn_registry *fixture(hbn_api *api)
{
    hbn_registry_options opts = {.max_layers = 8, .max_slots = 4};
    hbn_registry *reg = NULL;

    HBN_FUZZ_CHECK(hbn_registry_create(&opts, &reg, NULL) == HBN_OK, "registry");
    memset(api, 0, sizeof *api);
    hbn_registry_store(reg, &api->store);
    api->version = "fuzz";
    expect(api, "POST", "/v1/layers", "{\"name\":\"a\",\"num_features\":2}", 201);
    expect(api, "POST", "/v1/layers/a/checkpoints", NULL, 201);
    expect(api, "POST", "/v1/layers",
           "{\"name\":\"b\",\"num_features\":3,\"affine\":false,\"track_running_stats\":false,"
           "\"frozen_stats\":true}", 201);
    expect(api, "POST", "/v1/layers",
           "{\"name\":\"c\",\"num_features\":1,\"track_running_stats\":false,"
           "\"learnable_stats\":true,\"momentum\":null,\"mode\":\"eval\"}", 201);
    return reg;
}

/* Everything a client can observe of the layers, as one NEW string (NULL when out of memory). */
static char *snapshot(const hbn_api *api)
{
    static const char *const paths[] = {
        "/v1/layers", "/v1/layers/a/weights", "/v1/layers/a/stats/0", "/v1/layers/a/stats/1",
        "/v1/layers/a/stats/2", "/v1/layers/b/stats/0", "/v1/layers/c/stats/0",
        "/v1/layers/c/weights", "/v1/layers/c/stats/1"};
    char *out = NULL;
    size_t len = 0;

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hbn_response res;
        char *grown;

        send(api, &res, "GET", paths[i], NULL, NULL, NULL, 0);
        grown = realloc(out, len + res.body_len + 8);
        if (grown == NULL) {
            hbn_response_clear(&res);
            free(out);
            return NULL;
        }
        out = grown;
        len += (size_t)sprintf(out + len, "%d ", res.http_status);
        if (res.body_len > 0)
            memcpy(out + len, res.body, res.body_len);
        len += res.body_len;
        out[len] = '\0';
        hbn_response_clear(&res);
    }
    return out;
}

/* Fails when an array inside NODE holds null: what a non-finite float prints as (API.md: every
 * float printed parses back to the same float32; nothing in the API is an array with nulls). */
static void check_no_null_element(const cJSON *node, bool in_array, const char *what)
{
    const cJSON *child;

    HBN_FUZZ_CHECK(!in_array || !cJSON_IsNull(node), "%s: a null inside an array (a non-finite "
                   "float)", what);
    cJSON_ArrayForEach(child, node)
        check_no_null_element(child, cJSON_IsArray(node), what);
}

/* GETs PATH, which must answer 200 (or 409 when MAY_CONFLICT: not_affine) with a JSON object
 * without non-finite floats; returns that object (NEW) or NULL for the 409. */
static cJSON *get_json(const hbn_api *api, const char *path, bool may_conflict)
{
    hbn_response res;
    cJSON *doc;

    send(api, &res, "GET", path, NULL, NULL, NULL, 0);
    if (may_conflict && res.http_status == 409) {
        hbn_response_clear(&res);
        return NULL;
    }
    HBN_FUZZ_CHECK(res.http_status == 200, "GET %s: %d %.*s", path, res.http_status,
                   (int)res.body_len, res.body != NULL ? res.body : "");
    doc = cJSON_ParseWithLength(res.body, res.body_len);
    HBN_FUZZ_CHECK(cJSON_IsObject(doc), "GET %s: not JSON: %.*s", path, (int)res.body_len,
                   res.body);
    check_no_null_element(doc, false, path);
    hbn_response_clear(&res);
    return doc;
}

/* The status whose code is CODE, or HBN_STATUS_COUNT. */
static hbn_status status_of(const char *code)
{
    for (int s = 0; s < HBN_STATUS_COUNT; s++)
        if (strcmp(hbn_status_code((hbn_status)s), code) == 0)
            return (hbn_status)s;
    return HBN_STATUS_COUNT;
}

/* API.md's "when" column: the routes (bits of routes[] indices) that may answer each of these
 * codes; e.g. not_tracking is "checkpoint on a layer that does not track". */
static const struct {
    const char *code;
    unsigned routes;
} code_routes[] = {
    {"layer_exists", 1u << 0}, {"not_tracking", 1u << 3}, {"frozen_stats", 1u << 4},
    {"not_affine", 1u << 2}, {"stats_not_found", 1u << 4}, {"invalid_state", 1u << 6},
    {"stats_id_required", 1u << 5 | 1u << 7}, {"stats_id_out_of_range", 1u << 5 | 1u << 7},
    {"batch_too_small", 1u << 5 | 1u << 7}, {"invalid_value", 1u << 4 | 1u << 5 | 1u << 7},
    {"invalid_config", 1u << 0 | 1u << 6}, {"quota_exceeded", 1u << 0 | 1u << 3 | 1u << 6},
};

/* The error code CODE may come from route R (API.md's table). */
static void check_code_route(const char *code, size_t r)
{
    for (size_t i = 0; i < sizeof code_routes / sizeof code_routes[0]; i++)
        if (strcmp(code_routes[i].code, code) == 0)
            HBN_FUZZ_CHECK((code_routes[i].routes >> r & 1u) != 0, "%s from %s %s%s%s", code,
                           routes[r].method, routes[r].head, routes[r].tail != NULL ? "{name}" : "",
                           routes[r].tail != NULL ? routes[r].tail : "");
}

/* The response's own invariants (see the file comment); R is the route's index. */
static void check_response(const hbn_response *res, size_t r)
{
    static const int allowed[] = {200, 201, 204, 400, 404, 405, 409, 411, 413, 415, 422, 429, 507};
    bool known = false;
    const cJSON *error, *code;
    cJSON *doc = NULL;

    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        known |= res->http_status == allowed[i];
    HBN_FUZZ_CHECK(known, "status %d (%s): %.*s", res->http_status,
                   res->error_code != NULL ? res->error_code : "-", (int)res->body_len,
                   res->body != NULL ? res->body : "");
    HBN_FUZZ_CHECK(res->route != NULL, "no route template");
    HBN_FUZZ_CHECK(res->http_status != 204 || res->body_len == 0, "a body with 204");
    if (res->content_type != NULL && strcmp(res->content_type, "application/json") == 0) {
        doc = cJSON_ParseWithLength(res->body, res->body_len);
        HBN_FUZZ_CHECK(cJSON_IsObject(doc), "status %d: JSON body is no object: %.*s",
                       res->http_status, (int)res->body_len, res->body);
        check_no_null_element(doc, false, "the response");
    }
    if (res->http_status >= 400) {
        HBN_FUZZ_CHECK(doc != NULL, "error %d without a JSON body", res->http_status);
        error = cJSON_GetObjectItemCaseSensitive(doc, "error");
        code = cJSON_GetObjectItemCaseSensitive(doc, "code");
        HBN_FUZZ_CHECK(cJSON_IsString(error) && error->valuestring[0] != '\0' &&
                           cJSON_IsString(code) && cJSON_GetArraySize(doc) == 2,
                       "error body %.*s", (int)res->body_len, res->body);
        HBN_FUZZ_CHECK(res->error_code != NULL && strcmp(code->valuestring, res->error_code) == 0,
                       "code %s, error_code %s", code->valuestring,
                       res->error_code != NULL ? res->error_code : "NULL");
        HBN_FUZZ_CHECK(status_of(code->valuestring) != HBN_STATUS_COUNT &&
                           hbn_http_status(status_of(code->valuestring)) == res->http_status,
                       "code %s with status %d", code->valuestring, res->http_status);
        check_code_route(code->valuestring, r);
    }
    if (res->http_status == 405) {
        bool allow = false;
        for (int i = 0; i < res->header_count; i++)
            allow |= strcmp(res->headers[i].name, "Allow") == 0;
        HBN_FUZZ_CHECK(allow, "405 without Allow");
    }
    cJSON_Delete(doc);
}

/* After a success: every layer still reads back (statistics, weights) as JSON numbers, and its
 * state file decodes again. Catches a request that stored something no later request can show. */
static void check_layers_readable(const hbn_api *api)
{
    cJSON *list = get_json(api, "/v1/layers", false), *w;
    const cJSON *layer;
    char path[256];

    cJSON_ArrayForEach(layer, cJSON_GetObjectItemCaseSensitive(list, "layers"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(layer, "name");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(layer, "num_stats");
        hbn_response res;
        hbn_layer *back = NULL;
        hbn_err err;

        HBN_FUZZ_CHECK(cJSON_IsString(name) && cJSON_IsNumber(t), "layer object");
        for (int k = 0; k < t->valueint && k < 8; k++) {
            snprintf(path, sizeof path, "/v1/layers/%s/stats/%d", name->valuestring, k);
            cJSON_Delete(get_json(api, path, false));
        }
        snprintf(path, sizeof path, "/v1/layers/%s/weights", name->valuestring);
        w = get_json(api, path, true);
        cJSON_Delete(w);
        snprintf(path, sizeof path, "/v1/layers/%s/state", name->valuestring);
        send(api, &res, "GET", path, NULL, NULL, NULL, 0);
        HBN_FUZZ_CHECK(res.http_status == 200, "GET %s: %d", path, res.http_status);
        HBN_FUZZ_CHECK(hbn_state_decode((const uint8_t *)res.body, res.body_len, "x", NULL, &back,
                                        &err) == HBN_OK,
                       "GET %s gives a file that does not decode: %s", path, err.msg);
        hbn_layer_free(back);
        hbn_response_clear(&res);
    }
    cJSON_Delete(list);
}

int hbn_fuzz_api(const uint8_t *data, size_t size)
{
    static char *baseline;
    uint8_t sel = size > 1 ? data[1] : 0;
    const uint8_t *body = size > 2 ? data + 2 : data + size;
    size_t len = size > 2 ? size - 2 : 0, r = size > 0 ? data[0] % ROUTE_COUNT : 0;
    char path[64], query[256];
    const char *q = queries[0];
    hbn_response res;
    hbn_api api;
    hbn_registry *reg = fixture(&api);

    if (baseline == NULL) /* every input starts from the same fixture */
        baseline = snapshot(&api);
    snprintf(path, sizeof path, "%s%s%s%s", routes[r].head,
             routes[r].tail != NULL ? names[sel & 3] : "",
             routes[r].tail != NULL ? routes[r].tail : "",
             !routes[r].slot ? "" : (sel >> 7) != 0 ? "1" : "0");
    if (((sel >> 4) & 7) < 7) {
        q = queries[(sel >> 4) & 7];
    } else {
        const uint8_t *nl = memchr(body, '\n', len);
        size_t qlen = nl != NULL ? (size_t)(nl - body) : len;

        q = query;
        snprintf(query, sizeof query, "%.*s", (int)(qlen < 255 ? qlen : 255), (const char *)body);
        len -= nl != NULL ? qlen + 1 : len;
        body += nl != NULL ? qlen + 1 : qlen;
    }
    send(&api, &res, routes[r].method, path, q, content_types[(sel >> 2) & 3], body, len);
    if (getenv("HBN_FUZZ_VERBOSE") != NULL) { /* what an input does, for triage */
        bool json = res.content_type != NULL && strstr(res.content_type, "json") != NULL;

        fprintf(stderr, "%s %s?%s (%zu bytes) -> %d %.*s\n", routes[r].method, path,
                q != NULL ? q : "", len, res.http_status, json ? (int)res.body_len : 0,
                res.body != NULL ? res.body : "");
    }
    check_response(&res, r);
    if (res.http_status < 300)
        check_layers_readable(&api);
    if (res.http_status >= 400 && res.http_status < 500 && baseline != NULL) {
        char *after = snapshot(&api);
        HBN_FUZZ_CHECK(after == NULL || strcmp(after, baseline) == 0,
                       "%s %s answered %d but changed the layers:\n%s\nvs\n%s", routes[r].method,
                       path, res.http_status, after, baseline);
        free(after);
    }
    hbn_response_clear(&res);
    hbn_registry_free(reg);
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_api)
