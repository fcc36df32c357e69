/* check_kernels.c: Check suite of core/kernels.c. Every kernel is compared with plain double
 * reference loops written here, across its paths (S == 1 rows, S > 1 planes, short planes as
 * the columns of rows, planes streamed with non-temporal stores), C = 1, odd
 * sizes, several channel groups and chunks, N * S = 1; plus in-place use, NULL weight/bias,
 * data with mean 100 / std 1, the paths for awkward data (a first block far from the mean, values
 * near FLT_MAX, constant channels, large values followed by small ones), reads that stay inside
 * the tensor (guard pages), non-finite input detection at the first, middle and last element and
 * inside the vector loops, and outputs that overflow float32 on finite inputs, told apart from
 * non-finite inputs (which outrank them); the streamed outputs' tests run again with the AVX2
 * and the baseline loops. Expected values never come from the code under test. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/kernels.h"
#include "tests/check_core.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- reference and helpers ---------------------------------------------------------------- */

typedef struct shape {
    int64_t n, c, s;
} shape;

/* Shapes of both layouts: S == 1 (rows) and S > 1 (planes), and short planes run as the
 * columns of rows (N >= S, S < 64: {4, 70, 3}, {33, 16, 2}, {2, 1030, 2} and the last three).
 * They cover C = 1, N * S = 1, odd sizes, several channel chunks (C > 1024, in both layouts;
 * short planes: several chunks of channels whose columns share a chunk), several channel groups
 * (C > 32), runs longer than one float flush (S > 512), channels larger than a group's byte
 * budget, odd row counts, short planes on both sides of N == S. */
static const shape shapes[] = {
    {1, 1, 1},     {1, 4, 1},    {2, 1, 1},      {7, 3, 1},    {17, 33, 1},  {2, 1, 5},
    {1, 1, 999},   {1, 5, 7},    {3, 5, 7},      {5, 2, 19},   {4, 70, 3},   {9, 7, 300},
    {3, 2, 40000}, {1000, 1, 1}, {41, 1030, 1},  {33, 16, 2},  {6, 37, 49},  {2, 1030, 2},
    {8, 4, 9},     {9, 4, 9},    {64, 300, 16},  {70, 3, 63},
};

/* An output of more than 16 MiB, which the kernels write with non-temporal stores; S odd, so
 * that runs start unaligned and end with a partial vector. */
#define STREAMED {2, 3, 700001}

/* Streamed rows of many planes, where vectors straddle two planes with different maps: train
 * streams outputs from 3 MiB, normalization from 16 MiB. Planes of 17 values (nearly every
 * vector straddles), of exactly 16, long odd ones, 300 planes of 225 per row (over 16 MiB: both
 * kernels stream), 1100 channels over 16 MiB (normalization streams two chunks of maps), and
 * planes of 9, shorter than a vector (not streamed: a vector would straddle three). N < S keeps
 * the short planes off the columns path (see kernels.c, stats_as_columns). */
static const shape streamed_planes[] = {{16, 2900, 17},  {15, 3300, 16}, {8, 40, 2501},
                                        {64, 300, 225},  {4, 1100, 1000}, {8, 11000, 9}};

