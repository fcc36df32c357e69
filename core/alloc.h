/* alloc.h: the project's one allocation wrapper. Every heap allocation of core/, api/ and
 * server/ (and cJSON's, through its hooks) goes through these functions, so that a test can make
 * the K-th allocation from now fail and count the allocations still live: that is how
 * tests/check_alloc_faults proves every allocation site of a request path answers a 5xx or a
 * 4xx, never crashes and never leaks. Outside tests the switch is off and each call costs one
 * relaxed atomic load and two relaxed atomic additions more than the C library's. */
#ifndef HBN_ALLOC_H
#define HBN_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* malloc(N), or NULL when out of memory or when the failure switch says so. */
void *hbn_malloc(size_t n);

/* calloc(N, SIZE), or NULL as hbn_malloc (also when N * SIZE overflows). */
void *hbn_calloc(size_t n, size_t size);

/* realloc(P, N) for N > 0, or NULL (P untouched) as hbn_malloc. P NULL: hbn_malloc(N). */
void *hbn_realloc(void *p, size_t n);

/* aligned_alloc(ALIGN, N) with N rounded up to a multiple of ALIGN (a power of two), or NULL. */
void *hbn_aligned_alloc(size_t align, size_t n);

/* A NEW copy of the string S (hbn_free()), or NULL. */
char *hbn_strdup(const char *s);

/* Frees P from any of the above (NULL: nothing). */
void hbn_free(void *p);

/* Test switch: the K-th allocation from now fails (K >= 1), and with PERSIST every one after it
 * too, until hbn_alloc_fail_off(). K = 0 switches failures off. */
void hbn_alloc_fail_at(long k, bool persist);

/* Switches injected failures off; returns how many allocations were failed since the switch
 * was last set. */
long hbn_alloc_fail_off(void);

/* Allocations made through this wrapper and not yet freed (process-wide, since start). */
long hbn_alloc_live(void);

#endif
