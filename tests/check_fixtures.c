/* check_fixtures.c: replays the PyTorch reference cases of tests/fixtures/core_forward.txt
 * (written by tests/gen_core_fixtures.py; its header documents the line format) through the
 * public core/layer.h API and compares outputs, returned statistics and every slot after each
 * step. One loop test per case, so a failure names the case. The file is found through
 * HBN_TOP_SRCDIR, which the Makefile's AM_TESTS_ENVIRONMENT sets; with HBN_FIXTURE_REPORT set,
 * each case prints its largest deviation from PyTorch (absolute, and as a share of tolerance). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"

#define FX_PATH "/tests/fixtures/core_forward.txt"
#define FX_MAX_CASES 256
#define FX_MAX_SLOTS 8
#define FX_TOKEN 64

/* Where each case starts in the file (just after its `case` keyword). */
static long fx_offsets[FX_MAX_CASES];
static int fx_count;
static char fx_path[4096];

/* Tolerances. PyTorch and hyperbn both compute in float32 with double sums, but round
 * differently: PyTorch's y = x * alpha + beta (alpha, beta rounded to float) carries a few units
 * in the last place of |x * alpha|, hyperbn's rounding differs. So an output may differ by
 * FX_RTOL |y| + FX_ATOL plus FX_ULPS units of 2^-24 of |x * alpha|: for inputs of order 1 that
 * term is below 1e-6, for inputs with mean 100 and standard deviation 1 it is ~5e-5, which is
 * PyTorch's own float32 rounding error there, not a disagreement about the result. */
#define FX_RTOL 1e-5
#define FX_ATOL 1e-6
#define FX_ULPS 8.0

typedef struct fx_array {
    int64_t len;
    float *v;
} fx_array;

typedef struct fx_slot {
    int64_t id, count;
    fx_array mean, var;
} fx_slot;

/* One forward call as the file describes it, with its expected results. */
typedef struct fx_step {
    hbn_mode mode;
    bool per_call; /* the mode is a per-call override (else set on the layer) */
    int rank;
    int64_t shape[HBN_MAX_RANK];
    fx_array input, weight, bias, output;
    bool has_given, given_has_count, has_returned, has_stats_id;
    int64_t given_count, returned_count, stats_id;
    fx_array given_mean, given_var, returned_mean, returned_var;
    fx_slot slots[FX_MAX_SLOTS];
    int nslots;
} fx_step;

typedef struct fx_reader {
    FILE *f;
    const char *name; /* the case, for messages */
    char tok[FX_TOKEN];
} fx_reader;

/* ---- reading ------------------------------------------------------------------------------ */

/* The next whitespace-separated token, skipping `#` comment lines; NULL at end of file. */
static const char *fx_token(fx_reader *r)
{
    for (;;) {
        if (fscanf(r->f, "%63s", r->tok) != 1)
            return NULL;
        if (r->tok[0] != '#')
            return r->tok;
        int ch;
        while ((ch = fgetc(r->f)) != EOF && ch != '\n')
            ;
    }
}

static const char *fx_need(fx_reader *r)
{
    const char *t = fx_token(r);
    ck_assert_msg(t != NULL, "%s: fixture file ends early", r->name);
    return t;
}

static int64_t fx_int(fx_reader *r)
{
    char *end;
    const char *t = fx_need(r);
    long long v = strtoll(t, &end, 10);
    ck_assert_msg(*end == '\0', "%s: integer expected, got '%s'", r->name, t);
    return (int64_t)v;
}

static double fx_number(fx_reader *r)
{
    char *end;
    const char *t = fx_need(r);
    double v = strtod(t, &end);
    ck_assert_msg(*end == '\0', "%s: number expected, got '%s'", r->name, t);
    return v;
}

/* Reads `<len> <values...>` into A (NEW values; A's previous values are freed). */
static void fx_array_read(fx_reader *r, fx_array *a)
{
    int64_t len = fx_int(r);
    ck_assert_msg(len >= 0 && len <= 100000000, "%s: bad array length", r->name);
    free(a->v);
    a->len = len;
    a->v = malloc((size_t)(len > 0 ? len : 1) * sizeof *a->v);
    ck_assert_ptr_nonnull(a->v);
    for (int64_t i = 0; i < len; i++) {
        char *end;
        const char *t = fx_need(r);
        a->v[i] = strtof(t, &end);
        ck_assert_msg(*end == '\0', "%s: float expected, got '%s'", r->name, t);
    }
}

static void fx_array_free(fx_array *a)
{
    free(a->v);
    a->v = NULL;
    a->len = 0;
}

