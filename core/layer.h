/* layer.h: one hypernetwork-compatible batch-norm layer (SEMANTICS 1-6): configuration, mode,
 * own weight/bias, statistics slots, and forward.
 *
 * Thread-safety contract. A layer has no lock of its own; the caller (the daemon's registry)
 * holds a reader-writer lock per layer:
 *   - shared (read) lock: hbn_layer_forward and every getter (name, config, mode, num_stats,
 *     shapes, get_stats, get_weights). Any number may run at once.
 *   - exclusive (write) lock: hbn_layer_set_mode, checkpoint, set_stats, set_weights,
 *     hbn_layer_apply_update, hbn_layer_free.
 * A train-mode forward is split in two so that the expensive part runs under the shared lock:
 * hbn_layer_forward computes the outputs and the batch statistics without writing the layer and
 * returns a pending hbn_update; hbn_layer_apply_update (O(C), cannot fail) folds it into the
 * slot's *current* values under the exclusive lock. Updates are therefore applied atomically
 * one after another, and K*M concurrent train forwards on one slot count K*M batches. Slots are
 * never removed, so a pending update's slot still exists when it is applied. */
#ifndef HBN_LAYER_H
#define HBN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/status.h"

#define HBN_MAX_RANK 5
#define HBN_MIN_RANK 2
#define HBN_NAME_MAX 128

typedef enum hbn_mode { HBN_MODE_TRAIN = 0, HBN_MODE_EVAL = 1 } hbn_mode;

typedef struct hbn_layer hbn_layer;

/* Creates a layer named NAME (copied; at most HBN_NAME_MAX bytes, not validated here: naming
 * rules belong to api/) with configuration CFG (validated: HBN_E_INVALID_CONFIG), in train mode,
 * with weight 1 / bias 0 when affine and hbn_config_initial_slots(CFG) slots at mean 0 / var 1,
 * count 0. On success *OUT is NEW (free with hbn_layer_free). HBN_E_NO_MEMORY on allocation
 * failure. */
hbn_status hbn_layer_create(const char *name, const hbn_config *cfg, hbn_layer **out,
                            hbn_err *err);

/* Frees LAYER and everything it owns. Accepts NULL. */
void hbn_layer_free(hbn_layer *layer);

/* Creates a NEW deep copy of SRC (name, configuration, mode, weights, all slots) in *OUT.
 * HBN_E_NO_MEMORY on failure. */
hbn_status hbn_layer_clone(const hbn_layer *src, hbn_layer **out, hbn_err *err);

/* The layer's name (BORROWED, valid while the layer lives) and configuration (BORROWED). */
const char *hbn_layer_name(const hbn_layer *layer);
const hbn_config *hbn_layer_config(const hbn_layer *layer);
int64_t hbn_layer_num_features(const hbn_layer *layer);

/* The layer's mode; a new layer starts in HBN_MODE_TRAIN. */
hbn_mode hbn_layer_mode(const hbn_layer *layer);
void hbn_layer_set_mode(hbn_layer *layer, hbn_mode mode);

/* "train" / "eval"; and the reverse (HBN_OK or HBN_E_INVALID_ARGUMENT for any other string). */
const char *hbn_mode_name(hbn_mode mode);
hbn_status hbn_mode_parse(const char *s, hbn_mode *out);

/* T, the number of statistics slots (num_stats). */
int64_t hbn_layer_num_stats(const hbn_layer *layer);

/* param_shapes: every shape is [C]; returns how many (2, or 4 with learnable statistics). */
int hbn_layer_param_shape_count(const hbn_layer *layer);

/* hyper_shapes: false when affine (null), else true ([[C],[C]]). */
bool hbn_layer_has_hyper_shapes(const hbn_layer *layer);

/* Appends a slot at mean 0 / var 1, count 0, and returns its id in *NEW_ID (T before the call).
 * HBN_E_NOT_TRACKING unless the layer tracks running statistics; HBN_E_NO_MEMORY. No state
 * changes on failure. */
hbn_status hbn_layer_checkpoint(hbn_layer *layer, int64_t *new_id, hbn_err *err);

/* Copies slot ID (or the latest when ID < 0) into MEAN[C], VAR[C] and *COUNT (any of the three
 * may be NULL) and the slot's id into *ID_OUT (may be NULL). HBN_E_STATS_NOT_FOUND when the
 * layer has no slots or ID >= T. */
hbn_status hbn_layer_get_stats(const hbn_layer *layer, int64_t id, float *mean, float *var,
                               int64_t *count, int64_t *id_out, hbn_err *err);

/* Overwrites slot ID with MEAN[MEAN_LEN], VAR[VAR_LEN] and, when COUNT is not NULL, *COUNT
 * (else the slot keeps its count). Checked in order: HBN_E_FROZEN_STATS (frozen layer),
 * HBN_E_STATS_NOT_FOUND (no slots, ID < 0 or ID >= T), HBN_E_SHAPE_MISMATCH (lengths != C),
 * HBN_E_NON_FINITE (a value not finite), HBN_E_INVALID_VALUE (a variance < 0),
 * HBN_E_INVALID_ARGUMENT (*COUNT < 0). Nothing changes on failure. */
hbn_status hbn_layer_set_stats(hbn_layer *layer, int64_t id, const float *mean, int64_t mean_len,
                               const float *var, int64_t var_len, const int64_t *count,
                               hbn_err *err);

/* Copies the layer's own weight and bias into WEIGHT[C], BIAS[C] (either may be NULL).
 * HBN_E_NOT_AFFINE for a non-affine layer. */
