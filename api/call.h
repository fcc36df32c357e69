/* call.h: one request on its way through a route handler: the api, the request, the response
 * being built and the path's validated parameters; plus the helpers every handler shares (body
 * media type, JSON answers). Internal to api/. A handler returns a status; on failure api.c
 * turns it into the error response, so a handler fills RES only on success. */
#ifndef HBN_CALL_H
#define HBN_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/strbuf.h"
#include "api/tensor_json.h"
#include "core/layer.h"
#include "core/status.h"

typedef struct hbn_call {
    const hbn_api *api;          /* BORROWED */
    const hbn_request *req;      /* BORROWED */
    hbn_response *res;           /* BORROWED: the handler fills it on success */
    char name[HBN_NAME_MAX + 1]; /* the validated {name} segment; "" when the route has none */
    int64_t slot;                /* the {id} segment (saturated at INT64_MAX); -1 when none */
} hbn_call;

typedef hbn_status (*hbn_call_fn)(hbn_call *call, hbn_err *err);

/* HBN_E_UNSUPPORTED_MEDIA_TYPE unless the request's Content-Type is absent or media type TYPE
 * (parameters such as charset allowed, case-insensitive); the message says "Content-Type must be
 * TYPE" followed by WHAT (may be "") and quotes what was sent. */
hbn_status hbn_call_require_media(const hbn_call *call, const char *type, const char *what,
                                  hbn_err *err);

/* hbn_call_require_media for application/json. */
hbn_status hbn_call_require_json(const hbn_call *call, hbn_err *err);

/* Whether the Content-Type header CT (may be NULL) names media type TYPE, ignoring parameters,
 * surrounding blanks and case. */
bool hbn_call_media_type_is(const char *ct, const char *type);

/* HBN_E_NO_MEMORY ("out of memory while writing the response") when SB failed, else HBN_OK.
 * A handler that changes state prints its answer first and checks it here before the change is
 * committed, so that an answer it cannot send never follows a change it made. */
hbn_status hbn_call_printed(const hbn_strbuf *sb, hbn_err *err);

/* Prints what a GET answers of LAYER into SB (ARG: the route's own argument). */
typedef hbn_status (*hbn_call_print_fn)(const hbn_layer *layer, hbn_strbuf *sb, void *arg,
                                        hbn_err *err);

/* Answers 200 with what FN prints of the call's layer, read under its shared lock (the shape of
 * every GET of one layer's data); the store's status (layer_not_found, ...) or FN's otherwise. */
hbn_status hbn_call_answer_layer(hbn_call *call, hbn_call_print_fn fn, void *arg, hbn_err *err);

/* Answers HTTP status HTTP with SB's contents as application/json (taking SB's buffer).
 * HBN_E_NO_MEMORY when SB failed. */
hbn_status hbn_call_respond(hbn_call *call, int http, hbn_strbuf *sb, hbn_err *err);

/* Whether the body is absent or only JSON whitespace. */
bool hbn_call_body_empty(const hbn_call *call);

/* Copies a body error decided before the store call (BODY) into ERR and returns its status;
 * HBN_OK when BODY holds none. Handlers check the path's conflicts first, then this. */
hbn_status hbn_call_deferred(const hbn_err *body, hbn_err *err);

/* T's data for core's pointer arguments: never NULL, even for an empty tensor, because core
 * reads a NULL tensor as "not given". */
const float *hbn_call_floats(const hbn_tensor *t);

#endif
