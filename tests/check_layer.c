/* check_layer.c: Check suite of core/layer.c: creation of every kind of layer (tracking, frozen,
 * learnable, non-tracking; affine or not), mode, shapes, checkpoints, reading and writing
 * statistics slots and weights (each error status, in the documented order, with the state
 * untouched), and clone independence. Expected values are closed forms (0, 1, what was set). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "tests/check_core.h"

typedef enum hbn_test_kind kind_t;

/* Fails unless slot ID of LAYER holds MEAN, VAR (each the same for every channel) and COUNT. */
static void assert_slot(const hbn_layer *layer, int64_t id, float mean, float var, int64_t count)
{
    int64_t c = hbn_layer_num_features(layer), got_count = -1, got_id = -1;
    float m[8], v[8];

    ck_assert(c <= 8);
    ck_assert_int_eq(hbn_layer_get_stats(layer, id, m, v, &got_count, &got_id, NULL), HBN_OK);
    for (int64_t i = 0; i < c; i++) {
        ck_assert_double_eq((double)m[i], (double)mean);
        ck_assert_double_eq((double)v[i], (double)var);
    }
    ck_assert_int_eq(got_count, count);
    ck_assert_int_eq(got_id, id);
}

/* ---- create ------------------------------------------------------------------------------- */

START_TEST(test_create_defaults)
{
    char name[] = "bn7";
    hbn_config cfg;
    hbn_layer *layer = NULL;
    float w[4], b[4];

    hbn_config_init(&cfg, 4);
    ck_assert_int_eq(hbn_layer_create(name, &cfg, &layer, NULL), HBN_OK);
    name[2] = 'x'; /* the layer keeps its own copy */
    ck_assert_str_eq(hbn_layer_name(layer), "bn7");
    ck_assert_mem_eq(hbn_layer_config(layer), &cfg, sizeof cfg);
    ck_assert_int_eq(hbn_layer_num_features(layer), 4);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_TRAIN);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 1);
    assert_slot(layer, 0, 0.0f, 1.0f, 0);
    ck_assert_int_eq(hbn_layer_get_weights(layer, w, b, NULL), HBN_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq((double)w[i], 1.0);
        ck_assert_double_eq((double)b[i], 0.0);
    }
    hbn_layer_free(layer);
    hbn_layer_free(NULL); /* accepted */
}
END_TEST

/* Loop index: kind * 2 + affine. */
START_TEST(test_create_kinds)
{
    kind_t kind = (kind_t)(_i / 2);
    bool affine = _i % 2 == 1;
    hbn_layer *layer = hbn_test_make(kind, 3, affine);
    float w[3];
    hbn_err err;

    ck_assert_int_eq(hbn_layer_num_stats(layer), kind == HBN_TEST_NONE ? 0 : 1);
    if (kind != HBN_TEST_NONE)
        assert_slot(layer, 0, 0.0f, 1.0f, 0);
    ck_assert_int_eq(hbn_layer_param_shape_count(layer), kind == HBN_TEST_LEARNABLE ? 4 : 2);
    ck_assert_int_eq(hbn_layer_has_hyper_shapes(layer), !affine);
    ck_assert_int_eq(hbn_layer_get_weights(layer, w, NULL, &err),
                     affine ? HBN_OK : HBN_E_NOT_AFFINE);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_create_invalid_config)
{
    hbn_config cfg;
    hbn_layer *sentinel = (hbn_layer *)&cfg, *layer = sentinel;
    hbn_err err;

    hbn_config_init(&cfg, 4);
    cfg.momentum = 1.5;
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_layer_create("bn1", &cfg, &layer, &err), HBN_E_INVALID_CONFIG);
    ck_assert_ptr_eq(layer, sentinel);
    ck_assert_str_eq(err.msg, "momentum must be in [0, 1], got 1.5");
    hbn_config_init(&cfg, 4);
    ck_assert_int_eq(hbn_layer_create(NULL, &cfg, &layer, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_ptr_eq(layer, sentinel);
}
END_TEST

/* ---- mode --------------------------------------------------------------------------------- */

START_TEST(test_mode_set_get)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 2, true);
    hbn_mode m = HBN_MODE_TRAIN;

    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_EVAL);
    hbn_layer_set_mode(layer, HBN_MODE_TRAIN);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_TRAIN);
    ck_assert_str_eq(hbn_mode_name(HBN_MODE_TRAIN), "train");
    ck_assert_str_eq(hbn_mode_name(HBN_MODE_EVAL), "eval");
    ck_assert_int_eq(hbn_mode_parse("eval", &m), HBN_OK);
    ck_assert_int_eq(m, HBN_MODE_EVAL);
    ck_assert_int_eq(hbn_mode_parse("train", &m), HBN_OK);
    ck_assert_int_eq(m, HBN_MODE_TRAIN);
    hbn_layer_free(layer);
}
END_TEST

