/* http.c: libmicrohttpd glue (http.h). Per request an http_exchange is created by the URI log
 * callback (which sees the raw request target, query included), carried through the access
 * handler's calls (first: checks and early answers; then body bytes; last: api/ and the
 * response) and freed only in the completion callback, which also logs and records metrics.
 * The path reaches api/ undecoded: the unescape callback is the identity. A response body is
 * handed to libmicrohttpd with hbn_free() as its release function, never copied. The request body
 * (64-byte aligned, the exchange's own) is offered to api/ as writable; a response that borrows
 * it takes the whole buffer along to libmicrohttpd, which frees it once the response is sent. */
#include "server/http.h"

#include <assert.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/log.h"
#include "server/request_id.h"

#define HTTP_MEMORY_LIMIT ((size_t)128 * 1024) /* per connection: headers and read buffer */
#define HTTP_METHOD_MAX 16
#define HTTP_DISCARD_MAX ((uint64_t)64 << 20) /* body bytes dropped before hanging up */

struct hbn_http {
    hbn_http_config cfg;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd; /* the listening socket after hbn_http_quiesce, else invalid */
    unsigned port;
};

typedef struct http_exchange {
    uint64_t start_ns;
    const char *path;  /* raw, points into target */
    const char *query; /* raw, points into target, or NULL */
    char id[HBN_REQUEST_ID_MAX + 1];
    char method[HTTP_METHOD_MAX];
    hbn_route_info info;
    bool started;      /* the first access-handler call happened */
    bool responded;    /* a response is queued; status and bytes below are final */
    int status;
    uint64_t bytes;
    uint64_t forward_elements;
    hbn_body body;
    uint64_t discarded; /* body bytes dropped after the body failed */
    char target[];     /* the request target; '?' replaced by NUL */
} http_exchange;

static uint64_t http_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- per-request life ------------------------------------------------------------------- */

/* MHD_OPTION_URI_LOG_CALLBACK: the exchange of a new request (NULL when out of memory). */
static void *http_exchange_create(void *cls, const char *uri, struct MHD_Connection *conn)
{
    hbn_http *http = cls;
    size_t n = strlen(uri);
    http_exchange *x = hbn_malloc(sizeof *x + n + 1);
    char *q;

    (void)conn;
    if (x == NULL)
        return NULL;
    memset(x, 0, sizeof *x);
    x->start_ns = http_now_ns();
    memcpy(x->target, uri, n + 1);
    q = strchr(x->target, '?');
    if (q != NULL)
        *q++ = '\0';
    x->path = x->target;
    x->query = q;
    x->info.route = "unknown";
    strcpy(x->id, "-");
    hbn_body_init(&x->body, http->cfg.opts->max_body_bytes);
    hbn_lifecycle_request_begin(http->cfg.life);
    return x;
}

/* MHD_OPTION_NOTIFY_COMPLETED: logs and counts the request, then frees its exchange. A request
 * libmicrohttpd answered itself (malformed) or the client abandoned is logged with status 0. */
static void http_exchange_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    hbn_http *http = cls;
    http_exchange *x = *con_cls;
    uint64_t ns;

    (void)conn;
    (void)toe;
    if (x == NULL)
        return;
    *con_cls = NULL;
    ns = http_now_ns() - x->start_ns;
    if (x->responded)
        hbn_metrics_record(http->cfg.metrics, x->info.route, x->status, ns, x->forward_elements);
    hbn_log_request_line(&(hbn_log_request){
        .request_id = x->id,
        .method = x->started ? x->method : "-",
        .route = x->info.route,
        .status = x->responded ? x->status : 0,
        .bytes = x->bytes,
        .duration_s = (double)ns / 1e9,
    });
    hbn_body_clear(&x->body);
    hbn_free(x);
    hbn_lifecycle_request_end(http->cfg.life);
}

static size_t http_unescape_identity(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    hbn_log_vmessage("warn", fmt, ap);
}

/* ---- responses -------------------------------------------------------------------------- */

