/* check_alloc_faults.c: allocation-failure injection at every allocation site of every request
 * path. For each request of the table (every route, JSON and binary forms) the test first runs it
 * without faults on a fresh fixture (registry + metrics, in memory and persisting into a data
 * directory) and records the answer and the layers' observable state afterwards; then, for
 * K = 1, 2, ... it runs it again on a fresh fixture with the K-th allocation failing (once, then
 * from K on), until a run reaches no K-th allocation. Each faulty run must either answer exactly
 * what the clean run answered and leave the same state, or answer 503 "unavailable" and leave
 * the state as it was before; a durable fixture reopened from its directory must read back that
 * same state; and no allocation may stay live (core/alloc.h counts them). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/json_hooks.h"
#include "core/alloc.h"
#include "server/metrics.h"
#include "server/registry.h"
#include "server/storage.h"

/* ---- fixture: a registry holding a, b, c behind an api, in memory or in a data directory ----- */

typedef struct fixture {
    hbn_storage *storage; /* NULL: in memory */
    hbn_registry *reg;
    hbn_metrics *metrics;
    hbn_api api;
} fixture;

static char data_dir[64]; /* the durable fixture's directory (emptied before every run) */

/* Sends one request through FX's api into RES (initialised here). BODY_MUT: let the route
 * compute in a private, writable, 64-byte aligned copy of BODY (as the server does). */
static void send(fixture *fx, hbn_response *res, const char *method, const char *path,
                 const char *query, const char *ctype, const char *ihcl, const void *body,
                 size_t len, void *body_mut)
{
    hbn_request req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .inference_header_length = ihcl, .body = body, .body_len = len,
                       .body_mut = body_mut};

    hbn_response_init(res);
    hbn_api_handle(&fx->api, &req, res);
}

/* Sends a fixture request that must answer STATUS (faults are off). */
static void expect(fixture *fx, const char *method, const char *path, const char *body,
                   int status)
{
    hbn_response res;

    send(fx, &res, method, path, NULL, "application/json", NULL, body,
         body != NULL ? strlen(body) : 0, NULL);
    ck_assert_msg(res.http_status == status, "fixture %s %s: %d %.*s", method, path,
                  res.http_status, (int)res.body_len, res.body != NULL ? res.body : "");
    hbn_response_clear(&res);
}

static size_t layer_count(void *ctx)
{
    return hbn_registry_count(ctx);
}

static hbn_status adopt(void *reg, hbn_layer *layer, hbn_err *err)
{
    return hbn_registry_adopt(reg, layer, err);
}

/* Opens FX: a registry (persisting into data_dir and loading what it holds when DURABLE), the
 * metrics behind GET /metrics, and, when POPULATE, the layers a, b and c. */
static void fixture_open(fixture *fx, bool durable, bool populate)
{
    hbn_registry_options ro = {.max_layers = 8, .max_slots = 4};
    hbn_metrics_gauges gauges = {.layers = layer_count};
    size_t loaded = 0, quarantined = 0;

    memset(fx, 0, sizeof *fx);
    if (durable) {
        ck_assert_int_eq(hbn_storage_open(data_dir, NULL, NULL, &fx->storage, NULL), HBN_OK);
        hbn_storage_persist(fx->storage, true, &ro.persist);
    }
    ck_assert_int_eq(hbn_registry_create(&ro, &fx->reg, NULL), HBN_OK);
    if (durable)
        ck_assert_int_eq(hbn_storage_load(fx->storage, adopt, fx->reg, &loaded, &quarantined, NULL), HBN_OK);
    ck_assert_uint_eq(quarantined, 0);
    gauges.layers_ctx = fx->reg;
    ck_assert_int_eq(hbn_metrics_create(&gauges, &fx->metrics, NULL), HBN_OK);
    hbn_registry_store(fx->reg, &fx->api.store);
    fx->api.version = "test";
    fx->api.render_metrics = hbn_metrics_render;
    fx->api.metrics_ctx = fx->metrics;
    if (!populate)
        return;
    expect(fx, "POST", "/v1/layers", "{\"name\":\"a\",\"num_features\":2}", 201);
    expect(fx, "PUT", "/v1/layers/a/weights", "{\"weight\":[1.5,-2],\"bias\":[0.25,3]}", 200);
    expect(fx, "POST", "/v1/layers/a/checkpoints", NULL, 201);
    expect(fx, "PUT", "/v1/layers/a/stats/0",
           "{\"running_mean\":[0.5,-1],\"running_var\":[2,0.25],\"num_batches_tracked\":3}", 200);
    expect(fx, "POST", "/v1/layers",
           "{\"name\":\"b\",\"num_features\":3,\"affine\":false,\"track_running_stats\":false,"
           "\"frozen_stats\":true}", 201);
    expect(fx, "POST", "/v1/layers",
           "{\"name\":\"c\",\"num_features\":2,\"track_running_stats\":false,"
           "\"learnable_stats\":true,\"momentum\":null,\"mode\":\"eval\"}", 201);
}

