/* kernels.c: the batch-norm numerics of kernels.h over a row-major (N, C, S) view. Knows nothing
 * of layers, slots or requests; no allocation (scratch is on the stack, < 32 KiB), one thread.
 * Planes (S > 1): groups of channels small enough to stay in L2, read in memory order; in train
 * one sweep normalizes a group while it gathers the next group's statistics; large outputs are
 * written with non-temporal stores. Rows (S == 1, and short planes viewed as C * S columns):
 * vectorised across a row. Statistics: sums of d = x - shift (shift near the channel mean) in
 * float lanes over at most HBN_FLUSH values, then in double, so a large mean costs no accuracy;
 * a shift found too far from the mean is retried once, and an overflow or a non-finite value
 * sends the channel to an exact double path, which also decides finiteness. Normalization probes
 * what it writes (and, in eval, what it reads), so an output that overflows float32 is reported
 * as such. */
#include "core/kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* One portable binary: the hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and
 * picked at load time (GCC function multiversioning through an ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#include <immintrin.h>
#define HBN_X86 1
#define HBN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HBN_X86 0
#define HBN_HOT
#endif
/* --enable-tsan: an ifunc resolver would run before TSan's runtime. HBN_NO_CLONES: one version,
 * for the compiler's flags (the tests of the narrower clones' code, tests/check_kernels_isa.c). */
#if defined(__SANITIZE_THREAD__) || defined(HBN_NO_CLONES)
#undef HBN_HOT
#define HBN_HOT
#endif
#define HBN_INLINE static inline __attribute__((always_inline))

enum {
    HBN_LANES = 16,                  /* float lanes of the partial sums (one AVX-512 register) */
    HBN_FLUSH = 512,                 /* values summed in float lanes before moving to double */
    HBN_PILOT = 256,                 /* values whose mean gives a channel its first shift */
    HBN_GROUP_MAX = 32,              /* channels per group (planes) */
    HBN_GROUP_BYTES = 1 << 18,       /* input bytes per group: well inside a 1 MiB L2 */
    HBN_GROUP_RUN = 1 << 13,         /* bytes a group's row should span at least (group_width) */
    HBN_GROUP_BYTES_MAX = 1 << 19,   /* input bytes per group widened for such rows, at most */
    HBN_CHUNK = 1024,                /* maps per stack-resident chunk (channels, or columns) */
    HBN_COLUMNS_STATS = 32,          /* planes shorter than this may get statistics as columns */
    HBN_COLUMNS_APPLY_VALUES = 1 << 20, /* and be normalized as columns below this size */
    HBN_COLUMNS_CHUNK = 512,         /* columns per chunk of their statistics */
    HBN_ROWS = 32,                   /* rows summed in float before moving to double (columns) */
    HBN_PILOT_ROWS = 16,             /* rows whose mean gives a column its first shift (columns) */
    HBN_PREFETCH_L2 = 2,             /* __builtin_prefetch locality: into L2, not L1 */
};

/* Outputs from these sizes on are written with non-temporal stores (on the planes' path, planes
 * of at least 16 values: stream_pick): they cannot stay in cache anyway, and a store that skips
 * reading its line first halves the write traffic (measured 1.3-1.5x faster on
 * (32, 64, 56, 56); slower on cache-sized outputs). Train streams from a smaller size: its stores
 * would also evict the channel group that the sweep reads a second time from L2 (measured with
 * ordinary vs non-temporal stores: 3.2 MB outputs 42-46 % vs 49-53 % of a copy's bandwidth,
 * 6.4 MB 41-65 % vs 60-86 %, (64, 256, 14, 14) 47-50 % vs 76-82 %; 2.1 MB 41-46 % vs 35-39 %).
 * Normalization alone gained nothing from streaming 6.4 MB outputs (111-127 % vs 88-104 %). */
#define HBN_STREAM_BYTES ((int64_t)16 << 20)
#define HBN_STREAM_TRAIN_BYTES ((int64_t)3 << 20)

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- shared numerics ----------------------------------------------------------------------- */

typedef enum hbn_fit { HBN_FIT_OK, HBN_FIT_RETRY, HBN_FIT_BAD } hbn_fit;

/* Turns the sums SD = sum(x - K), SQ = sum((x - K)^2) of M values into *MEAN and *VAR. RETRY when
 * K is further than one standard deviation from the mean (the float sums then lose accuracy to
 * cancellation); BAD, with *MEAN and *VAR NaN, when a sum is not finite (a non-finite input or
 * a float overflow). */
static hbn_fit moments_finish(double sd, double sq, float k, double m, double *mean, double *var)
{
    if (!isfinite(sd) || !isfinite(sq)) {
        *mean = *var = (double)NAN;
        return HBN_FIT_BAD;
    }
    double dm = sd / m;
    double v = sq / m - dm * dm;
    *mean = (double)k + dm;
    *var = v > 0.0 ? v : 0.0;
    return dm * dm > *var ? HBN_FIT_RETRY : HBN_FIT_OK;
}

/* Exact statistics of one channel, N runs of S values STRIDE floats apart, in double: the mean,
 * then centred squares with the centred sum's correction. Returns false when a value is not
 * finite. Slow; only for the rare channels the fast paths cannot represent. */
static bool moments_exact(const float *x, int64_t n, int64_t s, int64_t stride, double *mean,
                          double *var)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < s; k++) {
            float v = x[i * stride + k];
            if (!isfinite(v))
                return false;
            sum += (double)v;
        }
    double m = (double)n * (double)s;
    double mu = sum / m;
    double sd = 0.0;
    double sq = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < s; k++) {
            double d = (double)x[i * stride + k] - mu;
            sd += d;
            sq += d * d;
        }
    *mean = mu + sd / m;
    *var = fmax(0.0, sq / m - (sd / m) * (sd / m));
    return true;
}

/* The per-channel maps of a chunk of channels: y = (x - hi) * a + b, with hi the mean rounded to
 * float and b = bias - (mean - hi) * a. x - hi is exact for x near the mean, so y carries about
 * one rounding of its own size, where PyTorch's x * a + b carries one of |x * a| (1e-5 off for
 * inputs of mean 100, and a constant channel would not map exactly to its bias). A mean beyond
 * 2^100 could make x - hi overflow for a finite x near FLT_MAX: such a channel uses hi = 0. */
