/* storage.h: the data directory (--data-dir DIR): one file per layer, DIR/NAME.safetensors in the
 * layer-state format of SEMANTICS 7 (api/state.h), written so that a crash at any instant leaves
 * either the old or the new file: temporary file, fsync, rename over the old one, fsync of DIR;
 * a remove unlinks and fsyncs DIR. DIR/LOCK (flock) gives the directory to one daemon; at
 * start-up stale temporary files are removed and every layer file is verified, a bad one moved
 * to DIR/quarantine/ and reported, never dropped. Knows nothing of HTTP or of the registry's
 * locks: it writes what it is given. After a failed fsync of DIR the directory's state is
 * unknown: the storage refuses every later write (HBN_E_UNAVAILABLE) until the daemon restarts. */
#ifndef HBN_STORAGE_H
#define HBN_STORAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "api/strbuf.h"
#include "core/layer.h"
#include "core/status.h"
#include "server/registry.h"

#define HBN_STORAGE_SUFFIX ".safetensors" /* a layer file is NAME followed by this */
#define HBN_STORAGE_TEMP_PREFIX ".tmp."    /* temporary files; no layer name starts with '.' */
#define HBN_STORAGE_QUARANTINE "quarantine"
#define HBN_STORAGE_LOCK "LOCK"

typedef struct hbn_storage hbn_storage;

/* Called once, from the failing thread, when the storage enters its failed state. */
typedef void (*hbn_storage_failure_fn)(void *ctx);

/* Opens DIR (created with mode 0700 when absent; its parent must exist), takes DIR/LOCK with
 * flock (LOCK_EX | LOCK_NB; the file records the owner's pid) and removes stale temporary files.
 * ON_FAILURE (may be NULL) with CTX is called when a later fsync of DIR fails. On HBN_OK *OUT is
 * NEW (free with hbn_storage_close). HBN_E_UNAVAILABLE when another process holds the lock (the
 * message names DIR and, when readable, that process's pid); HBN_E_IO for anything else, the
 * message naming the path and the system's reason; HBN_E_NO_MEMORY. */
hbn_status hbn_storage_open(const char *dir, hbn_storage_failure_fn on_failure, void *ctx,
                            hbn_storage **out, hbn_err *err);

/* Releases the lock and frees S. Accepts NULL. */
void hbn_storage_close(hbn_storage *s);

/* Receives one verified layer at start-up (TAKES LAYER on HBN_OK only). */
typedef hbn_status (*hbn_storage_load_fn)(void *arg, hbn_layer *layer, hbn_err *err);

/* Reads and verifies every DIR/NAME.safetensors: NAME a valid layer name, a regular file, a
 * hyperbn state file (hyperbn.format metadata) that hbn_state_decode accepts (container,
 * checksum, dtypes and sizes, finite values, variances >= 0, configuration), and hands each
 * layer to FN(ARG, layer). A file that fails any check is moved to DIR/quarantine/ (a numbered
 * name when taken) with one log line naming it and the reason, and listed by
 * hbn_storage_ready_detail. Other files are left alone (one log line each). *LOADED and
 * *QUARANTINED (may be NULL) receive the counts. Fails (HBN_E_IO, HBN_E_NO_MEMORY, or FN's
 * status) only when a file cannot be moved or a layer cannot be held: never for a bad file.
 * Call once, before S is shared between threads. */
hbn_status hbn_storage_load(hbn_storage *s, hbn_storage_load_fn fn, void *arg, size_t *loaded,
                            size_t *quarantined, hbn_err *err);

/* Writes LAYER (BORROWED, read only) as DIR/NAME.safetensors durably before returning.
 * On failure the previous file is intact and no temporary file is left:
 * HBN_E_INSUFFICIENT_STORAGE (ENOSPC, EDQUOT), HBN_E_IO (any other error), HBN_E_UNAVAILABLE
 * (the storage failed earlier), HBN_E_NO_MEMORY. A failed fsync of DIR after the rename puts
 * the storage in its failed state (HBN_E_IO): the new file may or may not survive a crash.
 * Thread-safe; writes of one name must not run concurrently (the registry serialises them). */
hbn_status hbn_storage_write(hbn_storage *s, const hbn_layer *layer, hbn_err *err);

/* Unlinks DIR/NAME.safetensors (absent already is fine) and fsyncs DIR. Statuses as
 * hbn_storage_write. */
hbn_status hbn_storage_remove(hbn_storage *s, const char *name, hbn_err *err);

/* Persistence operations (writes and removes) so far: *OK succeeded, *FAILED failed. CTX is the
 * hbn_storage (the signature of hbn_metrics_gauges.persist). Thread-safe. */
void hbn_storage_counts(void *ctx, uint64_t *ok, uint64_t *failed);

/* Whether S is in its failed state. */
bool hbn_storage_failed(hbn_storage *s);

/* Fills *P with S's implementation of the registry's persistence (P borrows S); SYNC_UPDATES as
 * hbn_registry_persist.sync_updates. */
void hbn_storage_persist(hbn_storage *s, bool sync_updates, hbn_registry_persist *p);

/* Appends `,"quarantined":[{"file":"quarantine/F","reason":"..."}, ...]` to SB: the files
 * quarantined by this start-up, then those an earlier start left in DIR/quarantine/ (reason
 * "quarantined by an earlier start"). CTX is the hbn_storage (the signature of
 * hbn_api.ready_detail). */
void hbn_storage_ready_detail(void *ctx, hbn_strbuf *sb);

#endif
