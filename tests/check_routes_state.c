/* check_routes_state.c: Check tests of GET/PUT /v1/layers/{name}/state (api/routes_state.c) and
 * of the ready body's extra members, through hbn_api_handle over a memory-only registry (no
 * socket): export and import reproduce everything a client can observe; the torch-made fixtures
 * of tests/fixtures/state/ import with the values PyTorch wrote into expected.json; the query's
 * options reach the layer; every bad query, media type, file and quota gives its status and
 * code and changes nothing. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/state.h"
#include "server/registry.h"
#include "tests/check_storage.h"

static hbn_registry *rreg;
static hbn_api api;
static const char *not_ready; /* what the readiness callback says */

static const char *ready_cb(void *ctx)
{
    (void)ctx;
    return not_ready;
}

static void detail_cb(void *ctx, hbn_strbuf *sb)
{
    (void)ctx;
    hbn_strbuf_puts(sb, ",\"quarantined\":[{\"file\":\"quarantine/x\",\"reason\":\"bad\"}]");
}

static void setup_slots(int64_t max_slots)
{
    hbn_registry_options ro = {.max_slots = max_slots};

    ck_assert_int_eq(hbn_registry_create(&ro, &rreg, NULL), HBN_OK);
    memset(&api, 0, sizeof api);
    hbn_registry_store(rreg, &api.store);
    api.version = "0.0.0-test";
    api.not_ready_reason = ready_cb;
    not_ready = NULL;
}

static void setup(void) { setup_slots(0); }
static void setup_quota(void) { setup_slots(2); }

static void teardown(void)
{
    hbn_registry_free(rreg);
    rreg = NULL;
}

/* One reply: the response and a NUL-terminated copy of its body. */
typedef struct reply {
    hbn_response res;
    char *text;
} reply;

static void call(reply *r, const char *method, const char *path, const char *query,
                 const char *ctype, const void *body, size_t len)
{
    hbn_request req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = body, .body_len = len};

    hbn_response_init(&r->res);
    hbn_api_handle(&api, &req, &r->res);
    r->text = malloc(r->res.body_len + 1);
    ck_assert_ptr_nonnull(r->text);
    if (r->res.body_len > 0)
        memcpy(r->text, r->res.body, r->res.body_len);
    r->text[r->res.body_len] = '\0';
}

static void reply_clear(reply *r)
{
    hbn_response_clear(&r->res);
    free(r->text);
}

/* Sends a JSON request and fails unless the status is STATUS. */
static void expect_json(const char *method, const char *path, const char *body, int status)
{
    reply r;

    call(&r, method, path, NULL, body != NULL ? "application/json" : NULL, body,
         body != NULL ? strlen(body) : 0);
    ck_assert_msg(r.res.http_status == status, "%s %s: %d %s", method, path, r.res.http_status,
                  r.text);
    reply_clear(&r);
}

static const char *header(const reply *r, const char *name)
{
    for (int i = 0; i < r->res.header_count; i++)
        if (strcmp(r->res.headers[i].name, name) == 0)
            return r->res.headers[i].value;
    return NULL;
}

/* The code member of an error body ("" when none). */
static void expect_error(const reply *r, int status, const char *code)
{
    char want[64];

    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    ck_assert_msg(r->res.http_status == status && strstr(r->text, want) != NULL,
                  "expected %d %s, got %d %s", status, code, r->res.http_status, r->text);
}

/* R (cleared here) was the error STATUS CODE and layer s1 does not exist afterwards. */
static void expect_error_no_s1(reply *r, int status, const char *code)
{
    expect_error(r, status, code);
    reply_clear(r);
    call(r, "GET", "/v1/layers/s1", NULL, NULL, NULL, 0);
    expect_error(r, 404, "layer_not_found");
    reply_clear(r);
}

/* The NEW bytes of fixture FILE (tests/fixtures/state/FILE). */
static uint8_t *fixture(const char *file, size_t *len)
{
    const char *top = getenv("HBN_TOP_SRCDIR");
    char path[1024];
    uint8_t *b;

    snprintf(path, sizeof path, "%s/tests/fixtures/state/%s", top != NULL ? top : ".", file);
    b = test_read_path(path, len);
    ck_assert_msg(b != NULL, "cannot read %s (set HBN_TOP_SRCDIR)", path);
    return b;
}

