/* check_http.c: Check tests of server/http.c over real sockets: the daemon's transport is started
 * on 127.0.0.1 port 0 with the real api/ and registry, and raw HTTP/1.1 bytes are written to it,
 * so framing rules (400, 411, 413 before any body byte, no 100 Continue), the API key, raw paths,
 * request ids, keep-alive, the compute cap, metrics and draining are seen as a client sees them.
 * Every wait is bounded by a socket timeout. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/alloc.h"
#include "server/http.h"
#include "server/registry.h"

#define REPLY_MAX 65536

static hbn_options opts;
static hbn_registry *reg;
static hbn_metrics *metrics;
static hbn_lifecycle *life;
static hbn_permits *permits;
static hbn_api api;
static hbn_http *http;
static unsigned port;

static size_t layer_count(void *ctx)
{
    return hbn_registry_count(ctx);
}

/* Starts the transport with ARGV's flags (NULL-terminated) and KEY. */
static void start(const char *key, char *const *flags)
{
    static char prog[] = "hyperbnd", zero[] = "0", port_flag[] = "--port";
    char *argv[16] = {prog, port_flag, zero};
    int argc = 3;
    hbn_registry_options ro = {0};
    hbn_metrics_gauges g;
    hbn_http_config cfg;

    for (; flags != NULL && *flags != NULL; flags++)
        argv[argc++] = *flags;
    ck_assert_int_eq(hbn_options_parse(argc, argv, NULL, &opts, NULL), HBN_OK);
    ck_assert_int_eq(hbn_registry_create(&ro, &reg, NULL), HBN_OK);
    ck_assert_int_eq(hbn_lifecycle_create(&life, NULL), HBN_OK);
    ck_assert_int_eq(hbn_permits_create(opts.threads, &permits, NULL), HBN_OK);
    g = (hbn_metrics_gauges){.layers = layer_count, .layers_ctx = reg,
                             .inflight = hbn_lifecycle_inflight, .inflight_ctx = life};
    ck_assert_int_eq(hbn_metrics_create(&g, &metrics, NULL), HBN_OK);
    memset(&api, 0, sizeof api);
    hbn_registry_store(reg, &api.store);
    api.version = "test";
    api.not_ready_reason = hbn_lifecycle_not_ready_reason;
    api.ready_ctx = life;
    api.render_metrics = hbn_metrics_render;
    api.metrics_ctx = metrics;
    cfg = (hbn_http_config){.opts = &opts, .api = &api, .api_key = key, .metrics = metrics,
                            .life = life, .permits = permits};
    ck_assert_int_eq(hbn_http_start(&cfg, &http, NULL), HBN_OK);
    port = hbn_http_port(http);
    ck_assert_uint_ne(port, 0);
    hbn_lifecycle_set_ready(life);
}

static void setup_plain(void) { start(NULL, NULL); }
static void setup_key(void) { start("s3cret", NULL); }

/* A transport with one flag FLAG set to VALUE. */
static void start_with(const char *flag, const char *value)
{
    static char f[32], v[16];
    static char *const flags[] = {f, v, NULL};

    snprintf(f, sizeof f, "%s", flag);
    snprintf(v, sizeof v, "%s", value);
    start(NULL, flags);
}
static void setup_one_connection(void) { start_with("--max-connections", "1"); }
static void setup_one_per_ip(void) { start_with("--per-ip-connections", "1"); }
static void setup_idle_timeout(void) { start_with("--connection-timeout", "1"); }
static void setup_small(void)
{
    static char f1[] = "--max-body-bytes", v1[] = "200", f2[] = "--threads", v2[] = "1";
    static char *const flags[] = {f1, v1, f2, v2, NULL};

    start(NULL, flags);
}

static void teardown(void)
{
    hbn_http_stop(http);
    hbn_metrics_free(metrics);
    hbn_permits_free(permits);
    hbn_lifecycle_free(life);
    hbn_registry_free(reg);
}

/* ---- a raw client ----------------------------------------------------------------------- */

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends LEN bytes at DATA on FD; false once the peer has closed (or reset) the connection. */
static bool send_or_closed(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t k = send(fd, data, len, MSG_NOSIGNAL);

        if (k <= 0)
            return false;
        data += k;
        len -= (size_t)k;
    }
    return true;
}

