/* check_oip.c: the Open Inference Protocol routes through hbn_api_handle with a real registry
 * (server/registry.c), no socket: server and model metadata, model readiness, and infer in JSON,
 * binary (both directions, aligned and unaligned binary data, FP64) and mixed forms, every
 * framing error, the error table and its precedence, and that a failing request changes nothing;
 * also the JSON span walker (api/json_walk.c) the request decoder reads nested lists with.
 * Requests are built the way tritonclient's and KServe's HTTP clients build them. Expected
 * outputs come from the plain double-precision batch norm written here, never from core/. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/json_walk.h"
#include "server/registry.h"

/* ---- harness ------------------------------------------------------------------------------ */

static hbn_api api;
static hbn_registry *reg;

static void setup(void)
{
    hbn_registry_options opts = {.max_layers = 0, .max_slots = 0};

    ck_assert_int_eq(hbn_registry_create(&opts, &reg, NULL), HBN_OK);
    memset(&api, 0, sizeof api);
    hbn_registry_store(reg, &api.store);
    api.version = "0.0.0-test";
}

static void teardown(void)
{
    hbn_registry_free(reg);
    reg = NULL;
}

/* One reply: the response, its JSON part parsed (the header of a binary answer, else the body)
 * and the bytes after it. */
typedef struct reply {
    hbn_response res;
    char *text;            /* NUL-terminated copy of the JSON part */
    cJSON *json;
    size_t header;         /* bytes of the JSON part */
    const uint8_t *bin;    /* the binary part (inside res.body) */
    size_t bin_len;
} reply;

static const char *header_of(const reply *r, const char *name)
{
    for (int i = 0; i < r->res.header_count; i++)
        if (strcmp(r->res.headers[i].name, name) == 0)
            return r->res.headers[i].value;
    return NULL;
}

/* Sends METHOD PATH with Content-Type CTYPE and Inference-Header-Content-Length IHCL (either NULL
 * for none) and BODY[LEN]. */
static void call(reply *r, const char *method, const char *path, const char *ctype,
                 const char *ihcl, const void *body, size_t len)
{
    hbn_request req = {.method = method, .path = path, .content_type = ctype,
                       .inference_header_length = ihcl, .body = body, .body_len = len};
    const char *h;

    memset(r, 0, sizeof *r);
    hbn_response_init(&r->res);
    hbn_api_handle(&api, &req, &r->res);
    h = header_of(r, "Inference-Header-Content-Length");
    r->header = h != NULL ? strtoul(h, NULL, 10) : r->res.body_len;
    ck_assert_uint_le(r->header, r->res.body_len);
    r->text = malloc(r->header + 1);
    ck_assert_ptr_nonnull(r->text);
    if (r->header > 0)
        memcpy(r->text, r->res.body, r->header);
    r->text[r->header] = '\0';
    r->json = cJSON_ParseWithLength(r->text, r->header);
    r->bin = (const uint8_t *)r->res.body + r->header;
    r->bin_len = r->res.body_len - r->header;
}

static void call_json(reply *r, const char *method, const char *path, const char *json)
{
    call(r, method, path, json != NULL ? "application/json" : NULL, NULL, json,
         json != NULL ? strlen(json) : 0);
}

static void reply_clear(reply *r)
{
    cJSON_Delete(r->json);
    free(r->text);
    hbn_response_clear(&r->res);
}

static void expect(const char *method, const char *path, const char *json, int status)
{
    reply r;

    call_json(&r, method, path, json);
    ck_assert_msg(r.res.http_status == status, "%s %s: %d %s", method, path, r.res.http_status,
                  r.text);
    reply_clear(&r);
}

static void create(const char *name, const char *options)
{
    char body[256];

    snprintf(body, sizeof body, "{\"name\":\"%s\",%s}", name, options);
    expect("POST", "/v1/layers", body, 201);
}

/* Everything observable of layer "bn": its object, weights and first two slots (NEW string). */
static char *snapshot(void)
{
    static const char *const paths[] = {"/v1/layers/bn", "/v1/layers/bn/weights",
                                        "/v1/layers/bn/stats/0", "/v1/layers/bn/stats/1"};
    size_t len = 0;
    char *out = NULL;

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        reply r;

        call_json(&r, "GET", paths[i], NULL);
        out = realloc(out, len + r.header + 16);
        ck_assert_ptr_nonnull(out);
        len += (size_t)sprintf(out + len, "%d %s\n", r.res.http_status, r.text);
        reply_clear(&r);
    }
    return out;
}

/* Member NAME of O (asserted present). */
static const cJSON *member(const cJSON *o, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

    ck_assert_msg(m != NULL, "no member %s", name);
    return m;
}

/* The response output named NAME, or NULL. */
static const cJSON *output_named(const reply *r, const char *name)
{
    const cJSON *o;

    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(r->json, "outputs"))
    {
        if (strcmp(member(o, "name")->valuestring, name) == 0)
            return o;
    }
    return NULL;
}

/* The number of members of array or object O. */
static int count(const cJSON *o)
{
    return cJSON_GetArraySize(o);
}

/* Fails unless GOT[N] matches WANT[N] within float32 tolerance. */
static void assert_close(const float *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= 1e-5 * (1.0 + fabs(want[i])),
                      "value %d: got %.9g, want %.9g", i, (double)got[i], want[i]);
}

/* The N floats of output O's JSON data (re-read with strtof from their printed text). */
static void json_floats(const cJSON *o, float *out, int n)
{
    const cJSON *data = member(o, "data"), *v;
    int i = 0;

    ck_assert_int_eq(count(data), n);
    cJSON_ArrayForEach(v, data)
    {
        ck_assert(cJSON_IsNumber(v));
        out[i++] = (float)v->valuedouble;
    }
}

/* Little-endian bytes of float32 / float64 values, whatever the host. */
static void put_f32(uint8_t *p, float v)
{
    uint32_t u;

    memcpy(&u, &v, sizeof u);
    for (int b = 0; b < 4; b++)
        p[b] = (uint8_t)(u >> (8 * b));
}

static float get_f32(const uint8_t *p)
{
    uint32_t u = 0;
    float v;

    for (int b = 0; b < 4; b++)
        u |= (uint32_t)p[b] << (8 * b);
    memcpy(&v, &u, sizeof v);
    return v;
}

static void put_f64(uint8_t *p, double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof u);
    for (int b = 0; b < 8; b++)
        p[b] = (uint8_t)(u >> (8 * b));
}

/* ---- the reference batch norm (double precision, written out) ----------------------------- */