/* A NEW string with everything a client observes of layer NAME: the layer object, its weights
 * (when affine) and every slot. */
static char *snapshot(const char *name)
{
    char path[256], *out;
    hbn_strbuf sb;
    cJSON *doc;
    reply r;
    int t;

    hbn_strbuf_init(&sb);
    snprintf(path, sizeof path, "/v1/layers/%s", name);
    call(&r, "GET", path, NULL, NULL, NULL, 0);
    ck_assert_int_eq(r.res.http_status, 200);
    hbn_strbuf_puts(&sb, r.text);
    doc = cJSON_Parse(r.text);
    ck_assert_ptr_nonnull(doc);
    t = cJSON_GetObjectItemCaseSensitive(doc, "num_stats")->valueint;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "affine"))) {
        reply_clear(&r);
        snprintf(path, sizeof path, "/v1/layers/%s/weights", name);
        call(&r, "GET", path, NULL, NULL, NULL, 0);
        hbn_strbuf_puts(&sb, r.text);
    }
    reply_clear(&r);
    cJSON_Delete(doc);
    for (int k = 0; k < t; k++) {
        snprintf(path, sizeof path, "/v1/layers/%s/stats/%d", name, k);
        call(&r, "GET", path, NULL, NULL, NULL, 0);
        ck_assert_int_eq(r.res.http_status, 200);
        hbn_strbuf_puts(&sb, r.text);
        reply_clear(&r);
    }
    out = hbn_strbuf_take(&sb, &(size_t){0});
    ck_assert_ptr_nonnull(out);
    return out;
}

/* GET .../state of NAME: NEW bytes and length. */
static char *get_state(const char *name, size_t *len)
{
    char path[256], *b;
    reply r;

    snprintf(path, sizeof path, "/v1/layers/%s/state", name);
    call(&r, "GET", path, NULL, NULL, NULL, 0);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.res.content_type, "application/octet-stream");
    b = malloc(r.res.body_len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, r.res.body, r.res.body_len);
    *len = r.res.body_len;
    reply_clear(&r);
    return b;
}

static void put_state(reply *r, const char *name, const char *query, const void *b, size_t len)
{
    char path[256];

    snprintf(path, sizeof path, "/v1/layers/%s/state", name);
    call(r, "PUT", path, query, "application/octet-stream", b, len);
}

/* A layer with everything changed that a state file carries. */
static void build_rich_layer(const char *name)
{
    char path[256], body[512];

    snprintf(body, sizeof body, "{\"name\":\"%s\",\"num_features\":3,\"momentum\":null,"
             "\"eps\":0.001}", name);
    expect_json("POST", "/v1/layers", body, 201);
    snprintf(path, sizeof path, "/v1/layers/%s/checkpoints", name);
    expect_json("POST", path, NULL, 201);
    snprintf(path, sizeof path, "/v1/layers/%s/stats/0", name);
    expect_json("PUT", path, "{\"running_mean\":[0.5,-1.25,3],\"running_var\":[2,0.125,7],"
                "\"num_batches_tracked\":11}", 200);
    snprintf(path, sizeof path, "/v1/layers/%s/weights", name);
    expect_json("PUT", path, "{\"weight\":[1.5,-2,0.25],\"bias\":[0,1e-3,-7.5]}", 200);
    snprintf(path, sizeof path, "/v1/layers/%s/mode", name);
    expect_json("PUT", path, "{\"mode\":\"eval\"}", 200);
}

/* ---- export and import ------------------------------------------------------------------- */

START_TEST(test_state_get_is_the_codec_file)
{
    hbn_layer *layer = NULL;
    size_t len = 0;
    char *b;

    build_rich_layer("bn1");
    b = get_state("bn1", &len);
    ck_assert_int_eq(hbn_state_decode((const uint8_t *)b, len, "bn1", NULL, &layer, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 2);
    ck_assert_int_eq(hbn_layer_num_features(layer), 3);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_EVAL);
    hbn_layer_free(layer);
    free(b);
}
END_TEST

