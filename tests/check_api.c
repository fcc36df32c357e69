/* check_api.c: the api/ test program: the shared harness (a real registry behind hbn_api,
 * literal requests through hbn_api_handle, no socket), every route's success shape, the binary
 * forward form, health and metrics, and the continual-learning workflow. Expected outputs come
 * from the plain double-precision batch norm written here (never from core/), floats are read
 * back with strtof from the response text. */
#include "tests/check_api.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/registry.h"

/* ---- harness ---------------------------------------------------------------------------- */

hbn_api test_api;
const char *test_not_ready;
static hbn_registry *test_reg;

static const char *ready_cb(void *ctx)
{
    (void)ctx;
    return test_not_ready;
}

static void metrics_cb(void *ctx, hbn_strbuf *sb)
{
    (void)ctx;
    hbn_strbuf_puts(sb, "# TYPE hyperbn_test gauge\nhyperbn_test 1\n");
}

static void setup_with(int64_t max_layers, int64_t max_slots)
{
    hbn_registry_options opts = {.max_layers = max_layers, .max_slots = max_slots};

    ck_assert_int_eq(hbn_registry_create(&opts, &test_reg, NULL), HBN_OK);
    memset(&test_api, 0, sizeof test_api);
    hbn_registry_store(test_reg, &test_api.store);
    test_api.version = "0.0.0-test";
    test_api.not_ready_reason = ready_cb;
    test_api.render_metrics = metrics_cb;
    test_not_ready = NULL;
}

void test_api_setup(void)
{
    setup_with(0, 0);
}

void test_api_setup_quota(void)
{
    setup_with(3, 2);
}

void test_api_teardown(void)
{
    hbn_registry_free(test_reg);
    test_reg = NULL;
}

void test_call(test_reply *r, const char *method, const char *path, const char *query,
               const char *ctype, const void *body, size_t len)
{
    hbn_request req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = body, .body_len = len};

    hbn_response_init(&r->res);
    hbn_api_handle(&test_api, &req, &r->res);
    r->text = malloc(r->res.body_len + 1);
    ck_assert_ptr_nonnull(r->text);
    if (r->res.body_len > 0)
        memcpy(r->text, r->res.body, r->res.body_len);
    r->text[r->res.body_len] = '\0';
    r->json = cJSON_ParseWithLength(r->text, r->res.body_len);
}

void test_json(test_reply *r, const char *method, const char *path, const char *body)
{
    test_call(r, method, path, NULL, body != NULL ? "application/json" : NULL, body,
              body != NULL ? strlen(body) : 0);
}

void test_reply_clear(test_reply *r)
{
    cJSON_Delete(r->json);
    free(r->text);
    hbn_response_clear(&r->res);
}

const char *test_header(const test_reply *r, const char *name)
{
    int i;

    for (i = 0; i < r->res.header_count; i++)
        if (strcmp(r->res.headers[i].name, name) == 0)
            return r->res.headers[i].value;
    return NULL;
}

void test_expect(const char *method, const char *path, const char *body, int status)
{
    test_reply r;

    test_json(&r, method, path, body);
    ck_assert_msg(r.res.http_status == status, "%s %s: expected %d, got %d: %s", method, path,
                  status, r.res.http_status, r.text);
    test_reply_clear(&r);
}

void test_create(const char *name, const char *options)
{
    char body[512];

    snprintf(body, sizeof body, "{\"name\":\"%s\",%s}", name, options);
    test_expect("POST", "/v1/layers", body, 201);
}

/* Appends the body of GET PATH (status and text) to *OUT (realloc'd). */
static void snapshot_add(char **out, size_t *len, const char *path)
{
    test_reply r;
    size_t add;

    test_json(&r, "GET", path, NULL);
    add = strlen(path) + strlen(r.text) + 16;
    *out = realloc(*out, *len + add);
    ck_assert_ptr_nonnull(*out);
    *len += (size_t)snprintf(*out + *len, add, "%s %d %s\n", path, r.res.http_status, r.text);
    test_reply_clear(&r);
}