typedef struct hbn_maps {
    float hi[HBN_CHUNK];
    float a[HBN_CHUNK];
    float b[HBN_CHUNK];
} hbn_maps;

/* Fills maps [0, W * REP) of MAPS from MEAN[W], VAR[W] and WEIGHT[W], BIAS[W] (either may be
 * NULL), in double: a = weight / sqrt(var + eps); channel j's map REP times from j * REP (one per
 * column of a small plane, see rows_normalize). */
static void maps_fill(hbn_maps *maps, int64_t w, int64_t rep, const double *mean,
                      const double *var, double eps, const float *weight, const float *bias)
{
    for (int64_t j = 0; j < w; j++) {
        double scale = (weight != NULL ? (double)weight[j] : 1.0) / sqrt(var[j] + eps);
        double m = mean[j];
        float hi = fabs(m) <= 0x1p100 ? (float)m : 0.0f;
        float a = (float)scale;
        float b = (float)((bias != NULL ? (double)bias[j] : 0.0) - (m - (double)hi) * scale);
        for (int64_t r = j * rep; r < (j + 1) * rep; r++) {
            maps->hi[r] = hi;
            maps->a[r] = a;
            maps->b[r] = b;
        }
    }
}

/* TAIL_MASK + R, for R in [1, HBN_LANES), is 0 in its first HBN_LANES - R lanes and 1 in its
 * last R: a run's last R values are handled as one vector, the run's last HBN_LANES values with
 * the lanes already handled masked off. */
static const float tail_mask[2 * HBN_LANES] = {
    0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
    1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f,
};

/* The normalization checks finiteness in its own sweep. Inputs (eval only: in train the
 * statistics have read them already), exactly: a probe ORs, for each x, (exponent bits of x) +
 * 2^23, whose top bit is set exactly when the exponent is all ones (an infinity or a NaN);
 * integer operations of one cycle, no float dependency chain. Outputs, as a filter: each lane
 * sums the y it wrote, which ends non-finite when a y is (NaN and infinities stick) and, rarely,
 * when large finite outputs overflow the sum; outputs_verify then decides by reading Y. A
 * non-finite x always makes y non-finite (even through a gain of 0), so the input words only
 * tell an input's fault from an overflow, which a caller computing in place could not do after
 * the fact. Vector lanes and scalar tails use separate words (a vector reload of a word just
 * stored as a scalar would stall). A sweep keeps its probe in a local whose address never
 * escapes (streams return theirs by value): else the compiler must assume that the stores to Y
 * alias the float sums and keeps them in memory (measured 2.8x slower on (8, 16, 1024)). */
typedef struct hbn_probe {
    uint32_t lane[HBN_LANES]; /* inputs' bits */
    float ysum[HBN_LANES];    /* outputs' sums */
    uint32_t tail;
    float ytail;
} hbn_probe;

#define HBN_PROBE_INIT {{0}, {0.0f}, 0, 0.0f}

HBN_INLINE uint32_t nonfinite_bit(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x7f800000u) + 0x00800000u;
}

/* y = (x - HI) * A + B over the LEN values at P into Q (Q may be P), probing into *PR (the
 * inputs only when PX; a constant wherever this is inlined). */
HBN_INLINE void apply_run(const float *p, float *q, int64_t len, float hi, float a, float b,
                          hbn_probe *pr, bool px)
{
    int64_t k = 0;
    for (; k + HBN_LANES <= len; k += HBN_LANES) {
#pragma omp simd
        for (int l = 0; l < HBN_LANES; l++) {
            const float v = (p[k + l] - hi) * a + b;
            if (px)
                pr->lane[l] |= nonfinite_bit(p[k + l]);
            pr->ysum[l] += v;
            q[k + l] = v;
        }
    }
    uint32_t bits = 0;
    float sum = 0.0f;
    for (; k < len; k++) {
        const float v = (p[k] - hi) * a + b;
        if (px)
            bits |= nonfinite_bit(p[k]);
        sum += v;
        q[k] = v;
    }
    pr->tail |= bits;
    pr->ytail += sum;
}

/* The same over channels [J, W) of the consecutive channels at P, map j for value j. */
HBN_INLINE void apply_cols(const float *p, float *q, int64_t j, int64_t w, const hbn_maps *maps,
                           hbn_probe *pr, bool px)
{
    for (; j + HBN_LANES <= w; j += HBN_LANES) {
#pragma omp simd
        for (int l = 0; l < HBN_LANES; l++) {
            const float v = (p[j + l] - maps->hi[j + l]) * maps->a[j + l] + maps->b[j + l];
            if (px)
                pr->lane[l] |= nonfinite_bit(p[j + l]);
            pr->ysum[l] += v;
            q[j + l] = v;
        }
    }
    uint32_t bits = 0;
    float sum = 0.0f;
    for (; j < w; j++) {
        const float v = (p[j] - maps->hi[j]) * maps->a[j] + maps->b[j];
        if (px)
            bits |= nonfinite_bit(p[j]);
        sum += v;
        q[j] = v;
    }
    pr->tail |= bits;
    pr->ytail += sum;
}

/* apply_cols over two rows C floats apart, which share each load of the maps. Row 0 is stored
 * before row 1 is computed: GCC otherwise re-reads the maps from memory for row 1 (9 loads per
 * 32 values instead of 5; measured 1.1-1.2x slower on (32, 64) and (256, 1024)). */
