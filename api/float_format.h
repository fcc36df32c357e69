/* float_format.h: printing float32 values as short JSON numbers that parse back to the same
 * float32 (the shortest of 1..9 significant digits that round-trips), much faster than snprintf.
 * Only finite values are printed; callers never hold non-finite values (they are rejected). */
#ifndef HBN_FLOAT_FORMAT_H
#define HBN_FLOAT_FORMAT_H

#include <stddef.h>

#define HBN_FLOAT_CHARS_MAX 24 /* enough for any float32 with sign, point, exponent and NUL */

/* Writes V (finite) into OUT (at least HBN_FLOAT_CHARS_MAX bytes), NUL-terminated, and returns
 * the length. strtof(OUT) == V exactly. -0.0 prints as "-0". A non-finite V (a caller bug) prints
 * as "null" so that the output stays valid JSON. */
size_t hbn_float_format(float v, char *out);

#endif