char *test_snapshot(void)
{
    test_reply list;
    const cJSON *layer;
    char *out = NULL;
    size_t len = 0;

    snapshot_add(&out, &len, "/v1/layers");
    test_json(&list, "GET", "/v1/layers", NULL);
    ck_assert_ptr_nonnull(list.json);
    cJSON_ArrayForEach(layer, cJSON_GetObjectItemCaseSensitive(list.json, "layers"))
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(layer, "name")->valuestring;
        int t = (int)test_num(layer, "num_stats");
        char path[256];
        int k;

        snprintf(path, sizeof path, "/v1/layers/%s/weights", name);
        snapshot_add(&out, &len, path);
        for (k = 0; k < t; k++) {
            snprintf(path, sizeof path, "/v1/layers/%s/stats/%d", name, k);
            snapshot_add(&out, &len, path);
        }
    }
    test_reply_clear(&list);
    return out;
}

void test_snapshot_same(char *before, const char *what)
{
    char *after = test_snapshot();

    ck_assert_msg(strcmp(before, after) == 0, "%s changed state:\n%s\n---\n%s", what, before,
                  after);
    free(before);
    free(after);
}

double test_num(const cJSON *o, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);

    ck_assert_msg(cJSON_IsNumber(item), "member %s is not a number", name);
    return item->valuedouble;
}

void test_text_floats(const char *text, const char *key, float *out, int n)
{
    char pattern[64];
    const char *p;
    int depth = 0, count = 0;

    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = strstr(text, pattern);
    ck_assert_msg(p != NULL, "no member %s in %s", key, text);
    p += strlen(pattern);
    do {
        if (*p == '[') {
            depth++;
            p++;
        } else if (*p == ']') {
            depth--;
            p++;
        } else if (*p == ',' || *p == ' ') {
            p++;
        } else {
            char *end;
            float v = strtof(p, &end);

            ck_assert_msg(end != p, "member %s holds a non-number at %.20s", key, p);
            if (count < n)
                out[count] = v;
            count++;
            p = end;
        }
    } while (depth > 0 && *p != '\0');
    ck_assert_msg(count == n, "member %s has %d numbers, expected %d", key, count, n);
}

/* ---- the reference batch norm (double precision, written out) --------------------------- */

/* Per-channel batch mean MU[C] and biased variance S2[C] of X (N, C, S) in row-major order. */
static void ref_moments(const float *x, int n, int c, int s, double *mu, double *s2)
{
    int i, j, k;

    for (j = 0; j < c; j++) {
        double sum = 0.0, sq = 0.0;

        for (i = 0; i < n; i++)
            for (k = 0; k < s; k++)
                sum += (double)x[(i * c + j) * s + k];
        mu[j] = sum / (n * s);
        for (i = 0; i < n; i++)
            for (k = 0; k < s; k++) {
                double d = (double)x[(i * c + j) * s + k] - mu[j];
                sq += d * d;
            }
        s2[j] = sq / (n * s);
    }
}

/* Y = (X - MEAN) / sqrt(VAR + EPS) * W + B over (N, C, S); W, B NULL mean 1 and 0. */
static void ref_normalize(const float *x, int n, int c, int s, const double *mean,
                          const double *var, const double *w, const double *b, double eps,
                          double *y)
{
    int i, j, k;

    for (i = 0; i < n; i++)
        for (j = 0; j < c; j++)
            for (k = 0; k < s; k++) {
                int at = (i * c + j) * s + k;
                y[at] = ((double)x[at] - mean[j]) / sqrt(var[j] + eps) * (w != NULL ? w[j] : 1.0) +
                        (b != NULL ? b[j] : 0.0);
            }
}

/* Fails unless GOT[N] (floats from a response) matches WANT[N] within float32 tolerance. */
static void assert_close(const float *got, const double *want, int n)
{
    int i;

    for (i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= 1e-5 * (1.0 + fabs(want[i])),
                      "value %d: got %.9g, want %.9g", i, (double)got[i], want[i]);
}

/* ---- layers ------------------------------------------------------------------------------ */

static const char *const layer_keys[] = {
    "name", "num_features", "momentum", "eps", "affine", "track_running_stats", "frozen_stats",
    "learnable_stats", "mode", "num_stats", "param_shapes", "hyper_shapes",
};

