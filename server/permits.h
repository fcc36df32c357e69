/* permits.h: a counting semaphore capping how many forward computations run at once (--threads),
 * whatever the number of connections. A request waits for a permit before computing and gives
 * it back right after; waiting is the only cost when the cap is not reached. */
#ifndef HBN_PERMITS_H
#define HBN_PERMITS_H

#include "core/status.h"

typedef struct hbn_permits hbn_permits;

/* Creates COUNT (>= 1) permits in *OUT (NEW, free with hbn_permits_free). */
hbn_status hbn_permits_create(unsigned count, hbn_permits **out, hbn_err *err);
/* Frees P (no thread may be waiting on it). Accepts NULL. */
void hbn_permits_free(hbn_permits *p);

/* Takes a permit, waiting while none is free. */
void hbn_permits_acquire(hbn_permits *p);
/* Gives back a permit taken by hbn_permits_acquire. */
void hbn_permits_release(hbn_permits *p);

#endif