static const char *const bad_modes[] = { "TRAIN", "Eval", "", "evaluate", "train ", "tra", NULL };

START_TEST(test_mode_parse_rejects)
{
    hbn_mode m = (hbn_mode)42;

    ck_assert_int_eq(hbn_mode_parse(bad_modes[_i], &m), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(m, 42);
}
END_TEST

/* ---- checkpoint --------------------------------------------------------------------------- */

START_TEST(test_checkpoint_tracking)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 3, true);
    float m[3] = { 5, 6, 7 }, v[3] = { 2, 3, 4 };
    int64_t id = -1, count = 9, latest = -1;

    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 3, v, 3, &count, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 2);
    assert_slot(layer, 1, 0.0f, 1.0f, 0); /* a fresh slot, not a copy of slot 0 */
    for (int64_t k = 2; k < 100; k++) {  /* grows the slot table several times */
        ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
        ck_assert_int_eq(id, k);
    }
    ck_assert_int_eq(hbn_layer_num_stats(layer), 100);
    ck_assert_int_eq(hbn_layer_get_stats(layer, -1, NULL, NULL, NULL, &latest, NULL), HBN_OK);
    ck_assert_int_eq(latest, 99);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m, v, &count, NULL, NULL), HBN_OK);
    ck_assert_double_eq((double)m[2], 7.0);
    ck_assert_double_eq((double)v[0], 2.0);
    ck_assert_int_eq(count, 9);
    hbn_layer_free(layer);
}
END_TEST

/* Loop index: HBN_TEST_FROZEN, HBN_TEST_LEARNABLE, HBN_TEST_NONE. */
START_TEST(test_checkpoint_refused)
{
    hbn_layer *layer = hbn_test_make((kind_t)_i, 3, true);
    hbn_test_snapshot snap;
    int64_t id = -7;
    hbn_err err;

    hbn_test_snapshot_take(layer, &snap);
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, &err), HBN_E_NOT_TRACKING);
    ck_assert_int_eq(err.status, HBN_E_NOT_TRACKING);
    ck_assert_ptr_nonnull(strstr(err.msg, "bn1"));
    ck_assert_int_eq(id, -7);
    hbn_test_snapshot_assert_same(layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* ---- get / set statistics ----------------------------------------------------------------- */

START_TEST(test_get_stats)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 3, true);
    float m[3] = { -1, 0.5f, 2 }, v[3] = { 0.25f, 1, 9 }, gm[3] = { 42, 42, 42 }, gv[3];
    int64_t id = -1, count = 3;
    hbn_err err;

    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 3, v, 3, &count, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, gm, gv, &count, &id, NULL), HBN_OK);
    ck_assert_mem_eq(gm, m, sizeof m);
    ck_assert_mem_eq(gv, v, sizeof v);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(id, 0);
    ck_assert_int_eq(hbn_layer_get_stats(layer, -1, gm, gv, &count, &id, NULL), HBN_OK);
    ck_assert_int_eq(id, 1);
    ck_assert_double_eq((double)gm[0], 0.0);
    ck_assert_double_eq((double)gv[2], 1.0);
    ck_assert_int_eq(count, 0);
    gm[0] = 42;
    ck_assert_int_eq(hbn_layer_get_stats(layer, 2, gm, NULL, NULL, NULL, &err),
                     HBN_E_STATS_NOT_FOUND);
    ck_assert_double_eq((double)gm[0], 42.0);
    ck_assert_int_eq(hbn_layer_get_stats(layer, INT64_MAX, gm, NULL, NULL, NULL, &err),
                     HBN_E_STATS_NOT_FOUND);
    hbn_layer_free(layer);
    layer = hbn_test_make(HBN_TEST_NONE, 3, true);
    ck_assert_int_eq(hbn_layer_get_stats(layer, -1, gm, gv, NULL, NULL, &err),
                     HBN_E_STATS_NOT_FOUND);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, gm, gv, NULL, NULL, &err),
                     HBN_E_STATS_NOT_FOUND);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_set_stats_count)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 2, true);
    float m[2] = { 1, 2 }, v[2] = { 3, 0 }; /* a zero variance is allowed */
    int64_t count = 11, zero = 0;

    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 2, v, 2, &count, NULL), HBN_OK);
    m[0] = 4;
    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 2, v, 2, NULL, NULL), HBN_OK);
    count = -1;
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, NULL, NULL, &count, NULL, NULL), HBN_OK);
    ck_assert_int_eq(count, 11); /* kept: no count was written */
    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 2, v, 2, &zero, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m, v, &count, NULL, NULL), HBN_OK);
    ck_assert_int_eq(count, 0);
    ck_assert_double_eq((double)m[0], 4.0);
    ck_assert_double_eq((double)v[1], 0.0);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_set_stats_learnable)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_LEARNABLE, 2, false);
    float m[2] = { 0.5f, 0.5f }, v[2] = { 4, 4 };

    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, m, 2, v, 2, NULL, NULL), HBN_OK);
    assert_slot(layer, 0, 0.5f, 4.0f, 0);
    ck_assert_int_eq(hbn_layer_set_stats(layer, 1, m, 2, v, 2, NULL, NULL),
                     HBN_E_STATS_NOT_FOUND);
    hbn_layer_free(layer);
}
END_TEST