/* Fails unless O's members are exactly the layer object's, in API.md's order. */
static void assert_layer_keys(const cJSON *o)
{
    const cJSON *item = o != NULL ? o->child : NULL;
    size_t i;

    for (i = 0; i < sizeof layer_keys / sizeof layer_keys[0]; i++) {
        ck_assert_msg(item != NULL, "layer object ends before %s", layer_keys[i]);
        ck_assert_str_eq(item->string, layer_keys[i]);
        item = item->next;
    }
    ck_assert_ptr_null(item);
}

START_TEST(test_create_default_layer)
{
    test_reply r;

    test_json(&r, "POST", "/v1/layers", "{\"name\":\"bn1\",\"num_features\":3}");
    ck_assert_int_eq(r.res.http_status, 201);
    ck_assert_str_eq(r.res.content_type, "application/json");
    ck_assert_str_eq(test_header(&r, "Location"), "/v1/layers/bn1");
    ck_assert_str_eq(r.res.route, "/v1/layers");
    ck_assert_ptr_null(r.res.error_code);
    ck_assert_str_eq(r.text, "{\"name\":\"bn1\",\"num_features\":3,\"momentum\":0.1,\"eps\":1e-05,"
                             "\"affine\":true,\"track_running_stats\":true,\"frozen_stats\":false,"
                             "\"learnable_stats\":false,\"mode\":\"train\",\"num_stats\":1,"
                             "\"param_shapes\":[[3],[3]],\"hyper_shapes\":null}");
    assert_layer_keys(r.json);
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_create_options)
{
    test_reply r;

    test_call(&r, "POST", "/v1/layers", NULL, "Application/JSON; charset=utf-8",
              "{\"name\":\"L-2.x_y\",\"num_features\":2,\"momentum\":null,\"eps\":0.001,"
              "\"affine\":false,\"track_running_stats\":false,\"learnable_stats\":true,"
              "\"mode\":\"eval\"}",
              strlen("{\"name\":\"L-2.x_y\",\"num_features\":2,\"momentum\":null,\"eps\":0.001,"
                     "\"affine\":false,\"track_running_stats\":false,\"learnable_stats\":true,"
                     "\"mode\":\"eval\"}"));
    ck_assert_int_eq(r.res.http_status, 201);
    assert_layer_keys(r.json);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "momentum")));
    ck_assert_double_eq(test_num(r.json, "eps"), 0.001);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r.json, "affine")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "learnable_stats")));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "mode")->valuestring, "eval");
    ck_assert_str_eq(strstr(r.text, "\"param_shapes\""),
                     "\"param_shapes\":[[2],[2],[2],[2]],\"hyper_shapes\":[[2],[2]]}");
    test_reply_clear(&r);
    /* absent Content-Type on a JSON route is accepted */
    test_call(&r, "POST", "/v1/layers", NULL, NULL, "{\"name\":\"nt\",\"num_features\":1}",
              strlen("{\"name\":\"nt\",\"num_features\":1}"));
    ck_assert_int_eq(r.res.http_status, 201);
    ck_assert_int_eq((int)test_num(r.json, "num_stats"), 1);
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_list_get_delete)
{
    test_reply r;
    const cJSON *layers;

    test_json(&r, "GET", "/v1/layers", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"layers\":[]}");
    test_reply_clear(&r);
    test_create("zeta", "\"num_features\":2");
    test_create("alpha", "\"num_features\":4,\"affine\":false");
    test_json(&r, "GET", "/v1/layers", NULL);
    layers = cJSON_GetObjectItemCaseSensitive(r.json, "layers");
    ck_assert_int_eq(cJSON_GetArraySize(layers), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(layers, 0)->child->valuestring, "alpha");
    ck_assert_str_eq(cJSON_GetArrayItem(layers, 1)->child->valuestring, "zeta");
    assert_layer_keys(cJSON_GetArrayItem(layers, 0));
    test_reply_clear(&r);

    test_json(&r, "GET", "/v1/layers/alpha", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.route, "/v1/layers/{name}");
    ck_assert_int_eq((int)test_num(r.json, "num_features"), 4);
    ck_assert_ptr_nonnull(strstr(r.text, "\"param_shapes\":[[4],[4]],\"hyper_shapes\":[[4],[4]]}"));
    test_reply_clear(&r);
    test_create("one", "\"num_features\":1,\"affine\":false"); /* the smallest C */
    test_json(&r, "GET", "/v1/layers/one", NULL);
    ck_assert_ptr_nonnull(strstr(r.text, "\"param_shapes\":[[1],[1]],\"hyper_shapes\":[[1],[1]]}"));
    test_reply_clear(&r);
    test_expect("DELETE", "/v1/layers/one", NULL, 204);

    test_json(&r, "DELETE", "/v1/layers/alpha", NULL);
    ck_assert_int_eq(r.res.http_status, 204);
    ck_assert_uint_eq(r.res.body_len, 0);
    ck_assert_ptr_null(r.res.content_type);
    test_reply_clear(&r);
    test_expect("GET", "/v1/layers/alpha", NULL, 404);
    test_expect("DELETE", "/v1/layers/alpha", NULL, 404);
}
END_TEST

