/* config.h: a layer's configuration, fixed at creation (SEMANTICS 1), and its validation.
 * Plain data; knows nothing of JSON or HTTP. Validation follows the seed's order: the first
 * failing rule decides the error. */
#ifndef HBN_CONFIG_H
#define HBN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

#define HBN_MAX_FEATURES 1048576 /* largest accepted num_features (C) */

typedef struct hbn_config {
    int64_t num_features;     /* C, in [1, HBN_MAX_FEATURES] */
    bool has_momentum;        /* false: momentum null, a cumulative moving average */
    double momentum;          /* in [0, 1] when has_momentum */
    double eps;               /* finite and > 0 after rounding to float32 */
    bool affine;              /* the layer keeps weight (init 1) and bias (init 0) */
    bool track_running_stats; /* the layer keeps running-statistics slots */
    bool frozen_stats;        /* statistics fixed at 0 / 1; needs !track_running_stats */
    bool learnable_stats;     /* one statistics pair kept as parameters; needs !track_running_stats */
} hbn_config;

/* Fills CFG with the defaults of SEMANTICS 1 (momentum 0.1, eps 1e-5, affine, tracking) and
 * NUM_FEATURES channels. */
void hbn_config_init(hbn_config *cfg, int64_t num_features);

/* Checks CFG against SEMANTICS 1 in the seed's order: frozen+tracking, learnable+tracking,
 * frozen+learnable, C range, momentum range, eps. Returns HBN_OK or HBN_E_INVALID_CONFIG with a
 * sentence naming the option and its value in ERR. */
hbn_status hbn_config_validate(const hbn_config *cfg, hbn_err *err);

/* Number of statistics slots a new layer with CFG starts with: 1 for a tracking, frozen or
 * learnable layer, else 0. */
int64_t hbn_config_initial_slots(const hbn_config *cfg);

#endif
