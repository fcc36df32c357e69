/* message.c: life cycle of the transport-free response (message.h). A response owns its body,
 * unless it borrows it from the request's writable buffer (body_borrowed: never freed here);
 * headers live in a fixed table, so adding one never allocates. A header whose value would be
 * truncated is not added at all (a cut Location or Allow would mislead the client). */
#include "api/message.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void hbn_response_init(hbn_response *res)
{
    memset(res, 0, sizeof *res);
    res->http_status = 500;
    res->route = "unknown";
}

void hbn_response_clear(hbn_response *res)
{
    if (!res->body_borrowed)
        hbn_free(res->body);
    hbn_response_init(res);
}

bool hbn_response_add_header(hbn_response *res, const char *name, const char *fmt, ...)
{
    if (res->header_count < 0 || res->header_count >= HBN_MAX_EXTRA_HEADERS)
        return false;
    hbn_header *h = &res->headers[res->header_count];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof h->value) {
        h->value[0] = '\0';
        return false;
    }
    h->name = name;
    res->header_count++;
    return true;
}

void hbn_response_set_body(hbn_response *res, int status, const char *content_type, char *body,
                           size_t len)
{
    if (res->body != body && !res->body_borrowed)
        hbn_free(res->body);
    res->http_status = status;
    res->content_type = content_type;
    res->body = body;
    res->body_len = len;
    res->body_borrowed = false;
}

void hbn_response_set_request_body(hbn_response *res, int status, const char *content_type,
                                   const hbn_request *req, char *body, size_t len)
{
    assert(req->body_mut != NULL && (uint8_t *)body >= req->body_mut &&
           len <= req->body_len - (size_t)((uint8_t *)body - req->body_mut));
    (void)req; /* only checked */
    hbn_response_set_body(res, status, content_type, body, len);
    res->body_borrowed = true;
}