/* Y = (X - mean) / sqrt(var + eps) * W + B over (N, C, S); batch statistics when MEAN is NULL
 * (biased variance into MU / S2 when not NULL). */
static void ref_bn(const float *x, int n, int c, int s, const double *mean, const double *var,
                   const double *w, const double *b, double *y, double *mu, double *s2)
{
    for (int j = 0; j < c; j++) {
        double m = 0.0, v = 0.0;

        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++)
                m += (double)x[(i * c + j) * s + k];
        m /= n * s;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++)
                v += ((double)x[(i * c + j) * s + k] - m) * ((double)x[(i * c + j) * s + k] - m);
        v /= n * s;
        if (mu != NULL) {
            mu[j] = m;
            s2[j] = v;
        }
        if (mean != NULL) {
            m = mean[j];
            v = var[j];
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < s; k++) {
                int at = (i * c + j) * s + k;
                y[at] = ((double)x[at] - m) / sqrt(v + 1e-5) * (w != NULL ? w[j] : 1.0) +
                        (b != NULL ? b[j] : 0.0);
            }
    }
}

/* The test inputs: X (4, 2), as JSON and as floats. */
static const float fx[8] = {1.0f, -2.0f, 3.5f, 0.25f, -1.0f, 4.0f, 2.0f, 10.0f};
#define FX_JSON "[1,-2,3.5,0.25,-1,4,2,10]"

/* ---- a binary request body ---------------------------------------------------------------- */

/* A request body: the JSON header, then binary parts, placed in a 64-byte aligned allocation at
 * an offset chosen so that the byte after the header sits at MISALIGN (mod 64). */
typedef struct body {
    uint8_t *mem;
    uint8_t *p;
    size_t len;
    char ihcl[24];
} body;

static void body_make(body *b, const char *json, const uint8_t *bin, size_t bin_len,
                      size_t misalign)
{
    size_t h = strlen(json), shift = (64 - (h % 64) + misalign) % 64;

    b->mem = aligned_alloc(64, (shift + h + bin_len + 64) / 64 * 64);
    ck_assert_ptr_nonnull(b->mem);
    b->p = b->mem + shift;
    memcpy(b->p, json, h);
    if (bin_len > 0)
        memcpy(b->p + h, bin, bin_len);
    b->len = h + bin_len;
    snprintf(b->ihcl, sizeof b->ihcl, "%zu", h);
}

static void body_free(body *b)
{
    free(b->mem);
}

/* ---- json_walk ---------------------------------------------------------------------------- */

/* Walks the container TEXT and joins its keys and values as "key=value|" into OUT. */
static void walk_all(const char *text, char *out, size_t cap)
{
    hbn_json_span key = {NULL, 0}, v;
    hbn_json_walk w;
    size_t len = 0;

    ck_assert(hbn_json_walk_init(&w, (hbn_json_span){text, strlen(text)}));
    out[0] = '\0';
    while (hbn_json_walk_next(&w, &key, &v))
        len += (size_t)snprintf(out + len, cap - len, "%.*s=%.*s|", w.object ? (int)key.len : 0,
                                key.p, (int)v.len, v.p);
}

START_TEST(test_json_walk)
{
    char out[256];
    hbn_json_walk w;

    walk_all("[1, \"a]\\\"}\" , [2,[3]] ,{\"k\":[4,{}]},true,null,-1.5e3]", out, sizeof out);
    ck_assert_str_eq(out, "=1|=\"a]\\\"}\"|=[2,[3]]|={\"k\":[4,{}]}|=true|=null|=-1.5e3|");
    walk_all(" { \"a\" : [] , \"b\\\"c\":{\"d\":\"}\"},\"e\":0}", out, sizeof out);
    ck_assert_str_eq(out, "\"a\"=[]|\"b\\\"c\"={\"d\":\"}\"}|\"e\"=0|");
    walk_all("[]", out, sizeof out);
    ck_assert_str_eq(out, "");
    walk_all("{ }", out, sizeof out);
    ck_assert_str_eq(out, "");
    ck_assert(!hbn_json_walk_init(&w, (hbn_json_span){"\"x\"", 3}));
    ck_assert(!hbn_json_walk_init(&w, (hbn_json_span){"  ", 2}));
    ck_assert(hbn_json_walk_string_is((hbn_json_span){"\"name\"", 6}, "name"));
    ck_assert(hbn_json_walk_string_is((hbn_json_span){"\"n\\u0061me\"", 11}, "name"));
    ck_assert(hbn_json_walk_string_is((hbn_json_span){"\"a\\/b\"", 6}, "a/b"));
    ck_assert(!hbn_json_walk_string_is((hbn_json_span){"\"nam\"", 5}, "name"));
    ck_assert(!hbn_json_walk_string_is((hbn_json_span){"\"names\"", 7}, "name"));
    ck_assert(!hbn_json_walk_string_is((hbn_json_span){"\"n\\u00e1me\"", 11}, "name"));
    ck_assert(!hbn_json_walk_string_is((hbn_json_span){"\"n\\u0000ame\"", 11}, "n"));
    ck_assert(!hbn_json_walk_string_is((hbn_json_span){"name", 4}, "name"));
    ck_assert_int_eq(hbn_json_walk_kind((hbn_json_span){"-1", 2}), '0');
    ck_assert_int_eq(hbn_json_walk_kind((hbn_json_span){"false", 5}), 'f');
}
END_TEST

/* ---- metadata and readiness --------------------------------------------------------------- */

START_TEST(test_server_metadata)
{
    const cJSON *ext, *e;
    bool binary = false;
    reply r;

    call_json(&r, "GET", "/v2", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.content_type, "application/json");
    ck_assert_str_eq(member(r.json, "name")->valuestring, "hyperbn");
    ck_assert_str_eq(member(r.json, "version")->valuestring, "0.0.0-test");
    ext = member(r.json, "extensions");
    cJSON_ArrayForEach(e, ext) binary |= strcmp(e->valuestring, "binary_tensor_data") == 0;
    ck_assert(binary);
    ck_assert_int_eq(count(r.json), 3);
    reply_clear(&r);
    expect("POST", "/v2", "{}", 405);
}
END_TEST

/* Fails unless metadata tensor T is NAME, FP32, with shape [-1, C] (BATCHED) or [C]. */
static void assert_meta_tensor(const cJSON *t, const char *name, bool batched, int c)
{
    const cJSON *shape = member(t, "shape");

    ck_assert_str_eq(member(t, "name")->valuestring, name);
    ck_assert_str_eq(member(t, "datatype")->valuestring, "FP32");
    ck_assert_int_eq(count(shape), batched ? 2 : 1);
    if (batched)
        ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, -1);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, batched ? 1 : 0)->valueint, c);
}

