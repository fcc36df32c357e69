/* layer.c: a layer's state (SEMANTICS 1, 2, 6): creation, copies, mode, statistics slots,
 * weights. Knows nothing of JSON, HTTP or locking: the caller holds the per-layer lock that
 * layer.h's thread-safety contract describes. Every writer validates everything before it
 * changes anything, so a failed call leaves the layer exactly as it was. */
#include "core/layer.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/layer_internal.h"

/* ---- helpers shared with forward.c ------------------------------------------------------- */

hbn_status hbn_layer_check_length(const hbn_layer *layer, const char *what, int64_t len,
                                  hbn_err *err)
{
    if (len != layer->cfg.num_features)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH, "%s has %" PRId64 " channels, layer %s has %"
                           PRId64, what, len, layer->name, layer->cfg.num_features);
    return HBN_OK;
}

hbn_status hbn_layer_check_finite(const char *what, const float *v, int64_t len, hbn_err *err)
{
    for (int64_t i = 0; i < len; i++)
        if (!isfinite(v[i]))
            return hbn_err_set(err, HBN_E_NON_FINITE,
                               "%s[%" PRId64 "] is not a finite number", what, i);
    return HBN_OK;
}

hbn_status hbn_layer_check_nonnegative(const char *what, const float *v, int64_t len,
                                       hbn_err *err)
{
    for (int64_t i = 0; i < len; i++)
        if (v[i] < 0.0f)
            return hbn_err_set(err, HBN_E_INVALID_VALUE, "%s[%" PRId64 "] must be >= 0, got %g",
                               what, i, (double)v[i]);
    return HBN_OK;
}

int64_t hbn_layer_count_next(int64_t count)
{
    return count < INT64_MAX ? count + 1 : INT64_MAX;
}

/* ---- creation ----------------------------------------------------------------------------- */

static void slot_clear(hbn_slot *slot)
{
    hbn_free(slot->mean);
    hbn_free(slot->var);
    slot->mean = NULL;
    slot->var = NULL;
}

/* Fills SLOT with NEW arrays of C floats at mean 0 / var 1, count 0. False when out of memory
 * (SLOT then holds nothing). */
static bool slot_init(hbn_slot *slot, int64_t c)
{
    slot->mean = hbn_calloc((size_t)c, sizeof *slot->mean);
    slot->var = hbn_malloc((size_t)c * sizeof *slot->var);
    slot->count = 0;
    if (slot->mean == NULL || slot->var == NULL) {
        slot_clear(slot);
        return false;
    }
    for (int64_t i = 0; i < c; i++)
        slot->var[i] = 1.0f;
    return true;
}

/* A NEW layer in train mode with a copy of NAME and CFG, weight and bias arrays (values unset)
 * when affine, and room for SLOTS slots of which none is in use yet. NULL when out of memory. */
static hbn_layer *layer_alloc(const char *name, const hbn_config *cfg, int64_t slots)
{
    hbn_layer *layer = hbn_calloc(1, sizeof *layer);
    size_t c = (size_t)cfg->num_features;

    if (layer == NULL)
        return NULL;
    layer->cfg = *cfg;
    layer->mode = HBN_MODE_TRAIN;
    layer->name = hbn_malloc(strlen(name) + 1);
    if (layer->name == NULL)
        goto fail;
    memcpy(layer->name, name, strlen(name) + 1);
    if (cfg->affine) {
        layer->weight = hbn_malloc(c * sizeof *layer->weight);
        layer->bias = hbn_malloc(c * sizeof *layer->bias);
        if (layer->weight == NULL || layer->bias == NULL)
            goto fail;
    }
    if (slots > 0) {
        layer->slots = hbn_calloc((size_t)slots, sizeof *layer->slots);
        if (layer->slots == NULL)
            goto fail;
        layer->slot_cap = slots;
    }
    return layer;
fail:
    hbn_layer_free(layer);
    return NULL;
}