static void fx_step_clear(fx_step *st)
{
    fx_array *arrays[] = {&st->input, &st->weight, &st->bias, &st->output, &st->given_mean,
                          &st->given_var, &st->returned_mean, &st->returned_var};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        fx_array_free(arrays[i]);
    for (int k = 0; k < st->nslots; k++) {
        fx_array_free(&st->slots[k].mean);
        fx_array_free(&st->slots[k].var);
    }
    memset(st, 0, sizeof *st);
}

/* ---- comparing ---------------------------------------------------------------------------- */

/* Largest deviations seen, printed per case when HBN_FIXTURE_REPORT is set (for tuning). */
static double fx_worst_abs, fx_worst_ratio;

static void fx_expect_close(double got, double want, double tol, const char *name, int step,
                            const char *what, int64_t at)
{
    double dev = fabs(got - want);
    if (dev > fx_worst_abs)
        fx_worst_abs = dev;
    if (dev / tol > fx_worst_ratio)
        fx_worst_ratio = dev / tol;
    if (!(dev <= tol))
        ck_abort_msg("%s step %d: %s[%lld] = %.9g, PyTorch %.9g (tolerance %.3g)", name, step,
                     what, (long long)at, got, want, tol);
}

/* Outputs against PyTorch's. The tolerance's input-scale term needs |alpha| of each channel,
 * read off the expected map itself: (y(x_max) - y(x_min)) / (x_max - x_min). */
static void fx_check_outputs(const fx_step *st, const float *got, const char *name, int step)
{
    int64_t n = st->shape[0], c = st->shape[1];
    int64_t s = n * c > 0 ? st->input.len / (n * c) : 0;
    const float *x = st->input.v, *want = st->output.v;

    ck_assert_msg(st->output.len == st->input.len, "%s step %d: output length", name, step);
    for (int64_t j = 0; j < c; j++) {
        int64_t lo = -1, hi = -1;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * c + j) * s + k;
                if (lo < 0 || x[at] < x[lo])
                    lo = at;
                if (hi < 0 || x[at] > x[hi])
                    hi = at;
            }
        double alpha = lo >= 0 && x[hi] > x[lo]
                           ? fabs(((double)want[hi] - (double)want[lo]) /
                                  ((double)x[hi] - (double)x[lo]))
                           : 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * c + j) * s + k;
                double tol = FX_ATOL + FX_RTOL * fabs((double)want[at]) +
                             FX_ULPS * ldexp(fabs((double)x[at]) * alpha, -24);
                fx_expect_close((double)got[at], (double)want[at], tol, name, step, "output",
                                at);
            }
    }
}

/* Statistics against PyTorch's, to FX_RTOL relative and FX_ATOL absolute. */
static void fx_check_stats(const float *got, const fx_array *want, const char *name, int step,
                           const char *what)
{
    for (int64_t i = 0; i < want->len; i++)
        fx_expect_close((double)got[i], (double)want->v[i],
                        FX_ATOL + FX_RTOL * fabs((double)want->v[i]), name, step, what, i);
}

static void fx_check_slots(const hbn_layer *layer, const fx_step *st, const char *name,
                           int step)
{
    int64_t c = hbn_layer_num_features(layer);
    float *mean = malloc((size_t)c * sizeof *mean), *var = malloc((size_t)c * sizeof *var);

    ck_assert(mean != NULL && var != NULL);
    ck_assert_msg(hbn_layer_num_stats(layer) == st->nslots, "%s step %d: %lld slots, want %d",
                  name, step, (long long)hbn_layer_num_stats(layer), st->nslots);
    for (int k = 0; k < st->nslots; k++) {
        const fx_slot *want = &st->slots[k];
        int64_t count = -1;
        hbn_err err;
        ck_assert_msg(hbn_layer_get_stats(layer, want->id, mean, var, &count, NULL, &err) ==
                          HBN_OK, "%s step %d: get_stats %lld: %s", name, step,
                      (long long)want->id, err.msg);
        ck_assert_msg(want->mean.len == c && want->var.len == c, "%s: slot length", name);
        ck_assert_msg(count == want->count, "%s step %d: slot %lld count %lld, PyTorch %lld",
                      name, step, (long long)want->id, (long long)count,
                      (long long)want->count);
        fx_check_stats(mean, &want->mean, name, step, "slot mean");
        fx_check_stats(var, &want->var, name, step, "slot var");
    }
    free(mean);
    free(var);
}

/* ---- running ------------------------------------------------------------------------------ */