hbn_status hbn_layer_get_weights(const hbn_layer *layer, float *weight, float *bias,
                                 hbn_err *err);

/* Replaces the layer's weight and bias. HBN_E_NOT_AFFINE, HBN_E_SHAPE_MISMATCH (lengths != C),
 * HBN_E_NON_FINITE, in that order. Nothing changes on failure. */
hbn_status hbn_layer_set_weights(hbn_layer *layer, const float *weight, int64_t weight_len,
                                 const float *bias, int64_t bias_len, hbn_err *err);

/* ---- forward ---------------------------------------------------------------------------- */

/* The arguments of one forward call, named as the seed's forward. Every pointer is BORROWED for
 * the duration of the call; a NULL tensor pointer means "not given". */
typedef struct hbn_forward_args {
    const float *inputs;          /* (N, C, *) row-major, numel = product of shape */
    int rank;                     /* 2..5 */
    int64_t shape[HBN_MAX_RANK];
    const float *weight;          /* gain, WEIGHT_LEN values, or NULL */
    int64_t weight_len;
    const float *bias;            /* shift, or NULL */
    int64_t bias_len;
    const float *running_mean;    /* given statistics: both or neither */
    int64_t running_mean_len;
    const float *running_var;
    int64_t running_var_len;
    bool has_num_batches_tracked; /* only with given statistics */
    int64_t num_batches_tracked;
    bool has_stats_id;
    int64_t stats_id;
    bool has_mode;                /* per-call mode override */
    hbn_mode mode;
} hbn_forward_args;

/* A pending train-mode update of one slot: the batch statistics of one call. Owned by the
 * hbn_forward_result that holds it. */
typedef struct hbn_update {
    bool pending;       /* true: the caller must apply it with hbn_layer_apply_update */
    int64_t slot;       /* the slot to update */
    int64_t channels;   /* C */
    int64_t count;      /* m, values per channel (>= 2) */
    double *batch_mean; /* NEW [C]: per-channel batch mean */
    double *batch_var;  /* NEW [C]: per-channel biased batch variance */
} hbn_update;

/* What a forward call reports besides its outputs. Initialise with hbn_forward_result_init,
 * release with hbn_forward_result_clear. */
typedef struct hbn_forward_result {
    hbn_mode mode;                 /* the mode used */
    bool has_stats_id;             /* false: the response's stats_id is null */
    int64_t stats_id;              /* the slot used (0 for a frozen layer) */
    bool stats_returned;           /* given statistics in train mode: updated values below */
    float *running_mean;           /* NEW [C] when stats_returned */
    float *running_var;            /* NEW [C] when stats_returned */
    int64_t num_batches_tracked;   /* the given count after the call, when stats_returned */
    bool stats_id_ignored_warning; /* a stats_id was sent together with given statistics */
    hbn_update update;             /* pending update of a layer slot */
} hbn_forward_result;

/* Initialises ARGS to "nothing given" (no tensors, rank 0). */
void hbn_forward_args_init(hbn_forward_args *args);

void hbn_forward_result_init(hbn_forward_result *res);
/* Frees what RES owns and re-initialises it. Accepts a result that was only initialised. */
void hbn_forward_result_clear(hbn_forward_result *res);

/* Number of elements of SHAPE[RANK] in *NUMEL; HBN_E_SHAPE_MISMATCH when a dimension is negative,
 * HBN_E_PAYLOAD_TOO_LARGE when the product overflows int64 or exceeds SIZE_MAX / sizeof(float). */
hbn_status hbn_shape_numel(int rank, const int64_t *shape, int64_t *numel, hbn_err *err);

/* Applies batch normalization to ARGS->inputs into OUTPUTS (numel floats; OUTPUTS may be exactly
 * ARGS->inputs for in-place use, never a partial overlap). Reads LAYER only (shared lock).
 * Follows SEMANTICS 3-6: checks shapes (rank 2..5, C of inputs/weight/bias/given stats),
 * stats_id, values (finite inputs and tensors, given variances >= 0), batch size, in that order;
 * the first failure decides the status (HBN_E_SHAPE_MISMATCH, HBN_E_STATS_ID_REQUIRED,
 * HBN_E_STATS_ID_OUT_OF_RANGE, HBN_E_NON_FINITE, HBN_E_INVALID_VALUE, HBN_E_BATCH_TOO_SMALL,
 * HBN_E_INVALID_ARGUMENT for a negative count, HBN_E_NO_MEMORY). After them, finite values can
 * still overflow float32: an output, or (train) a batch statistic that the update of a slot or
 * of the given statistics would fold in, fails with HBN_E_NON_FINITE too, so every output,
 * returned statistic and pending update is finite. RES (initialised by the caller)
 * receives the mode used, the slot used, returned statistics and, for a train-mode forward on a
 * layer slot, a pending update for hbn_layer_apply_update. On failure OUTPUTS is unspecified and
 * RES holds nothing to apply. Uses one thread. */
hbn_status hbn_layer_forward(const hbn_layer *layer, const hbn_forward_args *args,
                             float *outputs, hbn_forward_result *res, hbn_err *err);

/* Folds a pending UPDATE into its slot's current values (exclusive lock): count += 1; factor =
 * momentum, or 1 / count when momentum is null; mean <- (1-f) mean + f mu;
 * var <- (1-f) var + f s2 m/(m-1). Does nothing when !UPDATE->pending. Cannot fail; the slot
 * stays finite whatever it holds by then (hbn_layer_forward hands out only updates whose mu and
 * s2 m/(m-1) are float32 values, of which the blend is a convex combination). */
void hbn_layer_apply_update(hbn_layer *layer, const hbn_update *update);

#endif
