/* permits.c: the compute cap (permits.h) as a POSIX unnamed semaphore; sem_wait is retried when
 * a signal interrupts it (the daemon blocks its signals in every thread but main's sigwait). */
#include "server/permits.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "core/alloc.h"

struct hbn_permits {
    sem_t sem;
};

hbn_status hbn_permits_create(unsigned count, hbn_permits **out, hbn_err *err)
{
    hbn_permits *p = hbn_calloc(1, sizeof *p);

    if (p == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating the compute permits");
    if (count == 0 || sem_init(&p->sem, 0, count) != 0) {
        hbn_free(p);
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "cannot create %u compute permits",
                           count);
    }
    *out = p;
    return HBN_OK;
}

void hbn_permits_free(hbn_permits *p)
{
    if (p == NULL)
        return;
    sem_destroy(&p->sem);
    hbn_free(p);
}

void hbn_permits_acquire(hbn_permits *p)
{
    while (sem_wait(&p->sem) != 0 && errno == EINTR)
        continue;
}

void hbn_permits_release(hbn_permits *p)
{
    sem_post(&p->sem);
}