/* A bad set_stats call on a layer of C = 2 and the status its first failing rule gives. */
typedef struct bad_set_stats {
    kind_t kind;
    int64_t id;
    int mean_len, var_len; /* -1: NULL pointer */
    float bad_mean;        /* written to mean[1] */
    float bad_var;         /* written to var[0] */
    int64_t count;         /* -2: none */
    hbn_status want;
} bad_set_stats;

static const bad_set_stats bad_set_stats_table[] = {
    { HBN_TEST_FROZEN, 0, 2, 2, 0, 1, -2, HBN_E_FROZEN_STATS },
    { HBN_TEST_FROZEN, 5, 3, 2, NAN, -1, -5, HBN_E_FROZEN_STATS },
    { HBN_TEST_NONE, 0, 2, 2, 0, 1, -2, HBN_E_STATS_NOT_FOUND },
    { HBN_TEST_TRACKING, -1, 2, 2, 0, 1, -2, HBN_E_STATS_NOT_FOUND },
    { HBN_TEST_TRACKING, 2, 2, 2, 0, 1, -2, HBN_E_STATS_NOT_FOUND },
    { HBN_TEST_TRACKING, 2, 3, 2, NAN, -1, -5, HBN_E_STATS_NOT_FOUND },
    { HBN_TEST_TRACKING, 0, 3, 2, 0, 1, -2, HBN_E_SHAPE_MISMATCH },
    { HBN_TEST_TRACKING, 0, 2, 1, 0, 1, -2, HBN_E_SHAPE_MISMATCH },
    { HBN_TEST_TRACKING, 0, -1, 2, 0, 1, -2, HBN_E_SHAPE_MISMATCH },
    { HBN_TEST_TRACKING, 0, 2, -1, 0, 1, -2, HBN_E_SHAPE_MISMATCH },
    { HBN_TEST_TRACKING, 0, 2, 3, NAN, -1, -5, HBN_E_SHAPE_MISMATCH },
    { HBN_TEST_TRACKING, 0, 2, 2, NAN, 1, -2, HBN_E_NON_FINITE },
    { HBN_TEST_TRACKING, 0, 2, 2, INFINITY, 1, -2, HBN_E_NON_FINITE },
    { HBN_TEST_TRACKING, 0, 2, 2, 0, -INFINITY, -2, HBN_E_NON_FINITE },
    { HBN_TEST_TRACKING, 1, 2, 2, 0, NAN, -5, HBN_E_NON_FINITE },
    { HBN_TEST_TRACKING, 0, 2, 2, 0, -0.5f, -5, HBN_E_INVALID_VALUE },
    { HBN_TEST_LEARNABLE, 0, 2, 2, 0, -1e-30f, -2, HBN_E_INVALID_VALUE },
    { HBN_TEST_TRACKING, 1, 2, 2, 0, 1, -1, HBN_E_INVALID_ARGUMENT },
};