HBN_INLINE void apply_cols2(const float *p, float *q, int64_t c, int64_t w,
                            const hbn_maps *maps, hbn_probe *pr, bool px)
{
    int64_t j = 0;
    for (; j + HBN_LANES <= w; j += HBN_LANES) {
#pragma omp simd
        for (int l = 0; l < HBN_LANES; l++) {
            const float hi = maps->hi[j + l], a = maps->a[j + l], b = maps->b[j + l];
            const float x0 = p[j + l], x1 = p[c + j + l];
            const float y0 = (x0 - hi) * a + b;
            q[j + l] = y0; /* before y1 is computed (see above) */
            const float y1 = (x1 - hi) * a + b;
            q[c + j + l] = y1;
            if (px)
                pr->lane[l] |= nonfinite_bit(x0) | nonfinite_bit(x1);
            pr->ysum[l] += y0 + y1;
        }
    }
    apply_cols(p, q, j, w, maps, pr, px);
    apply_cols(p + c, q + c, j, w, maps, pr, px);
}

/* What the probe PR saw: HBN_KERNEL_OUTPUT_NON_FINITE only means "maybe" (see hbn_probe); a
 * non-finite input outranks it. */
static hbn_kernel_check probe_check(const hbn_probe *pr)
{
    uint32_t t = pr->tail, yt = nonfinite_bit(pr->ytail);
    for (int l = 0; l < HBN_LANES; l++) { /* each lane's sum on its own: no float chain */
        t |= pr->lane[l];
        yt |= nonfinite_bit(pr->ysum[l]);
    }
    if (t & 0x80000000u)
        return HBN_KERNEL_INPUT_NON_FINITE;
    return (yt & 0x80000000u) ? HBN_KERNEL_OUTPUT_NON_FINITE : HBN_KERNEL_FINITE;
}

/* The worse of two results (the enum is in increasing order of precedence). */
static hbn_kernel_check check_worse(hbn_kernel_check a, hbn_kernel_check b)
{
    return a > b ? a : b;
}

/* Confirms a probe's "maybe" for the NUMEL outputs at Y: HBN_KERNEL_OUTPUT_NON_FINITE when one
 * is not finite, else HBN_KERNEL_FINITE (finite outputs whose sum overflowed). */
static hbn_kernel_check outputs_verify(hbn_kernel_check check, const float *y, int64_t numel)
{
    if (check != HBN_KERNEL_OUTPUT_NON_FINITE)
        return check;
    for (int64_t k = 0; k < numel; k++)
        if (!isfinite(y[k]))
            return HBN_KERNEL_OUTPUT_NON_FINITE;
    return HBN_KERNEL_FINITE;
}

/* What a streamed run saw: the OR of its inputs' nonfinite_bit and the sum of its outputs,
 * returned by value (see hbn_probe). */
typedef struct hbn_stream_probe {
    uint32_t bits;
    float sum;
} hbn_stream_probe;

/* apply_run over a row of W consecutive planes of S values at P into Q, map j for plane j of
 * MAPS, with non-temporal stores (aligned ones: the values before the first 64-byte boundary and
 * the last partial vector are plain), probing inputs and outputs (memory-bound: the inputs'
 * probe costs nothing here). One call per row rather than per plane: a plane's head and tail
 * would otherwise be plain stores into lines the neighbouring planes stream (measured 1.7x slower
 * on (64, 256, 14, 14)). A vector that straddles two planes takes each lane's map; S >= 16
 * (stream_pick) makes every vector straddle at most two. One version per instruction set, since
 * each needs its own intrinsics, chosen by stream_pick. */
typedef hbn_stream_probe (*hbn_stream_fn)(const float *p, float *q, int64_t w, int64_t s,
                                          const hbn_maps *maps);

#if HBN_X86
/* The plain part of a streamed row: values [K, END) of P, all in the plane of map J of MAPS (a
 * row's head and tail: fewer than 16 values, at its ends, where planes of S >= 16 leave no
 * boundary), probed into *SP. */
HBN_INLINE void stream_plain(const float *p, float *q, int64_t k, int64_t end, int64_t j,
                             const hbn_maps *maps, hbn_stream_probe *sp)
{
    const float hi = maps->hi[j], a = maps->a[j], b = maps->b[j];
    for (; k < end; k++) {
        const float v = (p[k] - hi) * a + b;
        sp->bits |= nonfinite_bit(p[k]);
        sp->sum += v;
        q[k] = v;
    }
}

/* Values before Q's first 64-byte boundary (at most LEN). */
static int64_t stream_head(const float *q, int64_t len)
{
    int64_t head = (int64_t)((64 - (uintptr_t)q % 64) % 64) / (int64_t)sizeof(float);
    return head < len ? head : len;
}

__attribute__((target("avx512f"))) static hbn_stream_probe stream_avx512(const float *p, float *q,
                                                                         int64_t w, int64_t s,
                                                                         const hbn_maps *maps)
{
    hbn_stream_probe sp = {0, 0.0f};
    const int64_t len = w * s;
    int64_t k = stream_head(q, len); /* < 16 <= S: plane 0's */
    int64_t j = 0, end = s;          /* the plane of value K, and where it ends */
    stream_plain(p, q, 0, k, 0, maps, &sp);
    __m512 vh = _mm512_set1_ps(maps->hi[0]), va = _mm512_set1_ps(maps->a[0]);
    __m512 vb = _mm512_set1_ps(maps->b[0]);
    const __m512i exp = _mm512_set1_epi32(0x7f800000), one = _mm512_set1_epi32(0x00800000);
    __m512i acc = _mm512_setzero_si512();
    __m512 ysum = _mm512_setzero_ps();
    for (; k + 16 <= len; k += 16) {
        __m512 h = vh, a = va, b = vb;
        if (k + 16 >= end) { /* plane j ends in this vector: from here on, plane j + 1 */
            if (j + 1 < w) {
                const __m512 nh = _mm512_set1_ps(maps->hi[j + 1]);
                const __m512 na = _mm512_set1_ps(maps->a[j + 1]);
                const __m512 nb = _mm512_set1_ps(maps->b[j + 1]);
                const __mmask16 next = (__mmask16)(0xffffu << (end - k)); /* 0 when it ends here */
                h = _mm512_mask_blend_ps(next, vh, nh);
                a = _mm512_mask_blend_ps(next, va, na);
                b = _mm512_mask_blend_ps(next, vb, nb);
                vh = nh;
                va = na;
                vb = nb;
            }
            j++;
            end += s;
        }
        __m512 v = _mm512_loadu_ps(p + k);
        __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v, h), a), b);
        __m512i e = _mm512_and_si512(_mm512_castps_si512(v), exp);
        acc = _mm512_or_si512(acc, _mm512_add_epi32(e, one));
        ysum = _mm512_add_ps(ysum, y);
        _mm512_stream_ps(q + k, y);
    }
    sp.bits |= (uint32_t)_mm512_reduce_or_epi32(acc);
    sp.sum += _mm512_reduce_add_ps(ysum);
    stream_plain(p, q, k, len, w - 1, maps, &sp);
    return sp;
}