START_TEST(test_model_metadata)
{
    static const char *const paths[] = {"/v2/models/bn", "/v2/models/bn/versions/1"};
    static const char *const ins[] = {"inputs", "weight", "bias", "running_mean", "running_var"};
    static const char *const outs[] = {"outputs", "running_mean", "running_var"};
    char *first = NULL;

    create("bn", "\"num_features\":3");
    for (int p = 0; p < 2; p++) {
        const cJSON *in, *out, *versions;
        reply r;

        call_json(&r, "GET", paths[p], NULL);
        ck_assert_int_eq(r.res.http_status, 200);
        ck_assert_str_eq(member(r.json, "name")->valuestring, "bn");
        ck_assert(cJSON_IsString(member(r.json, "platform")));
        versions = member(r.json, "versions");
        ck_assert_int_eq(count(versions), 1);
        ck_assert_str_eq(cJSON_GetArrayItem(versions, 0)->valuestring, "1");
        in = member(r.json, "inputs");
        out = member(r.json, "outputs");
        ck_assert_int_eq(count(in), 5);
        ck_assert_int_eq(count(out), 3);
        for (int k = 0; k < 5; k++)
            assert_meta_tensor(cJSON_GetArrayItem(in, k), ins[k], k == 0, 3);
        for (int k = 0; k < 3; k++)
            assert_meta_tensor(cJSON_GetArrayItem(out, k), outs[k], k == 0, 3);
        if (first == NULL)
            first = strdup(r.text);
        else
            ck_assert_str_eq(r.text, first);
        reply_clear(&r);
    }
    free(first);
}
END_TEST

/* Fails unless METHOD PATH (JSON BODY) answers STATUS with error CODE. */
static void expect_error(const char *method, const char *path, const char *json, int status,
                         const char *code)
{
    reply r;

    call_json(&r, method, path, json);
    ck_assert_msg(r.res.http_status == status, "%s %s: %d %s", method, path, r.res.http_status,
                  r.text);
    ck_assert_str_eq(member(r.json, "code")->valuestring, code);
    ck_assert(cJSON_IsString(member(r.json, "error")));
    ck_assert_int_eq(count(r.json), 2);
    reply_clear(&r);
}

START_TEST(test_model_ready)
{
    static const char *const paths[] = {"/v2/models/bn/ready", "/v2/models/bn/versions/1/ready"};

    create("bn", "\"num_features\":2");
    for (int p = 0; p < 2; p++) {
        reply r;

        call_json(&r, "GET", paths[p], NULL);
        ck_assert_int_eq(r.res.http_status, 200);
        ck_assert_str_eq(r.text, "{\"name\":\"bn\",\"ready\":true}");
        reply_clear(&r);
    }
    expect_error("GET", "/v2/models/nope/ready", NULL, 404, "layer_not_found");
    expect_error("GET", "/v2/models/nope", NULL, 404, "layer_not_found");
    expect_error("POST", "/v2/models/nope/infer", "{}", 404, "layer_not_found");
    expect_error("GET", "/v2/models/bn/versions/2/ready", NULL, 404, "not_found");
    expect_error("GET", "/v2/models/bn/versions/2", NULL, 404, "not_found");
    expect_error("POST", "/v2/models/bn/versions/0/infer", "{}", 404, "not_found");
    expect_error("GET", "/v2/models/a..b/ready", NULL, 400, "invalid_name");
    expect_error("GET", "/v2/models/a%2Fb", NULL, 400, "invalid_name");
    expect_error("POST", "/v2/models/bn/ready", "{}", 405, "method_not_allowed");
    expect_error("GET", "/v2/models/bn/infer", NULL, 405, "method_not_allowed");
}
END_TEST

START_TEST(test_routes_classified)
{
    hbn_route_info info;

    hbn_api_route("POST", "/v2/models/x/infer", &info);
    ck_assert(info.known_path && info.method_allowed && info.takes_body && info.needs_auth);
    ck_assert_str_eq(info.route, "/v2/models/{name}/infer");
    hbn_api_route("POST", "/v2/models/x/versions/1/infer", &info);
    ck_assert(info.takes_body && !info.length_optional);
    ck_assert_str_eq(info.route, "/v2/models/{name}/versions/1/infer");
    hbn_api_route("GET", "/v2/models/x/ready", &info);
    ck_assert(info.known_path && !info.takes_body && info.needs_auth);
    hbn_api_route("GET", "/v2", &info);
    ck_assert(info.known_path && info.needs_auth);
    hbn_api_route("GET", "/v2/models/x/versions/7", &info);
    ck_assert(!info.known_path);
}
END_TEST

/* ---- infer: JSON -------------------------------------------------------------------------- */

START_TEST(test_infer_json_train)
{
    double want[8], mu[2], s2[2];
    const cJSON *out, *params, *shape;
    float got[8];
    reply r;

    create("bn", "\"num_features\":2");
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"id\":\"req-1\",\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],"
              "\"datatype\":\"FP32\",\"data\":" FX_JSON "}]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_str_eq(r.res.content_type, "application/json");
    ck_assert_ptr_null(header_of(&r, "Inference-Header-Content-Length"));
    ck_assert_uint_eq(r.res.forward_elements, 8);
    ck_assert_str_eq(r.res.route, "/v2/models/{name}/infer");
    ck_assert_str_eq(member(r.json, "model_name")->valuestring, "bn");
    ck_assert_str_eq(member(r.json, "id")->valuestring, "req-1");
    params = member(r.json, "parameters");
    ck_assert_str_eq(member(params, "mode")->valuestring, "train");
    ck_assert_int_eq(member(params, "stats_id")->valueint, 0);
    ck_assert_int_eq(count(params), 2);
    ck_assert_int_eq(count(member(r.json, "outputs")), 1);
    out = output_named(&r, "outputs");
    ck_assert_str_eq(member(out, "datatype")->valuestring, "FP32");
    shape = member(out, "shape");
    ck_assert_int_eq(count(shape), 2);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, 4);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 1)->valueint, 2);
    json_floats(out, got, 8);
    ref_bn(fx, 4, 2, 1, NULL, NULL, NULL, NULL, want, mu, s2);
    assert_close(got, want, 8);
    reply_clear(&r);
    /* the slot took the train update: count 1, mean 0.1 mu, var 0.9 + 0.1 s2 m / (m - 1) */
    call_json(&r, "GET", "/v1/layers/bn/stats/0", NULL);
    ck_assert_int_eq(member(r.json, "num_batches_tracked")->valueint, 1);
    for (int j = 0; j < 2; j++) {
        ck_assert_double_eq_tol(cJSON_GetArrayItem(member(r.json, "running_mean"), j)->valuedouble,
                                0.1 * mu[j], 1e-6);
        ck_assert_double_eq_tol(cJSON_GetArrayItem(member(r.json, "running_var"), j)->valuedouble,
                                0.9 + 0.1 * s2[j] * 4.0 / 3.0, 1e-5);
    }
    reply_clear(&r);
}
END_TEST

