/* alloc.c: the allocation wrapper of alloc.h: the C library's allocator plus a live-allocation
 * count and the failure switch used by the fault-injection tests. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* > 0: allocations left before the failing one; 0: off; -1: failing every allocation (persist). */
static atomic_long countdown;
static atomic_bool persist_after;
static atomic_long failed;
static atomic_long live;

/* Whether this allocation must fail (and counts it). A compare-and-swap loop, so that two
 * threads never both take the last step of the countdown. */
static bool inject(void)
{
    long k = atomic_load_explicit(&countdown, memory_order_relaxed);

    while (k > 0) {
        long next = k > 1 ? k - 1
                          : (atomic_load_explicit(&persist_after, memory_order_relaxed) ? -1 : 0);

        if (atomic_compare_exchange_weak_explicit(&countdown, &k, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (k > 1)
                return false;
            break;
        }
    }
    if (k == 0)
        return false;
    atomic_fetch_add_explicit(&failed, 1, memory_order_relaxed);
    return true;
}

/* P, counted as live when not NULL. */
static void *counted(void *p)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
    return p;
}

void *hbn_malloc(size_t n)
{
    return inject() ? NULL : counted(malloc(n > 0 ? n : 1));
}

void *hbn_calloc(size_t n, size_t size)
{
    return inject() ? NULL : counted(calloc(n > 0 ? n : 1, size > 0 ? size : 1));
}

void *hbn_realloc(void *p, size_t n)
{
    if (p == NULL)
        return hbn_malloc(n);
    if (inject())
        return NULL;
    return realloc(p, n > 0 ? n : 1);
}

void *hbn_aligned_alloc(size_t align, size_t n)
{
    size_t rounded;

    if (n > SIZE_MAX - align)
        return NULL;
    rounded = (n + align - 1) / align * align;
    return inject() ? NULL : counted(aligned_alloc(align, rounded > 0 ? rounded : align));
}

char *hbn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = hbn_malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

void hbn_free(void *p)
{
    if (p == NULL)
        return;
    atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
    free(p);
}

void hbn_alloc_fail_at(long k, bool persist)
{
    atomic_store_explicit(&failed, 0, memory_order_relaxed);
    atomic_store_explicit(&persist_after, persist, memory_order_relaxed);
    atomic_store_explicit(&countdown, k > 0 ? k : 0, memory_order_relaxed);
}

long hbn_alloc_fail_off(void)
{
    atomic_store_explicit(&countdown, 0, memory_order_relaxed);
    return atomic_load_explicit(&failed, memory_order_relaxed);
}

long hbn_alloc_live(void)
{
    return atomic_load_explicit(&live, memory_order_relaxed);
}