__attribute__((target("avx2"))) static hbn_stream_probe stream_avx2(const float *p, float *q,
                                                                    int64_t w, int64_t s,
                                                                    const hbn_maps *maps)
{
    hbn_stream_probe sp = {0, 0.0f};
    const int64_t len = w * s;
    int64_t k = stream_head(q, len);
    int64_t j = 0, end = s;
    stream_plain(p, q, 0, k, 0, maps, &sp);
    __m256 vh = _mm256_set1_ps(maps->hi[0]), va = _mm256_set1_ps(maps->a[0]);
    __m256 vb = _mm256_set1_ps(maps->b[0]);
    const __m256i exp = _mm256_set1_epi32(0x7f800000), one = _mm256_set1_epi32(0x00800000);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i acc = _mm256_setzero_si256();
    __m256 ysum = _mm256_setzero_ps();
    for (; k + 8 <= len; k += 8) {
        __m256 h = vh, a = va, b = vb;
        if (k + 8 >= end) {
            if (j + 1 < w) {
                const __m256 nh = _mm256_set1_ps(maps->hi[j + 1]);
                const __m256 na = _mm256_set1_ps(maps->a[j + 1]);
                const __m256 nb = _mm256_set1_ps(maps->b[j + 1]);
                const __m256 next = _mm256_castsi256_ps(
                    _mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)(end - k) - 1)));
                h = _mm256_blendv_ps(vh, nh, next);
                a = _mm256_blendv_ps(va, na, next);
                b = _mm256_blendv_ps(vb, nb, next);
                vh = nh;
                va = na;
                vb = nb;
            }
            j++;
            end += s;
        }
        __m256 v = _mm256_loadu_ps(p + k);
        __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v, h), a), b);
        __m256i e = _mm256_and_si256(_mm256_castps_si256(v), exp);
        acc = _mm256_or_si256(acc, _mm256_add_epi32(e, one));
        ysum = _mm256_add_ps(ysum, y);
        _mm256_stream_ps(q + k, y);
    }
    uint32_t lanes[8];
    float sums[8];
    _mm256_storeu_si256((__m256i *)(void *)lanes, acc);
    _mm256_storeu_ps(sums, ysum);
    for (int l = 0; l < 8; l++) {
        sp.bits |= lanes[l];
        sp.sum += sums[l];
    }
    stream_plain(p, q, k, len, w - 1, maps, &sp);
    return sp;
}
#endif

/* The widest streaming loop stream_pick may choose (hbn_kernel_cap_streams). */
static hbn_kernel_isa stream_cap = HBN_KERNEL_ISA_AVX512;

void hbn_kernel_cap_streams(hbn_kernel_isa isa)
{
    stream_cap = isa;
}

/* The streaming version for this CPU and NUMEL outputs in planes of S values, or NULL: below
 * FROM bytes, planes shorter than a vector of 16, or without AVX2 (then the ordinary vectorised
 * stores), or as capped by stream_cap.
 * __builtin_cpu_supports reads what libgcc's constructor found; no ifunc, whose resolver would
 * run before the sanitizers' runtime. */