/* The outputs of a JSON request BODY to PATH with Content-Type CTYPE, asserted 200. */
static void infer_floats(const char *path, const char *ctype, const char *json, float *got, int n)
{
    reply r;

    call(&r, "POST", path, ctype, NULL, json, strlen(json));
    ck_assert_msg(r.res.http_status == 200, "%s: %d %s", json, r.res.http_status, r.text);
    json_floats(output_named(&r, "outputs"), got, n);
    reply_clear(&r);
}

START_TEST(test_infer_json_forms)
{
    /* the same eval request in several spellings must give the same outputs */
    static const struct {
        const char *path, *ctype, *body;
    } forms[] = {
        {"/v2/models/bn/infer", "application/json",
         "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":" FX_JSON
         "}]}"},
        /* nested data, FP64, the versioned path, no Content-Type (KServe's JSON requests) */
        {"/v2/models/bn/versions/1/infer", NULL,
         "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP64\",\"data\":"
         "[[1,-2],[3.5,0.25],[-1,4],[2,10]]}]}"},
        /* KServe's envelope: id, model_name, empty parameters of the input, octet-stream */
        {"/v2/models/bn/infer", "application/octet-stream",
         "{\"id\":\"0b5e\",\"model_name\":\"bn\",\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],"
         "\"datatype\":\"FP32\",\"parameters\":{\"content_type\":\"np\"},\"data\":" FX_JSON "}]}"},
        /* Triton's reserved and unknown request parameters are ignored; escaped keys decode */
        {"/v2/models/bn/infer", "application/json; charset=utf-8",
         "{\"parameters\":{\"sequence_id\":7,\"priority\":1,\"timeout\":100,\"x\":{\"y\":[1]}},"
         "\"outputs\":[{\"name\":\"outputs\",\"parameters\":{\"classification\":0}}],"
         "\"inputs\":[{\"\\u006eame\":\"inputs\",\"datatype\":\"FP32\",\"shape\":[4,2],"
         "\"data\":" FX_JSON "}]}"},
    };
    static const struct {
        const char *sent;   /* the id as JSON text */
        const char *echoed; /* the id the response must carry */
    } ids[] = {{"a\\\"b\\u00e9", "a\"b\xc3\xa9"}, {"", ""}};
    double want[8], mean[2] = {0.0, 0.0}, var[2] = {1.0, 1.0};
    float got[8];
    reply r;

    create("bn", "\"num_features\":2,\"mode\":\"eval\"");
    ref_bn(fx, 4, 2, 1, mean, var, NULL, NULL, want, NULL, NULL);
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        infer_floats(forms[i].path, forms[i].ctype, forms[i].body, got, 8);
        assert_close(got, want, 8);
    }
    /* no id in the request: none in the response; an id is echoed exactly as sent */
    call_json(&r, "POST", "/v2/models/bn/infer", forms[0].body);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "id"));
    ck_assert_str_eq(member(member(r.json, "parameters"), "mode")->valuestring, "eval");
    reply_clear(&r);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) { /* an empty id is an id too */
        char req[256];

        snprintf(req, sizeof req,
                 "{\"id\":\"%s\",\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,2],"
                 "\"datatype\":\"FP32\",\"data\":[1,2]}]}",
                 ids[i].sent);
        call_json(&r, "POST", "/v2/models/bn/infer", req);
        ck_assert_msg(r.res.http_status == 200, "%s", r.text);
        ck_assert_str_eq(member(r.json, "id")->valuestring, ids[i].echoed);
        reply_clear(&r);
    }
}
END_TEST

START_TEST(test_infer_given_stats)
{
    double want[8], mean[2] = {0.5, -1.0}, var[2] = {4.0, 0.25}, w[2] = {2.0, -1.0},
                    b[2] = {0.5, 3.0}, mu[2], s2[2];
    const cJSON *params;
    float got[8], stat[2];
    char *before = NULL, *after;
    reply r;

    create("bn", "\"num_features\":2");
    before = snapshot();
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"parameters\":{\"num_batches_tracked\":3,\"stats_id\":0,\"mode\":\"train\"},"
              "\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":"
              FX_JSON "},"
              "{\"name\":\"running_mean\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[0.5,-1]},"
              "{\"name\":\"running_var\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[4,0.25]},"
              "{\"name\":\"weight\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[2,-1]},"
              "{\"name\":\"bias\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[0.5,3]}]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    params = member(r.json, "parameters");
    ck_assert_int_eq(member(params, "num_batches_tracked")->valueint, 4);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(params, "stats_id"));
    ck_assert(cJSON_IsString(member(params, "warning")));
    ck_assert_int_eq(count(member(r.json, "outputs")), 3);
    json_floats(output_named(&r, "outputs"), got, 8);
    ref_bn(fx, 4, 2, 1, NULL, NULL, w, b, want, mu, s2);
    assert_close(got, want, 8);
    /* momentum 0.1, count 3 -> 4: mean 0.9 m + 0.1 mu, var 0.9 v + 0.1 s2 4/3 */
    json_floats(output_named(&r, "running_mean"), stat, 2);
    for (int j = 0; j < 2; j++)
        ck_assert_double_eq_tol(stat[j], 0.9 * mean[j] + 0.1 * mu[j], 1e-6);
    json_floats(output_named(&r, "running_var"), stat, 2);
    for (int j = 0; j < 2; j++)
        ck_assert_double_eq_tol(stat[j], 0.9 * var[j] + 0.1 * s2[j] * 4.0 / 3.0, 1e-5);
    reply_clear(&r);
    /* given statistics never touch the layer */
    after = snapshot();
    ck_assert_str_eq(after, before);
    free(after);
    /* eval: normalised by the given statistics, and no statistics outputs */
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"parameters\":{\"mode\":\"eval\"},\"inputs\":["
              "{\"name\":\"running_var\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[4,0.25]},"
              "{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":" FX_JSON "},"
              "{\"name\":\"running_mean\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[0.5,-1]}"
              "]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_int_eq(count(member(r.json, "outputs")), 1);
    ck_assert_int_eq(count(member(r.json, "parameters")), 1);
    json_floats(output_named(&r, "outputs"), got, 8);
    ref_bn(fx, 4, 2, 1, mean, var, NULL, NULL, want, NULL, NULL);
    assert_close(got, want, 8);
    reply_clear(&r);
    free(before);
}
END_TEST

