/* check_forward.c: Check suite of core/forward.c: hbn_shape_numel, every rule of SEMANTICS 3 in
 * its order (each failing call leaves the layer and the result untouched), every cell of the
 * statistics table in both modes, stats_id rules, empty and one-value batches, ranks 2 to 5,
 * running-statistics updates and the two-phase update, the continual-learning workflow, and
 * finite values that would overflow float32 in an output or an update (rejected; nothing else).
 * Expected values come from the plain double reference loops below or from closed forms, never
 * from the code under test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "tests/check_core.h"

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_NUMEL 4096
#define MAX_C 16

typedef enum hbn_test_kind kind_t;

/* ---- reference and helpers ---------------------------------------------------------------- */

/* Per-channel mean and biased variance of X (N, C, S), two plain passes in double. */
static void ref_batch_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                            double *var)
{
    for (int64_t j = 0; j < c; j++) {
        double sum = 0.0, sq = 0.0;

        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++)
                sum += (double)x[(i * c + j) * s + k];
        mean[j] = sum / (double)(n * s);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                double d = (double)x[(i * c + j) * s + k] - mean[j];
                sq += d * d;
            }
        var[j] = sq / (double)(n * s);
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b in double; W, B NULL mean 1, 0. */
static void ref_normalize(const float *x, double *y, int64_t n, int64_t c, int64_t s,
                          const double *mean, const double *var, double eps, const float *w,
                          const float *b)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * c + j) * s + k;
                double g = w != NULL ? (double)w[j] : 1.0, h = b != NULL ? (double)b[j] : 0.0;

                y[at] = ((double)x[at] - mean[j]) / sqrt(var[j] + eps) * g + h;
            }
}

/* Fails unless GOT[i] is within float32 tolerance of WANT[i] for i < N. */
static void assert_close(const float *got, const double *want, int64_t n, double rel)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_double_eq_tol((double)got[i], want[i], rel * (1.0 + fabs(want[i])));
}

/* X (N, C, S) with channel j drawn around 2j - 1 with spread 1 + j / 2, so that channels differ. */
static void fill_channels(float *x, int64_t n, int64_t c, int64_t s, uint32_t seed)
{
    hbn_test_fill(x, n * c * s, seed, -1.0, 1.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < c; j++)
            for (int64_t k = 0; k < s; k++) {
                float *v = &x[(i * c + j) * s + k];
                *v = (float)(2.0 * (double)j - 1.0 + (1.0 + 0.5 * (double)j) * (double)*v);
            }
}

/* ARGS with inputs X of SHAPE[RANK], nothing else given. */
static void set_inputs(hbn_forward_args *args, const float *x, int rank, const int64_t *shape)
{
    hbn_forward_args_init(args);
    args->inputs = x;
    args->rank = rank;
    for (int i = 0; i < rank && i < HBN_MAX_RANK; i++)
        args->shape[i] = shape[i];
}

static void set_given(hbn_forward_args *args, const float *mean, const float *var, int64_t c)
{
    args->running_mean = mean;
    args->running_mean_len = c;
    args->running_var = var;
    args->running_var_len = c;
}

static void set_slot(hbn_layer *layer, int64_t id, const float *mean, const float *var,
                     int64_t count)
{
    int64_t c = hbn_layer_num_features(layer);

    ck_assert_int_eq(hbn_layer_set_stats(layer, id, mean, c, var, c, &count, NULL), HBN_OK);
}

/* Runs a forward that must succeed. */
static void forward_ok(const hbn_layer *layer, const hbn_forward_args *args, float *out,
                       hbn_forward_result *res)
{
    hbn_err err;

    hbn_err_clear(&err);
    ck_assert_msg(hbn_layer_forward(layer, args, out, res, &err) == HBN_OK, "forward: %s",
                  err.msg);
}

/* A train forward of X (N, C, S) on slot ID, applied at once. */
static void train_step(hbn_layer *layer, const float *x, int64_t n, int64_t c, int64_t s,
                       int64_t id, float *out)
{
    int64_t shape[3] = { n, c, s };
    hbn_forward_args args;
    hbn_forward_result res;

    set_inputs(&args, x, 3, shape);
    args.has_stats_id = true;
    args.stats_id = id;
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, out, &res);
    ck_assert(res.update.pending);
    hbn_layer_apply_update(layer, &res.update);
    hbn_forward_result_clear(&res);
}

/* ---- hbn_shape_numel ---------------------------------------------------------------------- */

typedef struct numel_case {
    int rank;
    int64_t shape[5];
    hbn_status want;
    int64_t numel;
} numel_case;

static const numel_case numel_cases[] = {
    { 2, { 2, 3 }, HBN_OK, 6 },
    { 5, { 2, 3, 5, 7, 11 }, HBN_OK, 2310 },
    { 0, { 0 }, HBN_OK, 1 },
    { 2, { 0, 5 }, HBN_OK, 0 },
    { 3, { 4, INT64_MAX, 0 }, HBN_OK, 0 },              /* a zero wins over any size */
    { 2, { 2147483648, 2147483647 }, HBN_OK, 4611686016279904256 },
    { 2, { -1, 3 }, HBN_E_SHAPE_MISMATCH, 0 },
    { 3, { 3, 0, -1 }, HBN_E_SHAPE_MISMATCH, 0 },        /* negative even when empty */
    { 2, { 2147483648, 2147483648 }, HBN_E_PAYLOAD_TOO_LARGE, 0 }, /* > SIZE_MAX / 4 */
    { 2, { INT64_MAX, 2 }, HBN_E_PAYLOAD_TOO_LARGE, 0 },
    { 4, { 65536, 65536, 65536, 65536 }, HBN_E_PAYLOAD_TOO_LARGE, 0 },
    { -1, { 1 }, HBN_E_SHAPE_MISMATCH, 0 },
};

START_TEST(test_shape_numel)
{
    const numel_case *nc = &numel_cases[_i];
    int64_t numel = -42;
    hbn_err err;

    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_shape_numel(nc->rank, nc->shape, &numel, &err), nc->want);
    ck_assert_int_eq(err.status, nc->want);
    ck_assert_int_eq(numel, nc->want == HBN_OK ? nc->numel : -42);
}
END_TEST

/* ---- args and result lifecycle ------------------------------------------------------------ */

START_TEST(test_args_result_init)
{
    hbn_forward_args args;
    hbn_forward_result res;

    memset(&args, 0x5a, sizeof args);
    hbn_forward_args_init(&args);
    ck_assert_ptr_null(args.inputs);
    ck_assert_ptr_null(args.weight);
    ck_assert_ptr_null(args.bias);
    ck_assert_ptr_null(args.running_mean);
    ck_assert_ptr_null(args.running_var);
    ck_assert_int_eq(args.rank, 0);
    ck_assert(!args.has_stats_id && !args.has_mode && !args.has_num_batches_tracked);
    memset(&res, 0x5a, sizeof res);
    hbn_forward_result_init(&res);
    ck_assert(!res.update.pending && !res.stats_returned && !res.stats_id_ignored_warning);
    ck_assert_ptr_null(res.running_mean);
    ck_assert_ptr_null(res.update.batch_mean);
    hbn_forward_result_clear(&res); /* a result that was only initialised */
    ck_assert_ptr_null(res.running_var);
}
END_TEST

START_TEST(test_result_clear_owned)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 2, true);
    int64_t shape[2] = { 4, 2 };
    float x[8], y[8], gm[2] = { 0, 0 }, gv[2] = { 1, 1 };
    hbn_forward_args args;
    hbn_forward_result res;

    fill_channels(x, 4, 2, 1, 1);
    set_inputs(&args, x, 2, shape);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ck_assert_ptr_nonnull(res.update.batch_mean);
    set_given(&args, gm, gv, 2);
    forward_ok(layer, &args, y, &res); /* reuses RES: the pending update is released first */
    ck_assert(!res.update.pending);
    ck_assert_ptr_null(res.update.batch_mean);
    ck_assert_ptr_nonnull(res.running_mean);
    hbn_forward_result_clear(&res);
    ck_assert_ptr_null(res.running_mean);
    ck_assert(!res.stats_returned);
    hbn_layer_free(layer);
}
END_TEST

/* ---- failing calls: every rule, in order, with nothing changed ----------------------------- */

/* A forward call under construction: base is a train-mode tracking layer bn1 with C = 4 (one
 * slot) and inputs (3, 4). */
typedef struct call_ctx {
    hbn_layer *layer;
    hbn_forward_args args;
    float x[64], w[8], b[8], gm[8], gv[8];
} call_ctx;

static void ctx_kind(call_ctx *cx, kind_t kind)
{
    hbn_layer_free(cx->layer);
    cx->layer = hbn_test_make(kind, 4, true);
}