static float *alloc_floats(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *alloc_doubles(int64_t n)
{
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Per-channel mean and biased variance of X (N, C, S): plain two-pass loops in double. */
static void ref_stats(const float *x, shape sh, double *mean, double *var)
{
    double m = (double)(sh.n * sh.s);
    for (int64_t j = 0; j < sh.c; j++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < sh.n; i++)
            for (int64_t k = 0; k < sh.s; k++)
                sum += (double)x[(i * sh.c + j) * sh.s + k];
        mean[j] = sum / m;
        for (int64_t i = 0; i < sh.n; i++)
            for (int64_t k = 0; k < sh.s; k++) {
                double d = (double)x[(i * sh.c + j) * sh.s + k] - mean[j];
                sq += d * d;
            }
        var[j] = sq / m;
    }
}

/* Fails unless GOT is the reference MEAN, VAR within float-partial accuracy: the mean to 1e-6
 * of a standard deviation, the variance to 2e-6 relative (a naive float sum misses both by far
 * on data with mean 100). */
static void assert_stats(const double *got_mean, const double *got_var, const double *mean,
                         const double *var, int64_t c)
{
    for (int64_t j = 0; j < c; j++) {
        double sd = sqrt(var[j]);
        ck_assert_double_eq_tol(got_mean[j], mean[j], 1e-6 * sd + 1e-12 * fabs(mean[j]) + 1e-30);
        ck_assert_double_eq_tol(got_var[j], var[j], 2e-6 * var[j] + 1e-30);
    }
}

/* Fails unless Y is (x - mean) / sqrt(var + eps) * w + b (double reference) within float32
 * rounding: a few units in the last place of the magnitudes involved (|x a|, |mean a|, |b|,
 * |y|), plus, when the kernel computed the statistics itself, STATS_TOL times |w| + |y| (a mean
 * off by 1e-6 standard deviations moves y by 1e-6 |w|; a variance off by 2e-6 scales y by 1e-6). */
static void assert_normalized(const float *x, const float *y, shape sh, const double *mean,
                              const double *var, double eps, const float *w, const float *b,
                              double stats_tol)
{
    for (int64_t i = 0; i < sh.n; i++)
        for (int64_t j = 0; j < sh.c; j++) {
            double g = w != NULL ? (double)w[j] : 1.0;
            double a = 1.0 / sqrt(var[j] + eps) * g;
            double h = b != NULL ? (double)b[j] : 0.0;
            for (int64_t k = 0; k < sh.s; k++) {
                int64_t at = (i * sh.c + j) * sh.s + k;
                double want = ((double)x[at] - mean[j]) * a + h;
                double scale = fabs((double)x[at] * a) + fabs(mean[j] * a) + fabs(h) +
                               fabs(want);
                double tol = 4e-7 * scale + stats_tol * (fabs(g) + fabs(want)) + 1e-30;
                if (!(fabs((double)y[at] - want) <= tol)) /* Check's asserts are slow per call */
                    ck_abort_msg("y[%lld] = %.9g, reference %.9g (tolerance %.3g)",
                                 (long long)at, (double)y[at], want, tol);
            }
        }
}

/* X (N, C, S) with channel j drawn uniformly around CENTRE + j / 3 with spread 1 + j / 5. */
static void fill_channels(float *x, shape sh, uint32_t seed, double centre)
{
    hbn_test_fill(x, sh.n * sh.c * sh.s, seed, -1.0, 1.0);
    for (int64_t i = 0; i < sh.n; i++)
        for (int64_t j = 0; j < sh.c; j++)
            for (int64_t k = 0; k < sh.s; k++) {
                float *v = &x[(i * sh.c + j) * sh.s + k];
                *v = (float)(centre + (double)j / 3.0 + (1.0 + (double)j / 5.0) * (double)*v);
            }
}

/* Gain and shift of C channels, neither 1 nor 0, some negative. */
static void fill_affine(float *w, float *b, int64_t c)
{
    hbn_test_fill(w, c, 71, -2.0, 2.0);
    hbn_test_fill(b, c, 72, -1.0, 1.0);
}

static int64_t numel(shape sh)
{
    return sh.n * sh.c * sh.s;
}

/* Where the special value of a test goes, for P in [0, POSITIONS): the first, middle and last
 * element, and one inside the vector loops: rows: row 1 (the second of a pair of rows), column
 * 3; planes: element 1000 (past the unaligned head of a streamed run). */
enum { POSITIONS = 4 };
static int64_t position(shape sh, int p)
{
    int64_t m = numel(sh);
    int64_t at[POSITIONS] = {0, m / 2, m - 1, sh.s == 1 ? sh.c + 3 : 1000};

    return at[p];
}

/* ---- statistics and train ----------------------------------------------------------------- */

START_TEST(batch_stats_match_reference)
{
    shape sh = shapes[_i];
    float *x = alloc_floats(numel(sh));
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    double *rm = alloc_doubles(sh.c), *rv = alloc_doubles(sh.c);

    fill_channels(x, sh, (uint32_t)_i + 1u, 0.5);
    ref_stats(x, sh, rm, rv);
    ck_assert(hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    assert_stats(mean, var, rm, rv, sh.c);
    free(x);
    free(mean);
    free(var);
    free(rm);
    free(rv);
}
END_TEST

/* Train out of place against the reference, then in place: bit for bit the same results. */
static void check_train(const float *x, shape sh, double eps, const float *w, const float *b)
{
    int64_t m = numel(sh);
    float *y = alloc_floats(m), *z = alloc_floats(m);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    double *mean2 = alloc_doubles(sh.c), *var2 = alloc_doubles(sh.c);
    double *rm = alloc_doubles(sh.c), *rv = alloc_doubles(sh.c);

    ref_stats(x, sh, rm, rv);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, eps, w, b, mean, var),
                     HBN_KERNEL_FINITE);
    assert_stats(mean, var, rm, rv, sh.c);
    assert_normalized(x, y, sh, rm, rv, eps, w, b, 2e-6);
    memcpy(z, x, (size_t)m * sizeof *z);
    ck_assert_int_eq(hbn_kernel_train(z, z, sh.n, sh.c, sh.s, eps, w, b, mean2, var2),
                     HBN_KERNEL_FINITE);
    ck_assert_mem_eq(z, y, (size_t)m * sizeof *z);
    ck_assert_mem_eq(mean2, mean, (size_t)sh.c * sizeof *mean);
    ck_assert_mem_eq(var2, var, (size_t)sh.c * sizeof *var);
    free(y);
    free(z);
    free(mean);
    free(var);
    free(mean2);
    free(var2);
    free(rm);
    free(rv);
}

