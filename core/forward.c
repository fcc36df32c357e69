/* forward.c: one forward call (SEMANTICS 3-6) and the train-mode update it leaves pending.
 * hbn_layer_forward only reads the layer (shared lock) and hands the batch statistics back in a
 * pending update; hbn_layer_apply_update folds them into the slot's current values (exclusive
 * lock). The numeric work is kernels.c's. Rules are checked in SEMANTICS 3's order; the inputs'
 * finiteness is reported by the kernels as they compute, so a call that succeeds reads its data
 * in one sweep. Finite inputs can still overflow float32 (SEMANTICS 5: no non-finite number
 * leaves or enters a layer): the kernels report non-finite outputs, and a train call checks the
 * statistics it would fold in. A failed call changes no state and leaves nothing to apply. */
#include "core/layer.h"

#include <assert.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kernels.h"
#include "core/layer_internal.h"

/* A bound on doubles that round to finite float32 values, with room to spare: FLT_MAX plus a
 * quarter of its last place (half a place would round to infinity), so that a blend of such
 * values computed in double, whose rounding errors are far smaller, rounds to a finite float32
 * too. */
#define HBN_FLOAT_LIMIT ((double)FLT_MAX + 0x1p102)

/* Which statistics a call normalizes with, or updates (SEMANTICS 3's table). */
typedef enum stats_source {
    SRC_GIVEN,  /* the request's running_mean / running_var */
    SRC_SLOT,   /* a slot of a tracking or learnable layer */
    SRC_FROZEN, /* mean 0 / var 1 */
    SRC_NONE    /* a non-tracking layer: batch statistics only */
} stats_source;

/* What one call will do, decided before any data is read. */
typedef struct fwd_plan {
    hbn_mode mode;
    stats_source source;
    bool batch;          /* normalize with batch statistics */
    int64_t slot;        /* SRC_SLOT: the slot read (eval) or updated (train) */
    const float *weight; /* gain used; NULL means 1 */
    const float *bias;   /* shift used; NULL means 0 */
    int64_t n, c, s;     /* the (N, C, S) view of the inputs */
    int64_t numel;
} fwd_plan;

void hbn_forward_args_init(hbn_forward_args *args)
{
    memset(args, 0, sizeof *args);
    args->mode = HBN_MODE_TRAIN;
}

void hbn_forward_result_init(hbn_forward_result *res)
{
    memset(res, 0, sizeof *res);
    res->mode = HBN_MODE_TRAIN;
}

void hbn_forward_result_clear(hbn_forward_result *res)
{
    hbn_free(res->running_mean);
    hbn_free(res->running_var);
    hbn_free(res->update.batch_mean);
    hbn_free(res->update.batch_var);
    hbn_forward_result_init(res);
}

hbn_status hbn_shape_numel(int rank, const int64_t *shape, int64_t *numel, hbn_err *err)
{
    const uint64_t by_size = SIZE_MAX / sizeof(float);
    const int64_t limit = by_size < (uint64_t)INT64_MAX ? (int64_t)by_size : INT64_MAX;
    int64_t product = 1;
    bool empty = false;

    if (rank < 0)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "a shape cannot have rank %d", rank);
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                               "dimension %d of the shape is negative (%" PRId64 ")", i,
                               shape[i]);
        empty = empty || shape[i] == 0;
    }
    for (int i = 0; i < rank && !empty; i++) {
        if (shape[i] > limit / product)
            return hbn_err_set(err, HBN_E_PAYLOAD_TOO_LARGE,
                               "a tensor of this shape would have more than %" PRId64 " values",
                               limit);
        product *= shape[i];
    }
    *numel = empty ? 0 : product;
    return HBN_OK;
}

/* Rule 1: the call's structure. */
static hbn_status check_structure(const hbn_forward_args *args, hbn_err *err)
{
    if (args->has_mode && args->mode != HBN_MODE_TRAIN && args->mode != HBN_MODE_EVAL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "mode must be train or eval");
    if ((args->running_mean == NULL) != (args->running_var == NULL))
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "running_mean and running_var must be given together or not at all");
    if (args->has_num_batches_tracked && args->running_mean == NULL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "num_batches_tracked is only accepted with running_mean and "
                           "running_var");
    return HBN_OK;
}