static void ctx_slots(call_ctx *cx, int64_t t)
{
    int64_t id;

    while (hbn_layer_num_stats(cx->layer) < t)
        ck_assert_int_eq(hbn_layer_checkpoint(cx->layer, &id, NULL), HBN_OK);
}

static void ctx_shape(call_ctx *cx, int rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[5] = { d0, d1, d2, 1, 1 };

    set_inputs(&cx->args, cx->x, rank, shape);
}

static void with_weight(call_ctx *cx) { cx->args.weight = cx->w; cx->args.weight_len = 4; }
static void with_bias(call_ctx *cx) { cx->args.bias = cx->b; cx->args.bias_len = 4; }
static void with_given(call_ctx *cx) { set_given(&cx->args, cx->gm, cx->gv, 4); }
static void with_id(call_ctx *cx, int64_t id)
{
    cx->args.has_stats_id = true;
    cx->args.stats_id = id;
}
static void with_eval(call_ctx *cx) { hbn_layer_set_mode(cx->layer, HBN_MODE_EVAL); }

/* Rule 1: structure. */
static void b_mean_only(call_ctx *cx) { with_given(cx); cx->args.running_var = NULL; }
static void b_var_only(call_ctx *cx) { with_given(cx); cx->args.running_mean = NULL; }
static void b_bad_mode(call_ctx *cx) { cx->args.has_mode = true; cx->args.mode = (hbn_mode)7; }
static void b_count_alone(call_ctx *cx) { cx->args.has_num_batches_tracked = true; }
static void b_mean_only_rank1(call_ctx *cx) { b_mean_only(cx); cx->args.rank = 1; }
/* Rule 2: shapes. */
static void b_rank0(call_ctx *cx) { cx->args.rank = 0; }
static void b_rank1(call_ctx *cx) { cx->args.rank = 1; }
static void b_rank6(call_ctx *cx) { cx->args.rank = 6; }
static void b_negative_dim(call_ctx *cx) { ctx_shape(cx, 3, 3, 4, -2); }
static void b_huge(call_ctx *cx) { ctx_shape(cx, 3, INT64_MAX / 4, 4, 3); }
static void b_inputs_c(call_ctx *cx) { ctx_shape(cx, 2, 4, 3, 1); }
static void b_weight_c(call_ctx *cx) { with_weight(cx); cx->args.weight_len = 5; }
static void b_bias_c(call_ctx *cx) { with_bias(cx); cx->args.bias_len = 3; }
static void b_mean_c(call_ctx *cx) { with_given(cx); cx->args.running_mean_len = 2; }
static void b_var_c(call_ctx *cx) { with_given(cx); cx->args.running_var_len = 8; }
static void b_inputs_and_weight_c(call_ctx *cx) { b_inputs_c(cx); b_weight_c(cx); }
static void b_weight_c_nan(call_ctx *cx) { b_weight_c(cx); cx->w[0] = NAN; }
static void b_shape_and_id(call_ctx *cx) { ctx_slots(cx, 2); b_rank1(cx); }
/* Rule 3: stats_id. */
static void b_id_missing(call_ctx *cx) { ctx_slots(cx, 2); }
static void b_id_missing_eval(call_ctx *cx) { ctx_slots(cx, 3); with_eval(cx); }
static void b_id_negative(call_ctx *cx) { with_id(cx, -1); }
static void b_id_min(call_ctx *cx) { ctx_slots(cx, 2); with_id(cx, INT64_MIN); }
static void b_id_too_large(call_ctx *cx) { ctx_slots(cx, 2); with_id(cx, 2); }
static void b_id_one_slot(call_ctx *cx) { with_id(cx, 1); }
static void b_id_learnable(call_ctx *cx) { ctx_kind(cx, HBN_TEST_LEARNABLE); with_id(cx, 1); }
static void b_id_missing_nan(call_ctx *cx) { b_id_missing(cx); with_weight(cx); cx->w[1] = NAN; }
static void b_id_range_m1(call_ctx *cx) { ctx_shape(cx, 2, 1, 4, 1); with_id(cx, 3); }
/* Rule 4: values. */
static void b_x_nan(call_ctx *cx) { cx->x[0] = NAN; }
static void b_x_inf(call_ctx *cx) { cx->x[11] = INFINITY; }
static void b_x_ninf(call_ctx *cx) { cx->x[6] = -INFINITY; }
static void b_x_nan_eval(call_ctx *cx) { with_eval(cx); cx->x[5] = NAN; }
static void b_x_nan_frozen(call_ctx *cx) { ctx_kind(cx, HBN_TEST_FROZEN); cx->x[2] = NAN; }
static void b_x_inf_none_eval(call_ctx *cx)
{
    ctx_kind(cx, HBN_TEST_NONE);
    with_eval(cx);
    cx->x[9] = INFINITY;
}
static void b_x_nan_given_eval(call_ctx *cx) { with_given(cx); with_eval(cx); cx->x[3] = NAN; }
static void b_weight_nan(call_ctx *cx) { with_weight(cx); cx->w[3] = NAN; }
static void b_bias_inf(call_ctx *cx) { with_bias(cx); cx->b[0] = INFINITY; }
static void b_mean_ninf(call_ctx *cx) { with_given(cx); cx->gm[2] = -INFINITY; }
static void b_var_nan(call_ctx *cx) { with_given(cx); cx->gv[1] = NAN; }
static void b_var_negative(call_ctx *cx) { with_given(cx); cx->gv[1] = -0.5f; }
static void b_count_negative(call_ctx *cx)
{
    with_given(cx);
    cx->args.has_num_batches_tracked = true;
    cx->args.num_batches_tracked = -1;
}
static void b_x_nan_var_negative(call_ctx *cx) { b_var_negative(cx); cx->x[7] = NAN; }
static void b_x_nan_count_negative(call_ctx *cx) { b_count_negative(cx); cx->x[0] = NAN; }
static void b_var_and_count(call_ctx *cx) { b_count_negative(cx); cx->gv[0] = -1.0f; }
static void b_empty_weight_nan(call_ctx *cx) { ctx_shape(cx, 2, 0, 4, 1); b_weight_nan(cx); }
static void b_empty_id_missing(call_ctx *cx) { ctx_shape(cx, 3, 2, 4, 0); b_id_missing(cx); }
/* Rule 5: batch size. */
static void b_m1(call_ctx *cx) { ctx_shape(cx, 2, 1, 4, 1); }
static void b_m1_rank4(call_ctx *cx)
{
    int64_t s[4] = { 1, 4, 1, 1 };

    set_inputs(&cx->args, cx->x, 4, s);
}
static void b_m1_given(call_ctx *cx) { b_m1(cx); with_given(cx); }
static void b_m1_frozen_given(call_ctx *cx) { ctx_kind(cx, HBN_TEST_FROZEN); b_m1_given(cx); }
static void b_m1_learnable(call_ctx *cx) { ctx_kind(cx, HBN_TEST_LEARNABLE); b_m1(cx); }
static void b_m1_none(call_ctx *cx) { ctx_kind(cx, HBN_TEST_NONE); b_m1(cx); }
static void b_m1_none_eval(call_ctx *cx) { b_m1_none(cx); with_eval(cx); }
static void b_m1_override(call_ctx *cx)
{
    with_eval(cx);
    b_m1(cx);
    cx->args.has_mode = true;
    cx->args.mode = HBN_MODE_TRAIN;
}
static void b_m1_nan(call_ctx *cx) { b_m1(cx); cx->x[3] = NAN; }
static void b_m1_var_negative(call_ctx *cx) { b_m1(cx); b_var_negative(cx); } /* rule 4 first */
static void b_m1_weight_nan(call_ctx *cx) { b_m1(cx); b_weight_nan(cx); }
/* After rule 5: finite values whose output or update would overflow float32. */
static void set_channel(call_ctx *cx, int j, float x0, float x1, float x2)
{
    cx->x[j] = x0;
    cx->x[4 + j] = x1;
    cx->x[8 + j] = x2;
}
static void b_weight_overflow(call_ctx *cx) /* z of 9 is 1.4: 1.4 * 3e38 */
{
    with_weight(cx);
    cx->w[2] = 3e38f;
    set_channel(cx, 2, 1.0f, 2.0f, 9.0f);
}
static void b_weight_overflow_eval(call_ctx *cx) /* slot 0 / 1: 2 * 3e38 */
{
    with_eval(cx);
    with_weight(cx);
    cx->w[1] = 3e38f;
    set_channel(cx, 1, 2.0f, 2.0f, 2.0f);
}
static void b_bias_overflow_eval(call_ctx *cx) /* 1e38 + 3e38 */
{
    with_eval(cx);
    with_bias(cx);
    cx->b[3] = 3e38f;
    set_channel(cx, 3, 1e38f, 1e38f, 1e38f);
}
static void b_weight_overflow_nan(call_ctx *cx) { b_weight_overflow(cx); cx->x[4] = NAN; }
static void b_weight_overflow_eval_nan(call_ctx *cx)
{
    b_weight_overflow_eval(cx);
    cx->x[11] = NAN;
}
static void b_m1_weight_overflow(call_ctx *cx) { b_m1(cx); with_weight(cx); cx->w[0] = 3e38f; }
static void b_update_overflow(call_ctx *cx) /* unbiased batch variance 1e40 */
{
    set_channel(cx, 0, 1e20f, -1e20f, 0.0f);
}
static void b_update_overflow_learnable(call_ctx *cx)
{
    ctx_kind(cx, HBN_TEST_LEARNABLE);
    b_update_overflow(cx);
}
static void b_given_update_overflow(call_ctx *cx) { with_given(cx); b_update_overflow(cx); }
static void b_update_overflow_nan(call_ctx *cx) { b_update_overflow(cx); cx->x[11] = NAN; }
static void b_update_just_over(call_ctx *cx) /* unbiased 3.42e38 > FLT_MAX */
{
    set_channel(cx, 1, 1.85e19f, -1.85e19f, 0.0f);
}
/* A tracking layer with C channels and the given momentum (HAS false: null). */
static hbn_layer *momentum_layer(int64_t c, bool has, double momentum)
{
    hbn_config cfg;

    hbn_config_init(&cfg, c);
    cfg.has_momentum = has;
    cfg.momentum = momentum;
    return hbn_test_layer(&cfg);
}
static void ctx_momentum_null(call_ctx *cx) /* the first batch would replace the slot whole */
{
    hbn_layer_free(cx->layer);
    cx->layer = momentum_layer(4, false, 0.0);
}
static void b_update_overflow_null(call_ctx *cx) { ctx_momentum_null(cx); b_update_overflow(cx); }
static void b_given_update_overflow_null(call_ctx *cx)
{
    ctx_momentum_null(cx);
    b_given_update_overflow(cx);
}