START_TEST(test_set_stats_rejects)
{
    const bad_set_stats *b = &bad_set_stats_table[_i];
    hbn_layer *layer = hbn_test_make(b->kind, 2, true);
    float mean[3] = { 0.25f, b->bad_mean, 0 }, var[3] = { b->bad_var, 2, 2 };
    int64_t count = b->count, id;
    hbn_test_snapshot snap;
    hbn_err err;

    if (b->kind == HBN_TEST_TRACKING)
        ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    hbn_test_snapshot_take(layer, &snap);
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_layer_set_stats(layer, b->id, b->mean_len < 0 ? NULL : mean,
                                         b->mean_len, b->var_len < 0 ? NULL : var, b->var_len,
                                         b->count == -2 ? NULL : &count, &err),
                     b->want);
    ck_assert_int_eq(err.status, b->want);
    ck_assert_msg(err.msg[0] != '\0', "no message");
    hbn_test_snapshot_assert_same(layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

/* ---- weights ------------------------------------------------------------------------------ */

START_TEST(test_weights_roundtrip)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 3, true);
    float w[3] = { 2, -1, 0.5f }, b[3] = { 0, 3, -7 }, gw[3], gb[3];

    ck_assert_int_eq(hbn_layer_set_weights(layer, w, 3, b, 3, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_get_weights(layer, gw, gb, NULL), HBN_OK);
    ck_assert_mem_eq(gw, w, sizeof w);
    ck_assert_mem_eq(gb, b, sizeof b);
    memset(gb, 0, sizeof gb);
    ck_assert_int_eq(hbn_layer_get_weights(layer, NULL, gb, NULL), HBN_OK);
    ck_assert_mem_eq(gb, b, sizeof b);
    hbn_layer_free(layer);
}
END_TEST

typedef struct bad_set_weights {
    bool affine;
    int weight_len, bias_len; /* -1: NULL pointer */
    float bad_weight;         /* written to weight[2] */
    float bad_bias;           /* written to bias[0] */
    hbn_status want;
} bad_set_weights;

static const bad_set_weights bad_set_weights_table[] = {
    { false, 3, 3, 1, 0, HBN_E_NOT_AFFINE },
    { false, 2, 3, NAN, 0, HBN_E_NOT_AFFINE },
    { true, 2, 3, 1, 0, HBN_E_SHAPE_MISMATCH },
    { true, 3, 4, 1, 0, HBN_E_SHAPE_MISMATCH },
    { true, -1, 3, 1, 0, HBN_E_SHAPE_MISMATCH },
    { true, 3, -1, 1, 0, HBN_E_SHAPE_MISMATCH },
    { true, 3, 2, NAN, 0, HBN_E_SHAPE_MISMATCH },
    { true, 3, 3, NAN, 0, HBN_E_NON_FINITE },
    { true, 3, 3, INFINITY, 0, HBN_E_NON_FINITE },
    { true, 3, 3, 1, -INFINITY, HBN_E_NON_FINITE },
};

START_TEST(test_set_weights_rejects)
{
    const bad_set_weights *b = &bad_set_weights_table[_i];
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 3, b->affine);
    float w[4] = { 3, 3, b->bad_weight, 3 }, bias[4] = { b->bad_bias, 1, 1, 1 };
    hbn_test_snapshot snap;
    hbn_err err;

    hbn_test_snapshot_take(layer, &snap);
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_layer_set_weights(layer, b->weight_len < 0 ? NULL : w, b->weight_len,
                                           b->bias_len < 0 ? NULL : bias, b->bias_len, &err),
                     b->want);
    ck_assert_int_eq(err.status, b->want);
    hbn_test_snapshot_assert_same(layer, &snap);
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_shape_mismatch_message)
{
    hbn_layer *layer = hbn_test_make(HBN_TEST_TRACKING, 4, true);
    float w[3] = { 1, 1, 1 };
    hbn_err err;

    ck_assert_int_eq(hbn_layer_set_weights(layer, w, 3, w, 3, &err), HBN_E_SHAPE_MISMATCH);
    ck_assert_str_eq(err.msg, "weight has 3 channels, layer bn1 has 4");
    hbn_layer_free(layer);
}
END_TEST