START_TEST(test_mode_put)
{
    test_reply r;

    test_create("m", "\"num_features\":2");
    test_json(&r, "PUT", "/v1/layers/m/mode", "{\"mode\":\"eval\"}");
    ck_assert_int_eq(r.res.http_status, 200);
    assert_layer_keys(r.json);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "mode")->valuestring, "eval");
    test_reply_clear(&r);
    test_json(&r, "GET", "/v1/layers/m", NULL);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "mode")->valuestring, "eval");
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_weights_round_trip)
{
    /* Values whose float32 needs up to 9 significant digits, written with more digits than
     * that so the API must round them to float32. */
    static const char *const text[5] = {"0.1", "0.333333333333", "16777217", "1.17549435e-38",
                                        "-3.40282346e38"};
    char body[256];
    float want[5], got[5];
    test_reply r;
    int i;

    test_create("w", "\"num_features\":5");
    test_json(&r, "GET", "/v1/layers/w/weights", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"weight\":[1,1,1,1,1],\"bias\":[0,0,0,0,0]}");
    test_reply_clear(&r);
    for (i = 0; i < 5; i++)
        want[i] = strtof(text[i], NULL);
    snprintf(body, sizeof body, "{\"bias\":[%s,%s,%s,%s,%s],\"weight\":[5,4,3,2,1]}", text[0],
             text[1], text[2], text[3], text[4]);
    test_json(&r, "PUT", "/v1/layers/w/weights", body);
    ck_assert_int_eq(r.res.http_status, 200);
    test_text_floats(r.text, "bias", got, 5);
    ck_assert_mem_eq(got, want, sizeof want);
    test_reply_clear(&r);
    test_json(&r, "GET", "/v1/layers/w/weights", NULL);
    test_text_floats(r.text, "bias", got, 5);
    ck_assert_mem_eq(got, want, sizeof want);
    test_text_floats(r.text, "weight", got, 5);
    ck_assert(got[0] == 5.0f && got[4] == 1.0f);
    test_reply_clear(&r);
}
END_TEST

/* ---- statistics -------------------------------------------------------------------------- */