static void fx_args(hbn_layer *layer, const fx_step *st, hbn_forward_args *args)
{
    hbn_forward_args_init(args);
    args->inputs = st->input.v;
    args->rank = st->rank;
    memcpy(args->shape, st->shape, sizeof st->shape);
    args->weight = st->weight.v;
    args->weight_len = st->weight.len;
    args->bias = st->bias.v;
    args->bias_len = st->bias.len;
    if (st->has_given) {
        args->running_mean = st->given_mean.v;
        args->running_mean_len = st->given_mean.len;
        args->running_var = st->given_var.v;
        args->running_var_len = st->given_var.len;
        args->has_num_batches_tracked = st->given_has_count;
        args->num_batches_tracked = st->given_count;
    }
    args->has_stats_id = st->has_stats_id;
    args->stats_id = st->stats_id;
    if (st->per_call) {
        args->has_mode = true;
        args->mode = st->mode;
    } else {
        hbn_layer_set_mode(layer, st->mode);
    }
}

/* Runs one step through hbn_layer_forward and hbn_layer_apply_update and checks everything. */
static void fx_run_step(hbn_layer *layer, const fx_step *st, const char *name, int step)
{
    hbn_forward_args args;
    hbn_forward_result res;
    hbn_err err;
    float *out = malloc((size_t)(st->input.len > 0 ? st->input.len : 1) * sizeof *out);

    ck_assert_ptr_nonnull(out);
    fx_args(layer, st, &args);
    hbn_forward_result_init(&res);
    hbn_err_clear(&err);
    ck_assert_msg(hbn_layer_forward(layer, &args, out, &res, &err) == HBN_OK,
                  "%s step %d: forward failed: %s", name, step, err.msg);
    ck_assert_msg(res.mode == st->mode, "%s step %d: mode", name, step);
    fx_check_outputs(st, out, name, step);
    ck_assert_msg(res.stats_returned == st->has_returned, "%s step %d: stats_returned", name,
                  step);
    if (st->has_returned) {
        ck_assert_msg(res.num_batches_tracked == st->returned_count,
                      "%s step %d: returned count %lld, PyTorch %lld", name, step,
                      (long long)res.num_batches_tracked, (long long)st->returned_count);
        fx_check_stats(res.running_mean, &st->returned_mean, name, step, "returned mean");
        fx_check_stats(res.running_var, &st->returned_var, name, step, "returned var");
    }
    hbn_layer_apply_update(layer, &res.update);
    hbn_forward_result_clear(&res);
    fx_check_slots(layer, st, name, step);
    free(out);
}

/* ---- parsing a case ----------------------------------------------------------------------- */

/* `config <C> <momentum|null> <eps> <affine> <track> <frozen> <learnable>`: a NEW layer. */
static hbn_layer *fx_layer(fx_reader *r)
{
    hbn_config cfg;
    hbn_layer *layer = NULL;
    hbn_err err;

    hbn_config_init(&cfg, fx_int(r));
    const char *m = fx_need(r);
    cfg.has_momentum = strcmp(m, "null") != 0;
    cfg.momentum = cfg.has_momentum ? strtod(m, NULL) : 0.0;
    cfg.eps = fx_number(r);
    cfg.affine = fx_int(r) != 0;
    cfg.track_running_stats = fx_int(r) != 0;
    cfg.frozen_stats = fx_int(r) != 0;
    cfg.learnable_stats = fx_int(r) != 0;
    hbn_err_clear(&err);
    ck_assert_msg(hbn_layer_create("fixture", &cfg, &layer, &err) == HBN_OK, "%s: create: %s",
                  r->name, err.msg);
    return layer;
}

/* Reads the rest of one line of a step (TOK is its keyword) into ST; false for an unknown
 * keyword. */
static bool fx_step_line(fx_reader *r, const char *tok, fx_step *st)
{
    if (strcmp(tok, "input") == 0) {
        fx_array_read(r, &st->input);
    } else if (strcmp(tok, "weight") == 0) {
        fx_array_read(r, &st->weight);
    } else if (strcmp(tok, "bias") == 0) {
        fx_array_read(r, &st->bias);
    } else if (strcmp(tok, "output") == 0) {
        fx_array_read(r, &st->output);
    } else if (strcmp(tok, "stats_id") == 0) {
        st->has_stats_id = true;
        st->stats_id = fx_int(r);
    } else if (strcmp(tok, "given") == 0) {
        st->has_given = true;
        st->given_has_count = fx_int(r) != 0;
        st->given_count = fx_int(r);
        fx_array_read(r, &st->given_mean);
        fx_array_read(r, &st->given_var);
    } else if (strcmp(tok, "returned") == 0) {
        st->has_returned = true;
        st->returned_count = fx_int(r);
        fx_array_read(r, &st->returned_mean);
        fx_array_read(r, &st->returned_var);
    } else if (strcmp(tok, "slot") == 0) {
        ck_assert_msg(st->nslots < FX_MAX_SLOTS, "%s: too many slots", r->name);
        fx_slot *slot = &st->slots[st->nslots++];
        slot->id = fx_int(r);
        slot->count = fx_int(r);
        fx_array_read(r, &slot->mean);
        fx_array_read(r, &slot->var);
    } else {
        return false;
    }
    return true;
}

