/* bench_api.c: CPU time per request through hbn_api_handle (no socket), for the forward requests
 * of tests/bench/load.sh: small (32, 64) and medium (64, 256, 4, 4) JSON bodies (values from
 * N(0.5, 2) rounded to float32, printed with "%.9g" as a client sends them) and the medium raw
 * float32 body, in train and eval mode, against a real in-memory registry. A program, not a test
 * (built by `make`, never run by `make check`). Each request gets a fresh copy of its body in a
 * 64-byte aligned buffer offered as writable (as server/http.c does); only hbn_api_handle and
 * hbn_response_clear are timed, with the thread's CPU clock; the median per request is printed.
 * Usage: bench_api [--quick] [CASE...]   (--quick: fewer requests; CASE: e.g. small-json-train) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <math.h>

#include "api/api.h"
#include "api/strbuf.h"
#include "tests/bench/bench_util.h"
#include "server/registry.h"

static uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);

/* N(0.5, 2) rounded to float32, like load.sh's bodies. */
static float sample(void)
{
    return (float)(0.5 + 2.0 * bench_normal(&rng));
}

typedef struct bench_case {
    const char *name;
    const char *layer;
    const char *content_type;
    const char *query;
    char *body;
    size_t len;
    int requests; /* per run; --quick divides by 4 */
} bench_case;

/* Prints the nested JSON of DATA[SHAPE[0..RANK)] with "%.9g" numbers. */
static const float *nested(hbn_strbuf *sb, const float *data, const int64_t *shape, int rank)
{
    hbn_strbuf_puts(sb, "[");
    for (int64_t i = 0; i < shape[0]; i++) {
        if (i > 0)
            hbn_strbuf_puts(sb, ",");
        if (rank == 1)
            hbn_strbuf_printf(sb, "%.9g", (double)*data++);
        else
            data = nested(sb, data, shape + 1, rank - 1);
    }
    hbn_strbuf_puts(sb, "]");
    return data;
}

static char *json_body(const float *data, const int64_t *shape, int rank, const char *mode,
                       size_t *len)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "{\"inputs\":");
    nested(&sb, data, shape, rank);
    hbn_strbuf_printf(&sb, ",\"stats_id\":0,\"mode\":\"%s\"}", mode);
    return hbn_strbuf_take(&sb, len);
}

static int handle(const hbn_api *api, const char *method, const char *path, const char *query,
                  const char *ctype, uint8_t *body, size_t len)
{
    hbn_request req = {.method = method, .path = path, .query = query, .content_type = ctype,
                       .body = body, .body_len = len, .body_mut = body};
    hbn_response res;
    hbn_response_init(&res);
    hbn_api_handle(api, &req, &res);
    int status = res.http_status;
    hbn_response_clear(&res);
    return status;
}

/* Median CPU ns per request of C over N requests (each with a fresh aligned body copy). */
static double run_case(const hbn_api *api, const bench_case *c, int n)
{
    char path[128];
    size_t cap = (c->len + 63) & ~(size_t)63;
    uint8_t *buf = aligned_alloc(64, cap > 0 ? cap : 64);
    double *t = malloc(sizeof *t * (size_t)n);
    if (buf == NULL || t == NULL) {
        fprintf(stderr, "bench_api: out of memory\n");
        exit(1);
    }
    snprintf(path, sizeof path, "/v1/layers/%s/forward", c->layer);
    for (int i = 0; i < n; i++) {
        memcpy(buf, c->body, c->len);
        double t0 = bench_now_ns();
        int status = handle(api, "POST", path, c->query, c->content_type, buf, c->len);
        t[i] = bench_now_ns() - t0;
        if (status != 200) {
            fprintf(stderr, "bench_api: %s answered %d\n", c->name, status);
            exit(1);
        }
    }
    qsort(t, (size_t)n, sizeof t[0], bench_cmp_double);
    double median = t[n / 2];
    free(t);
    free(buf);
    return median;
}

static void create_layer(const hbn_api *api, const char *name, int channels)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"name\":\"%s\",\"num_features\":%d}", name, channels);
    if (handle(api, "POST", "/v1/layers", NULL, "application/json", (uint8_t *)body,
               (size_t)n) != 201) {
        fprintf(stderr, "bench_api: cannot create layer %s\n", name);
        exit(1);
    }
}

static bool wanted(int argc, char **argv, const char *name)
{
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = true;
        if (strcmp(argv[i], name) == 0)
            return true;
    }
    return !any;
}

int main(int argc, char **argv)
{
    static const int64_t small_shape[2] = {32, 64}, medium_shape[4] = {64, 256, 4, 4};
    enum { SMALL_N = 32 * 64, MEDIUM_N = 64 * 256 * 4 * 4 };
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    hbn_registry *reg;
    hbn_registry_options opts = {0};
    hbn_api api;
    float *small = malloc(sizeof(float) * SMALL_N), *medium = malloc(sizeof(float) * MEDIUM_N);
    if (small == NULL || medium == NULL || hbn_registry_create(&opts, &reg, NULL) != HBN_OK)
        return 1;
    memset(&api, 0, sizeof api);
    hbn_registry_store(reg, &api.store);
    api.version = "bench";
    create_layer(&api, "small", 64);
    create_layer(&api, "medium", 256);
    for (int i = 0; i < SMALL_N; i++)
        small[i] = sample();
    for (int i = 0; i < MEDIUM_N; i++)
        medium[i] = sample();

    bench_case cases[6] = {
        {"small-json-train", "small", "application/json", NULL, NULL, 0, 4000},
        {"small-json-eval", "small", "application/json", NULL, NULL, 0, 4000},
        {"medium-json-train", "medium", "application/json", NULL, NULL, 0, 40},
        {"medium-json-eval", "medium", "application/json", NULL, NULL, 0, 40},
        {"medium-bin-train", "medium", "application/octet-stream",
         "shape=64,256,4,4&stats_id=0&mode=train", NULL, 0, 400},
        {"medium-bin-eval", "medium", "application/octet-stream",
         "shape=64,256,4,4&stats_id=0&mode=eval", NULL, 0, 400},
    };
    for (int m = 0; m < 2; m++) {
        const char *mode = m == 0 ? "train" : "eval";
        cases[m].body = json_body(small, small_shape, 2, mode, &cases[m].len);
        cases[2 + m].body = json_body(medium, medium_shape, 4, mode, &cases[2 + m].len);
        cases[4 + m].body = malloc(sizeof(float) * MEDIUM_N);
        if (cases[m].body == NULL || cases[2 + m].body == NULL || cases[4 + m].body == NULL)
            return 1;
        memcpy(cases[4 + m].body, medium, sizeof(float) * MEDIUM_N); /* little-endian hosts */
        cases[4 + m].len = sizeof(float) * MEDIUM_N;
    }
    printf("bench_api: CPU time per request through hbn_api_handle, median\n");
    printf("%-20s %10s %12s %12s\n", "case", "requests", "body bytes", "us/request");
    for (int i = 0; i < 6; i++) {
        if (!wanted(argc, argv, cases[i].name))
            continue;
        int n = quick ? (cases[i].requests + 3) / 4 : cases[i].requests;
        run_case(&api, &cases[i], n > 8 ? n / 8 : 1); /* warm-up */
        double ns = run_case(&api, &cases[i], n);
        printf("%-20s %10d %12zu %12.1f\n", cases[i].name, n, cases[i].len, ns / 1e3);
    }
    for (int i = 0; i < 6; i++)
        free(cases[i].body);
    free(small);
    free(medium);
    hbn_registry_free(reg);
    return 0;
}
