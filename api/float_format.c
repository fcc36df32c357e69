/* float_format.c: shortest round-trip printing of float32 as JSON numbers. Digits from Schubfach
 * (R. Giulietti 2020; the float32 variant with one 64-bit multiplier per power of ten, as in
 * A. Bolz's Drachennest): the shortest decimal in V's rounding interval, the closest to V, ties to
 * even; converted 8 at a time in one word (SWAR) and stored with fixed-size copies (hence the
 * output slack). Layout as %g: fixed for a decimal exponent in [-4, 8], else d[.ddd]e+XX/e-XX.
 * Pure, table-driven, thread-safe. All 2^32 bit patterns were checked offline: the text is
 * byte-identical to that of the Ryu printer this file replaced. */
#include "api/float_format.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define FLOAT_MANTISSA_BITS 23
#define FLOAT_EXPONENT_BITS 8
#define FLOAT_EXPONENT_BIAS 150 /* 127 + 23: a float is C * 2^Q with an integer C < 2^24 */

/* POW10_G[m - POW10_MIN] = floor(10^m / 2^r) + 1 with r chosen so that 2^63 <= 10^m / 2^r < 2^64:
 * an overestimate of 10^m by less than one unit in the last of 64 bits. */
#define POW10_MIN (-31)
static const uint64_t POW10_G[77] = {
    UINT64_C(0x81CEB32C4B43FCF5), UINT64_C(0xA2425FF75E14FC32), UINT64_C(0xCAD2F7F5359A3B3F),
    UINT64_C(0xFD87B5F28300CA0E), UINT64_C(0x9E74D1B791E07E49), UINT64_C(0xC612062576589DDB),
    UINT64_C(0xF79687AED3EEC552), UINT64_C(0x9ABE14CD44753B53), UINT64_C(0xC16D9A0095928A28),
    UINT64_C(0xF1C90080BAF72CB2), UINT64_C(0x971DA05074DA7BEF), UINT64_C(0xBCE5086492111AEB),
    UINT64_C(0xEC1E4A7DB69561A6), UINT64_C(0x9392EE8E921D5D08), UINT64_C(0xB877AA3236A4B44A),
    UINT64_C(0xE69594BEC44DE15C), UINT64_C(0x901D7CF73AB0ACDA), UINT64_C(0xB424DC35095CD810),
    UINT64_C(0xE12E13424BB40E14), UINT64_C(0x8CBCCC096F5088CC), UINT64_C(0xAFEBFF0BCB24AAFF),
    UINT64_C(0xDBE6FECEBDEDD5BF), UINT64_C(0x89705F4136B4A598), UINT64_C(0xABCC77118461CEFD),
    UINT64_C(0xD6BF94D5E57A42BD), UINT64_C(0x8637BD05AF6C69B6), UINT64_C(0xA7C5AC471B478424),
    UINT64_C(0xD1B71758E219652C), UINT64_C(0x83126E978D4FDF3C), UINT64_C(0xA3D70A3D70A3D70B),
    UINT64_C(0xCCCCCCCCCCCCCCCD), UINT64_C(0x8000000000000001), UINT64_C(0xA000000000000001),
    UINT64_C(0xC800000000000001), UINT64_C(0xFA00000000000001), UINT64_C(0x9C40000000000001),
    UINT64_C(0xC350000000000001), UINT64_C(0xF424000000000001), UINT64_C(0x9896800000000001),
    UINT64_C(0xBEBC200000000001), UINT64_C(0xEE6B280000000001), UINT64_C(0x9502F90000000001),
    UINT64_C(0xBA43B74000000001), UINT64_C(0xE8D4A51000000001), UINT64_C(0x9184E72A00000001),
    UINT64_C(0xB5E620F480000001), UINT64_C(0xE35FA931A0000001), UINT64_C(0x8E1BC9BF04000001),
    UINT64_C(0xB1A2BC2EC5000001), UINT64_C(0xDE0B6B3A76400001), UINT64_C(0x8AC7230489E80001),
    UINT64_C(0xAD78EBC5AC620001), UINT64_C(0xD8D726B7177A8001), UINT64_C(0x878678326EAC9001),
    UINT64_C(0xA968163F0A57B401), UINT64_C(0xD3C21BCECCEDA101), UINT64_C(0x84595161401484A1),
    UINT64_C(0xA56FA5B99019A5C9), UINT64_C(0xCECB8F27F4200F3B), UINT64_C(0x813F3978F8940985),
    UINT64_C(0xA18F07D736B90BE6), UINT64_C(0xC9F2C9CD04674EDF), UINT64_C(0xFC6F7C4045812297),
    UINT64_C(0x9DC5ADA82B70B59E), UINT64_C(0xC5371912364CE306), UINT64_C(0xF684DF56C3E01BC7),
    UINT64_C(0x9A130B963A6C115D), UINT64_C(0xC097CE7BC90715B4), UINT64_C(0xF0BDC21ABB48DB21),
    UINT64_C(0x96769950B50D88F5), UINT64_C(0xBC143FA4E250EB32), UINT64_C(0xEB194F8E1AE525FE),
    UINT64_C(0x92EFD1B8D0CF37BF), UINT64_C(0xB7ABC627050305AE), UINT64_C(0xE596B7B0C643C71A),
    UINT64_C(0x8F7E32CE7BEA5C70), UINT64_C(0xB35DBF821AE4F38C),
};