/* A response with no exchange to log (out of memory before one existed). */
static enum MHD_Result http_send_static_503(struct MHD_Connection *conn)
{
    static const char body[] = "{\"error\": \"out of memory\", \"code\": \"unavailable\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ret;
}

/* The MHD response of RES, taking its body (RES no longer owns it), or NULL. A body borrowed
 * from X's request body takes that whole buffer along (X no longer owns it). */
static struct MHD_Response *http_response_take(hbn_response *res, http_exchange *x)
{
    struct MHD_Response *r;

    if (res->body == NULL || res->body_len == 0)
        return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (res->body_borrowed) {
        assert((uint8_t *)res->body >= x->body.data &&
               res->body_len <= x->body.len - (size_t)((uint8_t *)res->body - x->body.data));
        r = MHD_create_response_from_buffer_with_free_callback_cls(res->body_len, res->body,
                                                                   hbn_free, x->body.data);
        if (r == NULL)
            return NULL;
        hbn_body_take(&x->body); /* now owned by R */
        res->body_borrowed = false;
    } else {
        r = MHD_create_response_from_buffer_with_free_callback(res->body_len, res->body, hbn_free);
        if (r == NULL)
            return NULL;
    }
    res->body = NULL; /* now owned by R; body_len stays for the log */
    return r;
}

/* Queues RES (clearing it) with the request id and, while draining, Connection: close. */
static enum MHD_Result http_send(hbn_http *http, struct MHD_Connection *conn, http_exchange *x,
                                 hbn_response *res)
{
    struct MHD_Response *r = http_response_take(res, x);
    enum MHD_Result ret;
    bool ok = r != NULL;

    if (!ok) {
        hbn_response_clear(res);
        return http_send_static_503(conn);
    }
    if (res->content_type != NULL)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type) == MHD_YES;
    ok = ok && MHD_add_response_header(r, "X-Request-Id", x->id) == MHD_YES;
    for (int i = 0; ok && i < res->header_count; i++)
        ok = MHD_add_response_header(r, res->headers[i].name, res->headers[i].value) == MHD_YES;
    if (ok && hbn_lifecycle_is_draining(http->cfg.life))
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        hbn_response_clear(res);
        return http_send_static_503(conn);
    }
    ret = MHD_queue_response(conn, (unsigned)res->http_status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        x->responded = true;
        x->status = res->http_status;
        x->bytes = res->body_len;
        x->forward_elements = res->forward_elements;
        if (res->route != NULL && strcmp(res->route, "unknown") != 0)
            x->info.route = res->route;
    }
    hbn_response_clear(res);
    return ret;
}

/* An error decided by the transport (STATUS with MESSAGE), before or instead of api/. */
static enum MHD_Result http_send_error(hbn_http *http, struct MHD_Connection *conn,
                                       http_exchange *x, hbn_status status, const char *message)
{
    hbn_response res;

    hbn_response_init(&res);
    hbn_api_error(&res, status, message);
    res.route = x->info.route;
    return http_send(http, conn, x, &res);
}

/* ---- the last call: api/ --------------------------------------------------------------- */

static bool http_route_computes(const char *route)
{
    static const char *const suffixes[] = {"/forward", "/infer"};
    size_t n = strlen(route);

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);

        if (n >= k && strcmp(route + n - k, suffixes[i]) == 0)
            return true;
    }
    return false;
}

static enum MHD_Result http_last_call(hbn_http *http, struct MHD_Connection *conn,
                                      http_exchange *x)
{
    hbn_request req = {
        .method = x->method,
        .path = x->path,
        .query = x->query,
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .inference_header_length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Inference-Header-Content-Length"),
        .body = x->body.len > 0 ? x->body.data : NULL,
        .body_len = x->body.len,
        .body_mut = x->body.len > 0 ? x->body.data : NULL,
    };
    bool computes = http_route_computes(x->info.route);
    hbn_response res;
    char msg[96];

    if (x->body.status == HBN_E_PAYLOAD_TOO_LARGE) {
        snprintf(msg, sizeof msg, "the request body exceeds the limit of %zu bytes",
                 x->body.limit);
        return http_send_error(http, conn, x, HBN_E_PAYLOAD_TOO_LARGE, msg);
    }
    if (x->body.status != HBN_OK)
        return http_send_error(http, conn, x, HBN_E_NO_MEMORY, "out of memory reading the body");
    hbn_response_init(&res);
    if (computes)
        hbn_permits_acquire(http->cfg.permits);
    hbn_api_handle(http->cfg.api, &req, &res);
    if (computes)
        hbn_permits_release(http->cfg.permits);
    return http_send(http, conn, x, &res);
}

