/* query.c: raw query parsing. Pairs split on '&' and '=', values percent-decoded into fixed
 * buffers ('+' is kept as is: no value this API reads contains a space), names compared raw.
 * Every error names the parameter and quotes the offending value. */
#include "api/query.h"

#include <string.h>

#include "api/hex.h"
#include "api/name.h"

bool hbn_query_parse_int(const char *s, size_t len, int64_t *out, bool *overflow)
{
    bool neg = false;
    bool over = false;
    uint64_t limit, v = 0;
    size_t i = 0;

    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len)
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (!over && v > (limit - d) / 10u)
            over = true;
        if (!over)
            v = v * 10u + d;
    }
    if (over)
        *out = neg ? INT64_MIN : INT64_MAX;
    else if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    if (overflow != NULL)
        *overflow = over;
    return true;
}

/* Percent-decodes S[LEN] into OUT[HBN_QUERY_VALUE_MAX]; false on a bad escape, a NUL or
 * overflow. */
static bool decode_value(const char *s, size_t len, char *out)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi = i + 2 < len ? hbn_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < len ? hbn_hex_digit(s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= HBN_QUERY_VALUE_MAX)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

hbn_status hbn_query_parse(const char *query, const char *const *names, size_t n,
                           hbn_query_value *values, hbn_err *err)
{
    const char *p = query;
    size_t i;

    for (i = 0; i < n; i++) {
        values[i].present = false;
        values[i].text[0] = '\0';
    }
    while (p != NULL && *p != '\0') {
        size_t plen = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        const char *val = klen < plen ? p + klen + 1 : p + plen;
        size_t vlen = klen < plen ? plen - klen - 1 : 0;
        char shown[48];

        if (plen > 0) {
            hbn_name_excerpt(p, klen, shown, sizeof shown);
            for (i = 0; i < n; i++)
                if (strlen(names[i]) == klen && memcmp(names[i], p, klen) == 0)
                    break;
            if (i == n)
                return hbn_err_set(err, HBN_E_UNKNOWN_FIELD, "unknown query parameter '%s'",
                                   shown);
            if (values[i].present)
                return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                                   "query parameter %s is given more than once", names[i]);
            if (!decode_value(val, vlen, values[i].text)) {
                hbn_name_excerpt(val, vlen, shown, sizeof shown);
                return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                                   "query parameter %s has a malformed value '%s'", names[i],
                                   shown);
            }
            values[i].present = true;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return HBN_OK;
}

hbn_status hbn_query_shape(const hbn_query_value *v, const char *name, int *rank, int64_t *shape,
                           hbn_err *err)
{
    const char *p = v->text;
    char shown[48];
    int count = 0;
    int negative = -1;

    hbn_name_excerpt(v->text, strlen(v->text), shown, sizeof shown);
    for (;;) {
        size_t len = strcspn(p, ",");
        int64_t dim;
        bool over;

        if (!hbn_query_parse_int(p, len, &dim, &over) || over)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "%s must be a comma-separated list of integers such as 8,4, got "
                               "'%s'", name, shown);
        if (dim < 0 && negative < 0)
            negative = count;
        if (count < HBN_MAX_RANK)
            shape[count] = dim;
        count++;
        p += len;
        if (*p == '\0')
            break;
        p++;
    }
    if (count < HBN_MIN_RANK || count > HBN_MAX_RANK)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "%s has rank %d, expected 2 to 5 dimensions (N, C, ...), got '%s'",
                           name, count, shown);
    if (negative >= 0)
        return hbn_err_set(err, HBN_E_SHAPE_MISMATCH,
                           "%s has a negative dimension at index %d, got '%s'", name,
                           negative, shown);
    *rank = count;
    return HBN_OK;
}

hbn_status hbn_query_int(const hbn_query_value *v, const char *name, int64_t *out, hbn_err *err)
{
    char shown[48];

    if (hbn_query_parse_int(v->text, strlen(v->text), out, NULL))
        return HBN_OK;
    hbn_name_excerpt(v->text, strlen(v->text), shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be an integer, got '%s'", name,
                       shown);
}

hbn_status hbn_query_mode(const hbn_query_value *v, const char *name, hbn_mode *out,
                          hbn_err *err)
{
    char shown[48];

    if (hbn_mode_parse(v->text, out) == HBN_OK)
        return HBN_OK;
    hbn_name_excerpt(v->text, strlen(v->text), shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s must be \"train\" or \"eval\", got '%s'",
                       name, shown);
}