static hbn_stream_fn stream_pick(int64_t numel, int64_t s, int64_t from)
{
    if (numel * (int64_t)sizeof(float) < from || s < 16)
        return NULL;
#if HBN_X86
    if (stream_cap >= HBN_KERNEL_ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        return stream_avx512;
    if (stream_cap >= HBN_KERNEL_ISA_AVX2 && __builtin_cpu_supports("avx2"))
        return stream_avx2;
#endif
    return NULL;
}

/* Orders the non-temporal stores before whatever the caller does next. */
static void stream_fence(void)
{
#if HBN_X86
    _mm_sfence();
#endif
}

/* ---- S > 1: groups of channels ------------------------------------------------------------- */

/* Sixteen float lanes as one value, for the statistics' sums: GCC keeps them in registers and
 * lowers each operation to what the clone has (one AVX-512 register, two AVX2 ones, four SSE2
 * ones). The same sums written as `omp simd` loops over float arrays left the lanes in memory
 * and added them up one by one (measured 2.1x slower on (64, 256, 14, 14)). Passed by address:
 * a vector argument's ABI would differ between the clones. */
typedef float hbn_f16 __attribute__((vector_size(64)));
typedef float hbn_f8 __attribute__((vector_size(32)));
typedef float hbn_f4 __attribute__((vector_size(16)));

/* The 16 values at P (any alignment) into *V. */
HBN_INLINE void f16_load(hbn_f16 *v, const float *p)
{
    memcpy(v, p, sizeof *v);
}

/* The sum of the lanes of *V, halves added pairwise. */
HBN_INLINE float f16_sum(const hbn_f16 *v)
{
    const hbn_f8 a = __builtin_shufflevector(*v, *v, 0, 1, 2, 3, 4, 5, 6, 7) +
                     __builtin_shufflevector(*v, *v, 8, 9, 10, 11, 12, 13, 14, 15);
    const hbn_f4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) +
                     __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* Adds to *SD the sum of d = x - K and to *SQ the sum of d * d over the LEN contiguous values at
 * P: float lanes over blocks of at most HBN_FLUSH values (none shorter than 16), each block's
 * lanes added up and moved to double; a run shorter than 16 in double. Prefetches the same span
 * at PF (the next row's run, so that a row's jump never waits on memory). */
HBN_INLINE void plane_sums(const float *p, int64_t len, float k, const float *pf, double *sd,
                           double *sq)
{
    if (len < HBN_LANES) { /* two chains of adds: a plane of 9 is otherwise all latency */
        double a0 = 0.0, a1 = 0.0, b0 = 0.0, b1 = 0.0;
        int64_t i = 0;
        for (; i + 2 <= len; i += 2) {
            double d0 = (double)p[i] - (double)k, d1 = (double)p[i + 1] - (double)k;
            a0 += d0;
            a1 += d1;
            b0 += d0 * d0;
            b1 += d1 * d1;
        }
        if (i < len) {
            double d = (double)p[i] - (double)k;
            a0 += d;
            b0 += d * d;
        }
        *sd += a0 + a1;
        *sq += b0 + b1;
        return;
    }
    for (int64_t off = 0; off < len;) {
        int64_t bl = min64(HBN_FLUSH, len - off);
        if (len - off - bl > 0 && len - off - bl < HBN_LANES)
            bl -= HBN_LANES;
        const float *q = p + off, *qf = pf + off;
        hbn_f16 s0 = {0.0f}, s1 = {0.0f}, q0 = {0.0f}, q1 = {0.0f}, v0, v1;
        int64_t i = 0;
        for (; i + 2 * HBN_LANES <= bl; i += 2 * HBN_LANES) {
            __builtin_prefetch(qf + i, 0, HBN_PREFETCH_L2);
            __builtin_prefetch(qf + i + HBN_LANES, 0, HBN_PREFETCH_L2);
            f16_load(&v0, q + i);
            f16_load(&v1, q + i + HBN_LANES);
            v0 -= k;
            v1 -= k;
            s0 += v0;
            s1 += v1;
            q0 += v0 * v0;
            q1 += v1 * v1;
        }
        if (i + HBN_LANES <= bl) {
            f16_load(&v0, q + i);
            v0 -= k;
            s0 += v0;
            q0 += v0 * v0;
            i += HBN_LANES;
        }
        if (i < bl) { /* the last 16 values again, the lanes already counted masked off */
            f16_load(&v0, q + bl - HBN_LANES);
            f16_load(&v1, tail_mask + (bl - i));
            v0 = (v0 - k) * v1;
            s1 += v0;
            q1 += v0 * v0;
        }
        s0 += s1;
        q0 += q1;
        *sd += (double)f16_sum(&s0);
        *sq += (double)f16_sum(&q0);
        off += bl;
    }
}

/* The running sums of a group of channels: for channel j, the shift K[j] (near the channel's
 * mean), and the sums SD[j] of d = x - K[j] and SQ[j] of d * d (in the caller's MEAN and VAR
 * until group_end turns them into moments). */
typedef struct hbn_sums {
    float *k;
    double *sd;
    double *sq;
} hbn_sums;

/* Adds one row of W consecutive planes of S values at ROW to ACC's channels [0, W),
 * prefetching the same span at NEXT (the next row). */
HBN_INLINE void row_sums(const float *row, const float *next, int64_t s, int64_t w,
                         const hbn_sums *acc)
{
    for (int64_t j = 0; j < w; j++)
        plane_sums(row + j * s, s, acc->k[j], next + j * s, &acc->sd[j], &acc->sq[j]);
}

/* Normalizes one row of W consecutive planes of S values from ROW into OUT with MAPS (see
 * apply_run for PR and PX), through STREAM unless it is NULL, else prefetching the same span at
 * NEXT_OUT for writing unless that is NULL. */
HBN_INLINE void row_apply(const float *row, float *out, float *next_out, int64_t s, int64_t w,
                          const hbn_maps *maps, hbn_probe *pr, hbn_stream_fn stream, bool px)
{
    if (stream != NULL) {
        hbn_stream_probe sp = stream(row, out, w, s, maps);
        pr->tail |= sp.bits;
        pr->ytail += sp.sum;
        return;
    }
    for (int64_t j = 0; j < w; j++) {
        if (next_out != NULL)
            for (int64_t k = 0; k < s; k += HBN_LANES)
                __builtin_prefetch(next_out + j * s + k, 1, HBN_PREFETCH_L2);
        if (px)
            apply_run(row + j * s, out + j * s, s, maps->hi[j], maps->a[j], maps->b[j], pr, true);
        else
            apply_run(row + j * s, out + j * s, s, maps->hi[j], maps->a[j], maps->b[j], pr, false);
    }
}

/* One sweep over the N rows of an (N, C, S) tensor: normalizes the W_APPLY channels whose
 * plane 0 is at X into Y with MAPS, and adds the W_SUM channels whose plane 0 is at XS to ACC.
 * Either width may be 0. Train gathers the next group's statistics while it normalizes the
 * current group, so that reading from memory and writing overlap. */
typedef struct hbn_sweep {
    const float *x;
    float *y;
    int64_t w_apply;
    const hbn_maps *maps;
    hbn_stream_fn stream; /* writes Y with non-temporal stores, or NULL */
    bool probe_x;         /* probe the inputs it normalizes (eval; train's statistics did) */
    const float *xs;
    int64_t w_sum;
    const hbn_sums *acc;
} hbn_sweep;

/* Runs SW; reports what the normalization read and wrote (see hbn_probe; the statistics' own
 * finiteness is group_end's). The rows of a group are apart in memory: the next one is
 * prefetched (whole rows are one stream anyway). */
HBN_HOT static hbn_kernel_check group_sweep(const hbn_sweep *sw, int64_t n, int64_t c,
                                            int64_t s)
{
    hbn_probe pr = HBN_PROBE_INIT;
    const int64_t len = c * s;
    for (int64_t i = 0; i < n; i++) {
        const bool last = i + 1 == n;
        if (sw->w_apply > 0) {
            float *out = sw->y + i * len;
            row_apply(sw->x + i * len, out, sw->w_apply < c && !last ? out + len : NULL, s,
                      sw->w_apply, sw->maps, &pr, sw->stream, sw->probe_x);
        }
        if (sw->w_sum > 0) {
            const float *row = sw->xs + i * len;
            row_sums(row, sw->w_sum < c && !last ? row + len : row, s, sw->w_sum, sw->acc);
        }
    }
    return probe_check(&pr);
}

/* Starts ACC's sums of the W channels whose plane 0 is at X, each shifted by the mean of its
 * first (at most HBN_PILOT) values, rounded to float. */
static void group_begin(const float *x, int64_t s, int64_t w, const hbn_sums *acc)
{
    int64_t len = min64(s, HBN_PILOT);
    for (int64_t j = 0; j < w; j++) {
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int64_t k = 0; k < len; k++)
            sum += (double)x[j * s + k];
        acc->k[j] = (float)(sum / (double)len);
        acc->sd[j] = acc->sq[j] = 0.0;
    }
}