typedef struct bad_call {
    void (*setup)(call_ctx *cx);
    hbn_status want;
    const char *msg; /* expected within the message */
} bad_call;

static const bad_call bad_calls[] = {
    { b_mean_only, HBN_E_INVALID_ARGUMENT, "running_mean and running_var must be given together" },
    { b_var_only, HBN_E_INVALID_ARGUMENT, "running_mean and running_var must be given together" },
    { b_bad_mode, HBN_E_INVALID_ARGUMENT, "mode must be train or eval" },
    { b_count_alone, HBN_E_INVALID_ARGUMENT, "num_batches_tracked is only accepted" },
    { b_mean_only_rank1, HBN_E_INVALID_ARGUMENT, "running_mean and running_var" },
    { b_rank0, HBN_E_SHAPE_MISMATCH, "got rank 0" },
    { b_rank1, HBN_E_SHAPE_MISMATCH, "got rank 1" },
    { b_rank6, HBN_E_SHAPE_MISMATCH, "got rank 6" },
    { b_negative_dim, HBN_E_SHAPE_MISMATCH, "negative (-2)" },
    { b_huge, HBN_E_PAYLOAD_TOO_LARGE, "more than" },
    { b_inputs_c, HBN_E_SHAPE_MISMATCH, "inputs has 3 channels, layer bn1 has 4" },
    { b_weight_c, HBN_E_SHAPE_MISMATCH, "weight has 5 channels, layer bn1 has 4" },
    { b_bias_c, HBN_E_SHAPE_MISMATCH, "bias has 3 channels, layer bn1 has 4" },
    { b_mean_c, HBN_E_SHAPE_MISMATCH, "running_mean has 2 channels, layer bn1 has 4" },
    { b_var_c, HBN_E_SHAPE_MISMATCH, "running_var has 8 channels, layer bn1 has 4" },
    { b_inputs_and_weight_c, HBN_E_SHAPE_MISMATCH, "inputs has 3 channels" },
    { b_weight_c_nan, HBN_E_SHAPE_MISMATCH, "weight has 5 channels" },
    { b_shape_and_id, HBN_E_SHAPE_MISMATCH, "got rank 1" },
    { b_id_missing, HBN_E_STATS_ID_REQUIRED,
      "stats_id is required when the layer has several statistics slots" },
    { b_id_missing_eval, HBN_E_STATS_ID_REQUIRED, "stats_id is required" },
    { b_id_negative, HBN_E_STATS_ID_OUT_OF_RANGE, "got -1" },
    { b_id_min, HBN_E_STATS_ID_OUT_OF_RANGE, "stats_id must be in [0, 1]" },
    { b_id_too_large, HBN_E_STATS_ID_OUT_OF_RANGE,
      "stats_id must be in [0, 1] for layer bn1, got 2" },
    { b_id_one_slot, HBN_E_STATS_ID_OUT_OF_RANGE, "got 1" },
    { b_id_learnable, HBN_E_STATS_ID_OUT_OF_RANGE, "got 1" },
    { b_id_missing_nan, HBN_E_STATS_ID_REQUIRED, "stats_id is required" },
    { b_id_range_m1, HBN_E_STATS_ID_OUT_OF_RANGE, "got 3" },
    { b_x_nan, HBN_E_NON_FINITE, "inputs" },
    { b_x_inf, HBN_E_NON_FINITE, "inputs" },
    { b_x_ninf, HBN_E_NON_FINITE, "inputs" },
    { b_x_nan_eval, HBN_E_NON_FINITE, "inputs" },
    { b_x_nan_frozen, HBN_E_NON_FINITE, "inputs" },
    { b_x_inf_none_eval, HBN_E_NON_FINITE, "inputs" },
    { b_x_nan_given_eval, HBN_E_NON_FINITE, "inputs" },
    { b_weight_nan, HBN_E_NON_FINITE, "weight[3]" },
    { b_bias_inf, HBN_E_NON_FINITE, "bias[0]" },
    { b_mean_ninf, HBN_E_NON_FINITE, "running_mean[2]" },
    { b_var_nan, HBN_E_NON_FINITE, "running_var[1]" },
    { b_var_negative, HBN_E_INVALID_VALUE, "running_var[1] must be >= 0, got -0.5" },
    { b_count_negative, HBN_E_INVALID_ARGUMENT, "num_batches_tracked must be >= 0, got -1" },
    { b_x_nan_var_negative, HBN_E_NON_FINITE, "inputs" },
    { b_x_nan_count_negative, HBN_E_NON_FINITE, "inputs" },
    { b_var_and_count, HBN_E_INVALID_VALUE, "running_var[0]" },
    { b_empty_weight_nan, HBN_E_NON_FINITE, "weight[3]" },
    { b_empty_id_missing, HBN_E_STATS_ID_REQUIRED, "stats_id is required" },
    { b_m1, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel when training" },
    { b_m1_rank4, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_given, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_frozen_given, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_learnable, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_none, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_none_eval, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_override, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_m1_nan, HBN_E_NON_FINITE, "inputs" },
    { b_m1_var_negative, HBN_E_INVALID_VALUE, "running_var[1] must be >= 0" },
    { b_m1_weight_nan, HBN_E_NON_FINITE, "weight[3]" },
    { b_weight_overflow, HBN_E_NON_FINITE,
      "outputs overflow float32 in channel 2 of layer bn1 (weight 3e+38, bias 0," },
    { b_weight_overflow_eval, HBN_E_NON_FINITE,
      "outputs overflow float32 in channel 1 of layer bn1 (weight 3e+38, bias 0, mean 0, "
      "variance 1)" },
    { b_bias_overflow_eval, HBN_E_NON_FINITE,
      "outputs overflow float32 in channel 3 of layer bn1 (weight 1, bias 3e+38," },
    { b_weight_overflow_nan, HBN_E_NON_FINITE, "inputs contains a value that is not finite" },
    { b_weight_overflow_eval_nan, HBN_E_NON_FINITE, "inputs contains a value that is not finite" },
    { b_m1_weight_overflow, HBN_E_BATCH_TOO_SMALL, "Expected more than 1 value per channel" },
    { b_update_overflow, HBN_E_NON_FINITE,
      "the update of statistics slot 0 of layer bn1 would overflow float32 in channel 0 "
      "(unbiased batch variance 1e+40)" },
    { b_update_overflow_learnable, HBN_E_NON_FINITE,
      "statistics slot 0 of layer bn1 would overflow float32 in channel 0" },
    { b_given_update_overflow, HBN_E_NON_FINITE,
      "the updated running_var would overflow float32 in channel 0 (unbiased batch variance "
      "1e+40)" },
    { b_update_overflow_nan, HBN_E_NON_FINITE, "inputs contains a value that is not finite" },
    { b_update_just_over, HBN_E_NON_FINITE,
      "would overflow float32 in channel 1 (unbiased batch variance 3.42" },
    { b_update_overflow_null, HBN_E_NON_FINITE,
      "the update of statistics slot 0 of layer bn1 would overflow float32 in channel 0" },
    { b_given_update_overflow_null, HBN_E_NON_FINITE,
      "the updated running_var would overflow float32 in channel 0" },
};

START_TEST(test_bad_call)
{
    const bad_call *bc = &bad_calls[_i];
    call_ctx cx;
    float out[64];
    hbn_test_snapshot snap;
    hbn_forward_result res;
    hbn_err err;

    memset(&cx, 0, sizeof cx);
    ctx_kind(&cx, HBN_TEST_TRACKING);
    fill_channels(cx.x, 3, 4, 1, 7);
    for (int i = 0; i < 8; i++) {
        cx.w[i] = 1.5f;
        cx.b[i] = -0.5f;
        cx.gm[i] = 0.25f;
        cx.gv[i] = 2.0f;
    }
    ctx_shape(&cx, 2, 3, 4, 1);
    bc->setup(&cx);
    hbn_test_snapshot_take(cx.layer, &snap);
    hbn_forward_result_init(&res);
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_layer_forward(cx.layer, &cx.args, out, &res, &err), bc->want);
    ck_assert_int_eq(err.status, bc->want);
    ck_assert_msg(strstr(err.msg, bc->msg) != NULL, "message \"%s\" lacks \"%s\"", err.msg,
                  bc->msg);
    ck_assert(!res.update.pending && !res.stats_returned);
    ck_assert_ptr_null(res.update.batch_mean);
    ck_assert_ptr_null(res.running_mean);
    hbn_test_snapshot_assert_same(cx.layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(cx.layer);
}
END_TEST

/* Loop index: eval * 15 + tensor * 3 + value. NaN, +Inf and -Inf in each tensor of a call that
 * gives everything (inputs, weight, bias, running_mean, running_var), in both modes. */
START_TEST(test_non_finite)
{
    static const char *const names[5] = { "inputs", "weight", "bias", "running_mean",
                                          "running_var" };
    const float bad[3] = { NAN, INFINITY, -INFINITY };
    int tensor = (_i % 15) / 3;
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 4, true);
    int64_t shape[3] = { 3, 4, 2 };
    float x[24], w[4] = { 1, 2, 3, 4 }, b[4] = { 0 }, gm[4] = { 0 }, gv[4] = { 1, 1, 1, 1 };
    float *poisoned[5] = { x, w, b, gm, gv }, y[24];
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;
    hbn_err err;

    fill_channels(x, 3, 4, 2, 17);
    poisoned[tensor][tensor == 0 ? 23 - (_i % 3) * 11 : 3 - _i % 3] = bad[_i % 3];
    set_inputs(&args, x, 3, shape);
    args.weight = w;
    args.weight_len = 4;
    args.bias = b;
    args.bias_len = 4;
    set_given(&args, gm, gv, 4);
    args.has_mode = true;
    args.mode = _i >= 15 ? HBN_MODE_EVAL : HBN_MODE_TRAIN;
    hbn_test_snapshot_take(layer, &snap);
    hbn_forward_result_init(&res);
    ck_assert_int_eq(hbn_layer_forward(layer, &args, y, &res, &err), HBN_E_NON_FINITE);
    ck_assert_ptr_nonnull(strstr(err.msg, names[tensor]));
    ck_assert(!res.stats_returned && !res.update.pending);
    hbn_test_snapshot_assert_same(layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* ---- SEMANTICS 3's table: every kind, with and without given stats, in both modes ---------- */

#define T_N 4
#define T_C 3
#define T_S 5
#define T_M (T_N * T_S)
#define T_NUMEL (T_N * T_C * T_S)

static const float t_w[T_C] = { 1.5f, -0.5f, 2.0f }, t_b[T_C] = { 0.1f, -0.2f, 0.3f };
static const float t_slot_m[T_C] = { 0.3f, -1.0f, 2.0f }, t_slot_v[T_C] = { 0.5f, 2.0f, 1.5f };
static const float t_gm[T_C] = { -0.2f, 0.7f, 1.1f }, t_gv[T_C] = { 1.2f, 0.4f, 3.0f };

/* One cell of the table: the layer's kind, whether stats are given, the mode. */
typedef struct cell {
    kind_t kind;
    bool given;
    hbn_mode mode;
} cell;

static cell table_cell(int i)
{
    cell cl = { (kind_t)(i / 4), (i / 2) % 2 == 1, i % 2 == 1 ? HBN_MODE_EVAL : HBN_MODE_TRAIN };

    return cl;
}

static bool cell_has_slot(const cell *cl)
{
    return cl->kind == HBN_TEST_TRACKING || cl->kind == HBN_TEST_LEARNABLE;
}

/* The statistics SEMANTICS 3 says the cell normalizes with (BM, BV: the batch's). */
static void cell_norm_stats(const cell *cl, const double *bm, const double *bv, double *mean,
                            double *var)
{
    bool batch = cl->mode == HBN_MODE_TRAIN ? cl->given || cl->kind != HBN_TEST_FROZEN
                                            : !cl->given && cl->kind == HBN_TEST_NONE;

    for (int j = 0; j < T_C; j++) {
        if (batch) {
            mean[j] = bm[j];
            var[j] = bv[j];
        } else if (cl->given) {
            mean[j] = (double)t_gm[j];
            var[j] = (double)t_gv[j];
        } else if (cell_has_slot(cl)) {
            mean[j] = (double)t_slot_m[j];
            var[j] = (double)t_slot_v[j];
        } else {
            mean[j] = 0.0;
            var[j] = 1.0;
        }
    }
}

/* The running update in closed form: (1-F) M0 + F BM and (1-F) V0 + F BV M/(M-1). */
static void closed_update(const float *m0, const float *v0, const double *bm, const double *bv,
                          int64_t c, double f, int64_t m, double *m1, double *v1)
{
    for (int64_t j = 0; j < c; j++) {
        m1[j] = (1.0 - f) * (double)m0[j] + f * bm[j];
        v1[j] = (1.0 - f) * (double)v0[j] + f * bv[j] * (double)m / (double)(m - 1);
    }
}

/* What the cell updates: given stats returned (train), slot 0 through a pending update (train,
 * tracking or learnable), or nothing. Applies RES's update to LAYER. */
static void check_cell_updates(hbn_layer *layer, const cell *cl, hbn_forward_result *res,
                               const double *bm, const double *bv, const hbn_test_snapshot *snap)
{
    bool train = cl->mode == HBN_MODE_TRAIN;
    double m1[T_C], v1[T_C];
    float got_m[T_C], got_v[T_C];
    int64_t count = -1;

    ck_assert_int_eq(res->stats_returned, cl->given && train);
    ck_assert_int_eq(res->update.pending, !cl->given && train && cell_has_slot(cl));
    if (res->stats_returned) {
        closed_update(t_gm, t_gv, bm, bv, T_C, 0.1, T_M, m1, v1);
        assert_close(res->running_mean, m1, T_C, 2e-6);
        assert_close(res->running_var, v1, T_C, 2e-6);
        ck_assert_int_eq(res->num_batches_tracked, 6);
    }
    hbn_layer_apply_update(layer, &res->update);
    if (!res->update.pending) {
        hbn_test_snapshot_assert_same(layer, snap);
        return;
    }
    ck_assert_int_eq(res->update.slot, 0);
    ck_assert_int_eq(res->update.channels, T_C);
    ck_assert_int_eq(res->update.count, T_M);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, got_m, got_v, &count, NULL, NULL), HBN_OK);
    closed_update(t_slot_m, t_slot_v, bm, bv, T_C, 0.1, T_M, m1, v1);
    assert_close(got_m, m1, T_C, 2e-6);
    assert_close(got_v, v1, T_C, 2e-6);
    ck_assert_int_eq(count, 3);
}

