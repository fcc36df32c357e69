/* bench_core.c: times core/'s forward on one thread and prints tables; a program, not a test
 * (built by `make`, never run by `make check`; tests/bench/run_core_bench.sh sets it beside
 * PyTorch). Per shape (the five; for the forward also two with short planes):
 * hbn_layer_forward + hbn_layer_apply_update in train mode, the eval-mode forward and a
 * same-size memcpy, interleaved so that all three see the same machine noise; medians in
 * microseconds, effective GB/s (bytes read + written). Then the OpenBLAS experiment: per-channel
 * sums via cblas_sgemv x ones, both moments via cblas_dsdot, versus the kernels. Then the
 * bandwidth floor: a read pass and a map pass alone, the memory traffic of a train without its
 * arithmetic, and a minimal fused train, beside the copy and hbn_kernel_train (what the
 * train-bandwidth target asks of the kernels).
 * Usage: bench_core [--quick] [--forward | --blas | --floor]   (--quick: a tenth of the time) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels.h"
#include "core/layer.h"
#include "tests/bench/bench_util.h"

typedef struct bench_shape {
    const char *label;
    int rank;
    int64_t dims[4];
} bench_shape;

static const bench_shape shapes[] = {
    {"(32,64)", 2, {32, 64, 1, 1}},
    {"(256,1024)", 2, {256, 1024, 1, 1}},
    {"(8,16,32,32)", 4, {8, 16, 32, 32}},
    {"(64,256,14,14)", 4, {64, 256, 14, 14}},
    {"(32,64,56,56)", 4, {32, 64, 56, 56}},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* Forward only, beside the five: short planes as in CIFAR ResNets' last stages, which
 * the kernels run as the columns of rows. */
static const bench_shape extra_shapes[] = {
    {"(128,64,3,3)", 4, {128, 64, 3, 3}},
    {"(64,512,4,4)", 4, {64, 512, 4, 4}},
};
#define NEXTRA ((int)(sizeof extra_shapes / sizeof extra_shapes[0]))

static double budget_us = 1.5e6; /* per shape and measurement group */
static volatile double sink;     /* keeps results alive */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Median of T[N] (sorts T). */
static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int64_t shape_numel(const bench_shape *sh)
{
    int64_t m = 1;
    for (int d = 0; d < sh->rank; d++)
        m *= sh->dims[d];
    return m;
}

/* Deterministic inputs uniform in [0, 1) (an LCG; the values do not matter for speed). */
static void fill(float *x, int64_t n, uint32_t seed)
{
    uint64_t st = 0x9e3779b97f4a7c15u ^ seed;
    for (int64_t i = 0; i < n; i++) {
        st = st * 6364136223846793005u + 1442695040888963407u;
        x[i] = (float)((double)(st >> 40) / 16777216.0);
    }
}

/* Repetitions that fit the budget given one run of T0 microseconds: at least 15. */
static int reps_for(double t0)
{
    double r = budget_us / (t0 > 1.0 ? t0 : 1.0);
    return r < 15.0 ? 15 : r > 20000.0 ? 20000 : (int)r;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_core: %s\n", what);
    exit(EXIT_FAILURE);
}

enum { MAX_TIMED = 7 }; /* things one repetition of an experiment times */

/* One repetition of an experiment on CTX: the durations of its steps into T. */
typedef void (*bench_once_fn)(void *ctx, double *t);

/* Runs ONCE on CTX once to calibrate, then as often as the budget allows, interleaving its K
 * (<= MAX_TIMED) steps; stores their medians in MED[K] and returns the repetitions. */
