/* registry.h: the daemon's named layers: a hash map from name to entry, each entry with a
 * reader-writer lock and a reference count, implementing api/store.h's hbn_store. Creates and
 * deletes may run while other requests use a layer: a deleted entry lives until its last
 * reference is released. Lock order: registry mutex, then an entry lock; never the reverse. */
#ifndef HBN_REGISTRY_H
#define HBN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "api/store.h"
#include "core/status.h"

typedef struct hbn_registry hbn_registry;

typedef struct hbn_registry_options {
    int64_t max_layers; /* creates beyond -> HBN_E_QUOTA_EXCEEDED; 0 means no limit */
    int64_t max_slots;  /* statistics slots per layer (checkpoint quota); 0 means no limit */
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

#endif