/* Turns ACC's finished sums of the W channels whose plane 0 is at X, kept in MEAN[W] and VAR[W],
 * into their moments, retrying a channel whose shift was too far from its mean and falling back
 * to the exact path. Returns false when a value is not finite. */
static bool group_end(const float *x, int64_t n, int64_t c, int64_t s, int64_t w,
                      const hbn_sums *acc, double *mean, double *var)
{
    const double m = (double)n * (double)s;
    for (int64_t j = 0; j < w; j++) {
        hbn_fit fit = moments_finish(mean[j], var[j], acc->k[j], m, &mean[j], &var[j]);
        if (fit == HBN_FIT_RETRY) { /* once more, shifted by the mean just found */
            float k = (float)mean[j];
            hbn_sums one = {&k, &mean[j], &var[j]};
            hbn_sweep once = {NULL, NULL, 0, NULL, NULL, false, x + j * s, 1, &one};
            mean[j] = var[j] = 0.0;
            (void)group_sweep(&once, n, c, s);
            fit = moments_finish(mean[j], var[j], k, m, &mean[j], &var[j]);
        }
        if (fit != HBN_FIT_OK && !moments_exact(x + j * s, n, s, c * s, &mean[j], &var[j]))
            return false;
    }
    return true;
}

/* Statistics of the W (<= HBN_GROUP_MAX) channels whose plane 0 is at X, alone, through ACC
 * (into MEAN[W], VAR[W]; see group_end). */
static bool group_stats(const float *x, int64_t n, int64_t c, int64_t s, int64_t w,
                        const hbn_sums *acc, double *mean, double *var)
{
    hbn_sweep sw = {NULL, NULL, 0, NULL, NULL, false, x, w, acc};
    group_begin(x, s, w, acc);
    (void)group_sweep(&sw, n, c, s);
    return group_end(x, n, c, s, w, acc, mean, var);
}

/* Channels per group: as many as fit HBN_GROUP_BYTES of input, at least 1; more where a group's
 * row would then span less than HBN_GROUP_RUN bytes, up to HBN_GROUP_BYTES_MAX: short runs far
 * apart starve the hardware prefetcher (measured: (64, 256, 14, 14) 5 channels of 784 bytes per
 * row 80-84 % of a copy's bandwidth, 10 channels 88-91 %; (128, 64, 14, 14) 52-54 % and 58-60 %;
 * (16, 128, 28, 28), whose rows span 15 KiB, lost 10 points to twice as wide groups). */
static int64_t group_width(int64_t n, int64_t s)
{
    const int64_t plane = s * (int64_t)sizeof(float), bytes = n * plane;
    int64_t g = HBN_GROUP_BYTES / bytes;
    if (g * plane < HBN_GROUP_RUN)
        g = min64((HBN_GROUP_RUN + plane - 1) / plane, HBN_GROUP_BYTES_MAX / bytes);
    return g < 1 ? 1 : min64(g, HBN_GROUP_MAX);
}

static bool planes_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                         double *var)
{
    const int64_t g = group_width(n, s);
    float k[HBN_GROUP_MAX];
    for (int64_t j0 = 0; j0 < c; j0 += g) {
        const hbn_sums acc = {k, mean + j0, var + j0};
        if (!group_stats(x + j0 * s, n, c, s, min64(g, c - j0), &acc, mean + j0, var + j0))
            return false;
    }
    return true;
}

/* Train over groups: the first group's statistics alone, then each group's normalization
 * together with the next group's statistics. An overflowing output does not stop the sweep: a
 * non-finite input further on outranks it. */
static hbn_kernel_check planes_train(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                     double eps, const float *weight, const float *bias,
                                     double *mean, double *var)
{
    const int64_t g = group_width(n, s);
    const hbn_stream_fn stream = stream_pick(n * c * s, s, HBN_STREAM_TRAIN_BYTES);
    float k[HBN_GROUP_MAX];
    hbn_maps maps;
    hbn_kernel_check out = HBN_KERNEL_FINITE;
    const hbn_sums first = {k, mean, var};
    bool ok = group_stats(x, n, c, s, min64(g, c), &first, mean, var);
    for (int64_t j0 = 0; ok && j0 < c; j0 += g) {
        const int64_t w = min64(g, c - j0);
        const int64_t j1 = j0 + w;
        const int64_t w1 = j1 < c ? min64(g, c - j1) : 0;
        const hbn_sums acc = {k, mean + j1, var + j1};
        maps_fill(&maps, w, 1, mean + j0, var + j0, eps, weight != NULL ? weight + j0 : NULL,
                  bias != NULL ? bias + j0 : NULL);
        hbn_sweep sw = {x + j0 * s, y + j0 * s, w,   &maps, stream, false,
                        w1 > 0 ? x + j1 * s : NULL, w1, &acc};
        if (w1 > 0)
            group_begin(sw.xs, s, w1, &acc);
        out = check_worse(out, group_sweep(&sw, n, c, s));
        if (w1 > 0)
            ok = group_end(sw.xs, n, c, s, w1, &acc, mean + j1, var + j1);
    }
    if (stream != NULL)
        stream_fence();
    return ok ? out : HBN_KERNEL_INPUT_NON_FINITE;
}