static int time_medians(bench_once_fn once, void *ctx, int k, double *med)
{
    double t[MAX_TIMED], sum = 0.0;
    if (k > MAX_TIMED)
        die("time_medians: too many steps");
    once(ctx, t);
    for (int i = 0; i < k; i++)
        sum += t[i];
    int reps = reps_for(sum);
    double *all = malloc((size_t)k * (size_t)reps * sizeof *all);
    if (all == NULL)
        die("out of memory");
    for (int r = 0; r < reps; r++) {
        once(ctx, t);
        for (int i = 0; i < k; i++)
            all[i * reps + r] = t[i];
    }
    for (int i = 0; i < k; i++)
        med[i] = median(all + i * reps, reps);
    free(all);
    return reps;
}

/* ---- forward ------------------------------------------------------------------------------ */

/* What forward_once works on. */
typedef struct forward_ctx {
    hbn_layer *layer;
    hbn_forward_args *args;
    float *y;
    size_t bytes;
} forward_ctx;

/* One train forward with its update, one eval forward and one memcpy into T[0..2]. */
static void forward_once(void *ctx, double *t)
{
    const forward_ctx *fc = ctx;
    hbn_layer *layer = fc->layer;
    hbn_forward_args *args = fc->args;
    float *y = fc->y;
    hbn_forward_result res;
    hbn_err err;

    hbn_forward_result_init(&res);
    args->mode = HBN_MODE_TRAIN;
    double t0 = now_us();
    if (hbn_layer_forward(layer, args, y, &res, &err) != HBN_OK)
        die(err.msg);
    hbn_layer_apply_update(layer, &res.update);
    hbn_forward_result_clear(&res);
    double t1 = now_us();
    args->mode = HBN_MODE_EVAL;
    if (hbn_layer_forward(layer, args, y, &res, &err) != HBN_OK)
        die(err.msg);
    hbn_forward_result_clear(&res);
    double t2 = now_us();
    memcpy(y, args->inputs, fc->bytes); /* Y in cache, as the train found it (see floor_once) */
    double t3 = now_us();
    memcpy(y, args->inputs, fc->bytes);
    double t4 = now_us();
    t[0] = t1 - t0;
    t[1] = t2 - t1;
    t[2] = t4 - t3;
    sink += (double)y[0];
}

/* Times SH and prints one row: medians, effective GB/s, train bandwidth as % of the copy's. */
static void forward_row(const bench_shape *sh)
{
    int64_t m = shape_numel(sh);
    size_t bytes = (size_t)m * sizeof(float);
    float *x = malloc(bytes), *y = malloc(bytes);
    hbn_config cfg;
    hbn_layer *layer = NULL;
    hbn_forward_args args;
    hbn_err err;
    double t[3], med[3];

    if (x == NULL || y == NULL)
        die("out of memory");
    fill(x, m, 1u);
    memset(y, 0, bytes);
    hbn_config_init(&cfg, sh->dims[1]);
    if (hbn_layer_create("bench", &cfg, &layer, &err) != HBN_OK)
        die(err.msg);
    hbn_forward_args_init(&args);
    args.inputs = x;
    args.rank = sh->rank;
    memcpy(args.shape, sh->dims, sizeof sh->dims);
    args.has_mode = true;
    forward_ctx ctx = {layer, &args, y, bytes};
    forward_once(&ctx, t); /* warm-up */
    int reps = time_medians(forward_once, &ctx, 3, med);
    double gb = 2.0 * (double)bytes / 1e3; /* bytes read + written, per microsecond -> GB/s */
    printf("forward %-16s %10lld %6d %11.1f %11.1f %11.1f %8.1f %8.1f %8.1f %7.0f%%\n", sh->label,
           (long long)m, reps, med[0], med[1], med[2], gb / med[0], gb / med[1], gb / med[2],
           100.0 * med[2] / med[0]);
    hbn_layer_free(layer);
    free(x);
    free(y);
}

/* ---- OpenBLAS experiment ------------------------------------------------------------------ */

/* Per-channel sums through OpenBLAS: (N, C) as x^T * ones; (N, C, S) as the sums of the N * C
 * planes (x * ones), combined per channel. OUT holds N * C floats, CH C doubles. */
