/* float_format.c: shortest round-trip printing of float32 as JSON numbers.
 * The digits come from Ryu (Ulf Adams, "Ryu: fast float-to-string conversion", PLDI 2018; the
 * float32 variant with 64-bit multipliers): the shortest decimal in the rounding interval of V,
 * the closest one to V among those, ties to even. Layout follows %g: fixed notation when the
 * decimal exponent X is in [-4, 8], otherwise d[.ddd]e+XX / e-XX (always valid JSON).
 * Pure and table-driven: no locale, no allocation, thread-safe. */
#include "api/float_format.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FLOAT_MANTISSA_BITS 23
#define FLOAT_EXPONENT_BITS 8
#define FLOAT_BIAS 127

/* FLOAT_POW5_INV_SPLIT[i] = floor(2^(bitlength(5^i) - 1 + 59) / 5^i) + 1. */
#define FLOAT_POW5_INV_BITCOUNT 59
static const uint64_t FLOAT_POW5_INV_SPLIT[31] = {
    UINT64_C(576460752303423489), UINT64_C(461168601842738791), UINT64_C(368934881474191033),
    UINT64_C(295147905179352826), UINT64_C(472236648286964522), UINT64_C(377789318629571618),
    UINT64_C(302231454903657294), UINT64_C(483570327845851670), UINT64_C(386856262276681336),
    UINT64_C(309485009821345069), UINT64_C(495176015714152110), UINT64_C(396140812571321688),
    UINT64_C(316912650057057351), UINT64_C(507060240091291761), UINT64_C(405648192073033409),
    UINT64_C(324518553658426727), UINT64_C(519229685853482763), UINT64_C(415383748682786211),
    UINT64_C(332306998946228969), UINT64_C(531691198313966350), UINT64_C(425352958651173080),
    UINT64_C(340282366920938464), UINT64_C(544451787073501542), UINT64_C(435561429658801234),
    UINT64_C(348449143727040987), UINT64_C(557518629963265579), UINT64_C(446014903970612463),
    UINT64_C(356811923176489971), UINT64_C(570899077082383953), UINT64_C(456719261665907162),
    UINT64_C(365375409332725730),
};

