/* json_scan.h: a strict, allocation-free walker over one JSON object's top-level members, so that
 * large float arrays can go to the dedicated tensor codec while the small members go to cJSON.
 * Skipping a value validates it fully (RFC 8259 syntax, string escapes, UTF-8), with a nesting
 * depth limit; no number is converted. A caller that parses a member's value itself (strictly,
 * validating as it goes) can take the value over instead of having it skipped: one pass over
 * the text instead of two (hbn_json_iter_next_key, then hbn_json_iter_advance). */
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
    bool prefix;        /* walking an object that TEXT only starts with (hbn_json_iter_init_prefix) */
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

/* Like hbn_json_iter_init for an object that TEXT[LEN] only starts with (a member's value inside a
 * larger document, whose end is not known yet): the walk ends at the object's closing brace and
 * never looks past it; hbn_json_iter_offset then tells how many bytes the object took. Not an
 * object: HBN_E_INVALID_ARGUMENT, without validating anything. */
hbn_status hbn_json_iter_init_prefix(hbn_json_iter *it, const char *text, size_t len,
                                     hbn_err *err);

/* hbn_json_iter_next in two halves, for callers that can parse a member's value themselves. This
 * first half reads the key and stops at the value: M->value is its first byte and M->value_len
 * the bytes left in the document from there (the value's own length is not known yet). Errors
 * and *DONE as for hbn_json_iter_next (the value's own errors come with the second half). On a
 * member the caller must then call exactly one of hbn_json_iter_skip and hbn_json_iter_advance
 * before anything else on IT. */
hbn_status hbn_json_iter_next_key(hbn_json_iter *it, hbn_json_member *m, bool *done,
                                  hbn_err *err);

/* Second half, the usual one: skips and validates the value at which hbn_json_iter_next_key
 * stopped and sets M->value_len to its length, so that the two calls together are exactly
 * hbn_json_iter_next (same results, same errors, errors final). */
hbn_status hbn_json_iter_skip(hbn_json_iter *it, hbn_json_member *m, hbn_err *err);

/* Second half for a caller that parsed the value itself: it consumed the first USED bytes at
 * M->value (USED <= M->value_len) and checked that they are exactly one valid JSON value (by
 * RFC 8259 and this file's rules: a parser as strict as the skip); M->value_len becomes USED.
 * A caller whose parse failed calls hbn_json_iter_skip instead, which reports the error. */
void hbn_json_iter_advance(hbn_json_iter *it, hbn_json_member *m, size_t used);

/* Bytes of the document consumed so far; after the end of a prefix walk, the object's length
 * (from the start of TEXT, leading whitespace included). */
size_t hbn_json_iter_offset(const hbn_json_iter *it);

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