/* Rule 2: rank, dimensions, and C of inputs, weight, bias and given statistics. Fills the
 * (N, C, S) view of PLAN. */
static hbn_status plan_shapes(const hbn_layer *layer, const hbn_forward_args *args,
                              const float *outputs, fwd_plan *plan, hbn_err *err)
{
    hbn_status st;

    if (args->rank < HBN_MIN_RANK || args->rank > HBN_MAX_RANK)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "inputs must have rank %d to %d (N, C, *), got rank %d", HBN_MIN_RANK,
                           HBN_MAX_RANK, args->rank);
    if ((st = hbn_shape_numel(args->rank, args->shape, &plan->numel, err)) != HBN_OK)
        return st;
    if ((st = hbn_layer_check_length(layer, "inputs", args->shape[1], err)) != HBN_OK ||
        (args->weight != NULL &&
         (st = hbn_layer_check_length(layer, "weight", args->weight_len, err)) != HBN_OK) ||
        (args->bias != NULL &&
         (st = hbn_layer_check_length(layer, "bias", args->bias_len, err)) != HBN_OK) ||
        (args->running_mean != NULL &&
         (st = hbn_layer_check_length(layer, "running_mean", args->running_mean_len, err)) !=
             HBN_OK) ||
        (args->running_var != NULL &&
         (st = hbn_layer_check_length(layer, "running_var", args->running_var_len, err)) !=
             HBN_OK))
        return st;
    if (plan->numel > 0 && (args->inputs == NULL || outputs == NULL))
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "inputs and outputs are required");
    plan->n = args->shape[0];
    plan->c = args->shape[1];
    /* values per sample and channel; formed from NUMEL, not as a product of the dimensions:
     * after a zero dimension the others may be huge (0 x 5555 x 5e15 is a valid empty shape)
     * and their product would overflow */
    plan->s = plan->numel > 0 ? plan->numel / (plan->n * plan->c) : 0;
    return HBN_OK;
}

/* Rule 3 and the choice of statistics, weight and bias; records the mode, the slot used and the
 * stats_id warning in RES. */
static hbn_status plan_stats(const hbn_layer *layer, const hbn_forward_args *args,
                             fwd_plan *plan, hbn_forward_result *res, hbn_err *err)
{
    const hbn_config *cfg = &layer->cfg;
    bool train;

    plan->mode = args->has_mode ? args->mode : layer->mode;
    train = plan->mode == HBN_MODE_TRAIN;
    plan->weight = args->weight != NULL ? args->weight : layer->weight;
    plan->bias = args->bias != NULL ? args->bias : layer->bias;
    plan->slot = 0;
    res->mode = plan->mode;
    if (args->running_mean != NULL) {
        plan->source = SRC_GIVEN;
        plan->batch = train;
        res->stats_id_ignored_warning = args->has_stats_id;
    } else if (cfg->track_running_stats || cfg->learnable_stats) {
        if (!args->has_stats_id && layer->num_slots > 1)
            return hbn_err_set(err, HBN_E_STATS_ID_REQUIRED,
                               "stats_id is required when the layer has several statistics "
                               "slots (layer %s has %" PRId64 ")", layer->name, layer->num_slots);
        if (args->has_stats_id && (args->stats_id < 0 || args->stats_id >= layer->num_slots))
            return hbn_err_set(err, HBN_E_STATS_ID_OUT_OF_RANGE,
                               "stats_id must be in [0, %" PRId64 "] for layer %s, got %" PRId64,
                               layer->num_slots - 1, layer->name, args->stats_id);
        plan->source = SRC_SLOT;
        plan->slot = args->has_stats_id ? args->stats_id : 0;
        plan->batch = train;
    } else {
        plan->source = cfg->frozen_stats ? SRC_FROZEN : SRC_NONE;
        plan->batch = !cfg->frozen_stats;
    }
    res->has_stats_id = plan->source == SRC_SLOT || plan->source == SRC_FROZEN;
    res->stats_id = plan->slot;
    return HBN_OK;
}

