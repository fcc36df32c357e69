/* check_core.h: the Check suites of core/ (one per file, run by check_core_main.c's main) and
 * the small helpers they share: a layer-state snapshot to prove that failing calls change nothing,
 * and deterministic test data. Test-only: nothing in core/ includes it. */
#ifndef HBN_CHECK_CORE_H
#define HBN_CHECK_CORE_H

#include <check.h>
#include <stdint.h>

#include "core/layer.h"

Suite *hbn_config_suite(void);  /* check_config.c */
Suite *hbn_layer_suite(void);   /* check_layer.c */
Suite *hbn_forward_suite(void); /* check_forward.c */
Suite *hbn_kernels_suite(void); /* check_kernels.c */

/* Everything a client can observe of a layer: mode, slots (means, vars, counts), weights. */
typedef struct hbn_test_snapshot {
    hbn_mode mode;
    int64_t channels;
    int64_t num_stats;
    float *means;    /* NEW [num_stats * C] */
    float *vars;     /* NEW [num_stats * C] */
    int64_t *counts; /* NEW [num_stats] */
    float *weight;   /* NEW [C], NULL when not affine */
    float *bias;     /* NEW [C], NULL when not affine */
} hbn_test_snapshot;

/* Fills SNAP with LAYER's observable state (free with hbn_test_snapshot_clear). */
void hbn_test_snapshot_take(const hbn_layer *layer, hbn_test_snapshot *snap);
/* Fails the running test unless LAYER's state is byte for byte SNAP's. */
void hbn_test_snapshot_assert_same(const hbn_layer *layer, const hbn_test_snapshot *snap);
void hbn_test_snapshot_clear(hbn_test_snapshot *snap);

/* Fills X[N] with deterministic pseudo-random values in [LO, HI) from SEED. */
void hbn_test_fill(float *x, int64_t n, uint32_t seed, double lo, double hi);

/* A NEW layer named "bn1" with CFG; fails the running test when creation fails. */
hbn_layer *hbn_test_layer(const hbn_config *cfg);

/* The four kinds of layer SEMANTICS 3 distinguishes. */
enum hbn_test_kind {
    HBN_TEST_TRACKING,
    HBN_TEST_FROZEN,
    HBN_TEST_LEARNABLE,
    HBN_TEST_NONE, /* neither tracking, frozen nor learnable */
    HBN_TEST_KIND_COUNT
};

/* A NEW layer "bn1" of KIND with C channels, affine or not, other options at their defaults. */
hbn_layer *hbn_test_make(enum hbn_test_kind kind, int64_t c, bool affine);

#endif