static void blas_sums(const float *x, int64_t n, int64_t c, int64_t s, const float *ones,
                      float *out, double *ch)
{
    if (s == 1) {
        cblas_sgemv(CblasRowMajor, CblasTrans, (blasint)n, (blasint)c, 1.0f, x, (blasint)c, ones,
                    1, 0.0f, out, 1);
        for (int64_t j = 0; j < c; j++)
            ch[j] = (double)out[j];
        return;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)(n * c), (blasint)s, 1.0f, x, (blasint)s,
                ones, 1, 0.0f, out, 1);
    for (int64_t j = 0; j < c; j++)
        ch[j] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++)
            ch[j] += (double)out[i * c + j];
}

/* Both moments through OpenBLAS with double accumulation: per plane cblas_dsdot(x, ones) and
 * cblas_dsdot(x, x), combined per channel (var = E[x^2] - mean^2, exposed to cancellation when
 * |mean| >> std). Planes only: the columns of an (N, C) input would be strided. */
static void blas_moments(const float *x, int64_t n, int64_t c, int64_t s, const float *ones,
                         double *mean, double *var)
{
    double m = (double)(n * s);
    for (int64_t j = 0; j < c; j++)
        mean[j] = var[j] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++) {
            const float *p = x + (i * c + j) * s;
            mean[j] += cblas_dsdot((blasint)s, p, 1, ones, 1);
            var[j] += cblas_dsdot((blasint)s, p, 1, p, 1);
        }
    for (int64_t j = 0; j < c; j++) {
        mean[j] /= m;
        var[j] = var[j] / m - mean[j] * mean[j];
    }
}

/* The same sums with a plain loop (compiled like this program, -O2). */
static void loop_sums(const float *x, int64_t n, int64_t c, int64_t s, double *ch)
{
    for (int64_t j = 0; j < c; j++)
        ch[j] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++) {
            const float *p = x + (i * c + j) * s;
            float acc = 0.0f;
            for (int64_t k = 0; k < s; k++)
                acc += p[k];
            ch[j] += (double)acc;
        }
}

/* What blas_once works on: X (N, C, S), a vector of ones, scratch OUT[N * C], CH[C], VAR[C]. */
typedef struct blas_ctx {
    const float *x;
    int64_t n, c, s;
    const float *ones;
    float *out;
    double *ch, *var;
} blas_ctx;

/* One repetition of the experiment into T[0..3]: sgemv sums, loop sums, the kernels'
 * statistics, dsdot moments (planes only; 0 for S == 1). */
static void blas_once(void *ctx, double *t)
{
    const blas_ctx *bc = ctx;
    const float *x = bc->x, *ones = bc->ones;
    int64_t n = bc->n, c = bc->c, s = bc->s;
    double *ch = bc->ch, *var = bc->var;
    double t0 = now_us();
    blas_sums(x, n, c, s, ones, bc->out, ch);
    double t1 = now_us();
    loop_sums(x, n, c, s, ch);
    double t2 = now_us();
    if (!hbn_kernel_batch_stats(x, n, c, s, ch, var))
        die("non-finite bench data");
    double t3 = now_us();
    if (s > 1)
        blas_moments(x, n, c, s, ones, ch, var);
    double t4 = now_us();
    t[0] = t1 - t0;
    t[1] = t2 - t1;
    t[2] = t3 - t2;
    t[3] = t4 - t3;
    sink += ch[0] + var[0];
}

