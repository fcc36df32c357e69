/* float_format.h: printing float32 values as short JSON numbers that parse back to the same
 * float32 (the shortest of 1..9 significant digits that round-trips), much faster than snprintf.
 * Only finite values are printed; callers never hold non-finite values (they are rejected). */
#ifndef HBN_FLOAT_FORMAT_H
#define HBN_FLOAT_FORMAT_H

#include <stddef.h>

#define HBN_FLOAT_CHARS_MAX 24 /* enough for any float32 with sign, point, exponent and NUL */

/* Writes V (finite) into OUT (at least HBN_FLOAT_CHARS_MAX bytes, which it may all overwrite),
 * NUL-terminated, and returns the length. strtof(OUT) == V exactly. -0.0 prints as "-0". A
 * non-finite V (a caller bug) prints as "null" so that the output stays valid JSON. */
size_t hbn_float_format(float v, char *out);

/* Room that hbn_float_format_list needs for N values: at most 15 bytes and a comma each, plus
 * slack for the formatter's fixed-size stores. */
#define HBN_FLOAT_LIST_BYTES(n) ((size_t)(n) * 16 + 32)

/* Writes V[0..N) as hbn_float_format does, separated by commas, no brackets and no NUL, into OUT
 * (at least HBN_FLOAT_LIST_BYTES(N) bytes; bytes past the returned length may be overwritten).
 * Returns the length. The loop of the JSON array printer, with the formatter inlined. */
size_t hbn_float_format_list(const float *v, size_t n, char *out);

#endif