/* Frees everything FX holds (the data directory's files stay). */
static void fixture_close(fixture *fx)
{
    hbn_metrics_free(fx->metrics);
    hbn_registry_free(fx->reg);
    hbn_storage_close(fx->storage);
}

/* Removes every file of data_dir. */
static void data_dir_empty(void)
{
    DIR *d = opendir(data_dir);
    struct dirent *de;
    char path[512];

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", data_dir, de->d_name);
        ck_assert_msg(unlink(path) == 0, "cannot remove %s", path);
    }
    closedir(d);
}

/* Everything a client can observe of the layers, as one NEW string (plain malloc: the test's
 * own memory is not counted): list, weights, every slot, every state file. */
static char *snapshot(fixture *fx)
{
    static const char *const paths[] = {
        "/v1/layers",           "/v1/layers/a/weights", "/v1/layers/a/stats/0",
        "/v1/layers/a/stats/1", "/v1/layers/a/stats/2", "/v1/layers/b/stats/0",
        "/v1/layers/c/stats/0", "/v1/layers/c/weights", "/v1/layers/a/state",
        "/v1/layers/b/state",   "/v1/layers/c/state",   "/v1/layers/n/state"};
    char *out = NULL;
    size_t len = 0;

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hbn_response res;

        send(fx, &res, "GET", paths[i], NULL, NULL, NULL, NULL, 0, NULL);
        out = realloc(out, len + res.body_len + 16);
        ck_assert_ptr_nonnull(out);
        len += (size_t)sprintf(out + len, "\n%d ", res.http_status);
        if (res.body_len > 0)
            memcpy(out + len, res.body, res.body_len);
        len += res.body_len;
        hbn_response_clear(&res);
    }
    out[len] = '\0';
    /* state files hold bytes: compare them as a length-prefixed whole via memcmp of LEN */
    out = realloc(out, len + 1 + sizeof len);
    ck_assert_ptr_nonnull(out);
    memmove(out + sizeof len, out, len + 1);
    memcpy(out, &len, sizeof len);
    return out;
}

static bool snapshot_equal(const char *a, const char *b)
{
    size_t la, lb;

    memcpy(&la, a, sizeof la);
    memcpy(&lb, b, sizeof lb);
    return la == lb && memcmp(a, b, la + sizeof la) == 0;
}

/* Where snapshots A and B first differ, as a short printable excerpt of each (static buffer). */
static const char *snapshot_diff(const char *a, const char *b)
{
    static char out[400];
    size_t la, lb, i = 0, from;

    memcpy(&la, a, sizeof la);
    memcpy(&lb, b, sizeof lb);
    a += sizeof la;
    b += sizeof lb;
    while (i < la && i < lb && a[i] == b[i])
        i++;
    from = i > 60 ? i - 60 : 0;
    snprintf(out, sizeof out, "at byte %zu: ...%.*s... vs ...%.*s...", i,
             (int)(i - from + 60 < la - from ? i - from + 60 : la - from), a + from,
             (int)(i - from + 60 < lb - from ? i - from + 60 : lb - from), b + from);
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
            *p = '.';
    return out;
}

/* ---- the requests --------------------------------------------------------------------------- */

/* The bytes of a binary OIP request: a JSON header for INPUTS (2 x 2 floats, binary) asking for
 * binary outputs, then the floats; *IHCL gets the header's length. */