/* Rule 4 for everything but the inputs (whose finiteness the kernels report): finite weight,
 * bias and given statistics, given variances >= 0, a given count >= 0. */
static hbn_status check_values(const hbn_forward_args *args, int64_t c, hbn_err *err)
{
    hbn_status st;

    if ((args->weight != NULL &&
         (st = hbn_layer_check_finite("weight", args->weight, c, err)) != HBN_OK) ||
        (args->bias != NULL &&
         (st = hbn_layer_check_finite("bias", args->bias, c, err)) != HBN_OK) ||
        (args->running_mean != NULL &&
         (st = hbn_layer_check_finite("running_mean", args->running_mean, c, err)) != HBN_OK) ||
        (args->running_var != NULL &&
         (st = hbn_layer_check_finite("running_var", args->running_var, c, err)) != HBN_OK) ||
        (args->running_var != NULL &&
         (st = hbn_layer_check_nonnegative("running_var", args->running_var, c, err)) != HBN_OK))
        return st;
    if (args->has_num_batches_tracked && args->num_batches_tracked < 0)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "num_batches_tracked must be >= 0, got %" PRId64,
                           args->num_batches_tracked);
    return HBN_OK;
}

static hbn_status inputs_non_finite(hbn_err *err)
{
    return hbn_err_set(err, HBN_E_NON_FINITE, "inputs contains a value that is not finite");
}

/* Rules 4 (values) and 5 (batch size). Only a call that fails here reads the inputs an extra
 * time, so that non-finite inputs outrank the rules after them. */
static hbn_status check_values_and_batch(const hbn_forward_args *args, const fwd_plan *plan,
                                         hbn_err *err)
{
    hbn_status st = check_values(args, plan->c, err);

    if (st == HBN_OK && plan->batch && plan->n * plan->s == 1)
        st = hbn_err_set(err, HBN_E_BATCH_TOO_SMALL,
                         "Expected more than 1 value per channel when training");
    if (st == HBN_OK || st == HBN_E_NON_FINITE)
        return st;
    for (int64_t i = 0; i < plan->numel; i++)
        if (!isfinite(args->inputs[i]))
            return inputs_non_finite(err);
    return st;
}

/* HBN_E_NON_FINITE for the first output that is not finite among the NUMEL at OUTPUTS (the
 * kernel found one, on finite inputs: float32 overflowed), naming its channel and what that
 * channel was normalized with (MEAN, VAR, the plan's weight and bias). */
static hbn_status outputs_overflow(const hbn_layer *layer, const fwd_plan *plan,
                                   const float *outputs, const double *mean, const double *var,
                                   hbn_err *err)
{
    int64_t at = 0;
    int64_t j;

    while (at < plan->numel - 1 && isfinite(outputs[at]))
        at++;
    j = (at / plan->s) % plan->c;
    return hbn_err_set(err, HBN_E_NON_FINITE,
                       "outputs overflow float32 in channel %" PRId64 " of layer %s (weight %g, "
                       "bias %g, mean %g, variance %g)",
                       j, layer->name, plan->weight != NULL ? (double)plan->weight[j] : 1.0,
                       plan->bias != NULL ? (double)plan->bias[j] : 0.0, mean[j], var[j]);
}

/* True when the call folds its batch statistics into statistics: a slot's or the given ones. */
static bool plan_updates(const fwd_plan *plan)
{
    return plan->batch && plan->mode == HBN_MODE_TRAIN &&
           (plan->source == SRC_GIVEN || plan->source == SRC_SLOT);
}