/* ---- the first call: everything decided from the request head --------------------------- */

typedef struct http_framing {
    int content_length_count;
    int transfer_encoding_count;
    const char *content_length;
    const char *transfer_encoding;
} http_framing;

static enum MHD_Result http_count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    http_framing *f = cls;

    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length_count++;
        f->content_length = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding_count++;
        f->transfer_encoding = value;
    }
    return MHD_YES;
}

/* Parses a Content-Length value (digits only) into *OUT; false when malformed or huge. */
static bool http_parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* 400 for ambiguous framing, 411 for a missing length, 413 for a declared one over the cap.
 * Returns HBN_OK (with the declared length, or 0, in *LEN) or the status, with a sentence in
 * MSG. */
static hbn_status http_check_framing(struct MHD_Connection *conn, const http_exchange *x,
                                     uint64_t *len, char *msg, size_t size)
{
    http_framing f = {0};

    *len = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, http_count_framing, &f);
    if (f.content_length_count > 1 || f.transfer_encoding_count > 1 ||
        (f.content_length_count > 0 && f.transfer_encoding_count > 0)) {
        snprintf(msg, size, "ambiguous framing: %d Content-Length and %d Transfer-Encoding "
                 "headers", f.content_length_count, f.transfer_encoding_count);
        return HBN_E_INVALID_ARGUMENT;
    }
    if (f.transfer_encoding_count > 0 && strcasecmp(f.transfer_encoding, "chunked") != 0) {
        snprintf(msg, size, "unsupported Transfer-Encoding (only chunked is accepted)");
        return HBN_E_INVALID_ARGUMENT;
    }
    if (f.content_length_count == 0) {
        if (f.transfer_encoding_count == 0 && x->info.takes_body && !x->info.length_optional) {
            snprintf(msg, size, "%s %s needs a Content-Length header", x->method,
                     x->info.route);
            return HBN_E_LENGTH_REQUIRED;
        }
        return HBN_OK;
    }
    if (!http_parse_length(f.content_length, len)) {
        snprintf(msg, size, "invalid Content-Length header");
        return HBN_E_INVALID_ARGUMENT;
    }
    if (*len > x->body.limit) {
        snprintf(msg, size, "the request body of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)*len, x->body.limit);
        return HBN_E_PAYLOAD_TOO_LARGE;
    }
    return HBN_OK;
}

/* Checks in order: framing (400), the API key (401), the route (404 / 405, answered by api/
 * at once without the body), length (411 / 413); then reserves the declared body. */