hbn_status hbn_layer_create(const char *name, const hbn_config *cfg, hbn_layer **out,
                            hbn_err *err)
{
    hbn_status st = hbn_config_validate(cfg, err);
    int64_t slots = hbn_config_initial_slots(cfg);
    hbn_layer *layer;

    if (st != HBN_OK)
        return st;
    if (name == NULL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "a layer needs a name");
    layer = layer_alloc(name, cfg, slots);
    if (layer == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating layer %s", name);
    if (cfg->affine)
        for (int64_t i = 0; i < cfg->num_features; i++) {
            layer->weight[i] = 1.0f;
            layer->bias[i] = 0.0f;
        }
    for (; layer->num_slots < slots; layer->num_slots++)
        if (!slot_init(&layer->slots[layer->num_slots], cfg->num_features)) {
            hbn_layer_free(layer);
            return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating layer %s", name);
        }
    *out = layer;
    return HBN_OK;
}

void hbn_layer_free(hbn_layer *layer)
{
    if (layer == NULL)
        return;
    for (int64_t i = 0; i < layer->num_slots; i++)
        slot_clear(&layer->slots[i]);
    hbn_free(layer->slots);
    hbn_free(layer->weight);
    hbn_free(layer->bias);
    hbn_free(layer->name);
    hbn_free(layer);
}

/* A NEW copy of N floats of SRC, or NULL when out of memory. */
static float *floats_dup(const float *src, int64_t n)
{
    float *dst = hbn_malloc((size_t)n * sizeof *dst);

    if (dst != NULL)
        memcpy(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

hbn_status hbn_layer_clone(const hbn_layer *src, hbn_layer **out, hbn_err *err)
{
    int64_t c = src->cfg.num_features;
    hbn_layer *layer = layer_alloc(src->name, &src->cfg, src->num_slots);

    if (layer == NULL)
        goto fail;
    layer->mode = src->mode;
    if (src->cfg.affine) {
        memcpy(layer->weight, src->weight, (size_t)c * sizeof *layer->weight);
        memcpy(layer->bias, src->bias, (size_t)c * sizeof *layer->bias);
    }
    for (; layer->num_slots < src->num_slots; layer->num_slots++) {
        hbn_slot *dst = &layer->slots[layer->num_slots];
        const hbn_slot *from = &src->slots[layer->num_slots];

        dst->mean = floats_dup(from->mean, c);
        dst->var = floats_dup(from->var, c);
        dst->count = from->count;
        if (dst->mean == NULL || dst->var == NULL) {
            slot_clear(dst);
            goto fail;
        }
    }
    *out = layer;
    return HBN_OK;
fail:
    hbn_layer_free(layer);
    return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory cloning layer %s", src->name);
}

/* ---- getters and mode --------------------------------------------------------------------- */

const char *hbn_layer_name(const hbn_layer *layer)
{
    return layer->name;
}

const hbn_config *hbn_layer_config(const hbn_layer *layer)
{
    return &layer->cfg;
}

int64_t hbn_layer_num_features(const hbn_layer *layer)
{
    return layer->cfg.num_features;
}

hbn_mode hbn_layer_mode(const hbn_layer *layer)
{
    return layer->mode;
}

void hbn_layer_set_mode(hbn_layer *layer, hbn_mode mode)
{
    assert(mode == HBN_MODE_TRAIN || mode == HBN_MODE_EVAL);
    layer->mode = mode;
}

const char *hbn_mode_name(hbn_mode mode)
{
    switch (mode) {
    case HBN_MODE_TRAIN:
        return "train";
    case HBN_MODE_EVAL:
        return "eval";
    }
    return "invalid";
}

hbn_status hbn_mode_parse(const char *s, hbn_mode *out)
{
    if (s != NULL && strcmp(s, "train") == 0)
        *out = HBN_MODE_TRAIN;
    else if (s != NULL && strcmp(s, "eval") == 0)
        *out = HBN_MODE_EVAL;
    else
        return HBN_E_INVALID_ARGUMENT;
    return HBN_OK;
}

int64_t hbn_layer_num_stats(const hbn_layer *layer)
{
    return layer->num_slots;
}

int hbn_layer_param_shape_count(const hbn_layer *layer)
{
    return layer->cfg.learnable_stats ? 4 : 2;
}

bool hbn_layer_has_hyper_shapes(const hbn_layer *layer)
{
    return !layer->cfg.affine;
}

/* ---- statistics slots --------------------------------------------------------------------- */

hbn_status hbn_layer_checkpoint(hbn_layer *layer, int64_t *new_id, hbn_err *err)
{
    hbn_slot slot;

    if (!layer->cfg.track_running_stats)
        return hbn_err_set(err, HBN_E_NOT_TRACKING,
                           "layer %s does not track running statistics, it has no checkpoints",
                           layer->name);
    if (!slot_init(&slot, layer->cfg.num_features))
        goto fail;
    if (layer->num_slots == layer->slot_cap) {
        int64_t cap = layer->slot_cap < 4 ? 4 : layer->slot_cap * 2;
        hbn_slot *grown = NULL;

        if ((uint64_t)cap <= SIZE_MAX / sizeof *grown)
            grown = hbn_realloc(layer->slots, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            slot_clear(&slot);
            goto fail;
        }
        layer->slots = grown;
        layer->slot_cap = cap;
    }
    layer->slots[layer->num_slots] = slot;
    *new_id = layer->num_slots++;
    return HBN_OK;
fail:
    return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory adding a checkpoint to layer %s",
                       layer->name);
}

/* HBN_E_STATS_NOT_FOUND unless ID names one of LAYER's slots. */
static hbn_status check_slot_id(const hbn_layer *layer, int64_t id, hbn_err *err)
{
    if (layer->num_slots == 0)
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND, "layer %s has no statistics slots",
                           layer->name);
    if (id < 0 || id >= layer->num_slots)
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND,
                           "layer %s has no statistics slot %" PRId64 " (it has %" PRId64 ")",
                           layer->name, id, layer->num_slots);
    return HBN_OK;
}