START_TEST(train_matches_reference)
{
    shape sh = shapes[_i];
    float *x = alloc_floats(numel(sh));
    float *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);

    fill_channels(x, sh, (uint32_t)_i + 11u, -0.25);
    fill_affine(w, b, sh.c);
    check_train(x, sh, 1e-5, w, b);
    check_train(x, sh, 1e-5, NULL, NULL);
    check_train(x, sh, 0.5, w, NULL);
    check_train(x, sh, 1e-3, NULL, b);
    free(x);
    free(w);
    free(b);
}
END_TEST

/* ---- normalize with given statistics ------------------------------------------------------ */

/* Normalize out of place against the reference, then in place: bit for bit the same output. */
static void check_normalize(const float *x, shape sh, const double *mean, const double *var,
                            double eps, const float *w, const float *b)
{
    int64_t m = numel(sh);
    float *y = alloc_floats(m), *z = alloc_floats(m);

    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, mean, var, eps, w, b),
                     HBN_KERNEL_FINITE);
    assert_normalized(x, y, sh, mean, var, eps, w, b, 0.0);
    memcpy(z, x, (size_t)m * sizeof *z);
    ck_assert_int_eq(hbn_kernel_normalize(z, z, sh.n, sh.c, sh.s, mean, var, eps, w, b),
                     HBN_KERNEL_FINITE);
    ck_assert_mem_eq(z, y, (size_t)m * sizeof *z);
    free(y);
    free(z);
}

START_TEST(normalize_matches_reference)
{
    shape sh = shapes[_i];
    float *x = alloc_floats(numel(sh));
    float *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);

    fill_channels(x, sh, (uint32_t)_i + 21u, 0.0);
    fill_affine(w, b, sh.c);
    for (int64_t j = 0; j < sh.c; j++) { /* stats unrelated to the data; channel 0 var 0 */
        mean[j] = 0.25 * (double)j - 1.0;
        var[j] = j == 0 ? 0.0 : 0.5 + 0.1 * (double)j;
    }
    check_normalize(x, sh, mean, var, 1e-5, w, b);
    check_normalize(x, sh, mean, var, 1e-5, NULL, NULL);
    check_normalize(x, sh, mean, var, 0.25, w, NULL);
    check_normalize(x, sh, mean, var, 1e-3, NULL, b);
    free(x);
    free(w);
    free(b);
    free(mean);
    free(var);
}
END_TEST

/* The non-temporal path (outputs over 16 MiB) computes what the others do. */
START_TEST(streamed_output_matches_reference)
{
    shape sh = STREAMED;
    float *x = alloc_floats(numel(sh));
    float *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);
    double mean[3] = {0.5, -2.0, 100.0}, var[3] = {1.0, 0.25, 4.0};

    fill_channels(x, sh, 101u, 0.0);
    fill_affine(w, b, sh.c);
    check_train(x, sh, 1e-5, w, b);
    check_normalize(x, sh, mean, var, 1e-5, w, b);
    free(x);
    free(w);
    free(b);
}
END_TEST

/* Trains X into Y (statistics into MEAN, VAR) and normalizes it with those into Z, the streams
 * capped at ISA; the cap is back to the widest after. */
static void forward_capped(hbn_kernel_isa isa, const float *x, shape sh, const float *w,
                           const float *b, float *y, float *z, double *mean, double *var)
{
    hbn_kernel_cap_streams(isa);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, w, b, mean, var),
                     HBN_KERNEL_FINITE);
    ck_assert_int_eq(hbn_kernel_normalize(x, z, sh.n, sh.c, sh.s, mean, var, 1e-5, w, b),
                     HBN_KERNEL_FINITE);
    hbn_kernel_cap_streams(HBN_KERNEL_ISA_AVX512);
}

