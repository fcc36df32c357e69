/* bench_codec.c: times api/'s JSON codecs on 262,144 float32 values drawn from N(0, 1), in ns
 * per float; a program, not a test (built by `make`, never run by `make check`). Rows: the float
 * printer (per call, and the comma-separated list) against snprintf("%.9g"), the tensor printer,
 * the tensor parser (nested and object form, on our shortest text and on "%.9g" text), a body
 * {"inputs": ...} read in two passes (validating scan, then parse) and in one (the scan parsing
 * the member where it lies), the validating skip, and cJSON for scale. Medians of several runs,
 * timed with the thread's CPU clock (less disturbed by other load on a shared machine).
 * Usage: bench_codec [--quick]   (--quick: fewer repetitions) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/float_format.h"
#include "api/json_fields.h"
#include "api/json_scan.h"
#include "api/strbuf.h"
#include "tests/bench/bench_util.h"
#include "api/tensor_json.h"

#define N_ROWS 512
#define N_COLS 512
#define N_FLOATS (N_ROWS * N_COLS)

static int reps = 9;
static volatile double sink; /* keeps results alive */

static uint64_t rng = UINT64_C(0x2545F4914F6CDD1D);

/* N(0, 1). */
static float normal(void)
{
    return (float)bench_normal(&rng);
}

typedef struct bench_ctx {
    const float *data;
    const char *text; /* JSON text of the tensor */
    size_t len;
    const int64_t *shape;
} bench_ctx;

typedef void (*bench_fn)(const bench_ctx *ctx);

/* Median over REPS runs of FN, in ns per float. */
static double time_per_float(bench_fn fn, const bench_ctx *ctx)
{
    double t[32];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_ns();
        fn(ctx);
        t[r] = (bench_now_ns() - t0) / N_FLOATS;
    }
    qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
    return t[reps / 2];
}

static void run_float_format(const bench_ctx *ctx)
{
    char buf[HBN_FLOAT_CHARS_MAX];
    size_t total = 0;
    for (int i = 0; i < N_FLOATS; i++)
        total += hbn_float_format(ctx->data[i], buf);
    sink += (double)total;
}

static void run_float_list(const bench_ctx *ctx)
{
    char *buf = malloc(HBN_FLOAT_LIST_BYTES(N_FLOATS));
    if (buf == NULL) {
        fprintf(stderr, "bench_codec: out of memory\n");
        exit(1);
    }
    sink += (double)hbn_float_format_list(ctx->data, N_FLOATS, buf);
    free(buf);
}

static void run_snprintf(const bench_ctx *ctx)
{
    char buf[32];
    size_t total = 0;
    for (int i = 0; i < N_FLOATS; i++)
        total += (size_t)snprintf(buf, sizeof buf, "%.9g", (double)ctx->data[i]);
    sink += (double)total;
}

static void run_print(const bench_ctx *ctx, bool object_form)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_tensor_json_print(&sb, ctx->data, 2, ctx->shape, object_form);
    sink += (double)sb.len;
    hbn_strbuf_clear(&sb);
}

static void run_print_nested(const bench_ctx *ctx)
{
    run_print(ctx, false);
}

static void run_print_object(const bench_ctx *ctx)
{
    run_print(ctx, true);
}

static void run_parse(const bench_ctx *ctx)
{
    hbn_tensor t;
    hbn_err err;
    if (hbn_tensor_json_parse(ctx->text, ctx->len, "inputs", &t, &err) != HBN_OK) {
        fprintf(stderr, "bench_codec: parse failed: %s\n", err.msg);
        exit(1);
    }
    sink += (double)t.data[t.numel - 1];
    hbn_tensor_clear(&t);
}

/* CTX->text is a request body {"inputs": <tensor>, "mode": "train"}: read its envelope and the
 * tensor, in two passes (ONE_PASS false) or one. */
static void run_envelope(const bench_ctx *ctx, bool one_pass)
{
    static const char *const names[] = {"inputs", "mode"};
    hbn_json_field f[2];
    hbn_json_fields_errors e;
    hbn_tensor t;
    hbn_err err;
    hbn_tensor_init(&t);
    hbn_json_fields_errors_init(&e);
    hbn_status st = one_pass ? hbn_json_fields_scan_tensor(ctx->text, ctx->len, names, 2, f, 0,
                                                           &t, &err)
                             : hbn_json_fields_scan(ctx->text, ctx->len, names, 2, f, &err);
    if (st == HBN_OK)
        st = hbn_json_fields_tensor(&f[0], "inputs", &t, &e);
    if (st != HBN_OK || f[0].parsed != one_pass) {
        fprintf(stderr, "bench_codec: envelope failed\n");
        exit(1);
    }
    sink += (double)t.data[t.numel - 1];
    hbn_tensor_clear(&t);
}