/* FLOAT_POW5_SPLIT[i] = 5^i scaled to exactly 61 significant bits (truncated). */
#define FLOAT_POW5_BITCOUNT 61
static const uint64_t FLOAT_POW5_SPLIT[47] = {
    UINT64_C(1152921504606846976), UINT64_C(1441151880758558720), UINT64_C(1801439850948198400),
    UINT64_C(2251799813685248000), UINT64_C(1407374883553280000), UINT64_C(1759218604441600000),
    UINT64_C(2199023255552000000), UINT64_C(1374389534720000000), UINT64_C(1717986918400000000),
    UINT64_C(2147483648000000000), UINT64_C(1342177280000000000), UINT64_C(1677721600000000000),
    UINT64_C(2097152000000000000), UINT64_C(1310720000000000000), UINT64_C(1638400000000000000),
    UINT64_C(2048000000000000000), UINT64_C(1280000000000000000), UINT64_C(1600000000000000000),
    UINT64_C(2000000000000000000), UINT64_C(1250000000000000000), UINT64_C(1562500000000000000),
    UINT64_C(1953125000000000000), UINT64_C(1220703125000000000), UINT64_C(1525878906250000000),
    UINT64_C(1907348632812500000), UINT64_C(1192092895507812500), UINT64_C(1490116119384765625),
    UINT64_C(1862645149230957031), UINT64_C(1164153218269348144), UINT64_C(1455191522836685180),
    UINT64_C(1818989403545856475), UINT64_C(2273736754432320594), UINT64_C(1421085471520200371),
    UINT64_C(1776356839400250464), UINT64_C(2220446049250313080), UINT64_C(1387778780781445675),
    UINT64_C(1734723475976807094), UINT64_C(2168404344971008868), UINT64_C(1355252715606880542),
    UINT64_C(1694065894508600678), UINT64_C(2117582368135750847), UINT64_C(1323488980084844279),
    UINT64_C(1654361225106055349), UINT64_C(2067951531382569187), UINT64_C(1292469707114105741),
    UINT64_C(1615587133892632177), UINT64_C(2019483917365790221),
};

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* ceil(log2(5^e)) for e >= 1 (1 for e == 0). */
static int32_t pow5bits(int32_t e)
{
    return (int32_t)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(log10(2^e)) and floor(log10(5^e)) for 0 <= e <= 1650. */
static uint32_t log10_pow2(int32_t e)
{
    return ((uint32_t)e * 78913u) >> 18;
}

static uint32_t log10_pow5(int32_t e)
{
    return ((uint32_t)e * 732923u) >> 20;
}

static bool multiple_of_pow5(uint32_t v, uint32_t p)
{
    uint32_t count = 0;
    while (v != 0 && v % 5 == 0) {
        v /= 5;
        count++;
    }
    return count >= p;
}

static bool multiple_of_pow2(uint32_t v, uint32_t p)
{
    return (v & ((1u << p) - 1)) == 0;
}

/* (M * FACTOR) >> SHIFT for SHIFT > 32, without 128-bit arithmetic. */
static uint32_t mul_shift(uint32_t m, uint64_t factor, int32_t shift)
{
    uint64_t lo = (uint64_t)m * (uint32_t)factor;
    uint64_t hi = (uint64_t)m * (uint32_t)(factor >> 32);
    return (uint32_t)(((lo >> 32) + hi) >> (shift - 32));
}

/* The decimal interval of one float: scaled value, bounds and what the scaling dropped. */
typedef struct ryu_scaled {
    uint32_t vr, vp, vm;
    int32_t e10;
    bool vm_trailing_zeros, vr_trailing_zeros;
    uint32_t last_removed;
} ryu_scaled;

/* Step 3 of Ryu for a binary exponent E2 >= 0. */
static void scale_nonneg(ryu_scaled *s, uint32_t mv, uint32_t mp, uint32_t mm, int32_t e2,
                         bool accept_bounds)
{
    uint32_t q = log10_pow2(e2);
    int32_t k = FLOAT_POW5_INV_BITCOUNT + pow5bits((int32_t)q) - 1;
    int32_t i = -e2 + (int32_t)q + k;
    s->e10 = (int32_t)q;
    s->vr = mul_shift(mv, FLOAT_POW5_INV_SPLIT[q], i);
    s->vp = mul_shift(mp, FLOAT_POW5_INV_SPLIT[q], i);
    s->vm = mul_shift(mm, FLOAT_POW5_INV_SPLIT[q], i);
    if (q != 0 && (s->vp - 1) / 10 <= s->vm / 10) {
        int32_t l = FLOAT_POW5_INV_BITCOUNT + pow5bits((int32_t)(q - 1)) - 1;
        s->last_removed = mul_shift(mv, FLOAT_POW5_INV_SPLIT[q - 1], -e2 + (int32_t)q - 1 + l) % 10;
    }
    if (q <= 9) {
        /* Only one of mp, mv and mm can be a multiple of 5, if any. */
        if (mv % 5 == 0)
            s->vr_trailing_zeros = multiple_of_pow5(mv, q);
        else if (accept_bounds)
            s->vm_trailing_zeros = multiple_of_pow5(mm, q);
        else
            s->vp -= multiple_of_pow5(mp, q);
    }
}

/* Step 3 of Ryu for a binary exponent E2 < 0. */
static void scale_neg(ryu_scaled *s, uint32_t mv, uint32_t mp, uint32_t mm, int32_t e2,
                      bool accept_bounds, bool mm_shift)
{
    uint32_t q = log10_pow5(-e2);
    int32_t i = -e2 - (int32_t)q;
    int32_t k = pow5bits(i) - FLOAT_POW5_BITCOUNT;
    int32_t j = (int32_t)q - k;
    s->e10 = (int32_t)q + e2;
    s->vr = mul_shift(mv, FLOAT_POW5_SPLIT[i], j);
    s->vp = mul_shift(mp, FLOAT_POW5_SPLIT[i], j);
    s->vm = mul_shift(mm, FLOAT_POW5_SPLIT[i], j);
    if (q != 0 && (s->vp - 1) / 10 <= s->vm / 10) {
        j = (int32_t)q - 1 - (pow5bits(i + 1) - FLOAT_POW5_BITCOUNT);
        s->last_removed = mul_shift(mv, FLOAT_POW5_SPLIT[i + 1], j) % 10;
    }
    if (q <= 1) {
        /* mv = 4 m2 has at least two trailing zero bits; mm has one exactly when mm_shift. */
        s->vr_trailing_zeros = true;
        if (accept_bounds)
            s->vm_trailing_zeros = mm_shift;
        else
            s->vp--;
    } else if (q < 31) {
        s->vr_trailing_zeros = multiple_of_pow2(mv, q - 1);
    }
}

/* Step 4 of Ryu: the shortest digits in (vm, vp) closest to vr. Returns the digits and adds the
 * number of removed digits to *E10. */
static uint32_t shortest(ryu_scaled *s, bool accept_bounds, int32_t *e10)
{
    uint32_t vr = s->vr, vp = s->vp, vm = s->vm, last = s->last_removed;
    bool vm_tz = s->vm_trailing_zeros, vr_tz = s->vr_trailing_zeros;
    int32_t removed = 0;
    if (!vm_tz && !vr_tz) { /* the common case */
        while (vp / 10 > vm / 10) {
            last = vr % 10;
            vr /= 10, vp /= 10, vm /= 10;
            removed++;
        }
        *e10 = s->e10 + removed;
        return vr + (vr == vm || last >= 5);
    }
    while (vp / 10 > vm / 10) {
        vm_tz &= vm % 10 == 0;
        vr_tz &= last == 0;
        last = vr % 10;
        vr /= 10, vp /= 10, vm /= 10;
        removed++;
    }
    if (vm_tz) {
        while (vm % 10 == 0) {
            vr_tz &= last == 0;
            last = vr % 10;
            vr /= 10, vp /= 10, vm /= 10;
            removed++;
        }
    }
    if (vr_tz && last == 5 && vr % 2 == 0)
        last = 4; /* exactly ...50..0: round half to even */
    *e10 = s->e10 + removed;
    return vr + ((vr == vm && (!accept_bounds || !vm_tz)) || last >= 5);
}

/* The shortest decimal DIGITS * 10^E10 of a positive finite float with the given bit fields. */
static uint32_t float_to_decimal(uint32_t ieee_mantissa, uint32_t ieee_exponent, int32_t *e10)
{
    int32_t e2;
    uint32_t m2;
    if (ieee_exponent == 0) {
        e2 = 1 - FLOAT_BIAS - FLOAT_MANTISSA_BITS - 2;
        m2 = ieee_mantissa;
    } else {
        e2 = (int32_t)ieee_exponent - FLOAT_BIAS - FLOAT_MANTISSA_BITS - 2;
        m2 = (1u << FLOAT_MANTISSA_BITS) | ieee_mantissa;
    }
    bool accept_bounds = (m2 & 1) == 0;
    uint32_t mv = 4 * m2;
    uint32_t mp = 4 * m2 + 2;
    bool mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
    uint32_t mm = 4 * m2 - 1 - (uint32_t)mm_shift;
    ryu_scaled s = {0};
    if (e2 >= 0)
        scale_nonneg(&s, mv, mp, mm, e2, accept_bounds);
    else
        scale_neg(&s, mv, mp, mm, e2, accept_bounds, mm_shift);
    return shortest(&s, accept_bounds, e10);
}

static int decimal_length(uint32_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes the N decimal digits of V to P[0..N-1]. */
static void write_digits(char *p, uint32_t v, int n)
{
    p += n;
    while (v >= 100) {
        uint32_t r = v % 100;
        v /= 100;
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
}

/* Lays out DIGITS (N of them, no trailing zero) with scientific exponent X at P; returns the
 * number of bytes written (no NUL). */
static size_t layout(char *p, const char *digits, int n, int32_t x)
{
    char *start = p;
    if (x >= -4 && x <= 8) {
        if (x < 0) {
            memcpy(p, "0.0000", (size_t)(1 - x));
            p += 1 - x;
            memcpy(p, digits, (size_t)n);
            p += n;
        } else if (n <= x + 1) {
            memcpy(p, digits, (size_t)n);
            p += n;
            memset(p, '0', (size_t)(x + 1 - n));
            p += x + 1 - n;
        } else {
            memcpy(p, digits, (size_t)(x + 1));
            p += x + 1;
            *p++ = '.';
            memcpy(p, digits + x + 1, (size_t)(n - x - 1));
            p += n - x - 1;
        }
        return (size_t)(p - start);
    }
    *p++ = digits[0];
    if (n > 1) {
        *p++ = '.';
        memcpy(p, digits + 1, (size_t)(n - 1));
        p += n - 1;
    }
    *p++ = 'e';
    *p++ = x < 0 ? '-' : '+';
    uint32_t ax = (uint32_t)(x < 0 ? -x : x); /* at most 45 */
    memcpy(p, DIGIT_PAIRS + 2 * ax, 2);
    p += 2;
    return (size_t)(p - start);
}

size_t hbn_float_format(float v, char *out)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t ieee_mantissa = bits & ((1u << FLOAT_MANTISSA_BITS) - 1);
    uint32_t ieee_exponent = (bits >> FLOAT_MANTISSA_BITS) & ((1u << FLOAT_EXPONENT_BITS) - 1);
    char *p = out;
    if (ieee_exponent == (1u << FLOAT_EXPONENT_BITS) - 1) { /* outside the contract */
        memcpy(out, "null", 5);
        return 4;
    }
    if (bits >> 31)
        *p++ = '-';
    if (ieee_exponent == 0 && ieee_mantissa == 0) {
        *p++ = '0';
        *p = '\0';
        return (size_t)(p - out);
    }
    int32_t e10;
    uint32_t digits = float_to_decimal(ieee_mantissa, ieee_exponent, &e10);
    while (digits % 10 == 0) { /* Ryu's result has none; kept for a canonical layout */
        digits /= 10;
        e10++;
    }
    int n = decimal_length(digits);
    char tmp[12];
    write_digits(tmp, digits, n);
    p += layout(p, tmp, n, e10 + n - 1);
    *p = '\0';
    return (size_t)(p - out);
}