static size_t oip_binary_body(char *buf, size_t cap, char *ihcl, size_t ihcl_cap)
{
    static const float x[4] = {1.0f, -2.0f, 0.5f, 4.0f};
    int n = snprintf(buf, cap,
                     "{\"id\":\"q\",\"parameters\":{\"stats_id\":1},\"inputs\":[{\"name\":\"inputs\",\"datatype\":\"FP32\","
                     "\"shape\":[2,2],\"parameters\":{\"binary_data_size\":16}}],"
                     "\"outputs\":[{\"name\":\"outputs\",\"parameters\":{\"binary_data\":true}}]}");

    ck_assert(n > 0 && (size_t)n + sizeof x <= cap);
    memcpy(buf + n, x, sizeof x);
    snprintf(ihcl, ihcl_cap, "%d", n);
    return (size_t)n + sizeof x;
}

/* Where a case's body comes from: its text, four floats, a binary OIP request, GET a/state, or
 * the PyTorch state file tests/fixtures/state/torch_bn2d.safetensors (C 5, no slots metadata). */
typedef enum body_kind {
    BODY_TEXT,
    BODY_FLOATS,
    BODY_OIP_BINARY,
    BODY_STATE_OF_A,
    BODY_TORCH_STATE
} body_kind;

typedef struct request_case {
    const char *method, *path, *query, *ctype;
    body_kind kind;
    const char *text; /* BODY_TEXT: the body (NULL: none) */
    bool in_place;    /* give the route a writable copy of the body (body_mut) */
    int status;       /* what the request answers without faults */
} request_case;

static const request_case cases[] = {
    {"GET", "/v1/layers", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"POST", "/v1/layers", NULL, "application/json", BODY_TEXT,
     "{\"name\":\"n\",\"num_features\":3,\"momentum\":0.5,\"eps\":0.001}", false, 201},
    {"GET", "/v1/layers/a", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"DELETE", "/v1/layers/b", NULL, NULL, BODY_TEXT, NULL, false, 204},
    {"PUT", "/v1/layers/a/mode", NULL, "application/json", BODY_TEXT, "{\"mode\":\"eval\"}",
     false, 200},
    {"GET", "/v1/layers/a/weights", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"PUT", "/v1/layers/a/weights", NULL, "application/json", BODY_TEXT,
     "{\"weight\":[2,0.5],\"bias\":[-1,1]}", false, 200},
    {"POST", "/v1/layers/a/checkpoints", NULL, NULL, BODY_TEXT, NULL, false, 201},
    {"GET", "/v1/layers/a/stats", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"GET", "/v1/layers/a/stats/0", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"PUT", "/v1/layers/a/stats/1", NULL, "application/json", BODY_TEXT,
     "{\"running_mean\":[1,2],\"running_var\":[3,4],\"num_batches_tracked\":7}", false, 200},
    {"POST", "/v1/layers/a/forward", NULL, "application/json", BODY_TEXT,
     "{\"inputs\":[[1,2],[3,5],[-1,0]],\"stats_id\":1,\"mode\":\"train\"}", false, 200},
    {"POST", "/v1/layers/a/forward", NULL, "application/json", BODY_TEXT,
     "{\"inputs\":{\"shape\":[2,2,3],\"data\":[1,2,3,4,5,6,7,8,9,10,11,12]},\"stats_id\":0,"
     "\"mode\":\"eval\"}", false, 200},
    {"POST", "/v1/layers/a/forward", NULL, "application/json", BODY_TEXT,
     "{\"inputs\":[[1,2],[3,5]],\"weight\":[1,2],\"bias\":[0,1],\"running_mean\":[0,0],"
     "\"running_var\":[1,1],\"num_batches_tracked\":2,\"mode\":\"train\"}", false, 200},
    {"POST", "/v1/layers/c/forward", NULL, "application/json", BODY_TEXT,
     "{\"inputs\":[[1,2],[3,5]],\"mode\":\"train\"}", false, 200},
    {"POST", "/v1/layers/b/forward", NULL, "application/json", BODY_TEXT,
     "{\"inputs\":[[1,2,3],[3,5,7]],\"running_mean\":[0,0,0],\"running_var\":[1,1,1]}", false, 200},
    {"POST", "/v1/layers/a/forward", "shape=2,2&stats_id=1&mode=train",
     "application/octet-stream", BODY_FLOATS, NULL, false, 200},
    {"POST", "/v1/layers/a/forward", "shape=2,2&stats_id=0&mode=eval",
     "application/octet-stream", BODY_FLOATS, NULL, true, 200},
    {"GET", "/v1/layers/a/state", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"PUT", "/v1/layers/n/state", "momentum=0.1", "application/octet-stream",
     BODY_STATE_OF_A, NULL, false, 201},
    {"PUT", "/v1/layers/n/state", "momentum=null&eps=0.01&mode=eval&frozen_stats=false",
     "application/octet-stream", BODY_TORCH_STATE, NULL, false, 201},
    {"PUT", "/v1/layers/a/state", NULL, "application/octet-stream", BODY_STATE_OF_A, NULL,
     false, 200},
    {"GET", "/v2", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"GET", "/v2/health/live", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"GET", "/v2/health/ready", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"GET", "/v2/models/a", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"GET", "/v2/models/a/versions/1/ready", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"POST", "/v2/models/a/infer", NULL, "application/json", BODY_TEXT,
     "{\"id\":\"r\",\"inputs\":[{\"name\":\"inputs\",\"datatype\":\"FP32\",\"shape\":[2,2],"
     "\"data\":[1,2,3,4]},{\"name\":\"running_mean\",\"datatype\":\"FP64\",\"shape\":[2],"
     "\"data\":[0,1]},{\"name\":\"running_var\",\"datatype\":\"FP32\",\"shape\":[2],"
     "\"data\":[1,2]}],\"parameters\":{\"mode\":\"train\"}}", false, 200},
    {"POST", "/v2/models/a/infer", NULL, NULL, BODY_OIP_BINARY, NULL, false, 200},
    {"POST", "/v2/models/a/infer", NULL, NULL, BODY_OIP_BINARY, NULL, true, 200},
    {"GET", "/metrics", NULL, NULL, BODY_TEXT, NULL, false, 200},
    {"POST", "/v1/layers/a/forward", NULL, "application/json", BODY_TEXT, "{\"inputs\":[[1]]}",
     false, 422}, /* an error answer (422) has its own allocations */
};
#define CASE_COUNT (sizeof cases / sizeof cases[0])