/* Sends the string DATA on FD; fails the test if the peer closes first. */
static void send_all(int fd, const char *data)
{
    ck_assert(send_or_closed(fd, data, strlen(data)));
}

/* Reads one response (head + Content-Length body) into BUF[REPLY_MAX]; returns its status. */
static int read_reply(int fd, char *buf)
{
    size_t len = 0;
    char *end = NULL, *cl;
    size_t need = 0;
    int status = 0;

    for (;;) {
        ssize_t k;

        if (end != NULL && len >= need)
            break;
        k = recv(fd, buf + len, REPLY_MAX - 1 - len, 0);
        ck_assert_msg(k > 0, "no complete response (read %zd, errno %d)", k, errno);
        len += (size_t)k;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            cl = strcasestr(buf, "\r\nContent-Length: ");
            need = (size_t)(end + 4 - buf) + (cl != NULL && cl < end ? strtoul(cl + 18, NULL, 10)
                                                                      : 0);
        }
    }
    ck_assert_int_eq(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    return status;
}

/* One request on a fresh connection; the status, with the response in BUF. */
static int exchange(const char *request, char *buf)
{
    int fd = dial(), status;

    send_all(fd, request);
    status = read_reply(fd, buf);
    close(fd);
    return status;
}

/* True when the server closes FD without answering within 5 s (SO_RCVTIMEO of dial). */
static bool closed_unanswered(int fd)
{
    char byte;
    ssize_t k = recv(fd, &byte, 1, 0);

    return k == 0 || (k < 0 && errno == ECONNRESET);
}

#define HAS(buf, s) ck_assert_msg(strstr(buf, s) != NULL, "missing '%s' in:\n%s", s, buf)

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(test_live_and_request_ids)
{
    char buf[REPLY_MAX];
    const char *id;

    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
    HAS(buf, "{\"live\":true}");
    id = strcasestr(buf, "\r\nX-Request-Id: ");
    ck_assert_ptr_nonnull(id);
    ck_assert_uint_eq(strcspn(id + 16, "\r"), 16); /* generated */
    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"
                              "X-Request-Id: my-id_1.2\r\n\r\n", buf), 200);
    HAS(buf, "\r\nX-Request-Id: my-id_1.2\r\n");
    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"
                              "X-Request-Id: bad id\r\n\r\n", buf), 200);
    ck_assert_ptr_null(strstr(buf, "bad id"));
    HAS(buf, "\r\nX-Request-Id: ");
}
END_TEST

START_TEST(test_keep_alive_and_json_create)
{
    char buf[REPLY_MAX];
    int fd = dial();

    send_all(fd, "POST /v1/layers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 31\r\n\r\n{\"name\":\"bn1\",\"num_features\":4}");
    ck_assert_int_eq(read_reply(fd, buf), 201);
    HAS(buf, "\"name\":\"bn1\"");
    send_all(fd, "GET /v1/layers/bn1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(read_reply(fd, buf), 200); /* same connection */
    close(fd);
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
}
END_TEST

START_TEST(test_length_required)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n\r\n", buf), 411);
    HAS(buf, "\"code\":\"length_required\"");
    /* the checkpoint route needs no length */
    ck_assert_int_eq(exchange("POST /v1/layers/nope/checkpoints HTTP/1.1\r\nHost: x\r\n\r\n",
                              buf), 404);
    HAS(buf, "layer_not_found");
}
END_TEST

/* 413 from Content-Length alone: answered at once, without 100 Continue, no body sent. */
START_TEST(test_payload_too_large_early)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                              "Content-Length: 201\r\n\r\n", buf), 413);
    HAS(buf, "\"code\":\"payload_too_large\"");
    HAS(buf, "201 bytes exceeds the limit of 200 bytes");
    ck_assert_ptr_null(strstr(buf, "100 Continue"));
}
END_TEST

/* A chunked body over the cap is dropped to its end (to answer 413 then), but not forever:
 * 64 MiB further on, the connection is closed, so a client cannot hold a thread by streaming. */