/* Times SH's experiment and prints one row of medians. */
static void blas_row(const bench_shape *sh)
{
    int64_t n = sh->dims[0], c = sh->dims[1], s = shape_numel(sh) / (n * c);
    int64_t m = n * c * s, len = n > s ? n : s;
    float *x = malloc((size_t)m * sizeof *x), *ones = malloc((size_t)len * sizeof *ones);
    float *out = malloc((size_t)(n * c) * sizeof *out);
    double *ch = malloc((size_t)c * sizeof *ch), *var = malloc((size_t)c * sizeof *var);
    double med[4];

    if (x == NULL || ones == NULL || out == NULL || ch == NULL || var == NULL)
        die("out of memory");
    fill(x, m, 2u);
    for (int64_t i = 0; i < len; i++)
        ones[i] = 1.0f;
    blas_ctx ctx = {x, n, c, s, ones, out, ch, var};
    int reps = time_medians(blas_once, &ctx, 4, med);
    printf("openblas %-16s %6d %13.1f %13.1f %15.1f %9.2f", sh->label, reps, med[0], med[1],
           med[2], med[0] / med[2]);
    if (s > 1)
        printf(" %15.1f %9.2f\n", med[3], med[3] / med[2]);
    else
        printf(" %15s %9s\n", "-", "-");
    free(x);
    free(ones);
    free(out);
    free(ch);
    free(var);
}

/* ---- bandwidth floor ---------------------------------------------------------------------- */

/* The least work a train forward can do, without any of the kernels' guarantees (float sums
 * only, no double, no finiteness or overflow checks): not correct enough for use, only a floor
 * to compare hbn_kernel_train with. Written with AVX-512 intrinsics (four independent sums per
 * moment, so that no add waits on the previous one): GCC's output for the same passes as plain
 * C loops was 1.6-2.2x slower here, which would make a poor floor. Skipped without AVX-512. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FLOOR_AVX512 1
#define FLOOR_HOT __attribute__((target("avx512f")))
#else
#define FLOOR_AVX512 0
#endif

#if FLOOR_AVX512
/* Adds the float sums of d = x - K and d * d over N runs of S values STRIDE floats apart at X
 * to *SD, *SQ: the least a statistics pass reads and computes. */
FLOOR_HOT static void floor_sums(const float *x, int64_t n, int64_t stride, int64_t s, float k,
                                 float *sd, float *sq)
{
    const __m512 vk = _mm512_set1_ps(k);
    __m512 a[4], q[4];
    for (int u = 0; u < 4; u++)
        a[u] = q[u] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i++) {
        const float *p = x + i * stride;
        int64_t t = 0;
        for (; t + 64 <= s; t += 64)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + t + 16 * u), vk);
                a[u] = _mm512_add_ps(a[u], d);
                q[u] = _mm512_fmadd_ps(d, d, q[u]);
            }
        for (int u = 0; t < s; t += 16, u++) { /* the last < 64 values, masked */
            __mmask16 m = s - t >= 16 ? 0xffff : (__mmask16)((1u << (s - t)) - 1u);
            __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + t), vk);
            a[u] = _mm512_add_ps(a[u], d);
            q[u] = _mm512_fmadd_ps(d, d, q[u]);
        }
    }
    *sd += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]),
                                              _mm512_add_ps(a[2], a[3])));
    *sq += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(q[0], q[1]),
                                              _mm512_add_ps(q[2], q[3])));
}

/* Y = X * A + B over LEN values: the least a normalization pass reads, computes and writes. */
FLOOR_HOT static void floor_map(const float *x, float *y, int64_t len, float a, float b)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    int64_t t = 0;
    for (; t + 16 <= len; t += 16)
        _mm512_storeu_ps(y + t, _mm512_fmadd_ps(_mm512_loadu_ps(x + t), va, vb));
    if (t < len) {
        __mmask16 m = (__mmask16)((1u << (len - t)) - 1u);
        _mm512_mask_storeu_ps(y + t, m, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + t), va, vb));
    }
}

/* Values per block of floor_traffic: 128 KiB, well inside L2 (8 to 64 Ki values measured alike). */
#define FLOOR_BLOCK ((int64_t)1 << 15)

/* The memory traffic of any train, without its arithmetic: LEN values at X read twice and
 * written once to Y, as a fused train moves them: block b + 1 is read (its "statistics": one
 * add per vector) while block b, read a moment ago and so still in cache, is mapped to Y with
 * ordinary stores, or with non-temporal ones (no read of a line before it is written) when NT.
 * Returns the sum, so that the reads are not optimized away. */