/* N floats at a 64-byte boundary, and 15 more (so that OFF in [0, 15] shifts a tensor of N). */
static float *alloc_lines(int64_t n)
{
    float *p = aligned_alloc(64, ((size_t)n * sizeof *p + 15 * sizeof *p + 63) / 64 * 64);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Streamed rows of planes compute what the others do: the widest against the reference, and the
 * AVX2 and AVX-512 streams bit for bit what the ordinary stores (the baseline cap) write, with
 * the outputs at 0, 1 and 15 floats past a 64-byte boundary (where a row's plain head ends). */
START_TEST(streamed_planes_match_reference)
{
    shape sh = streamed_planes[_i];
    int64_t m = numel(sh);
    float *x = alloc_floats(m), *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);
    float *y[2] = {alloc_floats(m), alloc_lines(m)}, *z[2] = {alloc_floats(m), alloc_lines(m)};
    double *mean[2] = {alloc_doubles(sh.c), alloc_doubles(sh.c)};
    double *var[2] = {alloc_doubles(sh.c), alloc_doubles(sh.c)};
    const hbn_kernel_isa streams[] = {HBN_KERNEL_ISA_AVX2, HBN_KERNEL_ISA_AVX512};
    const int offsets[] = {0, 1, 15};

    fill_channels(x, sh, 131u + (uint32_t)_i, 0.0);
    fill_affine(w, b, sh.c);
    check_train(x, sh, 1e-5, w, b);
    forward_capped(HBN_KERNEL_ISA_BASELINE, x, sh, w, b, y[0], z[0], mean[0], var[0]);
    check_normalize(x, sh, mean[0], var[0], 1e-5, w, b);
    for (int k = 0; k < COUNT_OF(streams) * COUNT_OF(offsets); k++) {
        float *yk = y[1] + offsets[k % COUNT_OF(offsets)];
        float *zk = z[1] + offsets[k % COUNT_OF(offsets)];
        forward_capped(streams[k / COUNT_OF(offsets)], x, sh, w, b, yk, zk, mean[1], var[1]);
        ck_assert_mem_eq(yk, y[0], (size_t)m * sizeof *y[0]);
        ck_assert_mem_eq(zk, z[0], (size_t)m * sizeof *z[0]);
        ck_assert_mem_eq(mean[1], mean[0], (size_t)sh.c * sizeof *mean[0]);
        ck_assert_mem_eq(var[1], var[0], (size_t)sh.c * sizeof *var[0]);
    }
    free(x);
    free(w);
    free(b);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(z[k]);
        free(mean[k]);
        free(var[k]);
    }
}
END_TEST

/* ---- awkward data ------------------------------------------------------------------------- */

/* Rows, planes (one channel group), one channel, many rows, several channel groups, short planes
 * as columns. */
static const shape awkward_shapes[] = {{64, 10, 1},  {4, 3, 500},   {1, 1, 4096},
                                       {300, 40, 1}, {3, 40, 300}, {50, 6, 9}};