START_TEST(test_endless_chunked)
{
    enum { CHUNK = 1 << 20 };
    static char chunk[CHUNK + 16];
    static const char start[] = "POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: application/json\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n";
    int fd = dial(), head = snprintf(chunk, 16, "%x\r\n", (unsigned)CHUNK);
    bool open = send_or_closed(fd, start, sizeof start - 1);
    int sent = 0;

    memset(chunk + head, ' ', CHUNK);
    memcpy(chunk + head + CHUNK, "\r\n", 2);
    for (; open && sent < 96; sent++) /* MiB */
        open = send_or_closed(fd, chunk, (size_t)head + CHUNK + 2);
    ck_assert_msg(!open || closed_unanswered(fd), "still open after %d MiB", sent);
    ck_assert_int_ge(sent, 64); /* not before the documented allowance */
    close(fd);
}
END_TEST

START_TEST(test_chunked)
{
    char buf[REPLY_MAX], req[2048];
    char big[300];

    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "10\r\n{\"name\":\"bn1\",\"n\r\n"
                              "f\r\num_features\":4}\r\n0\r\n\r\n", buf), 201);
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             "%zx\r\n%s\r\n0\r\n\r\n", strlen(big), big);
    ck_assert_int_eq(exchange(req, buf), 413);
}
END_TEST

static const char *const ambiguous[] = {
    "POST /v1/layers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Content-Length: 31\r\nContent-Length: 31\r\n\r\n{\"name\":\"bn1\",\"num_features\":4}",
    "POST /v1/layers HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /v1/layers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
};

START_TEST(test_ambiguous_framing)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange(ambiguous[_i], buf), 400);
    HAS(buf, "\"code\":\"invalid_argument\"");
    HAS(buf, "Transfer-Encoding"); /* decided by the framing rule, not by the body */
    ck_assert_uint_eq(hbn_registry_count(reg), 0);
}
END_TEST

START_TEST(test_raw_paths)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange("GET /v1/layers/a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", buf), 400);
    HAS(buf, "invalid_name");
    ck_assert_int_eq(exchange("GET /v1/layers/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", buf), 400);
    HAS(buf, "invalid_name");
    ck_assert_int_eq(exchange("GET /v1/layers%2Fbn1 HTTP/1.1\r\nHost: x\r\n\r\n", buf), 404);
    ck_assert_int_eq(exchange("DELETE /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf), 405);
}
END_TEST

START_TEST(test_api_key)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange("GET /v1/layers HTTP/1.1\r\nHost: x\r\n\r\n", buf), 401);
    HAS(buf, "\"code\":\"unauthorized\"");
    ck_assert_int_eq(exchange("GET /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer wrong\r\n\r\n", buf), 401);
    ck_assert_int_eq(exchange("GET /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer s3cret\r\n\r\n", buf), 200);
    ck_assert_int_eq(exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf), 401);
    ck_assert_int_eq(exchange("GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
    /* decided before the body: the head alone gets the answer */
    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                              buf), 401);
    /* and before the framing checks (411, 413), and for paths that are no route */
    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n\r\n", buf), 401);
    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 999999999999\r\n\r\n", buf), 401);
    ck_assert_int_eq(exchange("GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n", buf), 401);
    HAS(buf, "\"code\":\"unauthorized\"");
}
END_TEST

#define LIVE "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"

/* With one connection open and served (kept alive), a second one is closed unanswered; closes
 * both. */
static void second_connection_closed(void)
{
    char buf[REPLY_MAX];
    int first = dial(), second;

    send_all(first, LIVE);
    ck_assert_int_eq(read_reply(first, buf), 200); /* accepted and kept alive */
    second = dial();
    send_all(second, LIVE);
    ck_assert(closed_unanswered(second));
    close(second);
    close(first);
}

/* --max-connections 1: while one connection is open, a second is closed unanswered; once the
 * first is gone, a new one is served. */
START_TEST(test_connection_limit)
{
    char buf[REPLY_MAX];

    second_connection_closed();
    for (int i = 0; i < 200; i++) { /* the server notices the close */
        int fd = dial(), status;
        char byte;

        send_all(fd, LIVE);
        status = recv(fd, &byte, 1, MSG_PEEK) > 0 ? read_reply(fd, buf) : 0;
        close(fd);
        if (status == 200)
            return;
        usleep(10000);
    }
    ck_abort_msg("no connection served after the first closed");
}
END_TEST

