/* http.h: the libmicrohttpd transport: one thread per connection, requests turned into
 * hbn_request for api/ and responses sent back without copying their bodies. Decides before any
 * body byte is read what needs no body: framing (400), the API key (401), unknown routes (404,
 * 405), a missing length (411), a declared length over the cap (413). Knows no route but by the
 * template api/ names. */
#ifndef HBN_HTTP_H
#define HBN_HTTP_H

#include "api/api.h"
#include "core/status.h"
#include "server/lifecycle.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/permits.h"

typedef struct hbn_http hbn_http;

/* Everything the transport borrows for its whole life. */
typedef struct hbn_http_config {
    const hbn_options *opts;
    const hbn_api *api;
    const char *api_key; /* NULL: no authentication */
    hbn_metrics *metrics;
    hbn_lifecycle *life;
    hbn_permits *permits;
} hbn_http_config;

/* Binds CFG->opts->host:port and starts serving into *OUT (NEW, stop with hbn_http_stop).
 * HBN_E_INVALID_ARGUMENT (the host does not resolve), HBN_E_IO (cannot bind or start),
 * HBN_E_NO_MEMORY. */
hbn_status hbn_http_start(const hbn_http_config *cfg, hbn_http **out, hbn_err *err);

/* The port actually bound (the chosen one when the options asked for 0). */
unsigned hbn_http_port(const hbn_http *http);

/* Stops accepting connections; connections already open are still served. */
void hbn_http_quiesce(hbn_http *http);

/* Closes every connection, waits for their threads, frees HTTP. Accepts NULL. */
void hbn_http_stop(hbn_http *http);

#endif
