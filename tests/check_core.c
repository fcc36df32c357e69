/* check_core.c: the helpers check_core.h declares, shared by the Check suites of core/ and the
 * programs that run them (check_core_main.c, check_kernels_isa.c). */
#include "tests/check_core.h"

#include <stdlib.h>
#include <string.h>

void hbn_test_snapshot_take(const hbn_layer *layer, hbn_test_snapshot *snap)
{
    int64_t c = hbn_layer_num_features(layer);
    int64_t t = hbn_layer_num_stats(layer);

    memset(snap, 0, sizeof *snap);
    snap->mode = hbn_layer_mode(layer);
    snap->channels = c;
    snap->num_stats = t;
    snap->means = calloc((size_t)(t * c + 1), sizeof *snap->means);
    snap->vars = calloc((size_t)(t * c + 1), sizeof *snap->vars);
    snap->counts = calloc((size_t)(t + 1), sizeof *snap->counts);
    ck_assert(snap->means != NULL && snap->vars != NULL && snap->counts != NULL);
    for (int64_t k = 0; k < t; k++)
        ck_assert_int_eq(hbn_layer_get_stats(layer, k, snap->means + k * c, snap->vars + k * c,
                                             snap->counts + k, NULL, NULL),
                         HBN_OK);
    if (hbn_layer_config(layer)->affine) {
        snap->weight = calloc((size_t)c, sizeof *snap->weight);
        snap->bias = calloc((size_t)c, sizeof *snap->bias);
        ck_assert(snap->weight != NULL && snap->bias != NULL);
        ck_assert_int_eq(hbn_layer_get_weights(layer, snap->weight, snap->bias, NULL), HBN_OK);
    }
}

void hbn_test_snapshot_assert_same(const hbn_layer *layer, const hbn_test_snapshot *snap)
{
    hbn_test_snapshot now;
    size_t floats = (size_t)(snap->num_stats * snap->channels) * sizeof(float);
    size_t c_bytes = (size_t)snap->channels * sizeof(float);

    hbn_test_snapshot_take(layer, &now);
    ck_assert_int_eq(now.mode, snap->mode);
    ck_assert_int_eq(now.channels, snap->channels);
    ck_assert_int_eq(now.num_stats, snap->num_stats);
    ck_assert_mem_eq(now.means, snap->means, floats);
    ck_assert_mem_eq(now.vars, snap->vars, floats);
    ck_assert_mem_eq(now.counts, snap->counts, (size_t)snap->num_stats * sizeof(int64_t));
    ck_assert_int_eq(now.weight != NULL, snap->weight != NULL);
    if (snap->weight != NULL) {
        ck_assert_mem_eq(now.weight, snap->weight, c_bytes);
        ck_assert_mem_eq(now.bias, snap->bias, c_bytes);
    }
    hbn_test_snapshot_clear(&now);
}

void hbn_test_snapshot_clear(hbn_test_snapshot *snap)
{
    free(snap->means);
    free(snap->vars);
    free(snap->counts);
    free(snap->weight);
    free(snap->bias);
    memset(snap, 0, sizeof *snap);
}

void hbn_test_fill(float *x, int64_t n, uint32_t seed, double lo, double hi)
{
    uint64_t state = 0x9e3779b97f4a7c15u ^ seed;

    for (int64_t i = 0; i < n; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        x[i] = (float)(lo + (hi - lo) * (double)(state >> 11) / 9007199254740992.0);
    }
}

hbn_layer *hbn_test_layer(const hbn_config *cfg)
{
    hbn_layer *layer = NULL;
    hbn_err err;

    hbn_err_clear(&err);
    ck_assert_msg(hbn_layer_create("bn1", cfg, &layer, &err) == HBN_OK, "create: %s", err.msg);
    ck_assert_ptr_nonnull(layer);
    return layer;
}

hbn_layer *hbn_test_make(enum hbn_test_kind kind, int64_t c, bool affine)
{
    hbn_config cfg;

    hbn_config_init(&cfg, c);
    cfg.affine = affine;
    cfg.track_running_stats = kind == HBN_TEST_TRACKING;
    cfg.frozen_stats = kind == HBN_TEST_FROZEN;
    cfg.learnable_stats = kind == HBN_TEST_LEARNABLE;
    return hbn_test_layer(&cfg);
}