START_TEST(test_state_get_unknown_layer)
{
    reply r;

    call(&r, "GET", "/v1/layers/nope/state", NULL, NULL, NULL, 0);
    expect_error(&r, 404, "layer_not_found");
    reply_clear(&r);
    call(&r, "POST", "/v1/layers/nope/state", NULL, NULL, NULL, 0);
    expect_error(&r, 405, "method_not_allowed");
    ck_assert_str_eq(header(&r, "Allow"), "GET, PUT");
    reply_clear(&r);
}
END_TEST

START_TEST(test_state_round_trip_reproduces_everything)
{
    char *before, *after, *b, *with_new_name;
    size_t len = 0;
    reply r;

    build_rich_layer("bn1");
    before = snapshot("bn1");
    b = get_state("bn1", &len);
    expect_json("DELETE", "/v1/layers/bn1", NULL, 204);
    put_state(&r, "bn1", NULL, b, len);
    ck_assert_msg(r.res.http_status == 201, "%d %s", r.res.http_status, r.text);
    ck_assert_str_eq(header(&r, "Location"), "/v1/layers/bn1");
    ck_assert_ptr_nonnull(strstr(r.text, "\"name\":\"bn1\""));
    ck_assert_ptr_nonnull(strstr(r.text, "\"num_stats\":2"));
    reply_clear(&r);
    after = snapshot("bn1");
    ck_assert_str_eq(after, before);
    put_state(&r, "bn1", NULL, b, len); /* replaces: 200, no Location */
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_ptr_null(header(&r, "Location"));
    reply_clear(&r);
    put_state(&r, "copy.2", NULL, b, len); /* the path names the layer */
    ck_assert_int_eq(r.res.http_status, 201);
    reply_clear(&r);
    with_new_name = snapshot("copy.2");
    ck_assert_ptr_nonnull(strstr(with_new_name, "\"name\":\"copy.2\""));
    free(before);
    free(after);
    free(with_new_name);
    free(b);
}
END_TEST

/* Entry ENTRY of tests/fixtures/state/expected.json (what PyTorch wrote), NEW (cJSON_Delete). */
static cJSON *expected_fixture(const char *entry)
{
    size_t len = 0;
    uint8_t *text = fixture("expected.json", &len);
    cJSON *doc = cJSON_ParseWithLength((const char *)text, len);
    cJSON *e;

    free(text);
    ck_assert_ptr_nonnull(doc);
    e = cJSON_DetachItemFromObjectCaseSensitive(doc, entry);
    cJSON_Delete(doc);
    ck_assert_ptr_nonnull(e);
    return e;
}

/* Compares the float array member KEY of the response JSON GOT with the array WANT. */
static void expect_floats(const cJSON *got, const char *key, const cJSON *want)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, key), *w;
    int i = 0;

    ck_assert_int_eq(cJSON_GetArraySize(g), cJSON_GetArraySize(want));
    cJSON_ArrayForEach(w, want) {
        ck_assert_double_eq((double)(float)cJSON_GetArrayItem(g, i)->valuedouble,
                            (double)(float)w->valuedouble);
        i++;
    }
}

START_TEST(test_state_put_torch_batchnorm)
{
    cJSON *want = expected_fixture("torch_bn2d"), *got;
    size_t len = 0;
    uint8_t *b = fixture("torch_bn2d.safetensors", &len);
    reply r;

    call(&r, "PUT", "/v1/layers/tb/state", NULL, NULL, b, len); /* no Content-Type: fine */
    ck_assert_msg(r.res.http_status == 201, "%d %s", r.res.http_status, r.text);
    ck_assert_ptr_nonnull(strstr(r.text, "\"track_running_stats\":true"));
    ck_assert_ptr_nonnull(strstr(r.text, "\"num_features\":5"));
    reply_clear(&r);
    call(&r, "GET", "/v1/layers/tb/stats", NULL, NULL, NULL, 0);
    got = cJSON_Parse(r.text);
    expect_floats(got, "running_mean", cJSON_GetObjectItemCaseSensitive(want, "running_mean"));
    expect_floats(got, "running_var", cJSON_GetObjectItemCaseSensitive(want, "running_var"));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(got, "num_batches_tracked")->valueint,
                     cJSON_GetObjectItemCaseSensitive(want, "num_batches_tracked")->valueint);
    cJSON_Delete(got);
    reply_clear(&r);
    call(&r, "GET", "/v1/layers/tb/weights", NULL, NULL, NULL, 0);
    got = cJSON_Parse(r.text);
    expect_floats(got, "weight", cJSON_GetObjectItemCaseSensitive(want, "weight"));
    expect_floats(got, "bias", cJSON_GetObjectItemCaseSensitive(want, "bias"));
    cJSON_Delete(got);
    reply_clear(&r);
    cJSON_Delete(want);
    free(b);
}
END_TEST

