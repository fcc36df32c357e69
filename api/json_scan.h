/* json_scan.h: a strict, allocation-free walker over one JSON object's top-level members, so that
 * large float arrays can go to the dedicated tensor codec while the small members go to cJSON.
 * Skipping a value validates it fully (RFC 8259 syntax, string escapes, UTF-8), with a nesting
 * depth limit; no number is converted. */
#ifndef HBN_JSON_SCAN_H
#define HBN_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HBN_JSON_MAX_DEPTH 64

/* One member: KEY (decoded, NUL-terminated, truncated keys are an error) and the raw span of its
 * value inside the document. */
typedef struct hbn_json_member {
    char key[64];
    const char *value;  /* BORROWED: first byte of the value */
    size_t value_len;   /* bytes of the value */
} hbn_json_member;

typedef struct hbn_json_iter {
    const char *text;   /* BORROWED document */
    size_t len;
    size_t pos;
    int state;
} hbn_json_iter;

/* Starts walking the document TEXT[LEN], which must be one JSON object (surrounding whitespace
 * allowed). HBN_E_INVALID_JSON (syntax, empty body) or HBN_E_INVALID_ARGUMENT (valid JSON that is
 * not an object). */
hbn_status hbn_json_iter_init(hbn_json_iter *it, const char *text, size_t len, hbn_err *err);

/* Reads the next member into *M. Returns HBN_OK with *DONE false for a member, HBN_OK with *DONE
 * true at the end of the object (trailing bytes after it other than whitespace are
 * HBN_E_INVALID_JSON), or HBN_E_INVALID_JSON with the byte offset in the message. A key longer
 * than 63 bytes is reported as HBN_E_UNKNOWN_FIELD. */
hbn_status hbn_json_iter_next(hbn_json_iter *it, hbn_json_member *m, bool *done, hbn_err *err);

/* Validates that TEXT[LEN] is exactly one JSON value (whitespace around it allowed). */
hbn_status hbn_json_validate(const char *text, size_t len, hbn_err *err);

/* The length of the JSON number token that TEXT[LEN] starts with (RFC 8259 grammar: no '+', no
 * leading zeros, digits on both sides of '.'), or 0 when TEXT does not start with one or the
 * token runs on into more number characters ("01", "1.2.3"). *IS_INTEGER (may be NULL) is set
 * when the token has neither fraction nor exponent. Shared with the tensor codec. */
size_t hbn_json_number_span(const char *text, size_t len, bool *is_integer);

/* A JSON number as read by hbn_json_number_parse: the value is
 * (NEGATIVE ? -1 : 1) * SIGNIFICAND * 10^EXPONENT exactly unless INEXACT (a nonzero digit beyond
 * the first 18-19 significant ones was dropped). EXPONENT saturates near +-2e9 (absurd tokens). */
typedef struct hbn_json_decimal {
    uint64_t significand;
    int32_t exponent;
    bool negative;
    bool inexact;
    bool integer; /* neither fraction nor exponent */
} hbn_json_decimal;

/* hbn_json_number_span that also reads the token's decimal value into *DEC, in the same pass.
 * Returns the token length, or 0 (DEC then unspecified). */
size_t hbn_json_number_parse(const char *text, size_t len, hbn_json_decimal *dec);

#endif