START_TEST(test_checkpoint_bodies)
{
    static const char *const bodies[] = {NULL, "", "{}", " { } "};
    test_reply r;
    int i;

    test_create("c", "\"num_features\":2");
    for (i = 0; i < 4; i++) {
        char want[64], where[64];

        test_call(&r, "POST", "/v1/layers/c/checkpoints", NULL,
                  bodies[i] != NULL && bodies[i][0] != '\0' ? "application/json" : NULL,
                  bodies[i], bodies[i] != NULL ? strlen(bodies[i]) : 0);
        ck_assert_int_eq(r.res.http_status, 201);
        snprintf(want, sizeof want, "{\"stats_id\":%d,\"num_stats\":%d}", i + 1, i + 2);
        ck_assert_str_eq(r.text, want);
        snprintf(where, sizeof where, "/v1/layers/c/stats/%d", i + 1);
        ck_assert_str_eq(test_header(&r, "Location"), where);
        test_reply_clear(&r);
    }
    /* a form content type with an empty body (curl -X POST -d '') is no body at all */
    test_call(&r, "POST", "/v1/layers/c/checkpoints", NULL,
              "application/x-www-form-urlencoded", "", 0);
    ck_assert_int_eq(r.res.http_status, 201);
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_stats_get_put)
{
    test_reply r;
    float got[2];

    test_create("s", "\"num_features\":2");
    test_json(&r, "GET", "/v1/layers/s/stats", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"stats_id\":0,\"running_mean\":[0,0],\"running_var\":[1,1],"
                             "\"num_batches_tracked\":0}");
    test_reply_clear(&r);
    test_expect("POST", "/v1/layers/s/checkpoints", NULL, 201);
    test_json(&r, "PUT", "/v1/layers/s/stats/0",
              "{\"running_mean\":[0.25,-1.5],\"running_var\":[2,0],\"num_batches_tracked\":7}");
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.route, "/v1/layers/{name}/stats/{id}");
    ck_assert_str_eq(r.text, "{\"stats_id\":0,\"running_mean\":[0.25,-1.5],\"running_var\":[2,0],"
                             "\"num_batches_tracked\":7}");
    test_reply_clear(&r);
    /* the latest slot is 1, untouched */
    test_json(&r, "GET", "/v1/layers/s/stats", NULL);
    ck_assert_int_eq((int)test_num(r.json, "stats_id"), 1);
    test_text_floats(r.text, "running_var", got, 2);
    ck_assert(got[0] == 1.0f && got[1] == 1.0f);
    test_reply_clear(&r);
    /* a write without a count keeps the slot's */
    test_json(&r, "PUT", "/v1/layers/s/stats/0", "{\"running_var\":[3,3],\"running_mean\":[1,1]}");
    ck_assert_int_eq((int)test_num(r.json, "num_batches_tracked"), 7);
    test_reply_clear(&r);
    test_json(&r, "GET", "/v1/layers/s/stats/0", NULL);
    ck_assert_str_eq(r.text, "{\"stats_id\":0,\"running_mean\":[1,1],\"running_var\":[3,3],"
                             "\"num_batches_tracked\":7}");
    test_reply_clear(&r);
    /* a slot id with leading zeros is still that integer */
    test_expect("GET", "/v1/layers/s/stats/0001", NULL, 200);
}
END_TEST

/* ---- forward ----------------------------------------------------------------------------- */

static const float fx[8] = {1.0f, -2.0f, 3.5f, 0.25f, -1.0f, 4.0f, 2.0f, 10.0f}; /* (4, 2) */