/* --per-ip-connections 1: the same as above, from one address. */
START_TEST(test_per_ip_limit)
{
    second_connection_closed();
}
END_TEST

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --connection-timeout 1: an idle connection is closed after about a second. */
START_TEST(test_idle_timeout)
{
    int fd = dial();
    double t0 = now_s(), t;

    ck_assert(closed_unanswered(fd));
    t = now_s() - t0;
    ck_assert_msg(t > 0.5 && t < 4.5, "closed after %.2f s", t);
    close(fd);
}
END_TEST

/* With one permit held by the test, a forward waits; released, it completes. */
START_TEST(test_compute_cap)
{
    static const char forward[] = "POST /v1/layers/bn1/forward HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Type: application/json\r\nContent-Length: 24\r\n\r\n"
                                  "{\"inputs\":[[1,2],[3,4]]}";
    char buf[REPLY_MAX];
    struct pollfd p;
    int fd;

    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nContent-Length: 31\r\n\r\n"
                              "{\"name\":\"bn1\",\"num_features\":2}", buf), 201);
    hbn_permits_acquire(permits);
    fd = dial();
    send_all(fd, forward);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 100), 0); /* no answer while the permit is held */
    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
    hbn_permits_release(permits);
    ck_assert_int_eq(read_reply(fd, buf), 200);
    HAS(buf, "\"outputs\"");
    close(fd);
}
END_TEST

START_TEST(test_metrics_count_requests)
{
    char buf[REPLY_MAX];

    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
    ck_assert_int_eq(exchange("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", buf), 404);
    /* the completion callback records after the response is sent: ask until both show */
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
        if (strstr(buf, "status=\"404\"} 1\n") != NULL &&
            strstr(buf, "route=\"/v2/health/live\",status=\"200\"} 1\n") != NULL &&
            strstr(buf, "hyperbn_inflight_requests 1\n") != NULL)
            break;
    }
    HAS(buf, "hyperbn_requests_total{route=\"/v2/health/live\",status=\"200\"} 1\n");
    HAS(buf, "status=\"404\"} 1\n");
    HAS(buf, "hyperbn_layers 0\n");
    HAS(buf, "hyperbn_inflight_requests 1\n"); /* the /metrics request itself */
}
END_TEST

