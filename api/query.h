/* query.h: the raw query string of a request (the part after '?'): name=value pairs separated by
 * '&', values percent-decoded, names raw. A route lists the names it knows; typed readers turn a
 * value into a shape, an integer or a mode. Knows nothing of layers or HTTP. */
#ifndef HBN_QUERY_H
#define HBN_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layer.h"
#include "core/status.h"

#define HBN_QUERY_VALUE_MAX 128

/* One known parameter: whether it was given and its decoded value. */
typedef struct hbn_query_value {
    bool present;
    char text[HBN_QUERY_VALUE_MAX]; /* decoded, NUL-terminated */
} hbn_query_value;

/* Parses QUERY (BORROWED, may be NULL or empty) against NAMES[N]; VALUES[N] (caller-owned)
 * receive each parameter. Empty pairs ("a=1&&b=2") are skipped. HBN_E_UNKNOWN_FIELD for a name
 * not in NAMES; HBN_E_INVALID_ARGUMENT for a repeated name, a bad percent escape, a decoded NUL
 * or a value longer than HBN_QUERY_VALUE_MAX - 1 bytes. */
hbn_status hbn_query_parse(const char *query, const char *const *names, size_t n,
                           hbn_query_value *values, hbn_err *err);

/* Reads V (named NAME) as a shape "N,C[,...]" of decimal integers into SHAPE[HBN_MAX_RANK] and
 * *RANK. Checked in order: HBN_E_INVALID_ARGUMENT when an entry is not a decimal integer that
 * fits int64 (or the value is empty); HBN_E_SHAPE_MISMATCH when the rank is outside 2..5 or an
 * entry is negative. */
hbn_status hbn_query_shape(const hbn_query_value *v, const char *name, int *rank, int64_t *shape,
                           hbn_err *err);

/* Reads V as a decimal integer into *OUT; one beyond int64 saturates to INT64_MAX / INT64_MIN
 * (it is out of any range). HBN_E_INVALID_ARGUMENT for anything else ("abc", "1.5", ""). */
hbn_status hbn_query_int(const hbn_query_value *v, const char *name, int64_t *out, hbn_err *err);

/* Reads V as "train" or "eval". HBN_E_INVALID_ARGUMENT otherwise. */
hbn_status hbn_query_mode(const hbn_query_value *v, const char *name, hbn_mode *out,
                          hbn_err *err);

/* Parses the decimal integer S[LEN] (optional '-', then digits, nothing else) into *OUT,
 * saturating beyond int64 and setting *OVERFLOW (may be NULL). Returns false when S[LEN] is not
 * such an integer. Shared with the JSON readers. */
bool hbn_query_parse_int(const char *s, size_t len, int64_t *out, bool *overflow);

#endif