#define GIVEN_JSON                                                                                \
    "{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":" FX_JSON "},"           \
    "{\"name\":\"running_mean\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[0,0]},"             \
    "{\"name\":\"running_var\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,1]}"

START_TEST(test_infer_output_selection)
{
    const cJSON *outs;
    reply r;

    create("bn", "\"num_features\":2");
    /* only running_var */
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"outputs\":[{\"name\":\"running_var\"}],\"inputs\":[" GIVEN_JSON "]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    outs = member(r.json, "outputs");
    ck_assert_int_eq(count(outs), 1);
    ck_assert_str_eq(member(cJSON_GetArrayItem(outs, 0), "name")->valuestring, "running_var");
    ck_assert_uint_eq(r.res.forward_elements, 8);
    reply_clear(&r);
    /* named in another order: the model's order in the response */
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"outputs\":[{\"name\":\"running_var\"},{\"name\":\"outputs\"},"
              "{\"name\":\"running_mean\"}],\"inputs\":[" GIVEN_JSON "]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    outs = member(r.json, "outputs");
    ck_assert_int_eq(count(outs), 3);
    ck_assert_str_eq(member(cJSON_GetArrayItem(outs, 0), "name")->valuestring, "outputs");
    ck_assert_str_eq(member(cJSON_GetArrayItem(outs, 1), "name")->valuestring, "running_mean");
    ck_assert_str_eq(member(cJSON_GetArrayItem(outs, 2), "name")->valuestring, "running_var");
    reply_clear(&r);
    /* an empty list is no list: every output */
    call_json(&r, "POST", "/v2/models/bn/infer", "{\"outputs\":[],\"inputs\":[" GIVEN_JSON "]}");
    ck_assert_int_eq(count(member(r.json, "outputs")), 3);
    reply_clear(&r);
}
END_TEST

START_TEST(test_infer_empty_batch)
{
    const cJSON *out;
    body b;
    reply r;

    create("bn", "\"num_features\":2");
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[0,2],\"datatype\":\"FP32\","
              "\"data\":[]}]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    out = output_named(&r, "outputs");
    ck_assert_int_eq(count(member(out, "data")), 0);
    ck_assert_int_eq(cJSON_GetArrayItem(member(out, "shape"), 0)->valueint, 0);
    reply_clear(&r);
    body_make(&b, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[0,2],\"datatype\":\"FP32\","
                  "\"parameters\":{\"binary_data_size\":0}}],"
                  "\"parameters\":{\"binary_data_output\":true}}", NULL, 0, 0);
    call(&r, "POST", "/v2/models/bn/infer", NULL, b.ihcl, b.p, b.len);
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_str_eq(r.res.content_type, "application/octet-stream");
    ck_assert_uint_eq(r.bin_len, 0);
    ck_assert_int_eq(member(member(output_named(&r, "outputs"), "parameters"),
                            "binary_data_size")->valueint, 0);
    reply_clear(&r);
    body_free(&b);
}
END_TEST

/* ---- infer: binary ------------------------------------------------------------------------ */

/* The header tritonclient builds for inputs (4, 2) sent binary and no outputs named. */
#define TRITON_HEADER                                                                             \
    "{\"id\":\"t-1\",\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\","    \
    "\"parameters\":{\"binary_data_size\":32}}],\"parameters\":{\"binary_data_output\":true}}"

/* Checks a binary answer whose only output is `outputs` (4, 2) against WANT. */
static void assert_binary_outputs(const reply *r, const double *want)
{
    const cJSON *out;
    float got[8];

    ck_assert_msg(r->res.http_status == 200, "%s", r->text);
    ck_assert_str_eq(r->res.content_type, "application/octet-stream");
    ck_assert_ptr_nonnull(r->json); /* the header is JSON, padding included */
    /* the header is padded so that the outputs start 64-byte aligned in the answer */
    ck_assert_uint_eq((uintptr_t)(r->res.body + r->header) % 64, 0);
    out = output_named(r, "outputs");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(out, "data"));
    ck_assert_int_eq(member(member(out, "parameters"), "binary_data_size")->valueint, 32);
    ck_assert_uint_eq(r->bin_len, 32);
    for (int i = 0; i < 8; i++)
        got[i] = get_f32(r->bin + 4 * i);
    assert_close(got, want, 8);
}

START_TEST(test_infer_binary_triton)
{
    double want[8], mean[2] = {0.0, 0.0}, var[2] = {1.0, 1.0};
    uint8_t bin[32];
    body b;
    reply r;

    create("bn", "\"num_features\":2,\"mode\":\"eval\"");
    for (int i = 0; i < 8; i++)
        put_f32(bin + 4 * i, fx[i]);
    ref_bn(fx, 4, 2, 1, mean, var, NULL, NULL, want, NULL, NULL);
    /* tritonclient: no Content-Type, binary input, binary_data_output for unnamed outputs */
    body_make(&b, TRITON_HEADER, bin, sizeof bin, 0);
    call(&r, "POST", "/v2/models/bn/infer", NULL, b.ihcl, b.p, b.len);
    assert_binary_outputs(&r, want);
    ck_assert_str_eq(member(r.json, "id")->valuestring, "t-1");
    ck_assert_str_eq(member(r.json, "model_name")->valuestring, "bn");
    ck_assert_uint_eq(r.res.forward_elements, 8);
    reply_clear(&r);
    body_free(&b);
}
END_TEST

START_TEST(test_infer_binary_alignment)
{
    /* the binary input read in place (aligned) and copied (every other offset), FP32 and FP64:
     * the same answer */
    double want[8], mean[2] = {0.0, 0.0}, var[2] = {1.0, 1.0};
    uint8_t bin32[32], bin64[64];
    body b;
    reply r;

    create("bn", "\"num_features\":2,\"mode\":\"eval\"");
    for (int i = 0; i < 8; i++) {
        put_f32(bin32 + 4 * i, fx[i]);
        put_f64(bin64 + 8 * i, (double)fx[i]);
    }
    ref_bn(fx, 4, 2, 1, mean, var, NULL, NULL, want, NULL, NULL);
    for (size_t mis = 0; mis < 8; mis++) {
        body_make(&b, TRITON_HEADER, bin32, sizeof bin32, mis);
        call(&r, "POST", "/v2/models/bn/infer", NULL, b.ihcl, b.p, b.len);
        assert_binary_outputs(&r, want);
        reply_clear(&r);
        body_free(&b);
        body_make(&b, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP64\","
                      "\"parameters\":{\"binary_data_size\":64}}],"
                      "\"outputs\":[{\"name\":\"outputs\",\"parameters\":{\"binary_data\":true}}]}",
                  bin64, sizeof bin64, mis);
        call(&r, "POST", "/v2/models/bn/infer", "application/octet-stream", b.ihcl, b.p, b.len);
        assert_binary_outputs(&r, want);
        reply_clear(&r);
        body_free(&b);
    }
}
END_TEST