/* ---- clone -------------------------------------------------------------------------------- */

START_TEST(test_clone_independent)
{
    hbn_layer *src = hbn_test_make(HBN_TEST_TRACKING, 3, true), *copy = NULL;
    float m[3] = { 1, 2, 3 }, v[3] = { 4, 5, 6 }, w[3] = { 7, 8, 9 };
    int64_t count = 4, id;
    hbn_test_snapshot snap;

    ck_assert_int_eq(hbn_layer_checkpoint(src, &id, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_set_stats(src, 1, m, 3, v, 3, &count, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_set_weights(src, w, 3, m, 3, NULL), HBN_OK);
    hbn_layer_set_mode(src, HBN_MODE_EVAL);
    hbn_test_snapshot_take(src, &snap);
    ck_assert_int_eq(hbn_layer_clone(src, &copy, NULL), HBN_OK);
    hbn_test_snapshot_assert_same(copy, &snap); /* an exact copy ... */
    ck_assert_str_eq(hbn_layer_name(copy), "bn1");
    ck_assert_ptr_ne(hbn_layer_name(copy), hbn_layer_name(src));
    ck_assert_mem_eq(hbn_layer_config(copy), hbn_layer_config(src), sizeof(hbn_config));
    ck_assert_int_eq(hbn_layer_set_stats(src, 1, v, 3, m, 3, NULL, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_set_weights(src, m, 3, w, 3, NULL), HBN_OK);
    ck_assert_int_eq(hbn_layer_checkpoint(src, &id, NULL), HBN_OK);
    hbn_layer_set_mode(src, HBN_MODE_TRAIN);
    hbn_test_snapshot_assert_same(copy, &snap); /* ... that does not follow the source */
    hbn_layer_free(src);
    hbn_test_snapshot_assert_same(copy, &snap); /* nor share its memory */
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(copy);
}
END_TEST

START_TEST(test_clone_kinds)
{
    hbn_layer *src = hbn_test_make((kind_t)_i, 2, _i % 2 == 0), *copy = NULL;
    hbn_test_snapshot snap;

    hbn_test_snapshot_take(src, &snap);
    ck_assert_int_eq(hbn_layer_clone(src, &copy, NULL), HBN_OK);
    hbn_test_snapshot_assert_same(copy, &snap);
    ck_assert_mem_eq(hbn_layer_config(copy), hbn_layer_config(src), sizeof(hbn_config));
    hbn_test_snapshot_clear(&snap);
    hbn_layer_free(src);
    hbn_layer_free(copy);
}
END_TEST

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *hbn_layer_suite(void)
{
    Suite *s = suite_create("layer");
    TCase *tc = tcase_create("create");

    tcase_add_test(tc, test_create_defaults);
    tcase_add_loop_test(tc, test_create_kinds, 0, 2 * HBN_TEST_KIND_COUNT);
    tcase_add_test(tc, test_create_invalid_config);
    suite_add_tcase(s, tc);
    tc = tcase_create("mode");
    tcase_add_test(tc, test_mode_set_get);
    tcase_add_loop_test(tc, test_mode_parse_rejects, 0, COUNT_OF(bad_modes));
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoint");
    tcase_add_test(tc, test_checkpoint_tracking);
    tcase_add_loop_test(tc, test_checkpoint_refused, HBN_TEST_FROZEN, HBN_TEST_KIND_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("stats");
    tcase_add_test(tc, test_get_stats);
    tcase_add_test(tc, test_set_stats_count);
    tcase_add_test(tc, test_set_stats_learnable);
    tcase_add_loop_test(tc, test_set_stats_rejects, 0, COUNT_OF(bad_set_stats_table));
    suite_add_tcase(s, tc);
    tc = tcase_create("weights");
    tcase_add_test(tc, test_weights_roundtrip);
    tcase_add_loop_test(tc, test_set_weights_rejects, 0, COUNT_OF(bad_set_weights_table));
    tcase_add_test(tc, test_shape_mismatch_message);
    suite_add_tcase(s, tc);
    tc = tcase_create("clone");
    tcase_add_test(tc, test_clone_independent);
    tcase_add_loop_test(tc, test_clone_kinds, 0, HBN_TEST_KIND_COUNT);
    suite_add_tcase(s, tc);
    return s;
}
