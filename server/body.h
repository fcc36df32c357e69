/* body.h: a request body accumulated in memory under a byte cap, growing geometrically (every
 * growth through a temporary pointer, so a failed allocation keeps what was read). Once the cap is
 * passed or memory runs out the body is marked failed and later bytes are dropped. The bytes are
 * 64-byte aligned, so that api/ can compute on float32 bodies in place (hbn_request.body_mut). */
#ifndef HBN_BODY_H
#define HBN_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct hbn_body {
    uint8_t *data;     /* NEW (aligned_alloc, 64), LEN bytes; NULL until a byte arrives or a
                        * reserve */
    size_t len;
    size_t cap;
    size_t limit;      /* most bytes accepted */
    hbn_status status; /* HBN_OK, HBN_E_PAYLOAD_TOO_LARGE or HBN_E_NO_MEMORY */
} hbn_body;

/* An empty body accepting at most LIMIT bytes. */
void hbn_body_init(hbn_body *b, size_t limit);

/* Frees the bytes and re-initialises B with the same limit. */
void hbn_body_clear(hbn_body *b);

/* Makes room for N bytes in all (a declared Content-Length <= the limit) so that appending them
 * never reallocates. Returns B's status (HBN_E_NO_MEMORY when the room cannot be had). */
hbn_status hbn_body_reserve(hbn_body *b, size_t n);

/* Appends DATA[N]; returns B's status afterwards. After a failure nothing is appended. */
hbn_status hbn_body_append(hbn_body *b, const void *data, size_t n);

/* Hands B's bytes over: returns DATA (NEW, the caller frees it with free(); NULL when there is
 * none) and re-initialises B with the same limit, as hbn_body_clear would without freeing. */
uint8_t *hbn_body_take(hbn_body *b);

#endif