START_TEST(test_infer_binary_in_json_out)
{
    /* binary inputs, outputs in JSON (binary_data false overrides binary_data_output) */
    double want[8], mu[2], s2[2];
    uint8_t bin[32];
    float got[8];
    body b;
    reply r;

    create("bn", "\"num_features\":2");
    for (int i = 0; i < 8; i++)
        put_f32(bin + 4 * i, fx[i]);
    for (size_t mis = 0; mis < 2; mis++) {
        body_make(&b, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\","
                      "\"parameters\":{\"binary_data_size\":32}}],"
                      "\"parameters\":{\"mode\":\"eval\",\"binary_data_output\":true},"
                      "\"outputs\":[{\"name\":\"outputs\","
                      "\"parameters\":{\"binary_data\":false}}]}",
                  bin, sizeof bin, mis);
        call(&r, "POST", "/v2/models/bn/infer", NULL, b.ihcl, b.p, b.len);
        ck_assert_msg(r.res.http_status == 200, "%s", r.text);
        ck_assert_str_eq(r.res.content_type, "application/json");
        json_floats(output_named(&r, "outputs"), got, 8);
        ref_bn(fx, 4, 2, 1, (double[]){0.0, 0.0}, (double[]){1.0, 1.0}, NULL, NULL, want, mu, s2);
        assert_close(got, want, 8);
        reply_clear(&r);
        body_free(&b);
    }
}
END_TEST

START_TEST(test_infer_json_in_binary_out)
{
    double want[8], mu[2], s2[2];
    reply r;

    create("bn", "\"num_features\":2");
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"parameters\":{\"binary_data_output\":true},\"inputs\":[{\"name\":\"inputs\","
              "\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":" FX_JSON "}]}");
    ref_bn(fx, 4, 2, 1, NULL, NULL, NULL, NULL, want, mu, s2);
    assert_binary_outputs(&r, want);
    reply_clear(&r);
}
END_TEST

START_TEST(test_infer_binary_mixed)
{
    /* inputs binary, weight JSON, bias binary, running_mean JSON, running_var binary (FP64);
     * outputs binary, running_mean JSON, running_var binary */
    double want[8], mean[2] = {0.5, -1.0}, var[2] = {4.0, 0.25}, w[2] = {2.0, -1.0},
                    bb[2] = {0.5, 3.0}, mu[2], s2[2];
    uint8_t bin[32 + 8 + 16];
    const cJSON *out;
    float got[8], stat[2];
    body b;
    reply r;

    create("bn", "\"num_features\":2");
    for (int i = 0; i < 8; i++)
        put_f32(bin + 4 * i, fx[i]);
    put_f32(bin + 32, 0.5f);
    put_f32(bin + 36, 3.0f);
    put_f64(bin + 40, 4.0);
    put_f64(bin + 48, 0.25);
    body_make(&b,
              "{\"inputs\":["
              "{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\","
              "\"parameters\":{\"binary_data_size\":32}},"
              "{\"name\":\"weight\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[2,-1]},"
              "{\"name\":\"bias\",\"shape\":[2],\"datatype\":\"FP32\","
              "\"parameters\":{\"binary_data_size\":8}},"
              "{\"name\":\"running_mean\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[0.5,-1]},"
              "{\"name\":\"running_var\",\"shape\":[2],\"datatype\":\"FP64\","
              "\"parameters\":{\"binary_data_size\":16}}],"
              "\"outputs\":[{\"name\":\"running_var\",\"parameters\":{\"binary_data\":true}},"
              "{\"name\":\"running_mean\"},{\"name\":\"outputs\",\"parameters\":{\"binary_data\":"
              "true}}],\"parameters\":{\"mode\":\"train\"}}",
              bin, sizeof bin, 3);
    call(&r, "POST", "/v2/models/bn/infer", "application/octet-stream", b.ihcl, b.p, b.len);
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_str_eq(r.res.content_type, "application/octet-stream");
    ck_assert_uint_eq(r.bin_len, 32 + 8);
    ref_bn(fx, 4, 2, 1, NULL, NULL, w, bb, want, mu, s2);
    for (int i = 0; i < 8; i++)
        got[i] = get_f32(r.bin + 4 * i);
    assert_close(got, want, 8);
    out = output_named(&r, "running_mean"); /* JSON */
    json_floats(out, stat, 2);
    for (int j = 0; j < 2; j++)
        ck_assert_double_eq_tol(stat[j], 0.9 * mean[j] + 0.1 * mu[j], 1e-6);
    out = output_named(&r, "running_var"); /* binary, after the outputs */
    ck_assert_int_eq(member(member(out, "parameters"), "binary_data_size")->valueint, 8);
    for (int j = 0; j < 2; j++)
        ck_assert_double_eq_tol(get_f32(r.bin + 32 + 4 * j),
                                0.9 * var[j] + 0.1 * s2[j] * 4.0 / 3.0, 1e-5);
    reply_clear(&r);
    body_free(&b);
}
END_TEST

START_TEST(test_infer_binary_stats_only)
{
    /* outputs in JSON, statistics binary: the header is the JSON part, the statistics follow */
    double want[8], mu[2], s2[2];
    float got[8];
    reply r;

    create("bn", "\"num_features\":2");
    call_json(&r, "POST", "/v2/models/bn/infer",
              "{\"outputs\":[{\"name\":\"outputs\"},{\"name\":\"running_mean\",\"parameters\":"
              "{\"binary_data\":true}},{\"name\":\"running_var\",\"parameters\":{\"binary_data\":"
              "true}}],\"inputs\":[" GIVEN_JSON "]}");
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_str_eq(r.res.content_type, "application/octet-stream");
    ck_assert_ptr_nonnull(r.json);
    ck_assert_uint_eq(r.bin_len, 16);
    json_floats(output_named(&r, "outputs"), got, 8);
    ref_bn(fx, 4, 2, 1, NULL, NULL, NULL, NULL, want, mu, s2);
    assert_close(got, want, 8);
    for (int j = 0; j < 2; j++) {
        ck_assert_double_eq_tol(get_f32(r.bin + 4 * j), 0.1 * mu[j], 1e-6);
        ck_assert_double_eq_tol(get_f32(r.bin + 8 + 4 * j), 0.9 + 0.1 * s2[j] * 4.0 / 3.0, 1e-5);
    }
    reply_clear(&r);
}
END_TEST

