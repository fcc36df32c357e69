/* lifecycle.h: the daemon's phases (starting, ready, draining), a failed data directory (not
 * ready for good), and the count of requests in flight, which a drain waits to fall to zero. Beginning and ending a request is an atomic add;
 * only a drain in progress makes the last request out take a lock to wake the waiter. */
#ifndef HBN_LIFECYCLE_H
#define HBN_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

typedef struct hbn_lifecycle hbn_lifecycle;

/* Creates the state in *OUT (NEW, free with hbn_lifecycle_free), in the starting phase. */
hbn_status hbn_lifecycle_create(hbn_lifecycle **out, hbn_err *err);
/* Frees LIFE (no request may be in flight). Accepts NULL. */
void hbn_lifecycle_free(hbn_lifecycle *life);

/* Starting -> ready. */
void hbn_lifecycle_set_ready(hbn_lifecycle *life);

/* -> draining: readiness turns false for good. */
void hbn_lifecycle_begin_drain(hbn_lifecycle *life);
bool hbn_lifecycle_is_draining(hbn_lifecycle *life);

/* The data directory failed (server/storage.h): readiness turns false until the process ends.
 * CTX is the hbn_lifecycle (the signature of hbn_storage_failure_fn). Thread-safe. */
void hbn_lifecycle_storage_failed(void *ctx);

/* NULL when ready, else "starting", "draining" or the storage failure's sentence (static). The
 * signature of hbn_api.not_ready_reason, with CTX the hbn_lifecycle. */
const char *hbn_lifecycle_not_ready_reason(void *ctx);

/* A request began / ended (every begin is matched by one end). */
void hbn_lifecycle_request_begin(hbn_lifecycle *life);
void hbn_lifecycle_request_end(hbn_lifecycle *life);

/* Requests in flight now (CTX an hbn_lifecycle; the signature of a metrics gauge). */
size_t hbn_lifecycle_inflight(void *ctx);

/* Waits until no request is in flight or TIMEOUT_S seconds have passed; true when idle. Call
 * after hbn_lifecycle_begin_drain. */
bool hbn_lifecycle_wait_idle(hbn_lifecycle *life, unsigned timeout_s);

#endif