/* Loop index: kind * 4 + given * 2 + eval. */
START_TEST(test_table)
{
    cell cl = table_cell(_i);
    hbn_layer *layer = hbn_test_make(cl.kind, T_C, true);
    int64_t shape[3] = { T_N, T_C, T_S };
    float x[T_NUMEL], y[T_NUMEL];
    double bm[T_C], bv[T_C], mean[T_C], var[T_C], want[T_NUMEL];
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;

    ck_assert_int_eq(hbn_layer_set_weights(layer, t_w, T_C, t_b, T_C, NULL), HBN_OK);
    if (cell_has_slot(&cl))
        set_slot(layer, 0, t_slot_m, t_slot_v, 2);
    hbn_layer_set_mode(layer, cl.mode);
    fill_channels(x, T_N, T_C, T_S, 11 + (uint32_t)_i);
    set_inputs(&args, x, 3, shape);
    if (cl.given) {
        set_given(&args, t_gm, t_gv, T_C);
        args.has_num_batches_tracked = true;
        args.num_batches_tracked = 5;
    }
    hbn_test_snapshot_take(layer, &snap);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    hbn_test_snapshot_assert_same(layer, &snap); /* forward itself writes nothing */
    ref_batch_stats(x, T_N, T_C, T_S, bm, bv);
    cell_norm_stats(&cl, bm, bv, mean, var);
    ref_normalize(x, want, T_N, T_C, T_S, mean, var, 1e-5, t_w, t_b);
    assert_close(y, want, T_NUMEL, 1e-5);
    ck_assert_int_eq(res.mode, cl.mode);
    ck_assert_int_eq(res.has_stats_id, !cl.given && cl.kind != HBN_TEST_NONE);
    ck_assert_int_eq(res.stats_id, 0);
    ck_assert(!res.stats_id_ignored_warning);
    check_cell_updates(layer, &cl, &res, bm, bv, &snap);
    hbn_forward_result_clear(&res);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* ---- stats_id ----------------------------------------------------------------------------- */

START_TEST(test_stats_id_selects_slot)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, T_C, false);
    int64_t shape[2] = { 6, T_C }, id;
    float x[6 * T_C], y[6 * T_C], m1[T_C] = { 1, 2, 3 }, v1[T_C] = { 4, 5, 6 };
    double mean[T_C], var[T_C], want[6 * T_C];
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;

    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    set_slot(layer, 1, m1, v1, 0);
    fill_channels(x, 6, T_C, 1, 3);
    set_inputs(&args, x, 2, shape);
    args.has_stats_id = true;
    args.stats_id = 1;
    args.has_mode = true;
    args.mode = HBN_MODE_EVAL;
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ck_assert(res.has_stats_id);
    ck_assert_int_eq(res.stats_id, 1);
    for (int j = 0; j < T_C; j++) {
        mean[j] = (double)m1[j];
        var[j] = (double)v1[j];
    }
    ref_normalize(x, want, 6, T_C, 1, mean, var, 1e-5, NULL, NULL);
    assert_close(y, want, 6 * T_C, 1e-5);
    hbn_test_snapshot_take(layer, &snap);
    args.stats_id = 2;
    args.mode = HBN_MODE_TRAIN; /* train on slot 2: slots 0 and 1 stay as they are */
    forward_ok(layer, &args, y, &res);
    ck_assert_int_eq(res.update.slot, 2);
    ck_assert_int_eq(res.stats_id, 2);
    hbn_layer_apply_update(layer, &res.update);
    for (int64_t k = 0; k < 2; k++) {
        float gm[T_C], gv[T_C];

        ck_assert_int_eq(hbn_layer_get_stats(layer, k, gm, gv, NULL, NULL, NULL), HBN_OK);
        ck_assert_mem_eq(gm, snap.means + k * T_C, sizeof gm);
        ck_assert_mem_eq(gv, snap.vars + k * T_C, sizeof gv);
    }
    ck_assert_int_eq(hbn_layer_get_stats(layer, 2, NULL, NULL, &id, NULL, NULL), HBN_OK);
    ck_assert_int_eq(id, 1);
    hbn_forward_result_clear(&res);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* A forward of (4, 3) data on LAYER with ARGS' extras; the output in Y. */
