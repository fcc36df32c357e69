/* store.h: the layer store as api/ sees it: an interface the daemon implements (server/registry.c
 * with its locks, reference counts and persistence) and api/ calls. api/ never locks anything; the
 * store guarantees the locking described in core/layer.h:
 *   read:   FN runs under the layer's shared lock (forward, getters);
 *   modify: FN runs on a private copy under the layer's exclusive lock; on HBN_OK the store makes
 *           the copy durable (when it persists) and swaps it in, otherwise nothing changes;
 *   apply:  folds a pending train update into the layer's current slot under the exclusive lock.
 * Every call returns HBN_E_LAYER_NOT_FOUND (message naming the layer) for an unknown name. */
#ifndef HBN_STORE_H
#define HBN_STORE_H

#include <stddef.h>

#include "core/layer.h"
#include "core/status.h"

typedef hbn_status (*hbn_store_read_fn)(const hbn_layer *layer, void *arg, hbn_err *err);
typedef hbn_status (*hbn_store_modify_fn)(hbn_layer *layer, void *arg, hbn_err *err);

typedef struct hbn_store_ops {
    /* Adds LAYER under its name. TAKES LAYER on HBN_OK only. HBN_E_LAYER_EXISTS,
     * HBN_E_QUOTA_EXCEEDED (over the layer limit), storage errors. */
    hbn_status (*create)(void *ctx, hbn_layer *layer, hbn_err *err);
    /* Adds or replaces LAYER under its name (state import). TAKES LAYER on HBN_OK; *REPLACED says
     * whether a layer of that name existed. */
    hbn_status (*put)(void *ctx, hbn_layer *layer, int *replaced, hbn_err *err);
    /* Removes NAME; requests already using it finish on their own reference. */
    hbn_status (*remove)(void *ctx, const char *name, hbn_err *err);
    /* Calls FN(layer, ARG, err) under NAME's shared lock and returns FN's status. */
    hbn_status (*read)(void *ctx, const char *name, hbn_store_read_fn fn, void *arg, hbn_err *err);
    /* Calls FN on a copy of NAME's layer under the exclusive lock; on HBN_OK the copy replaces the
     * layer (durably first, when the store persists). Returns FN's or the store's status. */
    hbn_status (*modify)(void *ctx, const char *name, hbn_store_modify_fn fn, void *arg,
                         hbn_err *err);
    /* Applies UPDATE (from a forward that ran under read) to NAME's current layer, when it still
     * has that slot and channel count; a layer deleted meanwhile is HBN_E_LAYER_NOT_FOUND. */
    hbn_status (*apply)(void *ctx, const char *name, const hbn_update *update, hbn_err *err);
    /* Calls FN for every layer in name order, each under its shared lock; stops at the first
     * status other than HBN_OK and returns it. */
    hbn_status (*list)(void *ctx, hbn_store_read_fn fn, void *arg, hbn_err *err);
} hbn_store_ops;

typedef struct hbn_store {
    const hbn_store_ops *ops; /* BORROWED */
    void *ctx;                /* BORROWED: the implementation's state */
    int64_t max_slots;        /* slots per layer; checkpoints beyond -> HBN_E_QUOTA_EXCEEDED (0: none) */
} hbn_store;

#endif