/* `step <train|eval> <call|layer> <rank> <dims...>`: starts ST afresh. */
static void fx_step_start(fx_reader *r, fx_step *st)
{
    fx_step_clear(st);
    st->mode = strcmp(fx_need(r), "eval") == 0 ? HBN_MODE_EVAL : HBN_MODE_TRAIN;
    st->per_call = strcmp(fx_need(r), "call") == 0;
    st->rank = (int)fx_int(r);
    ck_assert_msg(st->rank >= HBN_MIN_RANK && st->rank <= HBN_MAX_RANK, "%s: rank", r->name);
    for (int d = 0; d < st->rank; d++)
        st->shape[d] = fx_int(r);
}

/* `weights <C> <weight...> <C> <bias...>`: the layer's own gain and shift. */
static void fx_set_weights(fx_reader *r, hbn_layer *layer)
{
    fx_array w = {0, NULL}, b = {0, NULL};
    hbn_err err;

    fx_array_read(r, &w);
    fx_array_read(r, &b);
    ck_assert_msg(hbn_layer_set_weights(layer, w.v, w.len, b.v, b.len, &err) == HBN_OK,
                  "%s: set_weights: %s", r->name, err.msg);
    fx_array_free(&w);
    fx_array_free(&b);
}

static void fx_checkpoint(fx_reader *r, hbn_layer *layer)
{
    int64_t want = fx_int(r), got = -1;
    hbn_err err;

    ck_assert_msg(hbn_layer_checkpoint(layer, &got, &err) == HBN_OK, "%s: checkpoint: %s",
                  r->name, err.msg);
    ck_assert_msg(got == want, "%s: checkpoint id %lld, want %lld", r->name, (long long)got,
                  (long long)want);
}

START_TEST(fixture_case)
{
    char name[FX_TOKEN];
    fx_reader r = {fopen(fx_path, "r"), "?", {0}};
    fx_step st;
    hbn_layer *layer = NULL;
    int steps = 0;
    const char *tok;

    memset(&st, 0, sizeof st);
    fx_worst_abs = fx_worst_ratio = 0.0;
    ck_assert_msg(r.f != NULL, "cannot open %s", fx_path);
    ck_assert(fseek(r.f, fx_offsets[_i], SEEK_SET) == 0);
    snprintf(name, sizeof name, "%s", fx_need(&r));
    r.name = name;
    while (strcmp(tok = fx_need(&r), "end_case") != 0) {
        if (strcmp(tok, "config") == 0)
            layer = fx_layer(&r);
        else if (layer != NULL && strcmp(tok, "weights") == 0)
            fx_set_weights(&r, layer);
        else if (layer != NULL && strcmp(tok, "checkpoint") == 0)
            fx_checkpoint(&r, layer);
        else if (strcmp(tok, "step") == 0)
            fx_step_start(&r, &st);
        else if (layer != NULL && strcmp(tok, "end") == 0)
            fx_run_step(layer, &st, name, steps++);
        else
            ck_assert_msg(fx_step_line(&r, tok, &st), "%s: unexpected '%s'", name, tok);
    }
    ck_assert_msg(steps > 0, "%s: no steps", name);
    if (getenv("HBN_FIXTURE_REPORT") != NULL)
        fprintf(stderr, "%-40s worst |dev| %.3g, worst dev/tol %.3f\n", name, fx_worst_abs,
                fx_worst_ratio);
    fx_step_clear(&st);
    hbn_layer_free(layer);
    fclose(r.f);
}
END_TEST

/* Finds the fixture file and where each case starts; false (with a message) when unusable. */
static bool fx_index(void)
{
    const char *top = getenv("HBN_TOP_SRCDIR");
    fx_reader r = {NULL, "index", {0}};
    const char *tok;

    snprintf(fx_path, sizeof fx_path, "%s%s", top != NULL ? top : ".", FX_PATH);
    r.f = fopen(fx_path, "r");
    if (r.f == NULL) {
        fprintf(stderr, "check_fixtures: cannot open %s (set HBN_TOP_SRCDIR)\n", fx_path);
        return false;
    }
    while ((tok = fx_token(&r)) != NULL)
        if (strcmp(tok, "case") == 0 && fx_count < FX_MAX_CASES)
            fx_offsets[fx_count++] = ftell(r.f);
    fclose(r.f);
    if (fx_count < 40) {
        fprintf(stderr, "check_fixtures: %s holds %d cases, expected at least 40\n", fx_path,
                fx_count);
        return false;
    }
    return true;
}

int main(void)
{
    if (!fx_index())
        return EXIT_FAILURE;
    Suite *suite = suite_create("fixtures");
    TCase *tc = tcase_create("pytorch");
    tcase_add_loop_test(tc, fixture_case, 0, fx_count);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