static void forward_small(const hbn_layer *layer, hbn_forward_args *args, float *y,
                          hbn_forward_result *res)
{
    static float x[12];
    int64_t shape[2] = { 4, T_C };

    fill_channels(x, 4, T_C, 1, 5);
    args->inputs = x;
    args->rank = 2;
    memcpy(args->shape, shape, sizeof shape);
    forward_ok(layer, args, y, res);
}

/* Loop index: kind * 2 + eval. A stats_id sent with given stats is ignored with a warning,
 * whatever its value, the layer and the mode. */
START_TEST(test_stats_id_warning)
{
    hbn_layer *layer = hbn_test_make((kind_t)(_i / 2), T_C, true);
    hbn_forward_args args;
    hbn_forward_result res;
    float y[12], y_plain[12];
    int64_t id;

    if (_i / 2 == HBN_TEST_TRACKING)
        ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK); /* T = 2 */
    hbn_layer_set_mode(layer, _i % 2 == 1 ? HBN_MODE_EVAL : HBN_MODE_TRAIN);
    hbn_forward_args_init(&args);
    set_given(&args, t_gm, t_gv, T_C);
    hbn_forward_result_init(&res);
    forward_small(layer, &args, y_plain, &res);
    ck_assert(!res.stats_id_ignored_warning);
    for (int64_t sid = -5; sid <= 99; sid += 52) {
        args.has_stats_id = true;
        args.stats_id = sid;
        forward_small(layer, &args, y, &res);
        ck_assert(res.stats_id_ignored_warning);
        ck_assert(!res.has_stats_id);
        ck_assert_mem_eq(y, y_plain, sizeof y);
    }
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* Loop index: (frozen or none) * 2 + eval. Without given stats a frozen or non-tracking layer
 * ignores stats_id silently. */