static void run_envelope_two_passes(const bench_ctx *ctx)
{
    run_envelope(ctx, false);
}

static void run_envelope_one_pass(const bench_ctx *ctx)
{
    run_envelope(ctx, true);
}

static void run_validate(const bench_ctx *ctx)
{
    if (hbn_json_validate(ctx->text, ctx->len, NULL) != HBN_OK) {
        fprintf(stderr, "bench_codec: validation failed\n");
        exit(1);
    }
}

static void run_cjson_parse(const bench_ctx *ctx)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(ctx->text, ctx->len, &end, 0);
    if (root == NULL) {
        fprintf(stderr, "bench_codec: cJSON parse failed\n");
        exit(1);
    }
    sink += cJSON_GetArraySize(root);
    cJSON_Delete(root);
}

static void run_cjson_print(const bench_ctx *ctx)
{
    cJSON *root = cJSON_CreateFloatArray(ctx->data, N_FLOATS);
    char *s = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    if (s == NULL) {
        fprintf(stderr, "bench_codec: cJSON print failed\n");
        exit(1);
    }
    sink += (double)strlen(s);
    cJSON_free(s);
    cJSON_Delete(root);
}

static void row(const char *label, bench_fn fn, const bench_ctx *ctx)
{
    printf("%-44s %10.1f\n", label, time_per_float(fn, ctx));
}

/* The nested text of DATA with every float printed by "%.9g" instead of our printer. */
static char *printf_text(const float *data, size_t *len)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "[");
    for (int r = 0; r < N_ROWS; r++) {
        hbn_strbuf_puts(&sb, r ? ",[" : "[");
        for (int c = 0; c < N_COLS; c++)
            hbn_strbuf_printf(&sb, "%s%.9g", c ? "," : "", (double)data[r * N_COLS + c]);
        hbn_strbuf_puts(&sb, "]");
    }
    hbn_strbuf_puts(&sb, "]");
    return hbn_strbuf_take(&sb, len);
}

static char *our_text(const float *data, const int64_t *shape, bool object_form, size_t *len)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_tensor_json_print(&sb, data, 2, shape, object_form);
    return hbn_strbuf_take(&sb, len);
}

int main(int argc, char **argv)
{
    static const int64_t shape[2] = {N_ROWS, N_COLS};
    if (argc > 1 && strcmp(argv[1], "--quick") == 0)
        reps = 3;
    float *data = malloc(sizeof(float) * N_FLOATS);
    if (data == NULL)
        return 1;
    for (int i = 0; i < N_FLOATS; i++)
        data[i] = normal();
    size_t nested_len, object_len, g9_len;
    char *nested = our_text(data, shape, false, &nested_len);
    char *object = our_text(data, shape, true, &object_len);
    char *g9 = printf_text(data, &g9_len);
    char *body = g9 != NULL ? malloc(g9_len + 64) : NULL;
    if (nested == NULL || object == NULL || body == NULL)
        return 1;
    size_t body_len = (size_t)sprintf(body, "{\"inputs\":%s,\"mode\":\"train\"}", g9);
    bench_ctx ours = {data, nested, nested_len, shape};
    bench_ctx obj = {data, object, object_len, shape};
    bench_ctx nine = {data, g9, g9_len, shape};
    bench_ctx request = {data, body, body_len, shape};

    printf("bench_codec: %d float32 from N(0,1) as a [%d, %d] tensor, median of %d runs\n",
           N_FLOATS, N_ROWS, N_COLS, reps);
    printf("text: shortest %.2f bytes/float, %%.9g %.2f bytes/float\n",
           (double)nested_len / N_FLOATS, (double)g9_len / N_FLOATS);
    printf("%-44s %10s\n", "operation", "ns/float");
    row("hbn_float_format", run_float_format, &ours);
    row("hbn_float_format_list", run_float_list, &ours);
    row("snprintf %.9g", run_snprintf, &ours);
    row("hbn_tensor_json_print nested", run_print_nested, &ours);
    row("hbn_tensor_json_print object", run_print_object, &ours);
    row("cJSON print (float array)", run_cjson_print, &ours);
    row("hbn_tensor_json_parse nested (shortest)", run_parse, &ours);
    row("hbn_tensor_json_parse object (shortest)", run_parse, &obj);
    row("hbn_tensor_json_parse nested (%.9g text)", run_parse, &nine);
    row("envelope + inputs, two passes (%.9g text)", run_envelope_two_passes, &request);
    row("envelope + inputs, one pass (%.9g text)", run_envelope_one_pass, &request);
    row("hbn_json_validate nested (shortest)", run_validate, &ours);
    row("cJSON parse nested (shortest)", run_cjson_parse, &ours);
    free(body);
    free(g9);
    free(object);
    free(nested);
    free(data);
    return 0;
}
