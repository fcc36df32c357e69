/* registry.c: the daemon's named layers behind api/store.h. A chained hash map (power-of-two
 * buckets, FNV-1a) from name to entry; each entry owns its layer, a reader-writer lock and a
 * reference count. The map holds one reference per linked entry and every call holds one while
 * it uses the entry, so a removed or replaced entry is freed by whoever releases it last.
 * Lock order: registry mutex, then an entry lock; the mutex is never taken while waiting for an
 * entry lock, and never held while a caller's function runs. Knows nothing of HTTP or JSON. */
#include "server/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_MIN_BUCKETS 64

typedef struct registry_entry {
    char name[HBN_NAME_MAX + 1];  /* the map key; the layer carries the same name */
    hbn_layer *layer;             /* owned; swapped under the exclusive lock */
    pthread_rwlock_t lock;        /* shared: read, list; exclusive: modify, apply */
    size_t refs;                  /* guarded by the registry mutex */
    atomic_bool deleted;          /* set under the registry mutex when unlinked */
    struct registry_entry *next;  /* bucket chain, guarded by the registry mutex */
} registry_entry;

struct hbn_registry {
    pthread_mutex_t mutex; /* guards buckets, count and every entry's refs and chain link */
    registry_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;    /* linked entries */
    hbn_registry_options opts;
};

/* ---- entries ---------------------------------------------------------------------------- */

static uint64_t registry_hash(const char *name)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *name != '\0'; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ULL;
    return h;
}

/* A NEW entry owning LAYER with one reference (the map's), or NULL. Does not take LAYER on
 * failure. */
static registry_entry *registry_entry_create(hbn_layer *layer)
{
    const char *name = hbn_layer_name(layer);
    registry_entry *e;

    if (strlen(name) > HBN_NAME_MAX)
        return NULL;
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    if (pthread_rwlock_init(&e->lock, NULL) != 0) {
        free(e);
        return NULL;
    }
    strcpy(e->name, name);
    e->layer = layer;
    e->refs = 1;
    atomic_init(&e->deleted, false);
    return e;
}

static void registry_entry_free(registry_entry *e)
{
    if (e == NULL)
        return;
    hbn_layer_free(e->layer);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

/* The linked entry NAME, or NULL; *LINK receives the pointer that points at it. Mutex held. */
static registry_entry *registry_find(hbn_registry *reg, const char *name, registry_entry ***link)
{
    registry_entry **p = &reg->buckets[registry_hash(name) & (reg->nbuckets - 1)];

    for (; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->name, name) == 0)
            break;
    }
    if (link != NULL)
        *link = p;
    return *p;
}

/* Doubles the bucket array when the load passes 1; keeps the old one when out of memory (the
 * map still works, only with longer chains). Mutex held. */