START_TEST(test_stats_id_ignored_silently)
{
    kind_t kind = _i / 2 == 0 ? HBN_TEST_FROZEN : HBN_TEST_NONE;
    hbn_layer *layer = hbn_test_make(kind, T_C, true);
    hbn_forward_args args;
    hbn_forward_result res;
    float y[12], y_plain[12];

    hbn_layer_set_mode(layer, _i % 2 == 1 ? HBN_MODE_EVAL : HBN_MODE_TRAIN);
    hbn_forward_args_init(&args);
    hbn_forward_result_init(&res);
    forward_small(layer, &args, y_plain, &res);
    args.has_stats_id = true;
    args.stats_id = 99;
    forward_small(layer, &args, y, &res);
    ck_assert(!res.stats_id_ignored_warning);
    ck_assert_int_eq(res.has_stats_id, kind == HBN_TEST_FROZEN);
    ck_assert_int_eq(res.stats_id, 0);
    ck_assert(!res.update.pending);
    ck_assert_mem_eq(y, y_plain, sizeof y);
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* ---- batch sizes: m = 0 and m = 1 --------------------------------------------------------- */

/* Loop index as test_table's. An empty batch passes, changes nothing (not even a count) and
 * returns given stats unchanged in train mode. */
START_TEST(test_empty_batch)
{
    /* the last two: huge dimensions after a zero one, whose product overflows int64 (a
     * fuzzer's find: the values per sample were formed as that product) */
    static const int64_t shapes[5][5] = { { 0, T_C, 1, 1 }, { 3, T_C, 0, 1 }, { 2, T_C, 4, 0 },
                                          { 0, T_C, 5555, 5555555555555555 },
                                          { 1, T_C, 5555, 5555555555555555, 0 } };
    static const int ranks[5] = { 2, 3, 4, 4, 5 };
    cell cl = table_cell(_i);
    hbn_layer *layer = hbn_test_make(cl.kind, T_C, true);
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;

    hbn_layer_set_mode(layer, cl.mode);
    hbn_test_snapshot_take(layer, &snap);
    hbn_forward_result_init(&res);
    for (int k = 0; k < 5; k++) {
        set_inputs(&args, NULL, ranks[k], shapes[k]); /* no data at all: nothing may be read */
        if (cl.given) {
            set_given(&args, t_gm, t_gv, T_C);
            args.has_num_batches_tracked = k > 0;
            args.num_batches_tracked = 7;
        }
        forward_ok(layer, &args, NULL, &res);
        ck_assert(!res.update.pending);
        ck_assert_int_eq(res.stats_returned, cl.given && cl.mode == HBN_MODE_TRAIN);
        ck_assert_int_eq(res.has_stats_id, !cl.given && cl.kind != HBN_TEST_NONE);
        if (res.stats_returned) {
            ck_assert_mem_eq(res.running_mean, t_gm, sizeof t_gm);
            ck_assert_mem_eq(res.running_var, t_gv, sizeof t_gv);
            ck_assert_int_eq(res.num_batches_tracked, k > 0 ? 7 : 0);
        }
        hbn_layer_apply_update(layer, &res.update);
        hbn_test_snapshot_assert_same(layer, &snap);
    }
    hbn_forward_result_clear(&res);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* One value per channel where no batch statistics are needed. */
typedef struct one_value_case {
    kind_t kind;
    hbn_mode mode;
    bool given;
} one_value_case;

static const one_value_case one_value_cases[] = {
    { HBN_TEST_FROZEN, HBN_MODE_TRAIN, false },   { HBN_TEST_FROZEN, HBN_MODE_EVAL, false },
    { HBN_TEST_TRACKING, HBN_MODE_EVAL, false },  { HBN_TEST_LEARNABLE, HBN_MODE_EVAL, false },
    { HBN_TEST_TRACKING, HBN_MODE_EVAL, true },   { HBN_TEST_NONE, HBN_MODE_EVAL, true },
    { HBN_TEST_FROZEN, HBN_MODE_EVAL, true },
};

START_TEST(test_one_value_accepted)
{
    const one_value_case *oc = &one_value_cases[_i];
    cell cl = { oc->kind, oc->given, oc->mode };
    hbn_layer *layer = hbn_test_make(oc->kind, T_C, true);
    int64_t shape[4] = { 1, T_C, 1, 1 };
    float x[T_C] = { 0.5f, -2.0f, 3.25f }, y[T_C];
    double mean[T_C], var[T_C], want[T_C];
    hbn_forward_args args;
    hbn_forward_result res;

    ck_assert_int_eq(hbn_layer_set_weights(layer, t_w, T_C, t_b, T_C, NULL), HBN_OK);
    if (cell_has_slot(&cl))
        set_slot(layer, 0, t_slot_m, t_slot_v, 0);
    hbn_layer_set_mode(layer, oc->mode);
    cell_norm_stats(&cl, NULL, NULL, mean, var);
    ref_normalize(x, want, 1, T_C, 1, mean, var, 1e-5, t_w, t_b);
    hbn_forward_result_init(&res);
    for (int rank = 2; rank <= 4; rank++) {
        set_inputs(&args, x, rank, shape);
        if (oc->given)
            set_given(&args, t_gm, t_gv, T_C);
        forward_ok(layer, &args, y, &res);
        assert_close(y, want, T_C, 1e-5);
        ck_assert(!res.update.pending && !res.stats_returned);
    }
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* ---- numerics: ranks, odd sizes, C = 1, in place, mode override, weight fallback ---------- */

typedef struct shape_case {
    int rank;
    int64_t shape[5];
} shape_case;

static const shape_case shape_cases[] = {
    { 2, { 5, 3 } },          { 3, { 3, 3, 7 } },    { 4, { 2, 3, 5, 3 } },
    { 5, { 2, 3, 3, 1, 5 } }, { 3, { 1, 3, 9 } },    { 2, { 7, 1 } },
    { 4, { 3, 1, 3, 3 } },    { 3, { 3, 7, 5 } },    { 4, { 2, 13, 3, 3 } },
    { 5, { 3, 5, 1, 1, 1 } }, { 2, { 129, 2 } },
};

/* Train then eval (on the slot the train call updated) against the reference, both out of
 * place and in place (identical bytes). */
START_TEST(test_ranks)
{
    const shape_case *sc = &shape_cases[_i];
    int64_t numel = 1, c = sc->shape[1], n = sc->shape[0], s = 1;
    float *x, *y, *inplace, mean_f[MAX_C], var_f[MAX_C];
    double *want, bm[MAX_C], bv[MAX_C], mean[MAX_C], var[MAX_C];
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, c, false);
    hbn_forward_args args;
    hbn_forward_result res;

    for (int i = 0; i < sc->rank; i++)
        numel *= sc->shape[i];
    for (int i = 2; i < sc->rank; i++)
        s *= sc->shape[i];
    x = malloc((size_t)numel * sizeof *x);
    y = malloc((size_t)numel * sizeof *y);
    inplace = malloc((size_t)numel * sizeof *inplace);
    want = malloc((size_t)numel * sizeof *want);
    ck_assert(x && y && inplace && want && c <= MAX_C);
    fill_channels(x, n, c, s, 100 + (uint32_t)_i);
    memcpy(inplace, x, (size_t)numel * sizeof *x);
    set_inputs(&args, x, sc->rank, sc->shape);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ref_batch_stats(x, n, c, s, bm, bv);
    ref_normalize(x, want, n, c, s, bm, bv, 1e-5, NULL, NULL);
    assert_close(y, want, numel, 1e-5);
    args.inputs = inplace;
    forward_ok(layer, &args, inplace, &res);
    ck_assert_mem_eq(inplace, y, (size_t)numel * sizeof *y);
    hbn_layer_apply_update(layer, &res.update);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, mean_f, var_f, NULL, NULL, NULL), HBN_OK);
    for (int64_t j = 0; j < c; j++) {
        mean[j] = (double)mean_f[j];
        var[j] = (double)var_f[j];
    }
    args.inputs = x;
    args.has_mode = true;
    args.mode = HBN_MODE_EVAL;
    forward_ok(layer, &args, y, &res);
    ref_normalize(x, want, n, c, s, mean, var, 1e-5, NULL, NULL);
    assert_close(y, want, numel, 1e-5);
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
    free(x);
    free(y);
    free(inplace);
    free(want);
}
END_TEST

/* Data of mean 100 and spread 1: a naive float sum of squares would miss the bar. */
START_TEST(test_large_offset)
{
    enum { N = 256, C = 2 };
    hbn_layer *layer = hbn_test_make(HBN_TEST_NONE, C, false);
    int64_t shape[2] = { N, C };
    float x[N * C], y[N * C];
    double bm[C], bv[C], want[N * C];
    hbn_forward_args args;
    hbn_forward_result res;

    hbn_test_fill(x, N * C, 77, 99.0, 101.0);
    set_inputs(&args, x, 2, shape);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ref_batch_stats(x, N, C, 1, bm, bv);
    ref_normalize(x, want, N, C, 1, bm, bv, 1e-5, NULL, NULL);
    assert_close(y, want, N * C, 1e-4);
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* The per-call mode overrides the layer's mode for that call only. */
START_TEST(test_mode_override)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, T_C, false);
    hbn_forward_args args;
    hbn_forward_result res;
    float y[12], y_eval[12], y_train[12];

    set_slot(layer, 0, t_slot_m, t_slot_v, 0);
    hbn_forward_args_init(&args);
    hbn_forward_result_init(&res);
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    forward_small(layer, &args, y_eval, &res);
    hbn_layer_set_mode(layer, HBN_MODE_TRAIN);
    forward_small(layer, &args, y_train, &res);
    ck_assert(memcmp(y_eval, y_train, sizeof y) != 0);
    args.has_mode = true;
    args.mode = HBN_MODE_EVAL; /* layer in train */
    forward_small(layer, &args, y, &res);
    ck_assert_int_eq(res.mode, HBN_MODE_EVAL);
    ck_assert(!res.update.pending);
    ck_assert_mem_eq(y, y_eval, sizeof y);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_TRAIN);
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    args.mode = HBN_MODE_TRAIN; /* layer in eval */
    forward_small(layer, &args, y, &res);
    ck_assert_int_eq(res.mode, HBN_MODE_TRAIN);
    ck_assert(res.update.pending);
    ck_assert_mem_eq(y, y_train, sizeof y);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_EVAL);
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* Loop index: affine * 4 + weight given * 2 + bias given. A given weight / bias is used; a
 * missing one falls back to the layer's (affine) or to gain 1 / shift 0. */
