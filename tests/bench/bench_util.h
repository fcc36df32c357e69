/* bench_util.h: small helpers shared by the benchmark programs: the thread's CPU clock, a
 * comparator for medians, and a seeded xorshift generator with Box-Muller normals. Header-only
 * (static inline), for benchmarks only; no test or library code includes it. */
#ifndef HBN_BENCH_UTIL_H
#define HBN_BENCH_UTIL_H

#include <math.h>
#include <stdint.h>
#include <time.h>

/* The calling thread's CPU time in nanoseconds (less disturbed by other load than wall time). */
static inline double bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* qsort comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A uniform double in (0, 1) from the xorshift state *STATE (non-zero). */
static inline double bench_uniform01(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return ((double)(*state >> 11) + 0.5) / 9007199254740992.0;
}

/* A standard normal value (Box-Muller) from *STATE. */
static inline double bench_normal(uint64_t *state)
{
    double u = bench_uniform01(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * bench_uniform01(state));
}

#endif
