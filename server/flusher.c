/* flusher.c: the flusher thread (flusher.h). It sleeps on a monotonic-clock condition variable
 * until the next tick or a stop request, then calls hbn_registry_flush without holding its own
 * mutex. A failing flush is logged when the failure starts and when it ends, not at every tick;
 * the layers stay dirty and are tried again at the next tick. */
#include "server/flusher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "server/log.h"

struct hbn_flusher {
    hbn_registry *reg;
    unsigned interval_s;
    pthread_t thread;
    bool running;          /* the thread exists */
    bool stop;             /* guarded by mutex */
    bool failing;          /* the last flush failed (the thread's own) */
    pthread_mutex_t mutex; /* with wake: the stop request */
    pthread_cond_t wake;
};

/* One flush; logs a failure when it starts and a recovery when it ends. */
static hbn_status flusher_tick(hbn_flusher *f, hbn_err *err)
{
    size_t written = 0;
    hbn_status st = hbn_registry_flush(f->reg, &written, err);

    if (st != HBN_OK && !f->failing)
        hbn_log_message("error", "flush of train updates failed (retrying every %u s): %s",
                        f->interval_s, err->msg);
    else if (st == HBN_OK && f->failing)
        hbn_log_message("info", "flush of train updates works again (%zu layers written)",
                        written);
    f->failing = st != HBN_OK;
    return st;
}

static void *flusher_main(void *arg)
{
    hbn_flusher *f = arg;
    struct timespec next;
    hbn_err err;
    bool stop = false;

    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!stop) {
        next.tv_sec += (time_t)f->interval_s;
        pthread_mutex_lock(&f->mutex);
        while (!f->stop && pthread_cond_timedwait(&f->wake, &f->mutex, &next) != ETIMEDOUT)
            continue;
        stop = f->stop;
        pthread_mutex_unlock(&f->mutex);
        if (!stop)
            flusher_tick(f, &err);
    }
    return NULL;
}

hbn_status hbn_flusher_start(hbn_registry *reg, unsigned interval_s, hbn_flusher **out,
                             hbn_err *err)
{
    hbn_flusher *f = hbn_calloc(1, sizeof *f);
    pthread_condattr_t attr;
    bool cond_ok = false;

    if (f == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory starting the flusher");
    f->reg = reg;
    f->interval_s = interval_s;
    if (pthread_mutex_init(&f->mutex, NULL) != 0) {
        hbn_free(f);
        return hbn_err_set(err, HBN_E_NO_MEMORY, "cannot create the flusher's lock");
    }
    if (pthread_condattr_init(&attr) == 0) {
        /* ticks must not move with the wall clock */
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&f->wake, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (cond_ok && interval_s > 0)
        f->running = pthread_create(&f->thread, NULL, flusher_main, f) == 0;
    if (!cond_ok || (interval_s > 0 && !f->running)) {
        if (cond_ok)
            pthread_cond_destroy(&f->wake);
        pthread_mutex_destroy(&f->mutex);
        hbn_free(f);
        return hbn_err_set(err, HBN_E_INTERNAL, "cannot start the flusher thread");
    }
    *out = f;
    return HBN_OK;
}

hbn_status hbn_flusher_stop(hbn_flusher *f, hbn_err *err)
{
    size_t written = 0;
    hbn_err local;
    hbn_status st;

    if (f == NULL)
        return HBN_OK;
    if (f->running) {
        pthread_mutex_lock(&f->mutex);
        f->stop = true;
        pthread_cond_signal(&f->wake);
        pthread_mutex_unlock(&f->mutex);
        pthread_join(f->thread, NULL);
    }
    hbn_err_clear(&local);
    st = hbn_registry_flush(f->reg, &written, &local);
    if (st != HBN_OK)
        hbn_log_message("error", "final flush of train updates failed: %s", local.msg);
    else if (written > 0)
        hbn_log_message("info", "final flush: wrote the train updates of %zu layer%s", written,
                        written == 1 ? "" : "s");
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->mutex);
    hbn_free(f);
    if (err != NULL && st != HBN_OK)
        *err = local;
    return st;
}