/* HBN_E_NON_FINITE unless folding the batch statistics of M values per channel (biased
 * variances S2[C]) into any finite float32 statistics gives finite float32 values. The update
 * (1-f) old + f new is convex for a factor f in (0, 1] (every momentum but 0, and null), so it
 * suffices that S2 m/(m-1) rounds to a float32 (a batch mean of float32 values always does);
 * with momentum 0 nothing is folded in. Independent of the slot's values on purpose: the update
 * is applied later (hbn_layer_apply_update cannot fail), maybe after other updates or a write of
 * the slot, and must stay finite then too. */
static hbn_status update_fits(const hbn_layer *layer, const fwd_plan *plan, const double *s2,
                              hbn_err *err)
{
    const int64_t m = plan->n * plan->s;
    const double unbias = (double)m / (double)(m - 1);

    if (layer->cfg.has_momentum && !(layer->cfg.momentum > 0.0))
        return HBN_OK;
    for (int64_t j = 0; j < plan->c; j++) {
        const double v = s2[j] * unbias;

        if (v <= HBN_FLOAT_LIMIT)
            continue;
        if (plan->source == SRC_GIVEN)
            return hbn_err_set(err, HBN_E_NON_FINITE,
                               "the updated running_var would overflow float32 in channel "
                               "%" PRId64 " (unbiased batch variance %g)",
                               j, v);
        return hbn_err_set(err, HBN_E_NON_FINITE,
                           "the update of statistics slot %" PRId64 " of layer %s would "
                           "overflow float32 in channel %" PRId64 " (unbiased batch variance "
                           "%g)",
                           plan->slot, layer->name, j, v);
    }
    return HBN_OK;
}

/* The update factor after a slot's count became COUNT: momentum, or 1 / COUNT when null. */
static double update_factor(const hbn_config *cfg, int64_t count)
{
    return cfg->has_momentum ? cfg->momentum : 1.0 / (double)count;
}

/* MEAN_OUT <- (1-F) MEAN + F MU, VAR_OUT <- (1-F) VAR + F S2 M/(M-1) over C channels, in double;
 * the outputs may be the inputs. */
static void blend_stats(const float *mean, const float *var, const double *mu, const double *s2,
                        int64_t c, int64_t m, double f, float *mean_out, float *var_out)
{
    double unbias = (double)m / (double)(m - 1);

    for (int64_t i = 0; i < c; i++) {
        mean_out[i] = (float)((1.0 - f) * (double)mean[i] + f * mu[i]);
        var_out[i] = (float)((1.0 - f) * (double)var[i] + f * s2[i] * unbias);
    }
}

/* Train mode with given statistics: NEW copies of them in RES, updated with the batch
 * statistics MU, S2 of M values per channel unless MU is NULL (an empty batch). */