/* Mean 100, standard deviation 1: a float sum of squares would miss the variance by ~1e-2. */
START_TEST(large_mean_keeps_accuracy)
{
    shape sh = awkward_shapes[_i];
    float *x = alloc_floats(numel(sh));
    float *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    double *rm = alloc_doubles(sh.c), *rv = alloc_doubles(sh.c);

    hbn_test_fill(x, numel(sh), 31u + (uint32_t)_i, 100.0 - sqrt(3.0), 100.0 + sqrt(3.0));
    ref_stats(x, sh, rm, rv);
    ck_assert(hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    assert_stats(mean, var, rm, rv, sh.c);
    fill_affine(w, b, sh.c);
    check_train(x, sh, 1e-5, w, b);
    free(x);
    free(w);
    free(b);
    free(mean);
    free(var);
    free(rm);
    free(rv);
}
END_TEST

/* The values a channel starts with (the first plane's first block, the first rows) lie far from
 * the rest, so the first shift is far from the mean: results stay accurate. */
START_TEST(unrepresentative_start_keeps_accuracy)
{
    shape sh = awkward_shapes[_i];
    float *x = alloc_floats(numel(sh));
    int64_t head = sh.s > 1 ? sh.s / 2 : (sh.n / 4) * sh.c;

    hbn_test_fill(x, numel(sh), 41u + (uint32_t)_i, -1.0, 1.0);
    for (int64_t j = 0; j < (sh.s > 1 ? sh.c : 1); j++) /* every channel's first plane */
        for (int64_t k = 0; k < head; k++)
            x[j * sh.s + k] += 50.0f;
    check_train(x, sh, 1e-5, NULL, NULL);
    free(x);
}
END_TEST

/* Each channel starts with the values its first shift comes from (256 values of the first
 * plane, 16 rows) near 0, while the rest lies near 1000 with spread 1: a shift near 0 would lose
 * the variance to cancellation (1 + mean^2 / var is ~ 100), so the kernels must shift again. */
START_TEST(far_first_shift_is_retried)
{
    static const shape far[] = {{2, 3, 16384}, {4096, 3, 1}, {65536, 3, 4}};
    shape sh = far[_i];
    float *x = alloc_floats(numel(sh));
    const bool planes = _i == 0; /* else rows and columns: the first 16 rows set the shifts */

    hbn_test_fill(x, numel(sh), 45u + (uint32_t)_i, 999.0, 1001.0);
    for (int64_t k = 0; k < (planes ? sh.c * 256 : 16 * sh.c * sh.s); k++)
        x[planes ? k / 256 * sh.s + k % 256 : k] -= 1000.0f;
    check_train(x, sh, 1e-5, NULL, NULL);
    free(x);
}
END_TEST

/* A channel of exactly representable values 999.5 / 1000.5 alternating, whose first 256 values
 * (where its first shift comes from) are 1000 lower: the same, on one plane of 65536 values
 * and with no noise that could hide a lost retry. */
START_TEST(far_first_shift_is_retried_exactly)
{
    shape sh = {1, 1, 65536};
    float *x = alloc_floats(numel(sh));

    for (int64_t k = 0; k < sh.s; k++)
        x[k] = (k % 2 == 0 ? 999.5f : 1000.5f) - (k < 256 ? 1000.0f : 0.0f);
    check_train(x, sh, 1e-5, NULL, NULL);
    free(x);
}
END_TEST

/* Float partial sums must move to double often enough: a channel whose first values are large
 * (+-3000) and the rest small ([-1, 1]) loses the small ones' share of the variance (7.6e-5 of
 * it) when the large squares stay in the float partials; planes (one channel of 2^20 values)
 * and rows (2^16 rows of 4 channels, the first 32 rows large). */
START_TEST(float_partials_are_moved_to_double)
{
    static const shape layouts[] = {{1, 1, 1 << 20}, {1 << 16, 4, 1}};
    shape sh = layouts[_i];
    int64_t m = numel(sh), big = sh.s > 1 ? 512 : 32 * sh.c;
    float *x = alloc_floats(m);
    double mean[4], var[4], rm[4], rv[4];

    hbn_test_fill(x, m, 61u, -1.0, 1.0);
    for (int64_t k = 0; k < big; k++)
        x[k] = (k / (sh.s > 1 ? 1 : sh.c)) % 2 == 0 ? 3000.0f : -3000.0f;
    ref_stats(x, sh, rm, rv);
    ck_assert(hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    assert_stats(mean, var, rm, rv, sh.c);
    free(x);
}
END_TEST

/* Loop index: shape * 2 + end. The kernels read nothing outside X: X (and Y) placed right after
 * (end 0) or right before (end 1) a page that may not be touched, for short runs (S < 16, read
 * in double), short rows and odd sizes, whose vector loops mask their partial vectors. */
START_TEST(reads_stay_inside_the_tensor)
{
    static const shape small[] = {{1, 2, 7}, {3, 5, 7},   {2, 1, 5},  {7, 3, 1}, {1, 4, 1},
                                  {5, 2, 19}, {2, 3, 17}, {8, 3, 5}, {5, 4, 5}};
    shape sh = small[_i / 2];
    long page = sysconf(_SC_PAGESIZE);
    size_t bytes = (size_t)numel(sh) * sizeof(float), span = 3 * (size_t)page;
    char *map = mmap(NULL, 2 * span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    float *x, *y;
    double mean[8], var[8], rm[8], rv[8];

    ck_assert(map != MAP_FAILED && bytes <= (size_t)page);
    for (int k = 0; k < 2; k++) { /* two regions: guard page, data page, guard page */
        ck_assert_int_eq(mprotect(map + k * span, (size_t)page, PROT_NONE), 0);
        ck_assert_int_eq(mprotect(map + k * span + 2 * (size_t)page, (size_t)page, PROT_NONE), 0);
    }
    x = (float *)(void *)(map + page + (_i % 2 == 0 ? 0 : (size_t)page - bytes));
    y = (float *)(void *)(map + span + page + (_i % 2 == 0 ? 0 : (size_t)page - bytes));
    fill_channels(x, sh, 17u, 5.0);
    ref_stats(x, sh, rm, rv);
    ck_assert(hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    assert_stats(mean, var, rm, rv, sh.c);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, NULL, NULL, mean, var),
                     HBN_KERNEL_FINITE);
    assert_normalized(x, y, sh, rm, rv, 1e-5, NULL, NULL, 2e-6);
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, rm, rv, 1e-5, NULL, NULL),
                     HBN_KERNEL_FINITE);
    assert_normalized(x, y, sh, rm, rv, 1e-5, NULL, NULL, 0.0);
    ck_assert_int_eq(munmap(map, 2 * span), 0);
}
END_TEST

/* Values near FLT_MAX overflow float partial sums; the statistics stay exact in double and no
 * finite input is reported as non-finite. */
START_TEST(huge_values_are_finite)
{
    shape sh = awkward_shapes[_i];
    float *x = alloc_floats(numel(sh));

    hbn_test_fill(x, numel(sh), 51u + (uint32_t)_i, -1.0, 1.0);
    for (int64_t k = 0; k < numel(sh); k++)
        x[k] *= k % 3 == 0 ? FLT_MAX : 1.0f;
    check_train(x, sh, 1e-5, NULL, NULL);
    free(x);
}
END_TEST