static enum MHD_Result http_first_call(hbn_http *http, struct MHD_Connection *conn,
                                       http_exchange *x, const char *method)
{
    char msg[160];
    uint64_t len = 0;
    hbn_status st;

    x->started = true;
    snprintf(x->method, sizeof x->method, "%s", method);
    hbn_request_id_make(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"),
                        x->id);
    hbn_api_route(method, x->path, &x->info);
    st = http_check_framing(conn, x, &len, msg, sizeof msg);
    if (st == HBN_E_INVALID_ARGUMENT)
        return http_send_error(http, conn, x, st, msg);
    if (http->cfg.api_key != NULL && x->info.needs_auth &&
        !hbn_auth_check(http->cfg.api_key, MHD_lookup_connection_value(
                                               conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_AUTHORIZATION)))
        return http_send_error(http, conn, x, HBN_E_UNAUTHORIZED,
                               "a valid API key is required: Authorization: Bearer KEY");
    if (!x->info.known_path || !x->info.method_allowed)
        return http_last_call(http, conn, x);
    if (st != HBN_OK)
        return http_send_error(http, conn, x, st, msg);
    if (hbn_body_reserve(&x->body, (size_t)len) != HBN_OK)
        return http_send_error(http, conn, x, HBN_E_NO_MEMORY,
                               "out of memory for the request body");
    return MHD_YES;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    hbn_http *http = cls;
    http_exchange *x = *con_cls;

    (void)url;
    (void)version;
    if (x == NULL)
        return http_send_static_503(conn);
    if (x->responded) {
        *upload_data_size = 0; /* answered early: drop what still arrives */
        return MHD_YES;
    }
    if (!x->started)
        return http_first_call(http, conn, x, method);
    if (*upload_data_size > 0) {
        /* libmicrohttpd 0.9.75 cannot answer in the middle of a body: a chunked body over the
         * cap is dropped up to its end and answered 413 then, unless it goes on for more than
         * HTTP_DISCARD_MAX further bytes: then the connection is closed */
        if (hbn_body_append(&x->body, upload_data, *upload_data_size) != HBN_OK)
            x->discarded += *upload_data_size;
        *upload_data_size = 0;
        return x->discarded > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    return http_last_call(http, conn, x);
}

/* ---- the daemon ------------------------------------------------------------------------- */

/* Resolves HOST (numeric or a name) with PORT into ADDR; *IPV6 tells the family. */
static hbn_status http_resolve(const char *host, unsigned port, struct sockaddr_storage *addr,
                               bool *ipv6, hbn_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    int rc;

    snprintf(service, sizeof service, "%u", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "cannot resolve host %s: %s", host,
                           rc != 0 ? gai_strerror(rc) : "no address");
    memset(addr, 0, sizeof *addr);
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return HBN_OK;
}

static struct MHD_Daemon *http_daemon_start(hbn_http *http, const struct sockaddr_storage *addr,
                                            bool ipv6)
{
    const hbn_options *o = http->cfg.opts;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;

    if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL; /* no FD_SETSIZE limit on descriptors */
    if (ipv6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, http_access, http,
        MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, http, /* first, or MHD logs on its own */
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_MEMORY_LIMIT,
        MHD_OPTION_URI_LOG_CALLBACK, http_exchange_create, http,
        MHD_OPTION_NOTIFY_COMPLETED, http_exchange_done, http,
        MHD_OPTION_UNESCAPE_CALLBACK, http_unescape_identity, http,
        MHD_OPTION_END);
}

hbn_status hbn_http_start(const hbn_http_config *cfg, hbn_http **out, hbn_err *err)
{
    hbn_http *http = hbn_calloc(1, sizeof *http);
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    bool ipv6 = false;
    hbn_status st;

    if (http == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory starting the HTTP server");
    http->cfg = *cfg;
    http->quiesced_fd = MHD_INVALID_SOCKET;
    st = http_resolve(cfg->opts->host, cfg->opts->port, &addr, &ipv6, err);
    if (st != HBN_OK)
        goto fail;
    http->daemon = http_daemon_start(http, &addr, ipv6);
    if (http->daemon == NULL) {
        st = hbn_err_set(err, HBN_E_IO, "cannot listen on %s:%u", cfg->opts->host,
                         cfg->opts->port);
        goto fail;
    }
    info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info != NULL && info->port != 0 ? info->port : cfg->opts->port;
    *out = http;
    return HBN_OK;
fail:
    hbn_free(http);
    return st;
}

unsigned hbn_http_port(const hbn_http *http)
{
    return http->port;
}

void hbn_http_quiesce(hbn_http *http)
{
    if (http->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    http->quiesced_fd = MHD_quiesce_daemon(http->daemon);
    /* the socket stays open until MHD_stop_daemon (its rule), but stops listening now: new
     * connections are refused instead of waiting unanswered in the backlog */
    if (http->quiesced_fd != MHD_INVALID_SOCKET)
        shutdown(http->quiesced_fd, SHUT_RDWR);
}

void hbn_http_stop(hbn_http *http)
{
    if (http == NULL)
        return;
    MHD_stop_daemon(http->daemon);
    if (http->quiesced_fd != MHD_INVALID_SOCKET)
        close(http->quiesced_fd);
    hbn_free(http);
}
