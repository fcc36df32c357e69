/* registry.c: the daemon's named layers behind api/store.h. A chained hash map (power-of-two
 * buckets, FNV-1a) from name to entry; each entry owns its layer, a reader-writer lock and a
 * reference count. The map holds one reference per linked entry and every call holds one while
 * it uses the entry, so a removed or replaced entry is freed by whoever releases it last.
 * Persistence (when configured): every change is written by opts.persist before it becomes
 * visible, under the name's persistence lock (one of REGISTRY_NAME_LOCKS mutexes, chosen by the
 * name's hash), which also orders a name's writes with its creates, replaces and removes, so the
 * file on disk is always the state last made visible. Train updates either persist the same way
 * (sync_updates) or mark the entry dirty for hbn_registry_flush.
 * Lock order: the name's persistence lock first; then the registry mutex or an entry lock, and
 * the mutex is never taken while waiting for an entry lock nor held while a caller's function
 * runs. Knows nothing of HTTP or JSON. */
#include "server/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define REGISTRY_MIN_BUCKETS 64
#define REGISTRY_NAME_LOCKS 64 /* a power of two */

typedef struct registry_entry {
    char name[HBN_NAME_MAX + 1];  /* the map key; the layer carries the same name */
    hbn_layer *layer;             /* owned; swapped under the exclusive lock */
    pthread_rwlock_t lock;        /* shared: read, list; exclusive: modify, apply */
    size_t refs;                  /* guarded by the registry mutex */
    atomic_bool deleted;          /* set under the registry mutex when unlinked */
    atomic_bool dirty;            /* holds train updates not yet written (set under the lock) */
    struct registry_entry *next;  /* bucket chain, guarded by the registry mutex */
} registry_entry;

struct hbn_registry {
    pthread_mutex_t mutex; /* guards buckets, count and every entry's refs and chain link */
    registry_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;    /* linked entries */
    size_t reserved; /* creates admitted under the quota and still being written */
    hbn_registry_options opts;
    bool persists;         /* opts.persist.write is set */
    atomic_bool any_dirty; /* some entry may be dirty */
    pthread_mutex_t name_locks[REGISTRY_NAME_LOCKS]; /* used only when persisting */
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
    e = hbn_calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    if (pthread_rwlock_init(&e->lock, NULL) != 0) {
        hbn_free(e);
        return NULL;
    }
    strcpy(e->name, name);
    e->layer = layer;
    e->refs = 1;
    atomic_init(&e->deleted, false);
    atomic_init(&e->dirty, false);
    return e;
}

static void registry_entry_free(registry_entry *e)
{
    if (e == NULL)
        return;
    hbn_layer_free(e->layer);
    pthread_rwlock_destroy(&e->lock);
    hbn_free(e);
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
    nb = hbn_calloc(n, sizeof *nb);
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
    hbn_free(reg->buckets);
    reg->buckets = nb;
    reg->nbuckets = n;
}