FLOOR_HOT static float floor_traffic(const float *x, float *y, int64_t len, bool nt)
{
    const __m512 va = _mm512_set1_ps(1.5f), vb = _mm512_set1_ps(0.25f);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    float sd = 0.0f, sq = 0.0f;
    floor_sums(x, 1, 0, len < FLOOR_BLOCK ? len : FLOOR_BLOCK, 0.0f, &sd, &sq);
    for (int64_t b0 = 0; b0 < len; b0 += FLOOR_BLOCK) {
        const int64_t w = len - b0 < FLOOR_BLOCK ? len - b0 : FLOOR_BLOCK;
        const int64_t next = len - b0 - w < FLOOR_BLOCK ? len - b0 - w : FLOOR_BLOCK;
        int64_t t = 0;
        for (; t + 32 <= w; t += 32) {
            if (t + 32 <= next) {
                s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + b0 + w + t));
                s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + b0 + w + t + 16));
            }
            const __m512 y0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + b0 + t), va, vb);
            const __m512 y1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + b0 + t + 16), va, vb);
            if (nt) { /* Y is 64-byte aligned (floor_row), as streams need */
                _mm512_stream_ps(y + b0 + t, y0);
                _mm512_stream_ps(y + b0 + t + 16, y1);
            } else {
                _mm512_storeu_ps(y + b0 + t, y0);
                _mm512_storeu_ps(y + b0 + t + 16, y1);
            }
        }
        floor_map(x + b0 + t, y + b0 + t, w - t, 1.5f, 0.25f);
    }
    _mm_sfence();
    return sd + _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* Scale A and shift B of a channel from its shifted sums over M values. */
static void floor_fit(float sd, float sq, float k, double m, float *a, float *b)
{
    double mu = (double)sd / m, var = (double)sq / m - mu * mu;
    *a = (float)(1.0 / sqrt((var > 0.0 ? var : 0.0) + 1e-5));
    *b = (float)(-((double)k + mu) * (double)*a);
}

/* A minimal fused train over (N, C) rows, C a multiple of 64: strips of 64 columns, their sums
 * down the rows in registers, then the strip normalized while it is in cache. */
FLOOR_HOT static void floor_train_rows(const float *x, float *y, int64_t n, int64_t c)
{
    float a[64], b[64], sd[64], sq[64];
    for (int64_t j0 = 0; j0 < c; j0 += 64) {
        __m512 k[4], vs[4], vq[4];
        for (int u = 0; u < 4; u++) {
            k[u] = _mm512_loadu_ps(x + j0 + 16 * u);
            vs[u] = vq[u] = _mm512_setzero_ps();
        }
        for (int64_t i = 0; i < n; i++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i * c + j0 + 16 * u), k[u]);
                vs[u] = _mm512_add_ps(vs[u], d);
                vq[u] = _mm512_fmadd_ps(d, d, vq[u]);
            }
        for (int u = 0; u < 4; u++) {
            _mm512_storeu_ps(sd + 16 * u, vs[u]);
            _mm512_storeu_ps(sq + 16 * u, vq[u]);
        }
        for (int j = 0; j < 64; j++)
            floor_fit(sd[j], sq[j], x[j0 + j], (double)n, &a[j], &b[j]);
        for (int64_t i = 0; i < n; i++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
                const __m512 v = _mm512_loadu_ps(x + i * c + j0 + 16 * u);
                _mm512_storeu_ps(y + i * c + j0 + 16 * u,
                                 _mm512_fmadd_ps(v, _mm512_loadu_ps(a + 16 * u),
                                                 _mm512_loadu_ps(b + 16 * u)));
            }
    }
}

/* A minimal fused train over (N, C, S), S > 1: each channel's sums, then the channel normalized
 * while it is in cache. */