START_TEST(test_weight_fallback)
{
    bool affine = _i / 4 == 1, give_w = (_i / 2) % 2 == 1, give_b = _i % 2 == 1;
    hbn_layer *layer = hbn_test_make(HBN_TEST_NONE, T_C, affine);
    float own_w[T_C] = { 3, -2, 0.5f }, own_b[T_C] = { 1, 2, 3 }, y[12];
    static const float x[12] = { 1, 2, 3, -1, 0, 5, 2, 2, -3, 0.5f, 1, 1 };
    const float *w = give_w ? t_w : affine ? own_w : NULL;
    const float *b = give_b ? t_b : affine ? own_b : NULL;
    int64_t shape[2] = { 4, T_C };
    double bm[T_C], bv[T_C], want[12];
    hbn_forward_args args;
    hbn_forward_result res;

    if (affine)
        ck_assert_int_eq(hbn_layer_set_weights(layer, own_w, T_C, own_b, T_C, NULL), HBN_OK);
    set_inputs(&args, x, 2, shape);
    if (give_w) {
        args.weight = t_w;
        args.weight_len = T_C;
    }
    if (give_b) {
        args.bias = t_b;
        args.bias_len = T_C;
    }
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ref_batch_stats(x, 4, T_C, 1, bm, bv);
    ref_normalize(x, want, 4, T_C, 1, bm, bv, 1e-5, w, b);
    assert_close(y, want, 12, 1e-5);
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* ---- running statistics ------------------------------------------------------------------- */

/* Momentum null: after k batches the slot is the plain average of the batch means and of the
 * unbiased batch variances, and the count is k. */
START_TEST(test_momentum_null_average)
{
    enum { K = 5, N = 6 };
    hbn_layer *layer = momentum_layer(T_C, false, 0.0);
    float x[N * T_C], y[N * T_C], gm[T_C], gv[T_C];
    double bm[T_C], bv[T_C], sum_m[T_C] = { 0 }, sum_v[T_C] = { 0 };
    int64_t count = -1;

    for (int k = 1; k <= K; k++) {
        fill_channels(x, N, T_C, 1, 40 + (uint32_t)k);
        for (int i = 0; i < N * T_C; i++)
            x[i] *= (float)k; /* batches of different spread */
        ref_batch_stats(x, N, T_C, 1, bm, bv);
        for (int j = 0; j < T_C; j++) {
            sum_m[j] += bm[j];
            sum_v[j] += bv[j] * N / (N - 1);
        }
        train_step(layer, x, N, T_C, 1, 0, y);
        ck_assert_int_eq(hbn_layer_get_stats(layer, 0, gm, gv, &count, NULL, NULL), HBN_OK);
        ck_assert_int_eq(count, k);
        for (int j = 0; j < T_C; j++) {
            ck_assert_double_eq_tol((double)gm[j], sum_m[j] / k, 2e-6 * (1 + fabs(sum_m[j])));
            ck_assert_double_eq_tol((double)gv[j], sum_v[j] / k, 2e-6 * (1 + fabs(sum_v[j])));
        }
    }
    hbn_layer_free(layer);
}
END_TEST

/* Numeric momentum: the closed-form recursion, and the count increments too (momentum 0 keeps
 * the values, momentum 1 keeps only the last batch). */
START_TEST(test_momentum_numeric)
{
    static const double momenta[] = { 0.3, 0.0, 1.0 };
    double f = momenta[_i], bm[T_C], bv[T_C], m1[T_C], v1[T_C];
    hbn_layer *layer = momentum_layer(T_C, true, f);
    float x[8 * T_C], y[8 * T_C], m0[T_C] = { 0, 0, 0 }, v0[T_C] = { 1, 1, 1 };
    int64_t count = -1;

    for (int k = 1; k <= 3; k++) {
        fill_channels(x, 8, T_C, 1, 60 + (uint32_t)k);
        ref_batch_stats(x, 8, T_C, 1, bm, bv);
        closed_update(m0, v0, bm, bv, T_C, f, 8, m1, v1);
        train_step(layer, x, 8, T_C, 1, 0, y);
        ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m0, v0, &count, NULL, NULL), HBN_OK);
        ck_assert_int_eq(count, k);
        assert_close(m0, m1, T_C, 2e-6);
        assert_close(v0, v1, T_C, 2e-6);
    }
    hbn_layer_free(layer);
}
END_TEST

/* Given stats in train mode with momentum null: factor 1 / (count + 1), count + 1 returned; a
 * missing count is 0, so the first batch replaces the given values. */
START_TEST(test_given_momentum_null)
{
    hbn_layer *layer = momentum_layer(T_C, false, 0.0);
    int64_t shape[2] = { 5, T_C };
    float x[5 * T_C], y[5 * T_C];
    double bm[T_C], bv[T_C], m1[T_C], v1[T_C];
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;

    fill_channels(x, 5, T_C, 1, 9);
    ref_batch_stats(x, 5, T_C, 1, bm, bv);
    set_inputs(&args, x, 2, shape);
    set_given(&args, t_gm, t_gv, T_C);
    args.has_num_batches_tracked = true;
    args.num_batches_tracked = 3;
    hbn_test_snapshot_take(layer, &snap);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    closed_update(t_gm, t_gv, bm, bv, T_C, 0.25, 5, m1, v1);
    assert_close(res.running_mean, m1, T_C, 2e-6);
    assert_close(res.running_var, v1, T_C, 2e-6);
    ck_assert_int_eq(res.num_batches_tracked, 4);
    args.has_num_batches_tracked = false;
    forward_ok(layer, &args, y, &res);
    closed_update(t_gm, t_gv, bm, bv, T_C, 1.0, 5, m1, v1);
    assert_close(res.running_mean, m1, T_C, 2e-6);
    assert_close(res.running_var, v1, T_C, 2e-6);
    ck_assert_int_eq(res.num_batches_tracked, 1);
    ck_assert(!res.update.pending);
    hbn_test_snapshot_assert_same(layer, &snap); /* the layer's own slot is not touched */
    hbn_forward_result_clear(&res);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* Momentum null at the largest count: num_batches_tracked stays at INT64_MAX instead of wrapping
 * (a wrap to 0 or below would make the factor 1 / 0 or negative), and the statistics, given or
 * in a slot, stay finite and what they were (a factor of 1 / INT64_MAX rounds away in float). */
START_TEST(test_count_saturates)
{
    hbn_layer *layer = momentum_layer(T_C, false, 0.0);
    int64_t shape[2] = { 5, T_C }, count = -1;
    float x[5 * T_C], y[5 * T_C], m[T_C], v[T_C];
    hbn_forward_args args;
    hbn_forward_result res;

    fill_channels(x, 5, T_C, 1, 11);
    set_inputs(&args, x, 2, shape);
    set_given(&args, t_gm, t_gv, T_C);
    args.has_num_batches_tracked = true;
    args.num_batches_tracked = INT64_MAX;
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    ck_assert(res.num_batches_tracked == INT64_MAX);
    for (int j = 0; j < T_C; j++) {
        ck_assert_double_eq((double)res.running_mean[j], (double)t_gm[j]);
        ck_assert_double_eq((double)res.running_var[j], (double)t_gv[j]);
    }
    hbn_forward_result_clear(&res);
    set_slot(layer, 0, t_gm, t_gv, INT64_MAX);
    train_step(layer, x, 5, T_C, 1, 0, y);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m, v, &count, NULL, NULL), HBN_OK);
    ck_assert(count == INT64_MAX);
    for (int j = 0; j < T_C; j++) {
        ck_assert_double_eq((double)m[j], (double)t_gm[j]);
        ck_assert_double_eq((double)v[j], (double)t_gv[j]);
    }
    hbn_layer_free(layer);
}
END_TEST

/* One case of test_near_overflow_accepted. */
typedef struct near_case {
    kind_t kind;
    bool has_momentum;  /* false: null */
    double momentum;
    bool wide;          /* 2 rows: channel 0 is +-WIDE_X (unbiased variance 2 x^2) */
    float wide_x;
    bool slot_big;      /* slot 0 holds big_m / big_v */
    bool given_big;     /* big_m / big_v given */
} near_case;

static const near_case near_cases[] = {
    { HBN_TEST_TRACKING, true, 0.0, true, 1e20f, false, false },  /* 2e40, nothing folded */
    { HBN_TEST_NONE, true, 0.1, true, 1e20f, false, false },      /* 2e40, no statistics */
    { HBN_TEST_TRACKING, true, 0.1, false, 0, true, false },      /* big slot, ordinary batch */
    { HBN_TEST_TRACKING, true, 0.1, false, 0, false, true },      /* big given statistics */
    { HBN_TEST_TRACKING, false, 0.0, true, 1.3e19f, false, false }, /* 3.38e38 taken whole */
};

/* Loop index: case. Values near FLT_MAX that do not overflow are not rejected: a batch of
 * unbiased variance 2e40 where nothing folds it in (momentum 0: the slot keeps 0 / 1; a
 * non-tracking layer), slot or given statistics near FLT_MAX blended with an ordinary batch (a
 * convex combination), and an unbiased variance of 3.38e38, just under FLT_MAX, replacing the
 * slot's (momentum null, first batch). Updated values are checked against the closed form. */