/* Links E at the head of its bucket. Mutex held. */
static void registry_push(hbn_registry *reg, registry_entry *e)
{
    registry_entry **head = &reg->buckets[registry_hash(e->name) & (reg->nbuckets - 1)];

    e->next = *head;
    *head = e;
    reg->count++;
    registry_maybe_grow(reg);
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

/* ---- persistence ----------------------------------------------------------------------- */

/* Takes NAME's persistence lock and returns it; NULL (nothing taken) when REG keeps layers in
 * memory only. */
static pthread_mutex_t *registry_name_lock(hbn_registry *reg, const char *name)
{
    pthread_mutex_t *m;

    if (!reg->persists)
        return NULL;
    m = &reg->name_locks[registry_hash(name) & (REGISTRY_NAME_LOCKS - 1)];
    pthread_mutex_lock(m);
    return m;
}

static void registry_name_unlock(pthread_mutex_t *m)
{
    if (m != NULL)
        pthread_mutex_unlock(m);
}

/* Writes LAYER, about to become its name's current state, durably (a no-op in memory). Called
 * under the name's persistence lock, with the entry's exclusive lock held (modify, apply) or
 * before a new layer becomes visible (create, put). On failure nothing may be swapped in. */
static hbn_status registry_persist_before_swap(hbn_registry *reg, const hbn_layer *layer,
                                               hbn_err *err)
{
    if (!reg->persists)
        return HBN_OK;
    return reg->opts.persist.write(reg->opts.persist.ctx, layer, err);
}

/* Persists COPY and swaps it in as E's layer; frees whichever layer is no longer E's. Exclusive
 * lock held. */
static hbn_status registry_commit_locked(hbn_registry *reg, registry_entry *e, hbn_layer *copy,
                                         hbn_err *err)
{
    hbn_status st = registry_persist_before_swap(reg, copy, err);

    if (st == HBN_OK) {
        hbn_layer *prev = e->layer;

        e->layer = copy;
        copy = prev;
    }
    hbn_layer_free(copy);
    return st;
}

/* ---- store operations ------------------------------------------------------------------- */

/* Whether NAME may be linked (a create: absent; a put: anything) and, for a new name, under the
 * layer quota, which it then holds as a reservation (*RESERVED) until registry_link. */
static hbn_status registry_admit(hbn_registry *reg, const char *name, bool replace,
                                 bool *reserved, hbn_err *err)
{
    registry_entry *cur;
    hbn_status st = HBN_OK;

    *reserved = false;
    pthread_mutex_lock(&reg->mutex);
    cur = registry_find(reg, name, NULL);
    if (cur != NULL && !replace) {
        st = hbn_err_set(err, HBN_E_LAYER_EXISTS, "layer %s already exists", name);
    } else if (cur == NULL && reg->opts.max_layers > 0 &&
               reg->count + reg->reserved >= (size_t)reg->opts.max_layers) {
        st = hbn_err_set(err, HBN_E_QUOTA_EXCEEDED,
                         "cannot add layer %s: the server holds its limit of %lld layers", name,
                         (long long)reg->opts.max_layers);
    } else if (cur == NULL) {
        reg->reserved++;
        *reserved = true;
    }
    pthread_mutex_unlock(&reg->mutex);
    return st;
}

/* Gives back the reservation RESERVED and, when LINK, links E under its name, replacing the
 * current entry when REPLACE (into *OLD, to free when that was its last reference). What changed
 * since registry_admit (possible only in memory-only registries, which take no persistence lock)
 * is decided again: a name taken meanwhile is HBN_E_LAYER_EXISTS, a replaced layer removed
 * meanwhile needs room under the quota. */
static hbn_status registry_link(hbn_registry *reg, registry_entry *e, bool link, bool reserved,
                                bool replace, int *replaced, registry_entry **old, hbn_err *err)
{
    registry_entry *cur, **at;
    hbn_status st = HBN_OK;

    pthread_mutex_lock(&reg->mutex);
    if (reserved)
        reg->reserved--;
    if (link) {
        cur = registry_find(reg, e->name, &at);
        if (cur != NULL && !replace) {
            st = hbn_err_set(err, HBN_E_LAYER_EXISTS, "layer %s already exists", e->name);
        } else if (cur == NULL && !reserved && reg->opts.max_layers > 0 &&
                   reg->count + reg->reserved >= (size_t)reg->opts.max_layers) {
            st = hbn_err_set(err, HBN_E_QUOTA_EXCEEDED,
                             "cannot add layer %s: the server holds its limit of %lld layers",
                             e->name, (long long)reg->opts.max_layers);
        } else {
            if (cur != NULL)
                *old = registry_unlink(reg, at);
            if (replaced != NULL)
                *replaced = cur != NULL;
            registry_push(reg, e);
        }
    }
    pthread_mutex_unlock(&reg->mutex);
    return st;
}

/* Links a NEW entry for LAYER unless NAME exists (or, for a create, the quota is reached), after
 * writing LAYER when the registry persists. On HBN_OK the registry owns LAYER; *OLD receives an
 * unlinked entry to free when REPLACE allowed replacing one and that was its last reference. */
static hbn_status registry_insert(hbn_registry *reg, hbn_layer *layer, bool replace, int *replaced,
                                  registry_entry **old, hbn_err *err)
{
    pthread_mutex_t *name_lock = registry_name_lock(reg, hbn_layer_name(layer));
    registry_entry *e = registry_entry_create(layer);
    bool reserved = false;
    hbn_status st, ls;

    *old = NULL;
    if (e == NULL) {
        st = hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory adding layer %s",
                         hbn_layer_name(layer));
        goto out;
    }
    st = registry_admit(reg, e->name, replace, &reserved, err);
    if (st == HBN_OK)
        st = registry_persist_before_swap(reg, layer, err);
    if (st == HBN_OK || reserved) {
        ls = registry_link(reg, e, st == HBN_OK, reserved, replace, replaced, old, err);
        if (st == HBN_OK)
            st = ls;
    }
    if (st != HBN_OK) {
        e->layer = NULL; /* not taken on failure */
        registry_entry_free(e);
    }
out:
    registry_name_unlock(name_lock);
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

/* Removes NAME's durable state, then the entry; when the first fails the layer stays. */
static hbn_status registry_op_remove(void *ctx, const char *name, hbn_err *err)
{
    hbn_registry *reg = ctx;
    pthread_mutex_t *name_lock = registry_name_lock(reg, name);
    registry_entry *e, **link, *last = NULL;
    hbn_status st = HBN_OK;

    if (reg->persists) {
        pthread_mutex_lock(&reg->mutex);
        e = registry_find(reg, name, NULL);
        pthread_mutex_unlock(&reg->mutex);
        st = e == NULL ? HBN_E_LAYER_NOT_FOUND
                       : reg->opts.persist.remove(reg->opts.persist.ctx, name, err);
    }
    if (st == HBN_OK) {
        pthread_mutex_lock(&reg->mutex);
        e = registry_find(reg, name, &link);
        if (e != NULL)
            last = registry_unlink(reg, link);
        pthread_mutex_unlock(&reg->mutex);
        st = e == NULL ? HBN_E_LAYER_NOT_FOUND : HBN_OK;
    }
    registry_name_unlock(name_lock);
    registry_entry_free(last);
    if (st == HBN_E_LAYER_NOT_FOUND)
        return hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", name);
    return st;
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
    hbn_layer *copy = NULL;
    hbn_status st;

    if (atomic_load(&e->deleted))
        return hbn_err_set(err, HBN_E_LAYER_NOT_FOUND, "layer %s does not exist", e->name);
    st = hbn_layer_clone(e->layer, &copy, err);
    if (st != HBN_OK)
        goto out;
    st = fn(copy, arg, err);
    if (st != HBN_OK)
        goto out;
    return registry_commit_locked(reg, e, copy, err); /* takes COPY */
out:
    hbn_layer_free(copy);
    return st;
}

static hbn_status registry_op_modify(void *ctx, const char *name, hbn_store_modify_fn fn,
                                     void *arg, hbn_err *err)
{
    hbn_registry *reg = ctx;
    pthread_mutex_t *name_lock = registry_name_lock(reg, name);
    registry_entry *e = registry_acquire(reg, name, err);
    hbn_status st = HBN_E_LAYER_NOT_FOUND;

    if (e != NULL) {
        pthread_rwlock_wrlock(&e->lock);
        st = registry_modify_locked(reg, e, fn, arg, err);
        pthread_rwlock_unlock(&e->lock);
        registry_release(reg, e);
    }
    registry_name_unlock(name_lock);
    return st;
}

/* Folds UPDATE into E's current layer when that layer can take it: in place (memory only), in
 * place and marked dirty (persisting later), or on a copy written before the swap
 * (sync_updates). Exclusive lock held. */
static hbn_status registry_apply_locked(hbn_registry *reg, registry_entry *e,
                                        const hbn_update *update, hbn_err *err)
{
    const hbn_layer *layer = e->layer;
    hbn_layer *copy = NULL;
    hbn_status st;

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
    if (!reg->persists || !reg->opts.persist.sync_updates) {
        hbn_layer_apply_update(e->layer, update);
        if (reg->persists) {
            atomic_store(&e->dirty, true);
            atomic_store(&reg->any_dirty, true);
        }
        return HBN_OK;
    }
    st = hbn_layer_clone(layer, &copy, err);
    if (st != HBN_OK)
        return st;
    hbn_layer_apply_update(copy, update);
    return registry_commit_locked(reg, e, copy, err);
}

/* Errors other than LAYER_NOT_FOUND only happen when a state import (put) replaced the layer
 * between the forward and the apply: NOT_TRACKING, STATS_NOT_FOUND or SHAPE_MISMATCH. */
static hbn_status registry_op_apply(void *ctx, const char *name, const hbn_update *update,
                                    hbn_err *err)
{
    hbn_registry *reg = ctx;
    pthread_mutex_t *name_lock;
    registry_entry *e;
    hbn_status st = HBN_E_LAYER_NOT_FOUND;

    if (!update->pending)
        return HBN_OK;
    name_lock = reg->opts.persist.sync_updates ? registry_name_lock(reg, name) : NULL;
    e = registry_acquire(reg, name, err);
    if (e != NULL) {
        pthread_rwlock_wrlock(&e->lock);
        st = registry_apply_locked(reg, e, update, err);
        pthread_rwlock_unlock(&e->lock);
        registry_release(reg, e);
    }
    registry_name_unlock(name_lock);
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
    v = hbn_malloc((reg->count > 0 ? reg->count : 1) * sizeof *v);
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
    hbn_free(v);
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
    hbn_registry *reg = hbn_calloc(1, sizeof *reg);

    if (reg == NULL)
        goto fail;
    reg->nbuckets = REGISTRY_MIN_BUCKETS;
    reg->buckets = hbn_calloc(reg->nbuckets, sizeof *reg->buckets);
    if (reg->buckets == NULL || pthread_mutex_init(&reg->mutex, NULL) != 0) {
        hbn_free(reg->buckets);
        hbn_free(reg);
        goto fail;
    }
    if (opts != NULL)
        reg->opts = *opts;
    reg->persists = reg->opts.persist.write != NULL && reg->opts.persist.remove != NULL;
    atomic_init(&reg->any_dirty, false);
    for (size_t i = 0; i < REGISTRY_NAME_LOCKS; i++)
        pthread_mutex_init(&reg->name_locks[i], NULL); /* cannot fail for a default mutex */
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
    hbn_free(reg->buckets);
    for (size_t i = 0; i < REGISTRY_NAME_LOCKS; i++)
        pthread_mutex_destroy(&reg->name_locks[i]);
    pthread_mutex_destroy(&reg->mutex);
    hbn_free(reg);
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

hbn_status hbn_registry_adopt(hbn_registry *reg, hbn_layer *layer, hbn_err *err)
{
    registry_entry *e = registry_entry_create(layer);
    bool exists;

    if (e == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory adding layer %s",
                           hbn_layer_name(layer));
    pthread_mutex_lock(&reg->mutex);
    exists = registry_find(reg, e->name, NULL) != NULL;
    if (!exists)
        registry_push(reg, e);
    pthread_mutex_unlock(&reg->mutex);
    if (!exists)
        return HBN_OK;
    e->layer = NULL; /* not taken on failure */
    registry_entry_free(e);
    return hbn_err_set(err, HBN_E_LAYER_EXISTS, "layer %s already exists", hbn_layer_name(layer));
}

/* Writes E's layer when it is still linked and dirty, copying it under the shared lock and
 * writing the copy under the name's persistence lock only; a failure marks it dirty again.
 * *WROTE says whether a write happened. */
static hbn_status registry_flush_entry(hbn_registry *reg, registry_entry *e, bool *wrote,
                                       hbn_err *err)
{
    pthread_mutex_t *name_lock = registry_name_lock(reg, e->name);
    hbn_layer *copy = NULL;
    hbn_status st = HBN_OK;

    *wrote = false;
    pthread_rwlock_rdlock(&e->lock);
    if (!atomic_load(&e->deleted) && atomic_exchange(&e->dirty, false))
        st = hbn_layer_clone(e->layer, &copy, err);
    pthread_rwlock_unlock(&e->lock);
    if (copy != NULL)
        st = reg->opts.persist.write(reg->opts.persist.ctx, copy, err);
    if (st != HBN_OK) {
        atomic_store(&e->dirty, true);
        atomic_store(&reg->any_dirty, true);
    }
    *wrote = copy != NULL && st == HBN_OK;
    hbn_layer_free(copy);
    registry_name_unlock(name_lock);
    return st;
}

hbn_status hbn_registry_flush(hbn_registry *reg, size_t *written, hbn_err *err)
{
    registry_entry **v = NULL;
    size_t n = 0, count = 0;
    hbn_status first = HBN_OK, st;
    hbn_err one;
    bool wrote;

    if (!reg->persists || !atomic_exchange(&reg->any_dirty, false))
        goto out;
    first = registry_snapshot(reg, &v, &n, err);
    if (first != HBN_OK) {
        atomic_store(&reg->any_dirty, true);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&v[i]->dirty)) {
            st = registry_flush_entry(reg, v[i], &wrote, &one);
            count += wrote;
            if (st != HBN_OK && first == HBN_OK) {
                first = st;
                if (err != NULL)
                    *err = one;
            }
        }
        registry_release(reg, v[i]);
    }
    hbn_free(v);
out:
    if (written != NULL)
        *written = count;
    return first;
}