static hbn_kernel_check planes_normalize(const float *x, float *y, int64_t n, int64_t c,
                                         int64_t s, const double *mean, const double *var,
                                         double eps, const float *weight, const float *bias)
{
    const hbn_stream_fn stream = stream_pick(n * c * s, s, HBN_STREAM_BYTES);
    hbn_maps maps;
    hbn_kernel_check out = HBN_KERNEL_FINITE;
    for (int64_t j0 = 0; j0 < c; j0 += HBN_CHUNK) {
        int64_t w = min64(HBN_CHUNK, c - j0);
        maps_fill(&maps, w, 1, mean + j0, var + j0, eps, weight != NULL ? weight + j0 : NULL,
                  bias != NULL ? bias + j0 : NULL);
        hbn_sweep sw = {x + j0 * s, y + j0 * s, w, &maps, stream, true, NULL, 0, NULL};
        out = check_worse(out, group_sweep(&sw, n, c, s));
    }
    if (stream != NULL)
        stream_fence();
    return out;
}

/* ---- S == 1, and short planes: rows of C * S columns ------------------------------------- */

/* Planes shorter than a few vectors spend most of their per-plane loops in tails and reductions.
 * Viewed as the rows of an (N, C * S) tensor they run through the S == 1 kernels, vectorised
 * across a row: each column's moments over N values, then each channel's from its S columns;
 * normalization repeats a channel's map over its columns. The statistics cost a little per
 * column, so they pay where a column has enough values and planes are short: N >= S, S < 32
 * (measured train, planes vs columns: (128, 64, 3, 3) 111 vs 15 us, (64, 256, 4, 4) 148 vs 77,
 * (512, 512, 4, 4) 7.6 vs 3.6 ms, (256, 1024, 5, 5) 6.6 vs 5.5 ms; but (4, 256, 4, 4) 12 vs 31 us,
 * (8, 512, 6, 6) 60 vs 146, (256, 512, 7, 7) 5.2 vs 5.7 ms). Normalization alone pays for
 * planes shorter than a vector, which the planes' loops run scalar ((1024, 256, 3, 3) 1.6 vs
 * 0.8 ms), and for planes the statistics would take as columns while the tensor is small: in a
 * large one the chunks of columns are short runs far apart, and columns never stream (eval,
 * planes vs columns: (64, 256, 4, 4) 36 vs 29 us, (64, 512, 4, 4) 70 vs 60; (256, 512, 4, 4)
 * 287 vs 417, (512, 512, 4, 4) 0.8 vs 1.6 ms). */

/* Whether train and the batch statistics view X (N, C, S) as columns (see above). */
static bool stats_as_columns(int64_t n, int64_t s)
{
    return s == 1 || (s < HBN_COLUMNS_STATS && n >= s);
}

/* Whether normalization alone views X (N, C, S) as columns (see above). */
static bool apply_as_columns(int64_t n, int64_t c, int64_t s)
{
    return s < HBN_LANES || (s < HBN_COLUMNS_STATS && n * c * s < HBN_COLUMNS_APPLY_VALUES);
}

/* Shifts K[W] for columns [0, W) of X (row length C): the mean of the first rows, in float. */
HBN_HOT static void rows_pilot(const float *x, int64_t n, int64_t c, int64_t w, float *k)
{
    int64_t rows = min64(n, HBN_PILOT_ROWS);
    for (int64_t j = 0; j < w; j++)
        k[j] = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *r = x + i * c;
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            k[j] += r[j];
    }
    const float inv = 1.0f / (float)rows;
    for (int64_t j = 0; j < w; j++)
        k[j] *= inv;
}

/* Sums of d = x - K[j] and d * d over the N rows of columns [0, W) of X (row length C) into
 * SD[W], SQ[W]: float partials over HBN_ROWS rows, four rows per step, moved to double. */
HBN_HOT static void rows_sums(const float *x, int64_t n, int64_t c, int64_t w, const float *k,
                              double *sd, double *sq)
{
    float fsd[HBN_CHUNK];
    float fsq[HBN_CHUNK];
    for (int64_t j = 0; j < w; j++) {
        sd[j] = sq[j] = 0.0;
        fsd[j] = fsq[j] = 0.0f;
    }
    for (int64_t i0 = 0; i0 < n; i0 += HBN_ROWS) {
        int64_t end = min64(n, i0 + HBN_ROWS);
        int64_t i = i0;
        for (; i + 4 <= end; i += 4) {
            const float *r0 = x + i * c, *r1 = r0 + c, *r2 = r1 + c, *r3 = r2 + c;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                float d0 = r0[j] - k[j], d1 = r1[j] - k[j];
                float d2 = r2[j] - k[j], d3 = r3[j] - k[j];
                fsd[j] += (d0 + d1) + (d2 + d3);
                fsq[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            }
        }
        for (; i < end; i++) {
            const float *r = x + i * c;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                float d = r[j] - k[j];
                fsd[j] += d;
                fsq[j] += d * d;
            }
        }
#pragma omp simd
        for (int64_t j = 0; j < w; j++) {
            sd[j] += (double)fsd[j];
            sq[j] += (double)fsq[j];
            fsd[j] = fsq[j] = 0.0f;
        }
    }
}

/* Statistics of columns [0, W) of the N rows of X (row length C) into MEAN[W], VAR[W]. Returns
 * false when a value is not finite. */
static bool rows_chunk_stats(const float *x, int64_t n, int64_t c, int64_t w, double *mean,
                             double *var)
{
    float k[HBN_CHUNK];
    bool retry = false;
    double m = (double)n;
    if (w <= 0) /* none: also shows GCC that K is written before rows_sums reads it */
        return true;
    rows_pilot(x, n, c, w, k);
    rows_sums(x, n, c, w, k, mean, var);
    for (int64_t j = 0; j < w; j++)
        if (moments_finish(mean[j], var[j], k[j], m, &mean[j], &var[j]) == HBN_FIT_RETRY)
            retry = true;
    if (retry) { /* once more, every column shifted by the mean just found */
        for (int64_t j = 0; j < w; j++)
            k[j] = isfinite(mean[j]) ? (float)mean[j] : 0.0f;
        rows_sums(x, n, c, w, k, mean, var);
    }
    for (int64_t j = 0; j < w; j++) {
        hbn_fit fit = retry ? moments_finish(mean[j], var[j], k[j], m, &mean[j], &var[j])
                            : (isfinite(mean[j]) ? HBN_FIT_OK : HBN_FIT_BAD);
        if (fit != HBN_FIT_OK && !moments_exact(x + j, n, 1, c, &mean[j], &var[j]))
            return false;
    }
    return true;
}