START_TEST(test_forward_train_nested)
{
    double mu[2], s2[2], want[8], rv[2], rm[2];
    float got[8], slot[2];
    test_reply r;
    int j;

    test_create("f", "\"num_features\":2,\"momentum\":0.25");
    test_json(&r, "POST", "/v1/layers/f/forward",
              "{\"inputs\":[[1,-2],[3.5,0.25],[-1,4],[2,10]]}");
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.route, "/v1/layers/{name}/forward");
    ck_assert_uint_eq(r.res.forward_elements, 8);
    ref_moments(fx, 4, 2, 1, mu, s2);
    ref_normalize(fx, 4, 2, 1, mu, s2, NULL, NULL, 1e-5, want);
    test_text_floats(r.text, "outputs", got, 8);
    assert_close(got, want, 8);
    ck_assert_ptr_nonnull(strstr(r.text, "\"outputs\":[["));
    ck_assert_ptr_nonnull(strstr(r.text, "],\"mode\":\"train\",\"stats_id\":0}"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "running_mean"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "warning"));
    test_reply_clear(&r);
    /* the slot took the update: (1 - 0.25) * init + 0.25 * batch (unbiased variance) */
    test_json(&r, "GET", "/v1/layers/f/stats/0", NULL);
    for (j = 0; j < 2; j++) {
        rm[j] = 0.25 * mu[j];
        rv[j] = 0.75 + 0.25 * s2[j] * 4.0 / 3.0;
    }
    test_text_floats(r.text, "running_mean", slot, 2);
    assert_close(slot, rm, 2);
    test_text_floats(r.text, "running_var", slot, 2);
    assert_close(slot, rv, 2);
    ck_assert_int_eq((int)test_num(r.json, "num_batches_tracked"), 1);
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_forward_object_form_eval)
{
    double mean[2] = {0.5, -1.0}, var[2] = {4.0, 0.25}, w[2] = {2.0, -1.0}, b[2] = {0.5, 3.0};
    double want[8];
    float got[8];
    test_reply r;

    /* eval with given stats, weight and bias from the request: the layer's slot is not used */
    test_create("o", "\"num_features\":2,\"mode\":\"eval\"");
    test_json(&r, "POST", "/v1/layers/o/forward",
              "{\"inputs\":{\"shape\":[2,2,2],\"data\":[1,-2,3.5,0.25,-1,4,2,10]},"
              "\"running_mean\":[0.5,-1],\"running_var\":[4,0.25],\"weight\":[2,-1],"
              "\"bias\":[0.5,3]}");
    ck_assert_int_eq(r.res.http_status, 200);
    ref_normalize(fx, 2, 2, 2, mean, var, w, b, 1e-5, want);
    ck_assert_ptr_nonnull(strstr(r.text, "{\"outputs\":{\"shape\":[2,2,2],\"data\":["));
    test_text_floats(r.text, "data", got, 8);
    assert_close(got, want, 8);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r.json, "mode")->valuestring, "eval");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "stats_id")));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "running_mean"));
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_forward_given_stats_train)
{
    double mu[2], s2[2], rm[2], rv[2], want[8];
    float got[8], stats[2];
    char *before;
    test_reply r;
    int j;

    test_create("g", "\"num_features\":2,\"momentum\":null");
    test_expect("POST", "/v1/layers/g/checkpoints", NULL, 201);
    before = test_snapshot();
    test_json(&r, "POST", "/v1/layers/g/forward",
              "{\"inputs\":[[1,-2],[3.5,0.25],[-1,4],[2,10]],\"running_mean\":[1,2],"
              "\"running_var\":[3,4],\"num_batches_tracked\":1,\"stats_id\":0,\"mode\":\"train\"}");
    ck_assert_int_eq(r.res.http_status, 200);
    ref_moments(fx, 4, 2, 1, mu, s2);
    ref_normalize(fx, 4, 2, 1, mu, s2, NULL, NULL, 1e-5, want);
    test_text_floats(r.text, "outputs", got, 8);
    assert_close(got, want, 8);
    /* cumulative average: the count becomes 2, the factor 1/2 */
    for (j = 0; j < 2; j++) {
        rm[j] = 0.5 * (j == 0 ? 1.0 : 2.0) + 0.5 * mu[j];
        rv[j] = 0.5 * (j == 0 ? 3.0 : 4.0) + 0.5 * s2[j] * 4.0 / 3.0;
    }
    test_text_floats(r.text, "running_mean", stats, 2);
    assert_close(stats, rm, 2);
    test_text_floats(r.text, "running_var", stats, 2);
    assert_close(stats, rv, 2);
    ck_assert_int_eq((int)test_num(r.json, "num_batches_tracked"), 2);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "stats_id")));
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(r.json, "warning")->valuestring,
                                 "stats_id"));
    test_reply_clear(&r);
    /* given statistics never touch the layer's slots */
    test_snapshot_same(before, "a forward with given statistics");
}
END_TEST

START_TEST(test_forward_empty_batch)
{
    test_reply r;
    char *before;

    test_create("e", "\"num_features\":3");
    before = test_snapshot();
    test_json(&r, "POST", "/v1/layers/e/forward", "{\"inputs\":{\"shape\":[0,3],\"data\":[]}}");
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_ptr_nonnull(strstr(r.text, "{\"outputs\":{\"shape\":[0,3],\"data\":[]}"));
    test_reply_clear(&r);
    test_snapshot_same(before, "an empty forward");
}
END_TEST