START_TEST(test_near_overflow_accepted)
{
    static const float big_m[T_C] = { -3e38f, 3e38f, 0 }, big_v[T_C] = { 3e38f, 1, 3.4e38f };
    static const float m0[T_C] = { 0, 0, 0 }, v0[T_C] = { 1, 1, 1 };
    const near_case *nc = &near_cases[_i];
    hbn_config cfg;
    hbn_layer *layer;
    float x[4 * T_C], y[4 * T_C], got_m[T_C], got_v[T_C];
    int64_t shape[2] = { nc->wide ? 2 : 4, T_C }, count = -1;
    double bm[T_C], bv[T_C], m1[T_C], v1[T_C];
    hbn_forward_args args;
    hbn_forward_result res;

    hbn_config_init(&cfg, T_C);
    cfg.affine = false;
    cfg.has_momentum = nc->has_momentum;
    cfg.momentum = nc->momentum;
    cfg.track_running_stats = nc->kind == HBN_TEST_TRACKING;
    layer = hbn_test_layer(&cfg);
    fill_channels(x, 4, T_C, 1, 5);
    if (nc->wide) {
        x[0] = nc->wide_x;
        x[T_C] = -nc->wide_x;
    }
    if (nc->slot_big)
        set_slot(layer, 0, big_m, big_v, 0);
    set_inputs(&args, x, 2, shape);
    if (nc->given_big)
        set_given(&args, big_m, big_v, T_C);
    hbn_forward_result_init(&res);
    forward_ok(layer, &args, y, &res);
    for (int64_t k = 0; k < shape[0] * T_C; k++)
        ck_assert(isfinite(y[k]));
    ck_assert(res.update.pending == (nc->kind == HBN_TEST_TRACKING && !nc->given_big));
    hbn_layer_apply_update(layer, &res.update);
    ref_batch_stats(x, shape[0], T_C, 1, bm, bv);
    closed_update(nc->slot_big || nc->given_big ? big_m : m0,
                  nc->slot_big || nc->given_big ? big_v : v0, bm, bv, T_C,
                  nc->has_momentum ? nc->momentum : 1.0, shape[0], m1, v1);
    if (nc->given_big) {
        assert_close(res.running_mean, m1, T_C, 2e-6);
        assert_close(res.running_var, v1, T_C, 2e-6);
    } else if (nc->kind == HBN_TEST_TRACKING) {
        ck_assert_int_eq(hbn_layer_get_stats(layer, 0, got_m, got_v, &count, NULL, NULL),
                         HBN_OK);
        ck_assert_int_eq(count, 1);
        ck_assert(isfinite(got_v[0]));
        assert_close(got_m, m1, T_C, 2e-6);
        assert_close(got_v, v1, T_C, 2e-6);
    }
    hbn_forward_result_clear(&res);
    hbn_layer_free(layer);
}
END_TEST

/* ---- the two-phase update ----------------------------------------------------------------- */

/* Loop index: momentum null (0) or 0.1 (1). Updates computed from the same state and applied
 * one after the other give the result of the same batches run one after the other. */
START_TEST(test_apply_composes)
{
    enum { K = 4, N = 5 };
    hbn_layer *a = momentum_layer(T_C, _i == 1, 0.1), *b = momentum_layer(T_C, _i == 1, 0.1);
    int64_t shape[2] = { N, T_C };
    float x[K][N * T_C], y[N * T_C], ma[T_C], va[T_C], mb[T_C], vb[T_C];
    hbn_forward_result res[K];
    hbn_forward_args args;
    int64_t ca = -1, cb = -2;

    for (int k = 0; k < K; k++) {
        fill_channels(x[k], N, T_C, 1, 200 + (uint32_t)k);
        set_inputs(&args, x[k], 2, shape);
        hbn_forward_result_init(&res[k]);
        forward_ok(a, &args, y, &res[k]); /* all K computed from the initial state */
    }
    for (int k = 0; k < K; k++) {
        hbn_layer_apply_update(a, &res[k].update);
        hbn_forward_result_clear(&res[k]);
        train_step(b, x[k], N, T_C, 1, 0, y);
    }
    ck_assert_int_eq(hbn_layer_get_stats(a, 0, ma, va, &ca, NULL, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_get_stats(b, 0, mb, vb, &cb, NULL, NULL), HBN_OK);
    ck_assert_int_eq(ca, K);
    ck_assert_int_eq(cb, K);
    ck_assert_mem_eq(ma, mb, sizeof ma);
    ck_assert_mem_eq(va, vb, sizeof va);
    hbn_layer_free(a);
    hbn_layer_free(b);
}
END_TEST

START_TEST(test_apply_not_pending)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, T_C, true);
    hbn_test_snapshot snap;
    hbn_forward_result res;

    hbn_test_snapshot_take(layer, &snap);
    hbn_forward_result_init(&res);
    hbn_layer_apply_update(layer, &res.update);
    hbn_test_snapshot_assert_same(layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* ---- the continual-learning workflow ------------------------------------------------------ */

/* Train task 0 on slot 0, checkpoint, train task 1 on slot 1: evaluating task 0 afterwards gives
 * exactly the bytes it gave before task 1 was trained. */
START_TEST(test_continual_learning)
{
    enum { N = 8, S = 3, NUMEL = N * T_C * S };
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, T_C, true);
    int64_t shape[3] = { N, T_C, S }, id = -1;
    float x[NUMEL], probe[NUMEL], y[NUMEL], before[NUMEL], m1[T_C], v1[T_C];
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_test_snapshot snap;
    hbn_err err;

    for (int k = 0; k < 4; k++) { /* task 0 */
        fill_channels(x, N, T_C, S, 300 + (uint32_t)k);
        train_step(layer, x, N, T_C, S, 0, y);
    }
    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    ck_assert_int_eq(id, 1);
    hbn_test_snapshot_take(layer, &snap);
    fill_channels(probe, N, T_C, S, 999);
    set_inputs(&args, probe, 3, shape);
    args.has_mode = true;
    args.mode = HBN_MODE_EVAL;
    hbn_forward_result_init(&res);
    ck_assert_int_eq(hbn_layer_forward(layer, &args, y, &res, &err), HBN_E_STATS_ID_REQUIRED);
    args.has_stats_id = true;
    args.stats_id = 0;
    forward_ok(layer, &args, before, &res);
    for (int k = 0; k < 4; k++) { /* task 1: another distribution */
        fill_channels(x, N, T_C, S, 400 + (uint32_t)k);
        for (int i = 0; i < NUMEL; i++)
            x[i] = 3.0f * x[i] + 5.0f;
        train_step(layer, x, N, T_C, S, 1, y);
    }
    forward_ok(layer, &args, y, &res);
    ck_assert_mem_eq(y, before, sizeof y);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m1, v1, &id, NULL, NULL), HBN_OK);
    ck_assert_mem_eq(m1, snap.means, sizeof m1);
    ck_assert_mem_eq(v1, snap.vars, sizeof v1);
    ck_assert_int_eq(id, 4);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 1, m1, v1, &id, NULL, NULL), HBN_OK);
    ck_assert_int_eq(id, 4);
    ck_assert(memcmp(m1, snap.means + T_C, sizeof m1) != 0); /* slot 1 did learn */
    args.stats_id = 1;
    forward_ok(layer, &args, y, &res);
    ck_assert(memcmp(y, before, sizeof y) != 0);
    hbn_forward_result_clear(&res);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

Suite *hbn_forward_suite(void)
{
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("numel");

    tcase_add_loop_test(tc, test_shape_numel, 0, COUNT_OF(numel_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_args_result_init);
    tcase_add_test(tc, test_result_clear_owned);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_bad_call, 0, COUNT_OF(bad_calls));
    tcase_add_loop_test(tc, test_non_finite, 0, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_loop_test(tc, test_table, 0, 4 * HBN_TEST_KIND_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("stats_id");
    tcase_add_test(tc, test_stats_id_selects_slot);
    tcase_add_loop_test(tc, test_stats_id_warning, 0, 2 * HBN_TEST_KIND_COUNT);
    tcase_add_loop_test(tc, test_stats_id_ignored_silently, 0, 4);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch_size");
    tcase_add_loop_test(tc, test_empty_batch, 0, 4 * HBN_TEST_KIND_COUNT);
    tcase_add_loop_test(tc, test_one_value_accepted, 0, COUNT_OF(one_value_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("numerics");
    tcase_add_loop_test(tc, test_ranks, 0, COUNT_OF(shape_cases));
    tcase_add_test(tc, test_large_offset);
    tcase_add_test(tc, test_mode_override);
    tcase_add_loop_test(tc, test_weight_fallback, 0, 8);
    suite_add_tcase(s, tc);
    tc = tcase_create("running");
    tcase_add_test(tc, test_momentum_null_average);
    tcase_add_loop_test(tc, test_momentum_numeric, 0, 3);
    tcase_add_test(tc, test_given_momentum_null);
    tcase_add_test(tc, test_count_saturates);
    tcase_add_loop_test(tc, test_near_overflow_accepted, 0, COUNT_OF(near_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("apply_update");
    tcase_add_loop_test(tc, test_apply_composes, 0, 2);
    tcase_add_test(tc, test_apply_not_pending);
    suite_add_tcase(s, tc);
    tc = tcase_create("workflow");
    tcase_add_test(tc, test_continual_learning);
    suite_add_tcase(s, tc);
    return s;
}
