/* json_walk.h: a fast, non-validating walker over JSON text that json_scan has already accepted
 * (hbn_json_validate, or a member span from hbn_json_iter_next): the elements of an array and the
 * members of an object, as raw spans, so that nested structures (the Open Inference Protocol's
 * inputs and outputs lists) can be read without a parse tree or a second validation. On text that
 * was not validated the results are meaningless but every read stays inside the span. */
#ifndef HBN_JSON_WALK_H
#define HBN_JSON_WALK_H

#include <stdbool.h>
#include <stddef.h>

/* A raw span of a JSON document (BORROWED). */
typedef struct hbn_json_span {
    const char *p;
    size_t len;
} hbn_json_span;

/* A cursor over the elements or members of one array or object. */
typedef struct hbn_json_walk {
    const char *s;  /* BORROWED: the container's span */
    size_t len;
    size_t pos;
    bool object;
} hbn_json_walk;

/* Starts walking the array or object that CONTAINER spans (its first non-blank byte is '[' or
 * '{'). Returns false when it is neither. */
bool hbn_json_walk_init(hbn_json_walk *w, hbn_json_span container);

/* Reads the next element (arrays) or member (objects) into *VALUE and, for objects, the raw key
 * (quotes included) into *KEY (may be NULL). Returns false at the end of the container. */
bool hbn_json_walk_next(hbn_json_walk *w, hbn_json_span *key, hbn_json_span *value);

/* Whether the raw JSON string S (a key or a string value, quotes included, escapes allowed)
 * decodes to the ASCII text NAME. */
bool hbn_json_walk_string_is(hbn_json_span s, const char *name);

/* The JSON type of the valid value V from its first byte: '{', '[', '"', 't' / 'f' (boolean),
 * 'n' (null) or '0' (a number). */
char hbn_json_walk_kind(hbn_json_span v);

#endif