/* What one run of a case left: the answer and the state before and after (plain malloc). */
typedef struct outcome {
    int status;
    char *body;
    size_t body_len;
    char *before, *after, *reopened; /* reopened: the durable fixture read back from disk */
    long failed;                     /* allocations the switch failed */
} outcome;

static void outcome_clear(outcome *o)
{
    free(o->body);
    free(o->before);
    free(o->after);
    free(o->reopened);
    memset(o, 0, sizeof *o);
}

/* The body of case C (plain malloc, 64-byte aligned, so it can serve as body_mut) in *LEN. */
static char *case_body(fixture *fx, const request_case *c, size_t *len, char *ihcl, size_t cap)
{
    static const float x[4] = {1.0f, 2.0f, 3.0f, 5.0f};
    char *buf = aligned_alloc(64, 4096);
    hbn_response res;

    ck_assert_ptr_nonnull(buf);
    ihcl[0] = '\0';
    *len = 0;
    if (c->kind == BODY_TEXT && c->text != NULL) {
        *len = strlen(c->text);
        memcpy(buf, c->text, *len);
    } else if (c->kind == BODY_FLOATS) {
        *len = sizeof x;
        memcpy(buf, x, sizeof x);
    } else if (c->kind == BODY_OIP_BINARY) {
        *len = oip_binary_body(buf, 4096, ihcl, cap);
    } else if (c->kind == BODY_TORCH_STATE) {
        const char *top = getenv("HBN_TOP_SRCDIR");
        char path[1024];
        FILE *f;

        snprintf(path, sizeof path, "%s/tests/fixtures/state/torch_bn2d.safetensors",
                 top != NULL ? top : ".");
        f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s (set HBN_TOP_SRCDIR)", path);
        *len = fread(buf, 1, 4096, f);
        fclose(f);
    } else if (c->kind == BODY_STATE_OF_A) {
        send(fx, &res, "GET", "/v1/layers/a/state", NULL, NULL, NULL, NULL, 0, NULL);
        ck_assert_int_eq(res.http_status, 200);
        ck_assert_uint_le(res.body_len, 4096);
        memcpy(buf, res.body, res.body_len);
        *len = res.body_len;
        hbn_response_clear(&res);
    }
    return buf;
}