hbn_status hbn_layer_get_stats(const hbn_layer *layer, int64_t id, float *mean, float *var,
                               int64_t *count, int64_t *id_out, hbn_err *err)
{
    size_t bytes = (size_t)layer->cfg.num_features * sizeof(float);
    hbn_status st;
    const hbn_slot *slot;

    if (id < 0)
        id = layer->num_slots - 1;
    st = check_slot_id(layer, id, err);
    if (st != HBN_OK)
        return st;
    slot = &layer->slots[id];
    if (mean != NULL)
        memcpy(mean, slot->mean, bytes);
    if (var != NULL)
        memcpy(var, slot->var, bytes);
    if (count != NULL)
        *count = slot->count;
    if (id_out != NULL)
        *id_out = id;
    return HBN_OK;
}

hbn_status hbn_layer_set_stats(hbn_layer *layer, int64_t id, const float *mean, int64_t mean_len,
                               const float *var, int64_t var_len, const int64_t *count,
                               hbn_err *err)
{
    int64_t c = layer->cfg.num_features;
    hbn_status st;

    if (layer->cfg.frozen_stats)
        return hbn_err_set(err, HBN_E_FROZEN_STATS,
                           "layer %s has frozen statistics, they cannot be written", layer->name);
    if ((st = check_slot_id(layer, id, err)) != HBN_OK ||
        (st = hbn_layer_check_length(layer, "running_mean", mean ? mean_len : 0, err)) != HBN_OK ||
        (st = hbn_layer_check_length(layer, "running_var", var ? var_len : 0, err)) != HBN_OK ||
        (st = hbn_layer_check_finite("running_mean", mean, c, err)) != HBN_OK ||
        (st = hbn_layer_check_finite("running_var", var, c, err)) != HBN_OK ||
        (st = hbn_layer_check_nonnegative("running_var", var, c, err)) != HBN_OK)
        return st;
    if (count != NULL && *count < 0)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "num_batches_tracked must be >= 0, got %" PRId64, *count);
    memcpy(layer->slots[id].mean, mean, (size_t)c * sizeof *mean);
    memcpy(layer->slots[id].var, var, (size_t)c * sizeof *var);
    if (count != NULL)
        layer->slots[id].count = *count;
    return HBN_OK;
}

/* ---- weights ------------------------------------------------------------------------------ */

hbn_status hbn_layer_get_weights(const hbn_layer *layer, float *weight, float *bias,
                                 hbn_err *err)
{
    size_t bytes = (size_t)layer->cfg.num_features * sizeof(float);

    if (!layer->cfg.affine)
        return hbn_err_set(err, HBN_E_NOT_AFFINE, "layer %s is not affine, it has no weights",
                           layer->name);
    if (weight != NULL)
        memcpy(weight, layer->weight, bytes);
    if (bias != NULL)
        memcpy(bias, layer->bias, bytes);
    return HBN_OK;
}

hbn_status hbn_layer_set_weights(hbn_layer *layer, const float *weight, int64_t weight_len,
                                 const float *bias, int64_t bias_len, hbn_err *err)
{
    int64_t c = layer->cfg.num_features;
    hbn_status st;

    if (!layer->cfg.affine)
        return hbn_err_set(err, HBN_E_NOT_AFFINE, "layer %s is not affine, it has no weights",
                           layer->name);
    if ((st = hbn_layer_check_length(layer, "weight", weight ? weight_len : 0, err)) != HBN_OK ||
        (st = hbn_layer_check_length(layer, "bias", bias ? bias_len : 0, err)) != HBN_OK ||
        (st = hbn_layer_check_finite("weight", weight, c, err)) != HBN_OK ||
        (st = hbn_layer_check_finite("bias", bias, c, err)) != HBN_OK)
        return st;
    memcpy(layer->weight, weight, (size_t)c * sizeof *weight);
    memcpy(layer->bias, bias, (size_t)c * sizeof *bias);
    return HBN_OK;
}