START_TEST(test_infer_fp64_overflow)
{
    uint8_t bin[16];
    body b;
    reply r;

    create("bn", "\"num_features\":2");
    put_f64(bin, 1e39);
    put_f64(bin + 8, 1.0);
    body_make(&b, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,2],\"datatype\":\"FP64\","
                  "\"parameters\":{\"binary_data_size\":16}}],\"parameters\":{\"mode\":\"eval\"}}",
              bin, sizeof bin, 0);
    call(&r, "POST", "/v2/models/bn/infer", NULL, b.ihcl, b.p, b.len);
    ck_assert_int_eq(r.res.http_status, 422);
    ck_assert_str_eq(member(r.json, "code")->valuestring, "non_finite");
    reply_clear(&r);
    body_free(&b);
    expect_error("POST", "/v2/models/bn/infer",
                 "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,2],\"datatype\":\"FP64\","
                 "\"data\":[1e39,1]}],\"parameters\":{\"mode\":\"eval\"}}",
                 422, "non_finite");
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------- */

#define IN42 "{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP32\","
#define IN42_JSON IN42 "\"data\":" FX_JSON "}"
#define BIN32 "\"parameters\":{\"binary_data_size\":32}}"
#define OCTET "application/octet-stream"

/* One bad request to POST /v2/models/bn/infer. IHCL "=" is the JSON header's own length; BIN
 * binary bytes follow the JSON. */
typedef struct bad_case {
    const char *ctype;
    const char *ihcl;
    const char *json;
    int bin;
    int status;
    const char *code;
} bad_case;

static const bad_case bad[] = {
    /* framing: the header length */
    {OCTET, "999", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"},
    {OCTET, "12a", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"},
    {OCTET, "-1", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"},
    {OCTET, "", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"},
    {NULL, "1e2", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"},
    {NULL, "99999999999999999999999999", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400,
     "invalid_argument"},
    {NULL, "0", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_json"},
    {NULL, "10", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_json"},
    {NULL, "+1", "{\"inputs\":[" IN42 BIN32 "]}", 32, 400, "invalid_argument"}, /* body + 1 */
    /* framing: binary sizes */
    {NULL, "=", "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":16}}]}", 16, 400,
     "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 BIN32 "]}", 36, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 BIN32 "]}", 28, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":36}}]}", 36, 400,
     "invalid_argument"}, /* sent as declared, but not what the shape needs */
    {NULL, NULL, "{\"inputs\":[" IN42 BIN32 "]}", 0, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":-32}}]}", 32, 400,
     "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":32.0}}]}", 32, 400,
     "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":\"32\"}}]}", 32, 400,
     "invalid_argument"},
    {NULL, "=",
     "{\"inputs\":[" IN42 "\"parameters\":{\"binary_data_size\":32,\"binary_data_size\":32}}]}",
     32, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[" IN42 "\"data\":" FX_JSON "," BIN32 "]}", 32, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"parameters\":{}}]}", 0, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP64\"," BIN32
     "]}", 32, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4611686018427387904,4],"
     "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":16}}]}", 16, 400,
     "invalid_argument"},
    {NULL, "=", "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[99999999999999999999,2],"
     "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":16}}]}", 16, 400,
     "invalid_argument"},
    /* structure */
    {"text/plain", NULL, "{\"inputs\":[" IN42_JSON "]}", 0, 415, "unsupported_media_type"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON "]", 0, 400, "invalid_json"},
    {NULL, NULL, "[1]", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON "],\"foo\":1}", 0, 400, "unknown_field"},
    {NULL, NULL, "{}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":{}}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[1]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"dims\":[4,2],\"data\":" FX_JSON "}]}", 0, 400,
     "unknown_field"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"datatype\":\"FP32\",\"data\":[1,2]}]}", 0,
     400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,2]},"
     IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON "," IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"INT32\","
     "\"data\":" FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"fp32\","
     "\"data\":" FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2],\"datatype\":\"FP16\","
     "\"data\":" FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[4,2.5],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":8,\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":{\"shape\":[4,2],\"data\":" FX_JSON "}}]}", 0,
     400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[1,2,3,4,5,6,7,\"8\"]}]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":1,\"shape\":[4,2],\"datatype\":\"FP32\",\"data\":"
     FX_JSON "}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"id\":42,\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"model_name\":7,\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":[],\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"stats_id\":0.5},\"inputs\":[" IN42_JSON "]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"mode\":\"test\"},\"inputs\":[" IN42_JSON "]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"mode\":\"eval\",\"mode\":\"eval\"},\"inputs\":[" IN42_JSON
     "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"binary_data_output\":\"true\"},\"inputs\":[" IN42_JSON "]}",
     0, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"num_batches_tracked\":1},\"inputs\":[" IN42_JSON "]}", 0,
     400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"num_batches_tracked\":-1},\"inputs\":[" GIVEN_JSON "]}", 0,
     400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON ",{\"name\":\"running_mean\",\"shape\":[2],"
     "\"datatype\":\"FP32\",\"data\":[0,0]}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"weight\",\"shape\":[2],\"datatype\":\"FP32\","
     "\"data\":[1,1]}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"outputs\":{},\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[\"outputs\"],\"inputs\":[" IN42_JSON "]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[{\"name\":\"y\"}],\"inputs\":[" IN42_JSON "]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[{}],\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[{\"name\":\"outputs\"},{\"name\":\"outputs\"}],\"inputs\":["
     IN42_JSON "]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[{\"name\":\"outputs\",\"shape\":[1]}],\"inputs\":[" IN42_JSON
     "]}", 0, 400, "unknown_field"},
    {NULL, NULL, "{\"outputs\":[{\"name\":\"outputs\",\"parameters\":{\"binary_data\":1}}],"
     "\"inputs\":[" IN42_JSON "]}", 0, 400, "invalid_argument"},
    /* a statistics output that does not exist for this call */
    {NULL, NULL, "{\"outputs\":[{\"name\":\"running_mean\"}],\"inputs\":[" IN42_JSON "]}", 0, 400,
     "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"mode\":\"eval\"},\"outputs\":[{\"name\":\"running_var\"}],"
     "\"inputs\":[" GIVEN_JSON "]}", 0, 400, "invalid_argument"},
    /* shapes */
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[8],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,1,1,1,4,2],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,1,1,1,1,1,1,4,2],\"datatype\":"
     "\"FP32\",\"data\":" FX_JSON "}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[-4,-2],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[1,2,3,4,5,6,7]}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[1,2,3,4,5,6,7,8,9]}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[[1,2],[3,4],[5,6],[7]]}]}", 0, 422,
     "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[2,4],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON ",{\"name\":\"weight\",\"shape\":[1,2],\"datatype\":"
     "\"FP32\",\"data\":[1,1]}]}", 0, 422, "shape_mismatch"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON ",{\"name\":\"bias\",\"shape\":[3],\"datatype\":"
     "\"FP32\",\"data\":[1,1,1]}]}", 0, 422, "shape_mismatch"},
    /* later rules */
    {NULL, NULL, "{\"parameters\":{\"stats_id\":5},\"inputs\":[" IN42_JSON "]}", 0, 422,
     "stats_id_out_of_range"},
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[1,2],\"datatype\":\"FP32\","
     "\"data\":[1,2]}]}", 0, 422, "batch_too_small"},
    {NULL, NULL, "{\"inputs\":[" IN42_JSON ",{\"name\":\"running_mean\",\"shape\":[2],"
     "\"datatype\":\"FP32\",\"data\":[0,0]},{\"name\":\"running_var\",\"shape\":[2],"
     "\"datatype\":\"FP32\",\"data\":[1,-1]}]}", 0, 422, "invalid_value"},
    {NULL, NULL, "{\"parameters\":{\"num_batches_tracked\":99999999999999999999},\"inputs\":["
     GIVEN_JSON "]}", 0, 422, "non_finite"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[1,2,3,4,5,6,7,1e39]}]}", 0, 422, "non_finite"},
    /* precedence: structure (400) before shapes (422), whatever the order in the body */
    {NULL, NULL, "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[-4,2],\"datatype\":\"FP32\","
     "\"data\":" FX_JSON "}],\"outputs\":[{\"name\":\"nope\"}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"inputs\":[" IN42 "\"data\":[1,2,3]},{\"name\":\"weight\",\"shape\":[2],"
     "\"datatype\":\"FP32\",\"data\":[1,\"x\"]}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"outputs\":[{\"name\":\"running_mean\"}],\"inputs\":[" IN42
     "\"data\":[1,2,3]}]}", 0, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"num_batches_tracked\":1},\"inputs\":[" IN42
     "\"data\":[1,2,3]}]}", 0, 400, "invalid_argument"},
    {NULL, "=", "{\"inputs\":[{\"name\":\"inputs\",\"shape\":[-4,2],\"datatype\":\"FP32\","
     "\"parameters\":{\"binary_data_size\":32}}]}", 36, 400, "invalid_argument"},
    {NULL, NULL, "{\"parameters\":{\"stats_id\":5},\"inputs\":[{\"name\":\"inputs\",\"shape\":"
     "[4,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,6,7,8,9,10,11,12]}]}", 0, 422,
     "shape_mismatch"},
};