static void floor_train_planes(const float *x, float *y, int64_t n, int64_t c, int64_t s)
{
    for (int64_t j = 0; j < c; j++) {
        float sd = 0.0f, sq = 0.0f, a, b, k = x[j * s];
        floor_sums(x + j * s, n, c * s, s, k, &sd, &sq);
        floor_fit(sd, sq, k, (double)(n * s), &a, &b);
        for (int64_t i = 0; i < n; i++)
            floor_map(x + (i * c + j) * s, y + (i * c + j) * s, s, a, b);
    }
}

/* What floor_once works on: X (N, C, S), the output Y, the statistics MEAN[C], VAR[C]. */
typedef struct floor_ctx {
    const float *x;
    float *y;
    int64_t n, c, s;
    double *mean, *var;
} floor_ctx;

/* One repetition into T[0..6]: memcpy, one read pass (floor_sums over the whole tensor: what
 * any statistics must read), one map pass (floor_map over it: what any normalization must read
 * and write), the traffic of a train (floor_traffic) with ordinary and with non-temporal
 * stores, the minimal fused train, hbn_kernel_train. */
static void floor_once(void *ctx, double *t)
{
    const floor_ctx *fc = ctx;
    const float *x = fc->x;
    float *y = fc->y;
    int64_t n = fc->n, c = fc->c, s = fc->s, m = n * c * s;
    float sd = 0.0f, sq = 0.0f;
    hbn_kernel_check check;
    double t0;
    int k = 0;

    /* times WORK into the next T[k] */
#define FLOOR_STEP(work) (t0 = now_us(), (work), t[k++] = now_us() - t0)
    /* The copy's Y as every other step finds it: just written by a copy, in cache (a kernel that
     * streamed it out of cache would otherwise slow the next copy down). */
    memcpy(y, x, (size_t)m * sizeof *y);
    FLOOR_STEP(memcpy(y, x, (size_t)m * sizeof *y));
    FLOOR_STEP(floor_sums(x, 1, 0, m, 0.5f, &sd, &sq));
    FLOOR_STEP(floor_map(x, y, m, 1.5f, 0.25f));
    FLOOR_STEP(sd += floor_traffic(x, y, m, false));
    FLOOR_STEP(sd += floor_traffic(x, y, m, true));
    memcpy(y, x, (size_t)m * sizeof *y); /* Y back in cache, as the other steps see it */
    FLOOR_STEP(s == 1 ? floor_train_rows(x, y, n, c) : floor_train_planes(x, y, n, c, s));
    FLOOR_STEP(check = hbn_kernel_train(x, y, n, c, s, 1e-5, NULL, NULL, fc->mean, fc->var));
#undef FLOOR_STEP
    if (check != HBN_KERNEL_FINITE)
        die("non-finite bench data");
    sink += (double)(sd + sq + y[0]) + fc->mean[0];
}

/* Times SH's floor and prints one row of medians: microseconds, then the read and map passes as
 * % of the copy's time, and the bandwidth of the traffic pass, the minimal train and the kernel
 * as % of the copy's. */
static void floor_row(const bench_shape *sh)
{
    int64_t n = sh->dims[0], c = sh->dims[1], s = shape_numel(sh) / (n * c);
    size_t bytes = (size_t)(n * c * s) * sizeof(float);
    size_t lines = (bytes + 63) / 64 * 64; /* aligned_alloc's size: a multiple of 64 */
    float *x = aligned_alloc(64, lines), *y = aligned_alloc(64, lines); /* for the streams */
    double *mean = malloc((size_t)c * sizeof *mean), *var = malloc((size_t)c * sizeof *var);
    double med[7];

    if (x == NULL || y == NULL || mean == NULL || var == NULL)
        die("out of memory");
    if (s == 1 && c % 64 != 0)
        die("the floor's (N, C) train needs C a multiple of 64");
    fill(x, n * c * s, 3u);
    memset(y, 0, bytes);
    floor_ctx ctx = {x, y, n, c, s, mean, var};
    int reps = time_medians(floor_once, &ctx, 7, med);
    printf("floor %-16s %6d %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %5.0f%% %5.0f%% %5.0f%% "
           "%5.0f%% %5.0f%% %5.0f%%\n",
           sh->label, reps, med[0], med[1], med[2], med[3], med[4], med[5], med[6],
           100.0 * med[1] / med[0], 100.0 * med[2] / med[0], 100.0 * med[0] / med[3],
           100.0 * med[0] / med[4], 100.0 * med[0] / med[5], 100.0 * med[0] / med[6]);
    free(x);
    free(y);
    free(mean);
    free(var);
}

