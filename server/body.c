/* body.c: capped request bodies (body.h). Capacity doubles from 4 KiB and never exceeds the
 * limit, so a body that fits never costs more than twice its size; the first failure sticks. */
#include "server/body.h"

#include <stdlib.h>
#include <string.h>

#define BODY_FIRST_CAP 4096

void hbn_body_init(hbn_body *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->status = HBN_OK;
}

void hbn_body_clear(hbn_body *b)
{
    size_t limit = b->limit;

    free(b->data);
    hbn_body_init(b, limit);
}

/* Grows the capacity to at least NEED (<= limit). */
static hbn_status body_grow(hbn_body *b, size_t need)
{
    size_t cap = b->cap > 0 ? b->cap : BODY_FIRST_CAP;
    uint8_t *p;

    while (cap < need)
        cap = cap > b->limit / 2 ? b->limit : cap * 2;
    if (cap > b->limit)
        cap = b->limit > need ? b->limit : need;
    p = realloc(b->data, cap);
    if (p == NULL)
        return b->status = HBN_E_NO_MEMORY;
    b->data = p;
    b->cap = cap;
    return HBN_OK;
}

hbn_status hbn_body_reserve(hbn_body *b, size_t n)
{
    uint8_t *p;

    if (b->status != HBN_OK || n <= b->cap)
        return b->status;
    if (n > b->limit)
        return b->status = HBN_E_PAYLOAD_TOO_LARGE;
    p = realloc(b->data, n);
    if (p == NULL)
        return b->status = HBN_E_NO_MEMORY;
    b->data = p;
    b->cap = n;
    return HBN_OK;
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