static void bad_setup(void)
{
    setup();
    create("bn", "\"num_features\":2");
}

START_TEST(test_bad_request)
{
    const bad_case *c = &bad[_i];
    uint8_t *bin = calloc((size_t)c->bin + 1, 1);
    char *before = snapshot(), *after;
    char beyond[32]; /* IHCL "+1": one byte more than the whole body */
    const char *ihcl = c->ihcl;
    body b;
    reply r;

    for (int i = 0; i + 4 <= c->bin; i += 4)
        put_f32(bin + i, 1.0f + (float)i);
    body_make(&b, c->json, bin, (size_t)c->bin, 1);
    snprintf(beyond, sizeof beyond, "%zu", b.len + 1);
    if (ihcl != NULL && strcmp(ihcl, "=") == 0)
        ihcl = b.ihcl;
    else if (ihcl != NULL && strcmp(ihcl, "+1") == 0)
        ihcl = beyond;
    call(&r, "POST", "/v2/models/bn/infer", c->ctype, ihcl, b.p, b.len);
    ck_assert_msg(r.res.http_status == c->status, "row %d: %s: expected %d %s, got %d: %s", _i,
                  c->json, c->status, c->code, r.res.http_status, r.text);
    ck_assert_msg(r.json != NULL, "row %d: not JSON: %s", _i, r.text);
    ck_assert_str_eq(member(r.json, "code")->valuestring, c->code);
    ck_assert_str_eq(r.res.error_code, c->code);
    ck_assert_int_eq(count(r.json), 2);
    ck_assert_uint_eq(r.header, r.res.body_len); /* an error is plain JSON */
    ck_assert_uint_eq(r.res.forward_elements, 0);
    after = snapshot();
    ck_assert_msg(strcmp(before, after) == 0, "row %d changed the layer", _i);
    free(after);
    free(before);
    reply_clear(&r);
    body_free(&b);
    free(bin);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------------- */

int main(void)
{
    Suite *s = suite_create("oip");
    TCase *meta = tcase_create("metadata");
    TCase *json = tcase_create("infer_json");
    TCase *binary = tcase_create("infer_binary");
    TCase *errors = tcase_create("errors");
    TCase *walk = tcase_create("json_walk");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(meta, setup, teardown);
    tcase_add_test(meta, test_server_metadata);
    tcase_add_test(meta, test_model_metadata);
    tcase_add_test(meta, test_model_ready);
    tcase_add_test(meta, test_routes_classified);
    suite_add_tcase(s, meta);
    tcase_add_checked_fixture(json, setup, teardown);
    tcase_add_test(json, test_infer_json_train);
    tcase_add_test(json, test_infer_json_forms);
    tcase_add_test(json, test_infer_given_stats);
    tcase_add_test(json, test_infer_output_selection);
    tcase_add_test(json, test_infer_empty_batch);
    suite_add_tcase(s, json);
    tcase_add_checked_fixture(binary, setup, teardown);
    tcase_add_test(binary, test_infer_binary_triton);
    tcase_add_test(binary, test_infer_binary_alignment);
    tcase_add_test(binary, test_infer_binary_in_json_out);
    tcase_add_test(binary, test_infer_json_in_binary_out);
    tcase_add_test(binary, test_infer_binary_mixed);
    tcase_add_test(binary, test_infer_binary_stats_only);
    tcase_add_test(binary, test_infer_fp64_overflow);
    suite_add_tcase(s, binary);
    tcase_add_checked_fixture(errors, bad_setup, teardown);
    tcase_add_loop_test(errors, test_bad_request, 0, (int)(sizeof bad / sizeof bad[0]));
    suite_add_tcase(s, errors);
    tcase_add_test(walk, test_json_walk);
    suite_add_tcase(s, walk);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