START_TEST(test_forward_binary)
{
    double mu[2], s2[2], want[8];
    float got[8];
    test_reply r;

    test_create("b", "\"num_features\":2");
    test_call(&r, "POST", "/v1/layers/b/forward", "shape=4,2&mode=train&stats_id=0",
              "application/octet-stream", fx, sizeof fx);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.content_type, "application/octet-stream");
    ck_assert_uint_eq(r.res.body_len, sizeof got);
    ck_assert_uint_eq(r.res.forward_elements, 8);
    memcpy(got, r.res.body, sizeof got);
    ref_moments(fx, 4, 2, 1, mu, s2);
    ref_normalize(fx, 4, 2, 1, mu, s2, NULL, NULL, 1e-5, want);
    assert_close(got, want, 8);
    test_reply_clear(&r);
    /* eval on the updated slot, with the shape percent-encoded */
    test_expect("PUT", "/v1/layers/b/mode", "{\"mode\":\"eval\"}", 200);
    test_call(&r, "POST", "/v1/layers/b/forward", "shape=2%2C2%2C2", "application/octet-stream",
              fx, sizeof fx);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_uint_eq(r.res.body_len, sizeof got);
    test_reply_clear(&r);
}
END_TEST

/* ---- health and metrics ------------------------------------------------------------------ */

START_TEST(test_health_and_metrics)
{
    test_reply r;
    hbn_route_info info;

    test_json(&r, "GET", "/v2/health/live", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"live\":true}");
    test_reply_clear(&r);
    test_json(&r, "GET", "/v2/health/ready", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"ready\":true}");
    test_reply_clear(&r);
    test_not_ready = "draining";
    test_json(&r, "GET", "/v2/health/ready", NULL);
    ck_assert_int_eq(r.res.http_status, 503);
    ck_assert_str_eq(r.text, "{\"ready\":false,\"error\":\"draining\",\"code\":\"unavailable\"}");
    ck_assert_str_eq(r.res.error_code, "unavailable");
    ck_assert_ptr_nonnull(test_header(&r, "Retry-After"));
    test_reply_clear(&r);
    hbn_api_route("GET", "/v2/health/ready", &info);
    ck_assert(!info.needs_auth);

    test_json(&r, "GET", "/metrics", NULL);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.content_type, "text/plain; version=0.0.4");
    ck_assert_str_eq(r.text, "# TYPE hyperbn_test gauge\nhyperbn_test 1\n");
    ck_assert_str_eq(r.res.route, "/metrics");
    test_reply_clear(&r);
    test_api.render_metrics = NULL;
    test_json(&r, "GET", "/metrics", NULL);
    ck_assert_int_eq(r.res.http_status, 404);
    ck_assert_str_eq(r.res.error_code, "not_found");
    test_reply_clear(&r);
    test_api.not_ready_reason = NULL;
    test_expect("GET", "/v2/health/ready", NULL, 200);
}
END_TEST

/* ---- the continual-learning workflow ------------------------------------------------------ */

/* Trains layer "cl" on X (4, 2) with STATS_ID and checks the outputs against the reference. */
static void train_task(const float *x, const char *body, double *mu, double *s2)
{
    double want[8];
    float got[8];
    test_reply r;

    test_json(&r, "POST", "/v1/layers/cl/forward", body);
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ref_moments(x, 4, 2, 1, mu, s2);
    ref_normalize(x, 4, 2, 1, mu, s2, NULL, NULL, 1e-5, want);
    test_text_floats(r.text, "outputs", got, 8);
    assert_close(got, want, 8);
    test_reply_clear(&r);
}

/* Evaluates "cl" on FX with slot K, expecting normalization by MEAN / VAR. */
static void eval_task(int k, const double *mean, const double *var)
{
    char body[160];
    double want[8];
    float got[8];
    test_reply r;

    snprintf(body, sizeof body, "{\"inputs\":[[1,-2],[3.5,0.25],[-1,4],[2,10]],\"stats_id\":%d}",
             k);
    test_json(&r, "POST", "/v1/layers/cl/forward", body);
    ck_assert_msg(r.res.http_status == 200, "%s", r.text);
    ck_assert_int_eq((int)test_num(r.json, "stats_id"), k);
    ref_normalize(fx, 4, 2, 1, mean, var, NULL, NULL, 1e-5, want);
    test_text_floats(r.text, "outputs", got, 8);
    assert_close(got, want, 8);
    test_reply_clear(&r);
}