/* True when this CPU runs the floor's AVX-512 code. */
static bool floor_supported(void)
{
    return __builtin_cpu_supports("avx512f");
}
#else
static bool floor_supported(void)
{
    return false;
}

static void floor_row(const bench_shape *sh)
{
    (void)sh;
}
#endif

int main(int argc, char **argv)
{
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    bool forward = true, blas = true, floor = true;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            budget_us /= 10.0;
        else if (strcmp(argv[i], "--forward") == 0)
            blas = floor = false;
        else if (strcmp(argv[i], "--blas") == 0)
            forward = floor = false;
        else if (strcmp(argv[i], "--floor") == 0)
            forward = blas = false;
        else
            die("usage: bench_core [--quick] [--forward | --blas | --floor]");
    }
    openblas_set_num_threads(1);
    if (forward) {
        printf("# bench_core: one thread, medians over interleaved repetitions\n");
        printf("# %-22s %10s %6s %11s %11s %11s %8s %8s %8s %8s\n", "shape", "numel", "reps",
               "train_us", "eval_us", "copy_us", "train_GB", "eval_GB", "copy_GB", "tr/copy");
        for (int i = 0; i < NSHAPES; i++)
            forward_row(&shapes[i]);
        for (int i = 0; i < NEXTRA; i++)
            forward_row(&extra_shapes[i]);
    }
    if (blas) {
        printf("# OpenBLAS %s (OPENBLAS_CORETYPE=%s): per-channel sums via cblas_sgemv x ones\n",
               openblas_get_corename(), coretype != NULL ? coretype : "unset");
        printf("# (float sums only), a plain -O2 loop, hbn_kernel_batch_stats (means and\n");
        printf("# variances), and both moments via cblas_dsdot per plane (double sums)\n");
        printf("# %-23s %6s %13s %13s %15s %9s %15s %9s\n", "shape", "reps", "sgemv_sum_us",
               "loop_sum_us", "kernel_stats_us", "sgemv/krn", "dsdot_stats_us", "dsdot/krn");
        for (int i = 0; i < NSHAPES; i++)
            blas_row(&shapes[i]);
    }
    if (floor && !floor_supported())
        printf("# bandwidth floor: skipped (written for AVX-512, which this CPU lacks)\n");
    else if (floor) {
        printf("# bandwidth floor: memcpy; one read pass (float shifted sums); one map pass\n"
               "# (y = x * a + b); the traffic of a train with no arithmetic (x read twice,\n"
               "# the second time from cache, y written once), with ordinary (traf) and\n"
               "# non-temporal (tr_nt) stores; a minimal fused train (float sums, no checks);\n"
               "# hbn_kernel_train. read, map: %% of the copy's time; traf, tr_nt, minimal,\n"
               "# kernel: bandwidth as %% of the copy's\n");
        printf("# %-20s %6s %8s %8s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s %6s\n", "shape",
               "reps", "copy_us", "read_us", "map_us", "traf_us", "tr_nt_us", "minim_us",
               "kern_us", "read", "map", "traf", "tr_nt", "minim", "kernel");
        for (int i = 0; i < NSHAPES; i++)
            floor_row(&shapes[i]);
    }
    return sink == 42.0 ? 1 : 0;
}