START_TEST(test_state_put_query_options)
{
    size_t len = 0, flen = 0;
    uint8_t *seed = fixture("seed_layer.safetensors", &len);
    uint8_t *frozen = fixture("seed_frozen.safetensors", &flen);
    reply r;

    put_state(&r, "s1", "momentum=0.5&eps=0.001&mode=eval", seed, len);
    ck_assert_msg(r.res.http_status == 201, "%d %s", r.res.http_status, r.text);
    ck_assert_ptr_nonnull(strstr(r.text, "\"momentum\":0.5,\"eps\":0.001,"));
    ck_assert_ptr_nonnull(strstr(r.text, "\"mode\":\"eval\""));
    ck_assert_ptr_nonnull(strstr(r.text, "\"num_stats\":3"));
    reply_clear(&r);
    put_state(&r, "s2", "momentum=null", seed, len);
    ck_assert_ptr_nonnull(strstr(r.text, "\"momentum\":null"));
    reply_clear(&r);
    put_state(&r, "f1", "frozen_stats=true&learnable_stats=false", frozen, flen);
    ck_assert_msg(r.res.http_status == 201, "%d %s", r.res.http_status, r.text);
    ck_assert_ptr_nonnull(strstr(r.text, "\"track_running_stats\":false,\"frozen_stats\":true"));
    reply_clear(&r);
    free(seed);
    free(frozen);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------------- */

static const struct {
    const char *query;
    int status;
    const char *code;
} bad_queries[] = {
    {"momentum=abc", 400, "invalid_argument"},
    {"momentum=", 400, "invalid_argument"},
    {"momentum=nan", 400, "invalid_argument"},
    {"eps=1e", 400, "invalid_argument"},
    {"eps=0x10", 400, "invalid_argument"},
    {"mode=test", 400, "invalid_argument"},
    {"frozen_stats=yes", 400, "invalid_argument"},
    {"learnable_stats=1", 400, "invalid_argument"},
    {"momentum=0.1&momentum=0.2", 400, "invalid_argument"},
    {"colour=red", 400, "unknown_field"},
    {"momentum=2", 422, "invalid_config"},
    {"momentum=-0.5", 422, "invalid_config"},
    {"eps=0", 422, "invalid_config"},
    {"eps=-1", 422, "invalid_config"},
    {"eps=1e-50", 422, "invalid_config"},
    {"frozen_stats=true&learnable_stats=true", 422, "invalid_config"},
};

START_TEST(test_state_put_bad_query)
{
    size_t len = 0;
    uint8_t *seed = fixture("seed_layer.safetensors", &len);
    reply r;

    put_state(&r, "s1", bad_queries[_i].query, seed, len);
    expect_error_no_s1(&r, bad_queries[_i].status, bad_queries[_i].code);
    free(seed);
}
END_TEST

/* Bad files over an existing layer: 422 invalid_state, and the layer is as it was. Kinds: 0 an
 * empty body, 1 text, 2 a truncated state, 3 a torch file imported as frozen, 4 a flipped data
 * byte (checksum). */
START_TEST(test_state_put_bad_file_changes_nothing)
{
    size_t len = 0, tlen = 0;
    char *good, *before, *after;
    uint8_t *torch = fixture("torch_bn2d.safetensors", &tlen);
    reply r;

    build_rich_layer("bn1");
    before = snapshot("bn1");
    good = get_state("bn1", &len);
    if (_i == 0)
        call(&r, "PUT", "/v1/layers/bn1/state", NULL, "application/octet-stream", NULL, 0);
    else if (_i == 1)
        put_state(&r, "bn1", NULL, "hello", 5);
    else if (_i == 2)
        put_state(&r, "bn1", NULL, good, len - 3);
    else if (_i == 3)
        put_state(&r, "bn1", "frozen_stats=true", torch, tlen);
    else {
        good[len - 1] ^= 0x01;
        put_state(&r, "bn1", NULL, good, len);
    }
    expect_error(&r, 422, "invalid_state");
    reply_clear(&r);
    after = snapshot("bn1");
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    free(good);
    free(torch);
}
END_TEST

START_TEST(test_state_put_media_type)
{
    size_t len = 0;
    uint8_t *seed = fixture("seed_layer.safetensors", &len);
    reply r;

    call(&r, "PUT", "/v1/layers/s1/state", NULL, "application/json", seed, len);
    expect_error(&r, 415, "unsupported_media_type");
    reply_clear(&r);
    call(&r, "PUT", "/v1/layers/s1/state", NULL, "Application/Octet-Stream; x=y", seed, len);
    ck_assert_int_eq(r.res.http_status, 201);
    reply_clear(&r);
    free(seed);
}
END_TEST

START_TEST(test_state_put_slot_quota)
{
    size_t len = 0;
    uint8_t *seed = fixture("seed_layer.safetensors", &len); /* 3 slots; the limit is 2 */
    reply r;

    put_state(&r, "s1", NULL, seed, len);
    expect_error_no_s1(&r, 429, "quota_exceeded");
    free(seed);
}
END_TEST

/* ---- the ready body ------------------------------------------------------------------------ */

START_TEST(test_ready_body_detail)
{
    reply r;

    call(&r, "GET", "/v2/health/ready", NULL, NULL, NULL, 0);
    ck_assert_str_eq(r.text, "{\"ready\":true}");
    reply_clear(&r);
    api.ready_detail = detail_cb;
    call(&r, "GET", "/v2/health/ready", NULL, NULL, NULL, 0);
    ck_assert_int_eq(r.res.http_status, 200);
    ck_assert_str_eq(r.text, "{\"ready\":true,\"quarantined\":[{\"file\":\"quarantine/x\","
                             "\"reason\":\"bad\"}]}");
    reply_clear(&r);
    not_ready = "storage failed";
    call(&r, "GET", "/v2/health/ready", NULL, NULL, NULL, 0);
    ck_assert_int_eq(r.res.http_status, 503);
    ck_assert_str_eq(r.text, "{\"ready\":false,\"quarantined\":[{\"file\":\"quarantine/x\","
                             "\"reason\":\"bad\"}],\"error\":\"storage failed\","
                             "\"code\":\"unavailable\"}");
    reply_clear(&r);
}
END_TEST

Suite *hbn_routes_state_suite(void)
{
    Suite *s = suite_create("routes_state");
    TCase *ok = tcase_create("export_import");
    TCase *bad = tcase_create("errors");
    TCase *quota = tcase_create("quota");

    tcase_add_checked_fixture(ok, setup, teardown);
    tcase_add_test(ok, test_state_get_is_the_codec_file);
    tcase_add_test(ok, test_state_get_unknown_layer);
    tcase_add_test(ok, test_state_round_trip_reproduces_everything);
    tcase_add_test(ok, test_state_put_torch_batchnorm);
    tcase_add_test(ok, test_state_put_query_options);
    tcase_add_test(ok, test_ready_body_detail);
    suite_add_tcase(s, ok);

    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_loop_test(bad, test_state_put_bad_query, 0,
                        (int)(sizeof bad_queries / sizeof bad_queries[0]));
    tcase_add_loop_test(bad, test_state_put_bad_file_changes_nothing, 0, 5);
    tcase_add_test(bad, test_state_put_media_type);
    suite_add_tcase(s, bad);

    tcase_add_checked_fixture(quota, setup_quota, teardown);
    tcase_add_test(quota, test_state_put_slot_quota);
    suite_add_tcase(s, quota);
    return s;
}