START_TEST(test_continual_learning)
{
    static const float x1[8] = {10, 0, 12, 1, 14, 2, 16, 3};
    double mu0[2], s20[2], mu1[2], s21[2], m0[2], v0[2], m1[2], v1[2];
    test_reply r;
    char *slot0;
    int j;

    test_create("cl", "\"num_features\":2,\"momentum\":0.5");
    train_task(fx, "{\"inputs\":[[1,-2],[3.5,0.25],[-1,4],[2,10]],\"stats_id\":0}", mu0, s20);
    test_json(&r, "POST", "/v1/layers/cl/checkpoints", NULL);
    ck_assert_str_eq(r.text, "{\"stats_id\":1,\"num_stats\":2}");
    test_reply_clear(&r);
    test_json(&r, "GET", "/v1/layers/cl/stats/0", NULL);
    slot0 = strdup(r.text);
    test_reply_clear(&r);
    /* several slots: stats_id is required from now on */
    test_expect("POST", "/v1/layers/cl/forward", "{\"inputs\":[[1,2],[3,4]]}", 422);
    train_task(x1, "{\"inputs\":[[10,0],[12,1],[14,2],[16,3]],\"stats_id\":1}", mu1, s21);
    /* training task 1 never changed slot 0 */
    test_json(&r, "GET", "/v1/layers/cl/stats/0", NULL);
    ck_assert_str_eq(r.text, slot0);
    test_reply_clear(&r);
    free(slot0);
    for (j = 0; j < 2; j++) {
        m0[j] = 0.5 * mu0[j];
        v0[j] = 0.5 + 0.5 * s20[j] * 4.0 / 3.0;
        m1[j] = 0.5 * mu1[j];
        v1[j] = 0.5 + 0.5 * s21[j] * 4.0 / 3.0;
    }
    test_expect("PUT", "/v1/layers/cl/mode", "{\"mode\":\"eval\"}", 200);
    eval_task(0, m0, v0);
    eval_task(1, m1, v1);
    /* evaluation changes nothing: evaluating task 0 again gives the same slot */
    eval_task(0, m0, v0);
}
END_TEST

Suite *hbn_api_routes_suite(void)
{
    Suite *s = suite_create("api_routes");
    TCase *layers = tcase_create("layers");
    TCase *stats = tcase_create("stats");
    TCase *forward = tcase_create("forward");
    TCase *ops = tcase_create("health_metrics");
    TCase *flow = tcase_create("workflow");

    tcase_add_checked_fixture(layers, test_api_setup, test_api_teardown);
    tcase_add_test(layers, test_create_default_layer);
    tcase_add_test(layers, test_create_options);
    tcase_add_test(layers, test_list_get_delete);
    tcase_add_test(layers, test_mode_put);
    tcase_add_test(layers, test_weights_round_trip);
    suite_add_tcase(s, layers);
    tcase_add_checked_fixture(stats, test_api_setup, test_api_teardown);
    tcase_add_test(stats, test_checkpoint_bodies);
    tcase_add_test(stats, test_stats_get_put);
    suite_add_tcase(s, stats);
    tcase_add_checked_fixture(forward, test_api_setup, test_api_teardown);
    tcase_add_test(forward, test_forward_train_nested);
    tcase_add_test(forward, test_forward_object_form_eval);
    tcase_add_test(forward, test_forward_given_stats_train);
    tcase_add_test(forward, test_forward_empty_batch);
    tcase_add_test(forward, test_forward_binary);
    suite_add_tcase(s, forward);
    tcase_add_checked_fixture(ops, test_api_setup, test_api_teardown);
    tcase_add_test(ops, test_health_and_metrics);
    suite_add_tcase(s, ops);
    tcase_add_checked_fixture(flow, test_api_setup, test_api_teardown);
    tcase_add_test(flow, test_continual_learning);
    suite_add_tcase(s, flow);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hbn_api_routes_suite());
    int failed;

    srunner_add_suite(sr, hbn_api_errors_suite());
    srunner_add_suite(sr, hbn_api_units_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