START_TEST(test_drain)
{
    char buf[REPLY_MAX];
    int fd = dial(), refused;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    send_all(fd, "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(read_reply(fd, buf), 200);
    hbn_lifecycle_begin_drain(life);
    hbn_http_quiesce(http);
    send_all(fd, "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"); /* open connection */
    ck_assert_int_eq(read_reply(fd, buf), 503);
    HAS(buf, "draining");
    ck_assert_ptr_nonnull(strcasestr(buf, "\r\nConnection: close\r\n"));
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    refused = connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno == ECONNREFUSED;
    close(fd);
    ck_assert_msg(refused, "a new connection was accepted while draining");
    ck_assert(hbn_lifecycle_wait_idle(life, 5));
}
END_TEST

/* Allocation failure at every allocation of the transport's request path (server/http.c,
 * server/body.c) and below it, over a real socket: the K-th allocation of one request fails, for
 * K = 1, 2, ... until a request reaches no K-th allocation. Every request still gets a complete
 * answer (its normal status, or 503), the daemon keeps serving, and once the connection is
 * gone nothing the request allocated stays live. */
static const struct {
    const char *request;
    int status;
} http_faults[] = {
    {"POST /v1/layers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     "Content-Length: 29\r\n\r\n{\"name\":\"f\",\"num_features\":2}", 201},
    {"POST /v1/layers/g/forward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     "Content-Length: 39\r\n\r\n{\"inputs\":[[1,2],[3,5]],\"mode\":\"train\"}", 200},
    {"POST /v1/layers/g/forward?shape=2,2 HTTP/1.1\r\nHost: x\r\n"
     "Content-Type: application/octet-stream\r\nContent-Length: 16\r\n\r\n"
     "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\xa0\x40", 200},
    {"GET /v1/layers/g/state HTTP/1.1\r\nHost: x\r\n\r\n", 200},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200},
    {"GET /v1/layers/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
};

/* Sends REQUEST (binary bytes allowed: LEN of them) on a fresh connection; returns the status
 * of the complete answer read into BUF. */
static int exchange_bytes(const char *request, size_t len, char *buf)
{
    int fd = dial(), status;

    ck_assert_int_eq(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
    status = read_reply(fd, buf);
    close(fd);
    return status;
}

/* The live allocation count once the transport is idle: no request in flight and the count
 * unchanged for 50 ms (libmicrohttpd may release a sent response's body, through hbn_free,
 * after the request's completion callback). Bounded by 5 s. */
static long settled_live(void)
{
    long live = hbn_alloc_live();
    int still = 0;

    for (int i = 0; i < 5000 && still < 50; i++) {
        usleep(1000);
        if (hbn_lifecycle_inflight(life) > 0 || hbn_alloc_live() != live) {
            live = hbn_alloc_live();
            still = 0;
        } else {
            still++;
        }
    }
    return live;
}

START_TEST(test_alloc_faults)
{
    const char *req = http_faults[_i].request;
    size_t len = strlen(req);
    char buf[REPLY_MAX];
    long live, k, failed = 1;

    if (strstr(req, "?shape=") != NULL) /* the binary body holds NULs: count to its end */
        len = (size_t)(strstr(req, "\r\n\r\n") - req) + 4 + 16;
    ck_assert_int_eq(exchange("POST /v1/layers HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nContent-Length: 29\r\n\r\n"
                              "{\"name\":\"g\",\"num_features\":2}", buf), 201);
    live = settled_live();
    for (k = 1; failed > 0; k++) {
        int status;

        hbn_alloc_fail_at(k, false);
        status = exchange_bytes(req, len, buf);
        failed = hbn_alloc_fail_off();
        ck_assert_msg(status == http_faults[_i].status || (failed > 0 && status == 503),
                      "allocation %ld failing: %d, expected %d or 503:\n%s", k, status,
                      http_faults[_i].status, buf);
        if (status == 503) /* out of memory is transient: API.md's 503 says when to retry */
            HAS(buf, "\r\nRetry-After: ");
        if (status == 201) /* undo the create, so the next run creates again */
            ck_assert_int_eq(exchange("DELETE /v1/layers/f HTTP/1.1\r\nHost: x\r\n\r\n",
                                      buf), 204);
        ck_assert_msg(settled_live() == live, "allocation %ld failing: %ld allocations leaked",
                      k, hbn_alloc_live() - live);
    }
    ck_assert_int_gt(k, 2); /* the request did reach allocations */
    ck_assert_int_eq(exchange("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf), 200);
}
END_TEST

/* A test case NAME of S whose every test runs against a transport started by SETUP. */
static TCase *transport_case(Suite *s, const char *name, void (*setup)(void))
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *plain = transport_case(s, "plain", setup_plain);
    TCase *small = transport_case(s, "small_limits", setup_small);
    TCase *faults = transport_case(s, "alloc_faults", setup_plain);

    tcase_add_test(plain, test_live_and_request_ids);
    tcase_add_test(plain, test_keep_alive_and_json_create);
    tcase_add_test(plain, test_length_required);
    tcase_add_loop_test(plain, test_ambiguous_framing, 0,
                        (int)(sizeof ambiguous / sizeof ambiguous[0]));
    tcase_add_test(plain, test_raw_paths);
    tcase_add_test(plain, test_metrics_count_requests);
    tcase_add_test(plain, test_drain);
    tcase_add_test(small, test_payload_too_large_early);
    tcase_add_test(small, test_chunked);
    tcase_add_test(small, test_endless_chunked);
    tcase_add_test(small, test_compute_cap);
    tcase_add_test(transport_case(s, "api_key", setup_key), test_api_key);
    tcase_add_test(transport_case(s, "max_connections", setup_one_connection),
                   test_connection_limit);
    tcase_add_test(transport_case(s, "per_ip_connections", setup_one_per_ip), test_per_ip_limit);
    tcase_add_test(transport_case(s, "connection_timeout", setup_idle_timeout),
                   test_idle_timeout);
    tcase_set_timeout(faults, 60);
    tcase_add_loop_test(faults, test_alloc_faults, 0,
                        (int)(sizeof http_faults / sizeof http_faults[0]));
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
