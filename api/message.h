/* message.h: a transport-free HTTP request and response, the only currency between server/ and
 * api/. The server fills an hbn_request from libmicrohttpd and sends back an hbn_response; api/
 * never sees a socket. Invariant: a response owns its body (NEW, freed by hbn_response_clear),
 * except a body borrowed from the request's writable buffer (body_mut), which stays the
 * caller's: then the response is answered without copying what was computed in place. */
#ifndef HBN_MESSAGE_H
#define HBN_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HBN_MAX_EXTRA_HEADERS 4

/* One request. Every pointer is BORROWED for the duration of the hbn_api_handle call. */
typedef struct hbn_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* raw path, not unescaped, without the query */
    const char *query;        /* raw query string without '?', or NULL */
    const char *content_type; /* the Content-Type header, or NULL */
    const char *inference_header_length; /* Inference-Header-Content-Length header, or NULL */
    const uint8_t *body;      /* the body bytes (BODY_LEN of them), or NULL when there is none */
    size_t body_len;
    /* BODY itself, writable, when the caller lets api/ work in the request's own buffer; NULL
     * otherwise (api/ then copies what it must change). Such a buffer is the caller's private
     * copy of the body, 64-byte aligned, and stays valid until the response made from this
     * request has been sent (not only until hbn_api_handle returns). A handler may overwrite it
     * (compute in place) and answer with a part of it: hbn_response_set_request_body. */
    uint8_t *body_mut;
    const char *layer_for_log;/* unused by api; reserved */
} hbn_request;

typedef struct hbn_header {
    const char *name; /* static storage */
    char value[160];
} hbn_header;

/* One response. Initialise with hbn_response_init, release with hbn_response_clear. */
typedef struct hbn_response {
    int http_status;
    const char *content_type;  /* static storage; NULL for no body (204) */
    char *body;                /* NEW (malloc), BODY_LEN bytes; the server may take it over;
                                * or, when BODY_BORROWED, bytes inside the request's body_mut */
    size_t body_len;
    bool body_borrowed;        /* BODY is not owned: hbn_response_set_request_body */
    hbn_header headers[HBN_MAX_EXTRA_HEADERS]; /* Location, Allow, Retry-After, ... */
    int header_count;
    const char *route;         /* route template for metrics and logs ("/v1/layers/{name}"), static */
    const char *error_code;    /* the API error code when http_status >= 400, static; else NULL */
    uint64_t forward_elements; /* elements normalized by this request (metrics) */
} hbn_response;

/* Zeroes RES (status 500, no body, route "unknown"). */
void hbn_response_init(hbn_response *res);

/* Frees RES's body and re-initialises it. Accepts an initialised response. */
void hbn_response_clear(hbn_response *res);

/* Appends header NAME (static storage) with a printf-style value. Returns false when the header
 * table is full or the value was truncated. */
bool hbn_response_add_header(hbn_response *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Takes BODY (TAKES a malloc'd buffer of LEN bytes) as the response body with CONTENT_TYPE
 * (static) and STATUS, freeing any previous body. */
void hbn_response_set_body(hbn_response *res, int status, const char *content_type, char *body,
                           size_t len);

/* Answers STATUS with the LEN bytes at BODY, which lie inside REQ->body_mut (REQ's writable
 * buffer, see hbn_request), without copying: RES borrows them (BODY_BORROWED; hbn_response_clear
 * and a later hbn_response_set_body leave them alone) and the caller of hbn_api_handle, which
 * owns that buffer, sends them and frees the buffer once they are sent (server/http.c hands the
 * buffer over to libmicrohttpd). Frees any body RES owned before. */
void hbn_response_set_request_body(hbn_response *res, int status, const char *content_type,
                                   const hbn_request *req, char *body, size_t len);

#endif