/* Runs case C once on a fresh fixture (durable or not) with the K-th allocation failing (and,
 * with PERSIST, every later one); K = 0: no fault. Fills *O. Checks that nothing stays live. */
static void run_case(const request_case *c, bool durable, long k, bool persist, outcome *o)
{
    long live = hbn_alloc_live();
    char ihcl[24];
    hbn_response res;
    fixture fx;
    size_t len;
    char *body;

    memset(o, 0, sizeof *o);
    if (durable)
        data_dir_empty();
    fixture_open(&fx, durable, true);
    body = case_body(&fx, c, &len, ihcl, sizeof ihcl);
    o->before = snapshot(&fx);
    hbn_alloc_fail_at(k, persist);
    send(&fx, &res, c->method, c->path, c->query, c->ctype, ihcl[0] != '\0' ? ihcl : NULL,
         len > 0 ? body : NULL, len, c->in_place ? body : NULL);
    o->failed = hbn_alloc_fail_off();
    o->status = res.http_status;
    o->body_len = res.body_len;
    o->body = malloc(res.body_len + 1);
    ck_assert_ptr_nonnull(o->body);
    if (res.body_len > 0)
        memcpy(o->body, res.body, res.body_len);
    o->body[res.body_len] = '\0';
    hbn_response_clear(&res);
    free(body);
    o->after = snapshot(&fx);
    fixture_close(&fx);
    if (durable) {
        fixture_open(&fx, true, false);
        o->reopened = snapshot(&fx);
        fixture_close(&fx);
    }
    ck_assert_msg(hbn_alloc_live() == live,
                  "%s %s%s%s, allocation %ld failing%s: %ld allocations leaked", c->method,
                  c->path, c->query != NULL ? "?" : "", c->query != NULL ? c->query : "", k,
                  persist ? " on" : "", hbn_alloc_live() - live);
}

/* Whether bodies A[LA] and B[LB] are equal but for spaces (a binary OIP answer pads its JSON
 * header with spaces up to a length that depends on the buffer's address). */
static bool equal_but_spaces(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (i < la && a[i] == ' ')
            i++;
        while (j < lb && b[j] == ' ')
            j++;
        if (i == la || j == lb)
            return i == la && j == lb;
        if (a[i++] != b[j++])
            return false;
    }
}

/* Whether run A answered as the clean run B: the same status and body; for an error, also the
 * same status without a body (the error body itself could not be allocated: the status still
 * tells the client the truth). GET /metrics: the status only (its text counts requests). */
static bool same_answer(const request_case *c, const outcome *a, const outcome *b)
{
    if (a->status != b->status)
        return false;
    if (strcmp(c->path, "/metrics") == 0 || (a->status >= 400 && a->body_len == 0))
        return true;
    return equal_but_spaces(a->body, a->body_len, b->body, b->body_len);
}

/* Every allocation of case C failing in turn (once, or from there on with PERSIST): each run
 * answers as the clean run (same state) or 503 "unavailable" (state as before). Returns the
 * number of allocation sites the case reached. */