/* A constant channel has variance 0 (never negative) and normalizes to exactly its bias. */
START_TEST(constant_channels_have_zero_variance)
{
    shape sh = awkward_shapes[_i];
    int64_t m = numel(sh);
    float *x = alloc_floats(m), *y = alloc_floats(m);
    float *b = alloc_floats(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);

    for (int64_t k = 0; k < m; k++)
        x[k] = 0.1f;
    hbn_test_fill(b, sh.c, 61u, -1.0, 1.0);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, NULL, b, mean, var),
                     HBN_KERNEL_FINITE);
    for (int64_t j = 0; j < sh.c; j++) {
        ck_assert_double_eq_tol(mean[j], (double)0.1f, 1e-15);
        ck_assert(var[j] >= 0.0 && var[j] < 1e-15);
    }
    for (int64_t k = 0; k < m; k++)
        if (y[k] != b[(k / sh.s) % sh.c]) /* (x - mean) is exactly 0 */
            ck_abort_msg("y[%lld] = %.9g, bias %.9g", (long long)k, (double)y[k],
                         (double)b[(k / sh.s) % sh.c]);
    free(x);
    free(y);
    free(b);
    free(mean);
    free(var);
}
END_TEST

/* ---- outputs that overflow float32 ------------------------------------------------------- */

/* Layouts of the overflow tests: rows, planes in one channel group, short planes as columns, and
 * planes written with non-temporal stores, one channel per group (an overflow in an early group,
 * a NaN in a late one). */
static const shape overflow_layouts[] = {{33, 17, 1}, {5, 3, 301}, {40, 5, 9}, STREAMED};

/* X (N, C, S) of SH with values in [-1, 1] except one outlier 1e6 at AT, and gains W[C] of 1
 * except FLT_MAX / 4 in the outlier's channel: with mean 0 / var 1, or the batch's statistics,
 * exactly the outlier's output overflows float32 (|z| < 1 elsewhere keeps |y| <= FLT_MAX / 4). */
static void fill_overflow(float *x, float *w, shape sh, int64_t at)
{
    hbn_test_fill(x, numel(sh), 111u, -1.0, 1.0);
    x[at] = 1e6f;
    for (int64_t j = 0; j < sh.c; j++)
        w[j] = j == (at / sh.s) % sh.c ? FLT_MAX / 4.0f : 1.0f;
}

/* Fails unless Y[k] is non-finite exactly at AT. */
static void assert_only_overflow(const float *y, shape sh, int64_t at)
{
    for (int64_t k = 0; k < numel(sh); k++)
        if (isfinite(y[k]) == (k == at))
            ck_abort_msg("y[%lld] = %g (the overflow is at %lld)", (long long)k, (double)y[k],
                         (long long)at);
}

/* Loop index: layout * POSITIONS + where (see position). Finite inputs whose output overflows
 * are reported as such by both kernels, out of place and in place, every other output is still
 * written, and train still returns the statistics. */
START_TEST(overflowing_output_is_reported)
{
    shape sh = overflow_layouts[_i / POSITIONS];
    int64_t m = numel(sh);
    int64_t at = position(sh, _i % POSITIONS);
    float *x = alloc_floats(m), *y = alloc_floats(m), *z = alloc_floats(m);
    float *w = alloc_floats(sh.c);
    double *gm = alloc_doubles(sh.c), *gv = alloc_doubles(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    double *rm = alloc_doubles(sh.c), *rv = alloc_doubles(sh.c);

    for (int64_t j = 0; j < sh.c; j++) {
        gm[j] = 0.0;
        gv[j] = 1.0;
    }
    fill_overflow(x, w, sh, at);
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_OUTPUT_NON_FINITE);
    assert_only_overflow(y, sh, at);
    memcpy(z, x, (size_t)m * sizeof *z);
    ck_assert_int_eq(hbn_kernel_normalize(z, z, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_OUTPUT_NON_FINITE);
    assert_only_overflow(z, sh, at);
    ref_stats(x, sh, rm, rv);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, w, NULL, mean, var),
                     HBN_KERNEL_OUTPUT_NON_FINITE);
    assert_only_overflow(y, sh, at);
    assert_stats(mean, var, rm, rv, sh.c);
    memcpy(z, x, (size_t)m * sizeof *z);
    ck_assert_int_eq(hbn_kernel_train(z, z, sh.n, sh.c, sh.s, 1e-5, w, NULL, mean, var),
                     HBN_KERNEL_OUTPUT_NON_FINITE);
    assert_only_overflow(z, sh, at);
    free(x);
    free(y);
    free(z);
    free(w);
    free(gm);
    free(gv);
    free(mean);
    free(var);
    free(rm);
    free(rv);
}
END_TEST

/* Loop index: layout * POSITIONS + case. An overflowing output and a NaN input in the same
 * call: the input is reported, whichever comes first in memory, by both kernels, in place too. */
