/* registry.h: the daemon's named layers: a hash map from name to entry, each entry with a
 * reader-writer lock and a reference count, implementing api/store.h's hbn_store. Creates and
 * deletes may run while other requests use a layer: a deleted entry lives until its last
 * reference is released. A persisting registry writes every change before it becomes visible.
 * Lock order: a name's persistence lock first; then the registry mutex or an entry lock, never
 * one while waiting for the other. */
#ifndef HBN_REGISTRY_H
#define HBN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/store.h"
#include "core/status.h"

typedef struct hbn_registry hbn_registry;

/* Where a persisting registry makes layers durable (server/storage.c fills one); all NULL: the
 * registry keeps layers in memory only. Every function is called with no registry lock a
 * caller could need, and returns HBN_OK or a storage status (HBN_E_IO,
 * HBN_E_INSUFFICIENT_STORAGE, HBN_E_UNAVAILABLE); on failure the registry changes nothing. */
typedef struct hbn_registry_persist {
    /* Writes LAYER (BORROWED, read only) durably as its name's current state. */
    hbn_status (*write)(void *ctx, const hbn_layer *layer, hbn_err *err);
    /* Removes NAME's durable state (absent already is HBN_OK). */
    hbn_status (*remove)(void *ctx, const char *name, hbn_err *err);
    void *ctx;
    /* true: a train update is written before apply returns (--flush-interval 0); false: apply
     * only marks the layer dirty and hbn_registry_flush writes it later. */
    bool sync_updates;
} hbn_registry_persist;

typedef struct hbn_registry_options {
    int64_t max_layers; /* creates beyond -> HBN_E_QUOTA_EXCEEDED; 0 means no limit */
    int64_t max_slots;  /* statistics slots per layer (checkpoint quota); 0 means no limit */
    hbn_registry_persist persist; /* zeroed: memory only */
} hbn_registry_options;

/* Creates an empty registry in *OUT (NEW, free with hbn_registry_free). HBN_E_NO_MEMORY. */
hbn_status hbn_registry_create(const hbn_registry_options *opts, hbn_registry **out,
                               hbn_err *err);

/* Frees the registry and every layer in it. No request may be using it. Accepts NULL. */
void hbn_registry_free(hbn_registry *reg);

/* Fills *STORE with this registry's implementation of api/store.h (STORE borrows REG). */
void hbn_registry_store(hbn_registry *reg, hbn_store *store);

/* Number of layers now (for metrics). */
size_t hbn_registry_count(hbn_registry *reg);

/* Links LAYER (TAKES on HBN_OK) without writing it anywhere: a layer loaded from storage at
 * start-up. No quota applies. HBN_E_LAYER_EXISTS, HBN_E_NO_MEMORY. */
hbn_status hbn_registry_adopt(hbn_registry *reg, hbn_layer *layer, hbn_err *err);

/* Writes every layer whose train updates are not yet durable (persisting registries with
 * sync_updates false; otherwise nothing is ever dirty). Each layer is copied under its shared
 * lock and written outside it, so forwards go on meanwhile. A layer that fails stays dirty for
 * the next call. *WRITTEN (may be NULL) receives the number of layers written; returns HBN_OK or
 * the first failure (with its sentence in ERR), after trying every dirty layer. */
hbn_status hbn_registry_flush(hbn_registry *reg, size_t *written, hbn_err *err);

#endif
