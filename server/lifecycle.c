/* lifecycle.c: phases and in-flight requests (lifecycle.h). The in-flight count and the phase
 * are sequentially consistent atomics: a request that ends after the drain began sees the
 * draining phase and wakes the waiter under the mutex; a drain that begins after the request
 * ended sees the lower count. Either way no wake-up is lost. */
#include "server/lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"

enum { PHASE_STARTING = 0, PHASE_READY = 1, PHASE_DRAINING = 2 };

struct hbn_lifecycle {
    atomic_int phase;
    atomic_bool storage_failed;
    atomic_size_t inflight;
    pthread_mutex_t mutex; /* with idle: wakes a drain */
    pthread_cond_t idle;
};

hbn_status hbn_lifecycle_create(hbn_lifecycle **out, hbn_err *err)
{
    hbn_lifecycle *life = hbn_calloc(1, sizeof *life);
    pthread_condattr_t attr;
    bool mutex_ok = false, cond_ok = false;

    if (life == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating the lifecycle");
    mutex_ok = pthread_mutex_init(&life->mutex, NULL) == 0;
    if (mutex_ok && pthread_condattr_init(&attr) == 0) {
        /* the drain deadline must not move with the wall clock */
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&life->idle, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!cond_ok)
        goto fail;
    atomic_init(&life->phase, PHASE_STARTING);
    atomic_init(&life->storage_failed, false);
    atomic_init(&life->inflight, 0);
    *out = life;
    return HBN_OK;
fail:
    if (mutex_ok)
        pthread_mutex_destroy(&life->mutex);
    hbn_free(life);
    return hbn_err_set(err, HBN_E_NO_MEMORY, "cannot create the lifecycle's lock");
}

void hbn_lifecycle_free(hbn_lifecycle *life)
{
    if (life == NULL)
        return;
    pthread_cond_destroy(&life->idle);
    pthread_mutex_destroy(&life->mutex);
    hbn_free(life);
}

void hbn_lifecycle_set_ready(hbn_lifecycle *life)
{
    int expected = PHASE_STARTING;

    atomic_compare_exchange_strong(&life->phase, &expected, PHASE_READY);
}

void hbn_lifecycle_begin_drain(hbn_lifecycle *life)
{
    atomic_store(&life->phase, PHASE_DRAINING);
}

bool hbn_lifecycle_is_draining(hbn_lifecycle *life)
{
    return atomic_load(&life->phase) == PHASE_DRAINING;
}

void hbn_lifecycle_storage_failed(void *ctx)
{
    hbn_lifecycle *life = ctx;

    atomic_store(&life->storage_failed, true);
}

const char *hbn_lifecycle_not_ready_reason(void *ctx)
{
    hbn_lifecycle *life = ctx;
    int phase = atomic_load(&life->phase);

    if (phase != PHASE_DRAINING && atomic_load(&life->storage_failed))
        return "storage failed: the data directory could not be synced; writes are refused "
               "until the daemon is restarted";
    switch (phase) {
    case PHASE_READY:
        return NULL;
    case PHASE_STARTING:
        return "starting";
    default:
        return "draining";
    }
}

void hbn_lifecycle_request_begin(hbn_lifecycle *life)
{
    atomic_fetch_add(&life->inflight, 1);
}

void hbn_lifecycle_request_end(hbn_lifecycle *life)
{
    if (atomic_fetch_sub(&life->inflight, 1) == 1 && hbn_lifecycle_is_draining(life)) {
        pthread_mutex_lock(&life->mutex);
        pthread_cond_broadcast(&life->idle);
        pthread_mutex_unlock(&life->mutex);
    }
}

size_t hbn_lifecycle_inflight(void *ctx)
{
    hbn_lifecycle *life = ctx;

    return atomic_load(&life->inflight);
}

bool hbn_lifecycle_wait_idle(hbn_lifecycle *life, unsigned timeout_s)
{
    struct timespec deadline;
    int rc = 0;
    bool idle;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)timeout_s;
    pthread_mutex_lock(&life->mutex);
    while (atomic_load(&life->inflight) > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&life->idle, &life->mutex, &deadline);
    idle = atomic_load(&life->inflight) == 0;
    pthread_mutex_unlock(&life->mutex);
    return idle;
}