static void registry_maybe_grow(hbn_registry *reg)
{
    size_t n = reg->nbuckets * 2;
    registry_entry **nb;

    if (reg->count < reg->nbuckets)
        return;
    nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return;
    for (size_t i = 0; i < reg->nbuckets; i++) {
        registry_entry *e = reg->buckets[i];

        while (e != NULL) {
            registry_entry *next = e->next;
            size_t b = registry_hash(e->name) & (n - 1);

            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(reg->buckets);
    reg->buckets = nb;
    reg->nbuckets = n;
}

/* Unlinks E (found through LINK) and drops the map's reference; returns E when that was the
 * last reference (the caller frees it outside the mutex), else NULL. Mutex held. */
static registry_entry *registry_unlink(hbn_registry *reg, registry_entry **link)
{
    registry_entry *e = *link;

    *link = e->next;
    e->next = NULL;
    reg->count--;
    atomic_store(&e->deleted, true);
    return --e->refs == 0 ? e : NULL;
}

/* Looks NAME up and takes a reference on it: the entry, or NULL with HBN_E_LAYER_NOT_FOUND. */
static registry_entry *registry_acquire(hbn_registry *reg, const char *name, hbn_err *err)
{
    registry_entry *e;

    pthread_mutex_lock(&reg->mutex);
    e = registry_find(reg, name, NULL);
    if (e != NULL)
        e->refs++;
    pthread_mutex_unlock(&reg->mutex);
    if (e == NULL)
        hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", name);
    return e;
}

/* Drops a reference taken by registry_acquire; frees an unlinked entry on its last one. */
static void registry_release(hbn_registry *reg, registry_entry *e)
{
    bool last;

    pthread_mutex_lock(&reg->mutex);
    last = --e->refs == 0;
    pthread_mutex_unlock(&reg->mutex);
    if (last)
        registry_entry_free(e);
}

/* ISSUE 4 HOOK (persistence): called with the entry's exclusive lock held (or, for a new layer,
 * before it becomes visible) with the layer that is about to become NAME's current state. A
 * persisting registry writes LAYER durably here and returns its storage status
 * (HBN_E_IO, HBN_E_INSUFFICIENT_STORAGE); on failure nothing is swapped in. Today nothing
 * persists. */
static hbn_status registry_persist_before_swap(hbn_registry *reg, const hbn_layer *layer,
                                               hbn_err *err)
{
    (void)reg;
    (void)layer;
    (void)err;
    return HBN_OK;
}

/* ---- store operations ------------------------------------------------------------------- */

/* Links a NEW entry for LAYER unless NAME exists (or, for a create, the quota is reached). On
 * HBN_OK the registry owns LAYER; *OLD receives an unlinked entry to free when REPLACE allowed
 * replacing one and that was its last reference. */
static hbn_status registry_insert(hbn_registry *reg, hbn_layer *layer, bool replace, int *replaced,
                                  registry_entry **old, hbn_err *err)
{
    registry_entry *e, *cur, **link;
    hbn_status st = registry_persist_before_swap(reg, layer, err);

    *old = NULL;
    if (st != HBN_OK)
        return st;
    e = registry_entry_create(layer);
    if (e == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory adding layer %s",
                           hbn_layer_name(layer));
    pthread_mutex_lock(&reg->mutex);
    cur = registry_find(reg, e->name, &link);
    if (cur != NULL && !replace) {
        st = hbn_err_set(err, HBN_E_LAYER_EXISTS, "layer %s already exists", e->name);
    } else if (cur == NULL && reg->opts.max_layers > 0 &&
               reg->count >= (size_t)reg->opts.max_layers) {
        st = hbn_err_set(err, HBN_E_QUOTA_EXCEEDED,
                         "cannot add layer %s: the server holds its limit of %lld layers", e->name,
                         (long long)reg->opts.max_layers);
    } else {
        if (cur != NULL)
            *old = registry_unlink(reg, link);
        if (replaced != NULL)
            *replaced = cur != NULL;
        e->next = reg->buckets[registry_hash(e->name) & (reg->nbuckets - 1)];
        reg->buckets[registry_hash(e->name) & (reg->nbuckets - 1)] = e;
        reg->count++;
        registry_maybe_grow(reg);
    }
    pthread_mutex_unlock(&reg->mutex);
    if (st != HBN_OK) {
        e->layer = NULL; /* not taken on failure */
        registry_entry_free(e);
    }
    return st;
}

static hbn_status registry_op_create(void *ctx, hbn_layer *layer, hbn_err *err)
{
    registry_entry *old;

    return registry_insert(ctx, layer, false, NULL, &old, err);
}

static hbn_status registry_op_put(void *ctx, hbn_layer *layer, int *replaced, hbn_err *err)
{
    registry_entry *old = NULL;
    hbn_status st = registry_insert(ctx, layer, true, replaced, &old, err);

    registry_entry_free(old);
    return st;
}

static hbn_status registry_op_remove(void *ctx, const char *name, hbn_err *err)
{
    hbn_registry *reg = ctx;
    registry_entry *e, **link, *last = NULL;

    pthread_mutex_lock(&reg->mutex);
    e = registry_find(reg, name, &link);
    if (e != NULL)
        last = registry_unlink(reg, link);
    pthread_mutex_unlock(&reg->mutex);
    registry_entry_free(last);
    if (e == NULL)
        return hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", name);
    return HBN_OK;
}

static hbn_status registry_op_read(void *ctx, const char *name, hbn_store_read_fn fn, void *arg,
                                   hbn_err *err)
{
    hbn_registry *reg = ctx;
    registry_entry *e = registry_acquire(reg, name, err);
    hbn_status st;

    if (e == NULL)
        return HBN_E_LAYER_NOT_FOUND;
    pthread_rwlock_rdlock(&e->lock);
    st = fn(e->layer, arg, err);
    pthread_rwlock_unlock(&e->lock);
    registry_release(reg, e);
    return st;
}

/* Runs FN on a clone of E's layer and swaps the clone in on HBN_OK. Exclusive lock held. */
static hbn_status registry_modify_locked(hbn_registry *reg, registry_entry *e,
                                         hbn_store_modify_fn fn, void *arg, hbn_err *err)
{
    hbn_layer *copy = NULL, *prev;
    hbn_status st;

    if (atomic_load(&e->deleted))
        return hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", e->name);
    st = hbn_layer_clone(e->layer, &copy, err);
    if (st != HBN_OK)
        goto out;
    st = fn(copy, arg, err);
    if (st != HBN_OK)
        goto out;
    st = registry_persist_before_swap(reg, copy, err);
    if (st != HBN_OK)
        goto out;
    prev = e->layer;
    e->layer = copy;
    copy = prev; /* freed below */
out:
    hbn_layer_free(copy);
    return st;
}

static hbn_status registry_op_modify(void *ctx, const char *name, hbn_store_modify_fn fn,
                                     void *arg, hbn_err *err)
{
    hbn_registry *reg = ctx;
    registry_entry *e = registry_acquire(reg, name, err);
    hbn_status st;

    if (e == NULL)
        return HBN_E_LAYER_NOT_FOUND;
    pthread_rwlock_wrlock(&e->lock);
    st = registry_modify_locked(reg, e, fn, arg, err);
    pthread_rwlock_unlock(&e->lock);
    registry_release(reg, e);
    return st;
}

/* Folds UPDATE into E's current layer when that layer can take it. Exclusive lock held. */
static hbn_status registry_apply_locked(registry_entry *e, const hbn_update *update, hbn_err *err)
{
    const hbn_layer *layer = e->layer;

    if (atomic_load(&e->deleted))
        return hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", e->name);
    if (!hbn_layer_config(layer)->track_running_stats && !hbn_layer_config(layer)->learnable_stats)
        return hbn_err_set(err, HBN_E_NOT_TRACKING,
                           "layer %s was replaced by one that does not track statistics",
                           e->name);
    if (update->slot < 0 || update->slot >= hbn_layer_num_stats(layer))
        return hbn_err_set(err, HBN_E_STATS_NOT_FOUND, "layer %s has no statistics slot %lld",
                           e->name, (long long)update->slot);
    if (update->channels != hbn_layer_num_features(layer))
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "the update has %lld channels, layer %s has %lld",
                           (long long)update->channels, e->name,
                           (long long)hbn_layer_num_features(layer));
    hbn_layer_apply_update(e->layer, update);
    return HBN_OK;
}

/* Errors other than LAYER_NOT_FOUND only happen when a state import (put) replaced the layer
 * between the forward and the apply: NOT_TRACKING, STATS_NOT_FOUND or SHAPE_MISMATCH. */
static hbn_status registry_op_apply(void *ctx, const char *name, const hbn_update *update,
                                    hbn_err *err)
{
    hbn_registry *reg = ctx;
    registry_entry *e;
    hbn_status st;

    if (!update->pending)
        return HBN_OK;
    e = registry_acquire(reg, name, err);
    if (e == NULL)
        return HBN_E_LAYER_NOT_FOUND;
    pthread_rwlock_wrlock(&e->lock);
    st = registry_apply_locked(e, update, err);
    pthread_rwlock_unlock(&e->lock);
    registry_release(reg, e);
    return st;
}

static int registry_entry_cmp(const void *a, const void *b)
{
    const registry_entry *const *x = a, *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

/* A NEW array of referenced entries (the snapshot list walks) in *OUT and its length in *N. */
static hbn_status registry_snapshot(hbn_registry *reg, registry_entry ***out, size_t *n,
                                    hbn_err *err)
{
    registry_entry **v;
    size_t k = 0;

    pthread_mutex_lock(&reg->mutex);
    v = malloc((reg->count > 0 ? reg->count : 1) * sizeof *v);
    if (v == NULL) {
        pthread_mutex_unlock(&reg->mutex);
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory listing layers");
    }
    for (size_t i = 0; i < reg->nbuckets; i++) {
        for (registry_entry *e = reg->buckets[i]; e != NULL; e = e->next) {
            e->refs++;
            v[k++] = e;
        }
    }
    pthread_mutex_unlock(&reg->mutex);
    qsort(v, k, sizeof *v, registry_entry_cmp);
    *out = v;
    *n = k;
    return HBN_OK;
}

static hbn_status registry_op_list(void *ctx, hbn_store_read_fn fn, void *arg, hbn_err *err)
{
    hbn_registry *reg = ctx;
    registry_entry **v = NULL;
    size_t n = 0;
    hbn_status st = registry_snapshot(reg, &v, &n, err);

    for (size_t i = 0; i < n; i++) {
        if (st == HBN_OK) {
            pthread_rwlock_rdlock(&v[i]->lock);
            st = fn(v[i]->layer, arg, err);
            pthread_rwlock_unlock(&v[i]->lock);
        }
        registry_release(reg, v[i]);
    }
    free(v);
    return st;
}

static const hbn_store_ops registry_ops = {
    .create = registry_op_create,
    .put = registry_op_put,
    .remove = registry_op_remove,
    .read = registry_op_read,
    .modify = registry_op_modify,
    .apply = registry_op_apply,
    .list = registry_op_list,
};

/* ---- public ----------------------------------------------------------------------------- */

hbn_status hbn_registry_create(const hbn_registry_options *opts, hbn_registry **out,
                               hbn_err *err)
{
    hbn_registry *reg = calloc(1, sizeof *reg);

    if (reg == NULL)
        goto fail;
    reg->nbuckets = REGISTRY_MIN_BUCKETS;
    reg->buckets = calloc(reg->nbuckets, sizeof *reg->buckets);
    if (reg->buckets == NULL || pthread_mutex_init(&reg->mutex, NULL) != 0) {
        free(reg->buckets);
        free(reg);
        goto fail;
    }
    if (opts != NULL)
        reg->opts = *opts;
    *out = reg;
    return HBN_OK;
fail:
    return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating the layer registry");
}

void hbn_registry_free(hbn_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->nbuckets; i++) {
        registry_entry *e = reg->buckets[i];

        while (e != NULL) {
            registry_entry *next = e->next;

            registry_entry_free(e);
            e = next;
        }
    }
    free(reg->buckets);
    pthread_mutex_destroy(&reg->mutex);
    free(reg);
}

void hbn_registry_store(hbn_registry *reg, hbn_store *store)
{
    store->ops = &registry_ops;
    store->ctx = reg;
    store->max_slots = reg->opts.max_slots;
}

size_t hbn_registry_count(hbn_registry *reg)
{
    size_t n;

    pthread_mutex_lock(&reg->mutex);
    n = reg->count;
    pthread_mutex_unlock(&reg->mutex);
    return n;
}
