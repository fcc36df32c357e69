/* layer_internal.h: the layout of struct hbn_layer, shared by layer.c (state, accessors) and
 * forward.c (forward, train-mode update). Internal to core/: nothing outside core/ includes it.
 * Invariants: weight and bias are non-NULL exactly when cfg.affine; slots[0..num_slots) each
 * own C floats of mean and of var and a count >= 0; num_slots only grows (slots are never
 * removed, so a pending update's slot exists when it is applied). */
#ifndef HBN_LAYER_INTERNAL_H
#define HBN_LAYER_INTERNAL_H

#include <stdint.h>

#include "core/config.h"
#include "core/layer.h"
#include "core/status.h"

/* One statistics slot: running_mean, running_var and num_batches_tracked. */
typedef struct hbn_slot {
    float *mean;   /* [C] */
    float *var;    /* [C] */
    int64_t count; /* num_batches_tracked, >= 0 */
} hbn_slot;

struct hbn_layer {
    char *name;        /* NUL-terminated copy */
    hbn_config cfg;    /* validated at creation, never changes */
    hbn_mode mode;
    float *weight;     /* [C] when cfg.affine, else NULL */
    float *bias;       /* [C] when cfg.affine, else NULL */
    hbn_slot *slots;   /* [slot_cap], the first num_slots in use */
    int64_t num_slots; /* T */
    int64_t slot_cap;
};

/* HBN_E_SHAPE_MISMATCH naming WHAT unless LEN equals the layer's C. */
hbn_status hbn_layer_check_length(const hbn_layer *layer, const char *what, int64_t len,
                                  hbn_err *err);

/* HBN_E_NON_FINITE naming WHAT and the index unless the LEN values of V are all finite. */
hbn_status hbn_layer_check_finite(const char *what, const float *v, int64_t len, hbn_err *err);

/* HBN_E_INVALID_VALUE naming WHAT and the index unless the LEN values of V are all >= 0. */
hbn_status hbn_layer_check_nonnegative(const char *what, const float *v, int64_t len,
                                       hbn_err *err);

/* COUNT + 1, saturating at INT64_MAX (a count cannot fail to increment). */
int64_t hbn_layer_count_next(int64_t count);

#endif