START_TEST(non_finite_input_outranks_overflow)
{
    shape sh = overflow_layouts[_i / POSITIONS];
    int64_t m = numel(sh);
    int64_t at = position(sh, _i % POSITIONS), nan_at = position(sh, (_i + 1) % POSITIONS);
    float *x = alloc_floats(m), *y = alloc_floats(m);
    float *w = alloc_floats(sh.c);
    double *gm = alloc_doubles(sh.c), *gv = alloc_doubles(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);

    for (int64_t j = 0; j < sh.c; j++) {
        gm[j] = 0.0;
        gv[j] = 1.0;
    }
    fill_overflow(x, w, sh, at);
    x[nan_at] = NAN;
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_INPUT_NON_FINITE);
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, w, NULL, mean, var),
                     HBN_KERNEL_INPUT_NON_FINITE);
    ck_assert_int_eq(hbn_kernel_normalize(x, x, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_INPUT_NON_FINITE);
    free(x);
    free(y);
    free(w);
    free(gm);
    free(gv);
    free(mean);
    free(var);
}
END_TEST

/* Fails unless the M values of Y are finite and at least FLT_MAX / 5. */
static void assert_large_finite(const float *y, int64_t m)
{
    for (int64_t k = 0; k < m; k++)
        if (!(isfinite(y[k]) && y[k] >= FLT_MAX / 5.0f)) /* Check's asserts are slow per call */
            ck_abort_msg("y[%lld] = %g", (long long)k, (double)y[k]);
}

/* Loop index: layout (rows with a partial vector, rows of one scalar chunk, short planes as
 * columns, short planes on the planes' path (in train), planes of whole vectors, streamed
 * planes). Outputs between
 * FLT_MAX / 4 and 3 FLT_MAX / 4, all positive, are finite although their sum overflows float32
 * (which the kernels' probe sums): nothing is reported, by either kernel. */
START_TEST(large_finite_outputs_are_finite)
{
    static const shape layouts[] = {{64, 20, 1}, {4, 2, 1},  {2, 2, 2},
                                    {1, 2, 7},   {1, 2, 32}, STREAMED};
    shape sh = layouts[_i];
    int64_t m = numel(sh);
    float *x = alloc_floats(m), *y = alloc_floats(m);
    float *w = alloc_floats(sh.c), *b = alloc_floats(sh.c);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    /* |x - mean| <= sqrt(m - 1) standard deviations: |z w| <= FLT_MAX / 4 in train */
    float gain = (float)((double)FLT_MAX / (4.0 * sqrt((double)(sh.n * sh.s))));

    hbn_test_fill(x, m, 131u, -1.0, 1.0);
    for (int64_t j = 0; j < sh.c; j++) {
        w[j] = FLT_MAX / 4.0f;
        b[j] = FLT_MAX / 2.0f;
        mean[j] = 0.0;
        var[j] = 1.0;
    }
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, mean, var, 1e-5, w, b),
                     HBN_KERNEL_FINITE);
    assert_large_finite(y, m);
    for (int64_t j = 0; j < sh.c; j++)
        w[j] = gain;
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, w, b, mean, var),
                     HBN_KERNEL_FINITE);
    assert_large_finite(y, m);
    free(x);
    free(y);
    free(w);
    free(b);
    free(mean);
    free(var);
}
END_TEST

/* ---- non-finite inputs -------------------------------------------------------------------- */

/* Poisons X (N, C, S) with NaN, +Inf or -Inf (_i % 3) at one of the positions of position
 * (_i / 3 % POSITIONS), in the layouts of the overflow tests (_i / (3 * POSITIONS)): every kernel
 * must report it. */
START_TEST(non_finite_inputs_are_reported)
{
    const float poison[] = {NAN, INFINITY, -INFINITY};
    shape sh = overflow_layouts[_i / (3 * POSITIONS)];
    int64_t m = numel(sh);
    float *x = alloc_floats(m), *y = alloc_floats(m);
    double *mean = alloc_doubles(sh.c), *var = alloc_doubles(sh.c);
    double *gm = alloc_doubles(sh.c), *gv = alloc_doubles(sh.c);
    float *w = alloc_floats(sh.c);

    for (int64_t j = 0; j < sh.c; j++) {
        gm[j] = 0.5;
        gv[j] = 2.0;
        w[j] = 0.0f; /* a zero gain must not hide the poison */
    }
    hbn_test_fill(x, m, 91u, -3.0, 3.0);
    ck_assert(hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_FINITE);
    x[position(sh, _i / 3 % POSITIONS)] = poison[_i % 3];
    ck_assert(!hbn_kernel_batch_stats(x, sh.n, sh.c, sh.s, mean, var));
    ck_assert_int_eq(hbn_kernel_train(x, y, sh.n, sh.c, sh.s, 1e-5, NULL, NULL, mean, var),
                     HBN_KERNEL_INPUT_NON_FINITE);
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, gm, gv, 1e-5, NULL, NULL),
                     HBN_KERNEL_INPUT_NON_FINITE);
    ck_assert_int_eq(hbn_kernel_normalize(x, y, sh.n, sh.c, sh.s, gm, gv, 1e-5, w, NULL),
                     HBN_KERNEL_INPUT_NON_FINITE);
    free(x);
    free(y);
    free(mean);
    free(var);
    free(gm);
    free(gv);
    free(w);
}
END_TEST