/* Statistics of X (N, C, S) as the columns of its (N, C * S) rows (see stats_as_columns): per
 * chunk of channels, each column's moments, then channel j's from its S columns of N values each:
 * the mean of their means, and the mean of their variances plus the variance of their means. */
static bool rows_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                       double *var)
{
    if (s == 1) {
        for (int64_t j0 = 0; j0 < c; j0 += HBN_CHUNK)
            if (!rows_chunk_stats(x + j0, n, c, min64(HBN_CHUNK, c - j0), mean + j0, var + j0))
                return false;
        return true;
    }
    const int64_t per = HBN_COLUMNS_CHUNK / s;
    double cm[HBN_COLUMNS_CHUNK];
    double cv[HBN_COLUMNS_CHUNK];
    for (int64_t j0 = 0; j0 < c; j0 += per) {
        const int64_t w = min64(per, c - j0);
        if (!rows_chunk_stats(x + j0 * s, n, c * s, w * s, cm, cv))
            return false;
        for (int64_t j = 0; j < w; j++) {
            const double *m = cm + j * s, *v = cv + j * s;
            double mu = 0.0;
            double within = 0.0;
            double between = 0.0;
            for (int64_t k = 0; k < s; k++)
                mu += m[k];
            mu /= (double)s;
            for (int64_t k = 0; k < s; k++) {
                within += v[k];
                between += (m[k] - mu) * (m[k] - mu);
            }
            mean[j0 + j] = mu;
            var[j0 + j] = (within + between) / (double)s;
        }
    }
    return true;
}

/* Normalizes columns [0, W) of the N rows of X (row length C) into Y with MAPS, probing into
 * *PR (see apply_run for PX). */
HBN_INLINE void rows_apply_probed(const float *x, float *y, int64_t n, int64_t c, int64_t w,
                                  const hbn_maps *maps, hbn_probe *pr, bool px)
{
    int64_t i = 0;
    for (; i + 2 <= n; i += 2)
        apply_cols2(x + i * c, y + i * c, c, w, maps, pr, px);
    if (i < n)
        apply_cols(x + i * c, y + i * c, 0, w, maps, pr, px);
}

/* rows_apply_probed, the inputs probed when PX; reports what it read and wrote. */
HBN_HOT static hbn_kernel_check rows_apply(const float *x, float *y, int64_t n, int64_t c,
                                           int64_t w, const hbn_maps *maps, bool px)
{
    hbn_probe pr = HBN_PROBE_INIT;
    if (px)
        rows_apply_probed(x, y, n, c, w, maps, &pr, true);
    else
        rows_apply_probed(x, y, n, c, w, maps, &pr, false);
    return probe_check(&pr);
}

/* Normalizes X (N, C, S) into Y as the N rows of C * S columns (see stats_as_columns), chunk by
 * chunk of channels, each channel's map repeated over its S columns; PX: see apply_run. */
static hbn_kernel_check rows_normalize(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                       const double *mean, const double *var, double eps,
                                       const float *weight, const float *bias, bool px)
{
    const int64_t per = HBN_CHUNK / s;
    hbn_maps maps;
    hbn_kernel_check out = HBN_KERNEL_FINITE;
    for (int64_t j0 = 0; j0 < c; j0 += per) {
        int64_t w = min64(per, c - j0);
        maps_fill(&maps, w, s, mean + j0, var + j0, eps, weight != NULL ? weight + j0 : NULL,
                  bias != NULL ? bias + j0 : NULL);
        out = check_worse(out, rows_apply(x + j0 * s, y + j0 * s, n, c * s, w * s, &maps, px));
    }
    return out;
}

/* ---- public kernels ------------------------------------------------------------------------ */

/* One channel is one contiguous run whatever N and S: view (N, 1, S) as (1, 1, N * S). */
static void fold_single_channel(int64_t c, int64_t *n, int64_t *s)
{
    if (c == 1) {
        *s *= *n;
        *n = 1;
    }
}

/* Statistics of an empty batch: mean 0, variance 0 (never used for normalization). */
static bool empty_stats(int64_t c, double *mean, double *var)
{
    for (int64_t j = 0; j < c; j++)
        mean[j] = var[j] = 0.0;
    return true;
}

bool hbn_kernel_batch_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                            double *var)
{
    if (n <= 0 || s <= 0)
        return empty_stats(c, mean, var);
    fold_single_channel(c, &n, &s);
    return stats_as_columns(n, s) ? rows_stats(x, n, c, s, mean, var)
                                  : planes_stats(x, n, c, s, mean, var);
}

hbn_kernel_check hbn_kernel_normalize(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                      const double *mean, const double *var, double eps,
                                      const float *weight, const float *bias)
{
    hbn_kernel_check check;

    if (n <= 0 || s <= 0)
        return HBN_KERNEL_FINITE;
    fold_single_channel(c, &n, &s);
    if (apply_as_columns(n, c, s))
        check = rows_normalize(x, y, n, c, s, mean, var, eps, weight, bias, true);
    else
        check = planes_normalize(x, y, n, c, s, mean, var, eps, weight, bias);
    return outputs_verify(check, y, n * c * s);
}

hbn_kernel_check hbn_kernel_train(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                  double eps, const float *weight, const float *bias,
                                  double *mean, double *var)
{
    hbn_kernel_check check;

    if (n <= 0 || s <= 0) {
        (void)empty_stats(c, mean, var);
        return HBN_KERNEL_FINITE;
    }
    fold_single_channel(c, &n, &s);
    if (!stats_as_columns(n, s))
        check = planes_train(x, y, n, c, s, eps, weight, bias, mean, var);
    else if (rows_stats(x, n, c, s, mean, var))
        check = rows_normalize(x, y, n, c, s, mean, var, eps, weight, bias, false);
    else
        return HBN_KERNEL_INPUT_NON_FINITE;
    return outputs_verify(check, y, n * c * s);
}
