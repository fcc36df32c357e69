/* flusher.h: the background writer of train updates. Train-mode forwards only mark a layer
 * dirty (registry.h); a flusher thread writes the dirty layers every --flush-interval seconds,
 * and once more when stopped (graceful shutdown, after the drain), so a crash loses at most one
 * interval of train updates and nothing else. Interval 0 starts no thread: the registry then
 * writes each update before its reply (hbn_registry_persist.sync_updates). */
#ifndef HBN_FLUSHER_H
#define HBN_FLUSHER_H

#include "core/status.h"
#include "server/registry.h"

typedef struct hbn_flusher hbn_flusher;

/* Starts flushing REG (BORROWED; must outlive the flusher) every INTERVAL_S seconds (0: no
 * thread) into *OUT (NEW, stop and free with hbn_flusher_stop). HBN_E_NO_MEMORY,
 * HBN_E_INTERNAL when the thread cannot be created. Call with the signals the daemon takes by
 * sigwait already blocked: the thread inherits the mask. */
hbn_status hbn_flusher_start(hbn_registry *reg, unsigned interval_s, hbn_flusher **out,
                             hbn_err *err);

/* Stops the thread (waiting for a flush in progress), flushes every dirty layer one last time,
 * logs what was written or what failed, and frees F. Returns that last flush's status. Accepts
 * NULL (HBN_OK). */
hbn_status hbn_flusher_stop(hbn_flusher *f, hbn_err *err);

#endif