/* Fixtures of the narrower streaming loops (hbn_kernel_cap_streams), back to the widest after. */
static void streams_avx2(void)
{
    hbn_kernel_cap_streams(HBN_KERNEL_ISA_AVX2);
}

static void streams_baseline(void)
{
    hbn_kernel_cap_streams(HBN_KERNEL_ISA_BASELINE);
}

static void streams_widest(void)
{
    hbn_kernel_cap_streams(HBN_KERNEL_ISA_AVX512);
}

/* Adds to SUITE, as test case NAME under the fixture SETUP, every test of an output large
 * enough to be streamed (the STREAMED layout's loop indices). */
static void add_streamed_tests(Suite *suite, const char *name, void (*setup)(void))
{
    TCase *tc = tcase_create(name);
    int s = COUNT_OF(overflow_layouts) - 1; /* STREAMED is the last layout */

    tcase_add_checked_fixture(tc, setup, streams_widest);
    tcase_add_test(tc, streamed_output_matches_reference);
    tcase_add_loop_test(tc, non_finite_inputs_are_reported, s * 3 * POSITIONS,
                        (s + 1) * 3 * POSITIONS);
    tcase_add_loop_test(tc, overflowing_output_is_reported, s * POSITIONS, (s + 1) * POSITIONS);
    tcase_add_loop_test(tc, non_finite_input_outranks_overflow, s * POSITIONS,
                        (s + 1) * POSITIONS);
    tcase_add_loop_test(tc, large_finite_outputs_are_finite, 5, 6);
    suite_add_tcase(suite, tc);
}

Suite *hbn_kernels_suite(void)
{
    Suite *suite = suite_create("kernels");
    TCase *tc = tcase_create("stats_and_train");

    tcase_add_loop_test(tc, batch_stats_match_reference, 0, COUNT_OF(shapes));
    tcase_add_loop_test(tc, train_matches_reference, 0, COUNT_OF(shapes));
    suite_add_tcase(suite, tc);
    tc = tcase_create("normalize");
    tcase_add_loop_test(tc, normalize_matches_reference, 0, COUNT_OF(shapes));
    tcase_add_test(tc, streamed_output_matches_reference);
    tcase_add_loop_test(tc, streamed_planes_match_reference, 0, COUNT_OF(streamed_planes));
    suite_add_tcase(suite, tc);
    tc = tcase_create("awkward_data");
    tcase_add_loop_test(tc, large_mean_keeps_accuracy, 0, COUNT_OF(awkward_shapes));
    tcase_add_loop_test(tc, unrepresentative_start_keeps_accuracy, 0, COUNT_OF(awkward_shapes));
    tcase_add_loop_test(tc, far_first_shift_is_retried, 0, 3);
    tcase_add_test(tc, far_first_shift_is_retried_exactly);
    tcase_add_loop_test(tc, float_partials_are_moved_to_double, 0, 2);
    tcase_add_loop_test(tc, reads_stay_inside_the_tensor, 0, 18);
    tcase_add_loop_test(tc, huge_values_are_finite, 0, COUNT_OF(awkward_shapes));
    tcase_add_loop_test(tc, constant_channels_have_zero_variance, 0, COUNT_OF(awkward_shapes));
    suite_add_tcase(suite, tc);
    tc = tcase_create("non_finite");
    tcase_add_loop_test(tc, non_finite_inputs_are_reported, 0,
                        COUNT_OF(overflow_layouts) * 3 * POSITIONS);
    suite_add_tcase(suite, tc);
    tc = tcase_create("overflow");
    tcase_add_loop_test(tc, overflowing_output_is_reported, 0,
                        POSITIONS * COUNT_OF(overflow_layouts));
    tcase_add_loop_test(tc, non_finite_input_outranks_overflow, 0,
                        POSITIONS * COUNT_OF(overflow_layouts));
    tcase_add_loop_test(tc, large_finite_outputs_are_finite, 0, 6);
    suite_add_tcase(suite, tc);
    add_streamed_tests(suite, "streams_avx2", streams_avx2); /* what AVX2-only CPUs run */
    add_streamed_tests(suite, "streams_baseline", streams_baseline);
    return suite;
}