static hbn_status return_given(const hbn_layer *layer, const hbn_forward_args *args,
                               const fwd_plan *plan, const double *mu, const double *s2,
                               hbn_forward_result *res, hbn_err *err)
{
    size_t bytes = (size_t)plan->c * sizeof(float);
    int64_t count = args->has_num_batches_tracked ? args->num_batches_tracked : 0;

    res->running_mean = hbn_malloc(bytes);
    res->running_var = hbn_malloc(bytes);
    if (res->running_mean == NULL || res->running_var == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory returning statistics");
    memcpy(res->running_mean, args->running_mean, bytes);
    memcpy(res->running_var, args->running_var, bytes);
    if (mu != NULL) {
        count = hbn_layer_count_next(count);
        blend_stats(res->running_mean, res->running_var, mu, s2, plan->c, plan->n * plan->s,
                    update_factor(&layer->cfg, count), res->running_mean, res->running_var);
    }
    res->stats_returned = true;
    res->num_batches_tracked = count;
    return HBN_OK;
}

/* The fixed statistics a call normalizes with (given, a slot's, or frozen 0 / 1) into MEAN[C],
 * VAR[C]. */
static void fixed_stats(const hbn_layer *layer, const hbn_forward_args *args,
                        const fwd_plan *plan, double *mean, double *var)
{
    const float *m = NULL, *v = NULL;

    if (plan->source == SRC_GIVEN) {
        m = args->running_mean;
        v = args->running_var;
    } else if (plan->source == SRC_SLOT) {
        m = layer->slots[plan->slot].mean;
        v = layer->slots[plan->slot].var;
    }
    for (int64_t i = 0; i < plan->c; i++) {
        mean[i] = m != NULL ? (double)m[i] : 0.0;
        var[i] = v != NULL ? (double)v[i] : 1.0;
    }
}

/* Normalizes a non-empty batch and records what the call updates; rules 1-5 have passed. */
static hbn_status run(const hbn_layer *layer, const hbn_forward_args *args,
                      const fwd_plan *plan, float *outputs, hbn_forward_result *res,
                      hbn_err *err)
{
    double eps = layer->cfg.eps;
    double *mean = hbn_malloc((size_t)plan->c * sizeof *mean);
    double *var = hbn_malloc((size_t)plan->c * sizeof *var);
    hbn_status st = HBN_OK;
    hbn_kernel_check check;

    if (mean == NULL || var == NULL) {
        st = hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory in forward of layer %s",
                         layer->name);
        goto out;
    }
    if (plan->batch) {
        check = hbn_kernel_train(args->inputs, outputs, plan->n, plan->c, plan->s, eps,
                                 plan->weight, plan->bias, mean, var);
    } else {
        fixed_stats(layer, args, plan, mean, var);
        check = hbn_kernel_normalize(args->inputs, outputs, plan->n, plan->c, plan->s, mean,
                                     var, eps, plan->weight, plan->bias);
    }
    if (check == HBN_KERNEL_INPUT_NON_FINITE)
        st = inputs_non_finite(err);
    else if (check == HBN_KERNEL_OUTPUT_NON_FINITE)
        st = outputs_overflow(layer, plan, outputs, mean, var, err);
    else if (plan_updates(plan))
        st = update_fits(layer, plan, var, err);
    if (st != HBN_OK || !plan_updates(plan))
        goto out;
    if (plan->source == SRC_GIVEN) {
        st = return_given(layer, args, plan, mean, var, res, err);
    } else {
        res->update = (hbn_update){ .pending = true, .slot = plan->slot, .channels = plan->c,
                                    .count = plan->n * plan->s, .batch_mean = mean,
                                    .batch_var = var };
        mean = NULL;
        var = NULL;
    }
out:
    hbn_free(mean);
    hbn_free(var);
    return st;
}

hbn_status hbn_layer_forward(const hbn_layer *layer, const hbn_forward_args *args,
                             float *outputs, hbn_forward_result *res, hbn_err *err)
{
    fwd_plan plan;
    hbn_status st;

    hbn_forward_result_clear(res);
    if ((st = check_structure(args, err)) != HBN_OK ||
        (st = plan_shapes(layer, args, outputs, &plan, err)) != HBN_OK ||
        (st = plan_stats(layer, args, &plan, res, err)) != HBN_OK ||
        (st = check_values_and_batch(args, &plan, err)) != HBN_OK)
        goto fail;
    if (plan.numel > 0)
        st = run(layer, args, &plan, outputs, res, err);
    else if (plan.mode == HBN_MODE_TRAIN && plan.source == SRC_GIVEN)
        st = return_given(layer, args, &plan, NULL, NULL, res, err);
    if (st != HBN_OK)
        goto fail;
    return HBN_OK;
fail:
    hbn_forward_result_clear(res);
    return st;
}

void hbn_layer_apply_update(hbn_layer *layer, const hbn_update *update)
{
    hbn_slot *slot;

    if (!update->pending)
        return;
    assert(update->slot >= 0 && update->slot < layer->num_slots);
    assert(update->channels == layer->cfg.num_features && update->count >= 2);
    slot = &layer->slots[update->slot];
    slot->count = hbn_layer_count_next(slot->count);
    blend_stats(slot->mean, slot->var, update->batch_mean, update->batch_var, update->channels,
                update->count, update_factor(&layer->cfg, slot->count), slot->mean, slot->var);
}
