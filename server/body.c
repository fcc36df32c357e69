/* body.c: capped request bodies (body.h). Capacity doubles from 4 KiB and never exceeds the
 * limit, so a body that fits never costs more than twice its size; the first failure sticks.
 * Blocks come from aligned_alloc (64 bytes, sizes rounded up to that), so growing copies instead
 * of calling realloc, which would not keep the alignment. */
#include "server/body.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define BODY_FIRST_CAP 4096
#define BODY_ALIGN 64

/* Moves B's bytes into a new aligned block of capacity CAP (>= B->len). */
static hbn_status body_realloc(hbn_body *b, size_t cap)
{
    uint8_t *p;

    if (cap > SIZE_MAX - BODY_ALIGN)
        return b->status = HBN_E_NO_MEMORY;
    p = hbn_aligned_alloc(BODY_ALIGN, (cap + BODY_ALIGN - 1) / BODY_ALIGN * BODY_ALIGN);
    if (p == NULL)
        return b->status = HBN_E_NO_MEMORY;
    if (b->len > 0)
        memcpy(p, b->data, b->len);
    hbn_free(b->data);
    b->data = p;
    b->cap = cap;
    return HBN_OK;
}

void hbn_body_init(hbn_body *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->status = HBN_OK;
}

void hbn_body_clear(hbn_body *b)
{
    size_t limit = b->limit;

    hbn_free(b->data);
    hbn_body_init(b, limit);
}

/* Grows the capacity to at least NEED (<= limit). */
static hbn_status body_grow(hbn_body *b, size_t need)
{
    size_t cap = b->cap > 0 ? b->cap : BODY_FIRST_CAP;

    while (cap < need)
        cap = cap > b->limit / 2 ? b->limit : cap * 2;
    if (cap > b->limit)
        cap = b->limit > need ? b->limit : need;
    return body_realloc(b, cap);
}

hbn_status hbn_body_reserve(hbn_body *b, size_t n)
{
    if (b->status != HBN_OK || n <= b->cap)
        return b->status;
    if (n > b->limit)
        return b->status = HBN_E_PAYLOAD_TOO_LARGE;
    return body_realloc(b, n);
}

hbn_status hbn_body_append(hbn_body *b, const void *data, size_t n)
{
    if (b->status != HBN_OK || n == 0)
        return b->status;
    if (n > b->limit - b->len)
        return b->status = HBN_E_PAYLOAD_TOO_LARGE;
    if (b->len + n > b->cap && body_grow(b, b->len + n) != HBN_OK)
        return b->status;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return HBN_OK;
}

uint8_t *hbn_body_take(hbn_body *b)
{
    uint8_t *data = b->data;

    b->data = NULL;
    hbn_body_clear(b);
    return data;
}