static const uint32_t POW10_U32[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* floor(X / 2^N) for X >= -(BIAS << N) without shifting a negative number. */
INLINE int32_t floor_shift(int32_t x, int n, int32_t bias)
{
    return (int32_t)((uint32_t)(x + (bias << n)) >> n) - bias;
}

/* The round-to-odd of CP * G / 2^64 (Schubfach's RoundToOdd for 32-bit values): the integer part,
 * with its low bit set when the fraction is nonzero. G overestimates by less than 2^-64 relative,
 * which moves the fraction's top 32 bits by at most 1, hence the "> 1". */
INLINE uint32_t round_to_odd(uint64_t g, uint32_t cp)
{
    uint64_t lo = (g & UINT64_C(0xFFFFFFFF)) * cp;
    uint64_t mid = (g >> 32) * cp + (lo >> 32); /* CP < 2^31, so no overflow */
    return (uint32_t)(mid >> 32) | ((uint32_t)mid > 1);
}

/* The shortest decimal DIGITS * 10^E10 (DIGITS < 10^9, possibly ending in zeros) of the positive
 * finite float with bit fields IEEE_M and IEEE_E (not both zero). */
INLINE uint32_t float_to_decimal(uint32_t ieee_m, uint32_t ieee_e, int32_t *e10)
{
    uint32_t c = ieee_m | (ieee_e != 0 ? UINT32_C(1) << FLOAT_MANTISSA_BITS : 0);
    int32_t q = (ieee_e != 0 ? (int32_t)ieee_e : 1) - FLOAT_EXPONENT_BIAS;
    bool even = (c & 1) == 0;
    bool closer = ieee_m == 0 && ieee_e > 1; /* the lower neighbour is nearer */
    uint32_t cbl = 4 * c - 2 + closer, cb = 4 * c, cbr = 4 * c + 2;
    /* k = floor(log10(2^q)), or floor(log10(3/4 2^q)) when the lower boundary is closer */
    int32_t k = floor_shift(q * 1262611 - (closer ? 524031 : 0), 22, 64);
    int32_t h = q + floor_shift(-k * 1741647, 19, 256) + 1; /* + floor(log2(10^-k)): 1..4 */
    uint64_t g = POW10_G[-k - POW10_MIN];
    uint32_t vbl = round_to_odd(g, cbl << h), vb = round_to_odd(g, cb << h);
    uint32_t vbr = round_to_odd(g, cbr << h);
    uint32_t lower = vbl + !even, upper = vbr - !even;
    uint32_t s = vb / 4, sp = s / 10;
    /* One digit fewer (sp or sp + 1) when exactly one of those is inside the interval, else the
     * closer of s and s + 1 that is inside (both inside: the nearer, ties to even). Computed
     * without branches: which case applies is as random as the digits. */
    bool up_inside = lower <= 40 * sp, wp_inside = 40 * sp + 40 <= upper;
    bool u_inside = lower <= 4 * s, w_inside = 4 * s + 4 <= upper;
    uint32_t mid = 4 * s + 2;
    bool round_up = (vb > mid) | ((vb == mid) & (s & 1));
    bool shorter = up_inside != wp_inside, one = u_inside != w_inside;
    uint32_t longer = s + ((one & w_inside) | (!one & round_up));
    uint32_t mask = 0u - (uint32_t)shorter; /* shorter ? sp + wp_inside : longer, no branch */
    *e10 = k + shorter;
    return ((sp + wp_inside) & mask) | (longer & ~mask);
}

/* The 8 decimal digits of V < 10^8 as byte values 0-9, the first digit in the lowest byte
 * (Paul Khuong's radix-100 then radix-10 split, all lanes at once). */
INLINE uint64_t digits8(uint32_t v)
{
    uint64_t merged = (uint64_t)(v / 10000) | ((uint64_t)(v % 10000) << 32);
    uint64_t top = ((merged * 10486) >> 20) & ((UINT64_C(0x7F) << 32) | 0x7F); /* / 100 */
    uint64_t hundreds = ((merged - 100 * top) << 16) + top;
    uint64_t tens = ((hundreds * 103) >> 10) & UINT64_C(0x000F000F000F000F); /* / 10 */
    return tens + ((hundreds - 10 * tens) << 8);
}

/* Stores the 8 digit bytes of W (lowest byte first) at P as ASCII. */
INLINE void store8(char *p, uint64_t w)
{
    w += UINT64_C(0x3030303030303030);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(p, &w, sizeof w);
}

/* Moves the 8 bytes at P one byte up (to P + 1). */
INLINE void shift8(char *p)
{
    char t[8];
    memcpy(t, p, sizeof t);
    memcpy(p + 1, t, sizeof t);
}

/* C ? A : B without a branch, for conditions as random as the data. */
INLINE int pick(bool c, int a, int b)
{
    int m = -(int)c;
    return (a & m) | (b & ~m);
}

/* Writes DIGITS * 10^E10 (DIGITS in [1, 10^9)) at P in the %g layout and returns its length
 * (no NUL). Writes up to FORMAT_SCRATCH bytes at P, past the length. The fixed layouts (0.0ddd,
 * ddd, ddd.ddd) share one branch-free path, as typical data switches among them at random. */
#define FORMAT_SCRATCH 24
INLINE size_t layout(char *p, uint32_t digits, int32_t e10)
{
    int t = ((32 - __builtin_clz(digits)) * 1233) >> 12;
    int len = t + (digits >= POW10_U32[t]);          /* decimal length, 1..9 */
    uint32_t v = digits * POW10_U32[9 - len];         /* 9 digits, the first nonzero */
    uint32_t d0 = v / 100000000;
    uint64_t rest = digits8(v - d0 * 100000000);
    int n = rest == 0 ? 1 : 9 - __builtin_clzll(rest) / 8; /* significant digits */
    int x = e10 + len - 1;                            /* scientific exponent */
    if (x >= -4 && x <= 8) {
        /* 0.0ddd: the digits after "0.0..."; else the digits, then the point moved in after
         * the integer part (for 0.0ddd and integers it lands past the end, unseen) */
        bool neg = x < 0;
        int at = pick(neg, 1 - x, 0), point = pick(neg, 1 - x + n, x + 1);
        memcpy(p, "0.000000", 8);
        p[at] = (char)('0' + d0);
        store8(p + at + 1, rest);
        shift8(p + point);
        p[point] = '.';
        return (size_t)pick(neg, at + n, pick(n > x + 1, n + 1, x + 1));
    }
    p[0] = (char)('0' + d0);                          /* d.ddde+XX */
    p[1] = '.';
    store8(p + 2, rest);
    char *e = p + (n > 1 ? n + 1 : 1);
    uint32_t ax = (uint32_t)(x < 0 ? -x : x);         /* at most 45 */
    e[0] = 'e';
    e[1] = x < 0 ? '-' : '+';
    memcpy(e + 2, DIGIT_PAIRS + 2 * ax, 2);
    return (size_t)(e + 4 - p);
}

/* Formats V at OUT without a NUL; returns the length. Writes up to FORMAT_SCRATCH + 1 bytes. */
INLINE size_t format_one(float v, char *out)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t ieee_m = bits & ((UINT32_C(1) << FLOAT_MANTISSA_BITS) - 1);
    uint32_t ieee_e = (bits >> FLOAT_MANTISSA_BITS) & ((1u << FLOAT_EXPONENT_BITS) - 1);
    char *p = out;
    if (ieee_e == (1u << FLOAT_EXPONENT_BITS) - 1) { /* outside the contract */
        memcpy(out, "null", 4);
        return 4;
    }
    *p = '-';
    p += bits >> 31;
    if (ieee_e == 0 && ieee_m == 0) {
        *p = '0';
        return (size_t)(p + 1 - out);
    }
    int32_t e10;
    uint32_t digits = float_to_decimal(ieee_m, ieee_e, &e10);
    return (size_t)(p - out) + layout(p, digits, e10);
}

size_t hbn_float_format(float v, char *out)
{
    char tmp[FORMAT_SCRATCH + 8];
    size_t n = format_one(v, tmp); /* at most 15 bytes, but it writes more */
    memcpy(out, tmp, 16);
    out[n] = '\0';
    return n;
}

size_t hbn_float_format_list(const float *v, size_t n, char *out)
{
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        p += format_one(v[i], p);
        *p++ = ',';
    }
    return n > 0 ? (size_t)(p - 1 - out) : 0;
}