static long check_case(const request_case *c, bool durable, bool persist)
{
    outcome clean, o;
    long k;

    run_case(c, durable, 0, false, &clean);
    ck_assert_msg(clean.status == c->status, "%s %s: without faults it answered %d %s",
                  c->method, c->path, clean.status, clean.body);
    if (durable)
        ck_assert_msg(snapshot_equal(clean.after, clean.reopened),
                      "%s %s: the clean run's state does not read back from disk", c->method,
                      c->path);
    for (k = 1;; k++) {
        run_case(c, durable, k, persist, &o);
        if (o.failed == 0) {
            ck_assert_msg(same_answer(c, &o, &clean),
                          "%s %s: a run that reached no failing allocation answered %d %s, "
                          "the clean run %d %s", c->method, c->path, o.status, o.body,
                          clean.status, clean.body);
            outcome_clear(&o);
            break;
        }
        if (o.status == 503) {
            ck_assert_msg(o.body_len == 0 || strstr(o.body, "\"code\":\"unavailable\"") != NULL,
                          "%s %s, allocation %ld failing: 503 body %s", c->method, c->path, k,
                          o.body);
            ck_assert_msg(snapshot_equal(o.before, o.after),
                          "%s %s, allocation %ld failing: 503 but the state changed %s",
                          c->method, c->path, k, snapshot_diff(o.before, o.after));
        } else {
            ck_assert_msg(same_answer(c, &o, &clean),
                          "%s %s%s%s, allocation %ld failing%s: answered %d %s (clean run: %d)",
                          c->method, c->path, c->query != NULL ? "?" : "",
                          c->query != NULL ? c->query : "", k, persist ? " on" : "",
                          o.status, o.body, clean.status);
            ck_assert_msg(snapshot_equal(o.after, clean.after),
                          "%s %s, allocation %ld failing: answered as the clean run but the "
                          "state differs %s", c->method, c->path, k, snapshot_diff(clean.after, o.after));
        }
        if (durable)
            ck_assert_msg(snapshot_equal(o.after, o.reopened),
                          "%s %s, allocation %ld failing: what was answered does not read back "
                          "from disk %s", c->method, c->path, k, snapshot_diff(o.after, o.reopened));
        outcome_clear(&o);
    }
    outcome_clear(&clean);
    return k - 1;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void check_all(bool durable, bool persist)
{
    long sites = 0;

    for (size_t i = 0; i < CASE_COUNT; i++)
        sites += check_case(&cases[i], durable, persist);
    printf("alloc faults (%s, %s): %zu requests, %ld allocation points failed\n",
           durable ? "durable" : "in memory", persist ? "failing from K on" : "K-th only",
           CASE_COUNT, sites);
    ck_assert_int_gt(sites, (long)CASE_COUNT);
}

START_TEST(test_memory_once) { check_all(false, false); }
END_TEST

START_TEST(test_memory_from_k_on) { check_all(false, true); }
END_TEST

START_TEST(test_durable_once) { check_all(true, false); }
END_TEST

START_TEST(test_durable_from_k_on) { check_all(true, true); }
END_TEST

/* The switch itself: the K-th allocation fails and only it (or every later one), counted. */
START_TEST(test_switch)
{
    long live = hbn_alloc_live();
    void *p[4];

    hbn_alloc_fail_at(3, false);
    p[0] = hbn_malloc(8);
    p[1] = hbn_calloc(2, 8);
    p[2] = hbn_malloc(8);
    p[3] = hbn_aligned_alloc(64, 8);
    ck_assert_int_eq(hbn_alloc_fail_off(), 1);
    ck_assert(p[0] != NULL && p[1] != NULL && p[2] == NULL && p[3] != NULL);
    ck_assert_int_eq(hbn_alloc_live(), live + 3);
    for (int i = 0; i < 4; i++)
        hbn_free(p[i]);
    ck_assert_int_eq(hbn_alloc_live(), live);
    hbn_alloc_fail_at(2, true);
    p[0] = hbn_strdup("x");
    p[1] = hbn_realloc(p[0], 64);
    p[2] = hbn_malloc(1);
    ck_assert_int_eq(hbn_alloc_fail_off(), 2);
    ck_assert(p[0] != NULL && p[1] == NULL && p[2] == NULL);
    p[1] = hbn_realloc(p[0], 64); /* off again */
    ck_assert_ptr_nonnull(p[1]);
    hbn_free(p[1]);
    ck_assert_int_eq(hbn_alloc_live(), live);
}
END_TEST

static Suite *alloc_faults_suite(void)
{
    Suite *s = suite_create("alloc_faults");
    TCase *tc = tcase_create("faults");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_switch);
    tcase_add_test(tc, test_memory_once);
    tcase_add_test(tc, test_memory_from_k_on);
    tcase_add_test(tc, test_durable_once);
    tcase_add_test(tc, test_durable_from_k_on);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    char tmpl[] = "/tmp/hbn-alloc-XXXXXX";
    SRunner *sr;
    int failed;

    hbn_json_hooks_install(); /* before any cJSON object exists, so every one is counted */
    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    snprintf(data_dir, sizeof data_dir, "%s", tmpl);
    sr = srunner_create(alloc_faults_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rmdir(data_dir); /* fails, harmlessly, when a failing test left files */
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
