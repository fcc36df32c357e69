/* check_healthcheck.c: Check tests of server/healthcheck.c against a tiny HTTP server: one
 * thread per test owns a listening socket on 127.0.0.1 port 0, reads one request and answers
 * as told (200, 503, silence, garbage, byte by byte, hang-up). The one line the client prints
 * on failure is captured by pointing fd 2 at a temporary file (each test runs in its own fork).
 * Every wait, in the thread and in the client, is bounded. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/healthcheck.h"

#define WAIT_MS 5000

typedef enum reply_kind {
    REPLY_200,
    REPLY_503,
    REPLY_SILENT,  /* reads the request and says nothing until the client hangs up */
    REPLY_GARBAGE, /* not an HTTP status line */
    REPLY_TRICKLE, /* a 200 written one byte at a time */
    REPLY_HANGUP,  /* closes without a byte */
    REPLY_204,     /* a success that is not 200 */
} reply_kind;

typedef struct fake_server {
    int fd;
    unsigned port;
    reply_kind kind;
    char request[4096]; /* what the client sent, up to the blank line */
    size_t request_len;
    pthread_t thread;
} fake_server;

static fake_server srv;
static char captured[1024]; /* what the client printed to stderr */

static bool wait_fd(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    return poll(&pfd, 1, WAIT_MS) == 1;
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void serve_reply(int c)
{
    char byte[2] = {0};

    switch (srv.kind) {
    case REPLY_200:
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"ready\": true}");
        break;
    case REPLY_503:
        send_str(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 16\r\n\r\n"
                    "{\"ready\": false}");
        break;
    case REPLY_204:
        send_str(c, "HTTP/1.1 204 No Content\r\n\r\n");
        break;
    case REPLY_SILENT:
        wait_fd(c, POLLIN); /* the client's close (or WAIT_MS) */
        break;
    case REPLY_GARBAGE:
        send_str(c, "SSH-2.0-OpenSSH_9.2\r\n");
        break;
    case REPLY_TRICKLE:
        for (const char *p = "HTTP/1.0 200 OK\r\n\r\n"; *p != '\0'; p++) {
            byte[0] = *p;
            send_str(c, byte);
            usleep(2000);
        }
        break;
    case REPLY_HANGUP:
        break;
    }
}

static void *serve_one(void *arg)
{
    int c;

    (void)arg;
    if (!wait_fd(srv.fd, POLLIN))
        return NULL;
    c = accept(srv.fd, NULL, NULL);
    if (c < 0)
        return NULL;
    while (srv.request_len < sizeof srv.request - 1 && wait_fd(c, POLLIN)) {
        ssize_t n = recv(c, srv.request + srv.request_len,
                         sizeof srv.request - 1 - srv.request_len, 0);

        if (n <= 0)
            break;
        srv.request_len += (size_t)n;
        srv.request[srv.request_len] = '\0';
        if (strstr(srv.request, "\r\n\r\n") != NULL)
            break;
    }
    serve_reply(c);
    close(c);
    return NULL;
}

/* A socket bound to 127.0.0.1 port 0; listening when LISTENING. */
static int bound_socket(bool listening, unsigned *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A listening socket on [::1] port 0, or -1 where the machine has no IPv6 loopback. */
static int bound_socket6(unsigned *port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin6_port);
    return fd;
}

static void start_thread(reply_kind kind)
{
    srv.kind = kind;
    ck_assert_int_eq(pthread_create(&srv.thread, NULL, serve_one, NULL), 0);
}

static void start_server(reply_kind kind)
{
    memset(&srv, 0, sizeof srv);
    srv.fd = bound_socket(true, &srv.port);
    start_thread(kind);
}

static void stop_server(void)
{
    pthread_join(srv.thread, NULL);
    close(srv.fd);
}

/* Runs the client on URL with fd 2 redirected into `captured`; returns its result. */
static int run_captured(const char *url, int timeout_ms)
{
    FILE *tmp = tmpfile();
    int saved = dup(2), rc;
    size_t n;

    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_ge(saved, 0);
    fflush(stderr);
    ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
    rc = hbn_healthcheck_run(url, timeout_ms);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    n = fread(captured, 1, sizeof captured - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    return rc;
}

/* The client failed with exactly one line that contains WHAT. */
static void assert_one_line(const char *what)
{
    size_t len = strlen(captured);

    ck_assert_msg(len > 0 && strchr(captured, '\n') == captured + len - 1,
                  "not exactly one line: '%s'", captured);
    ck_assert_msg(strncmp(captured, "healthcheck: ", 13) == 0, "'%s'", captured);
    ck_assert_msg(strstr(captured, what) != NULL, "'%s' lacks '%s'", captured, what);
}

/* Starts the test server answering REPLY, probes http://127.0.0.1:PORT + PATH (into URL[128])
 * with a 3 s timeout, stops the server; returns the client's exit status. */
static int probe_local(reply_kind reply, const char *path, char *url)
{
    int rc;

    start_server(reply);
    snprintf(url, 128, "http://127.0.0.1:%u%s", srv.port, path);
    rc = run_captured(url, 3000);
    stop_server();
    return rc;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_200_is_healthy)
{
    char url[128], host[64];

    ck_assert_int_eq(probe_local(REPLY_200, "/v2/health/ready", url), 0);
    ck_assert_str_eq(captured, "");
    ck_assert_msg(strncmp(srv.request, "GET /v2/health/ready HTTP/1.1\r\n", 31) == 0, "%s",
                  srv.request);
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%u\r\n", srv.port);
    ck_assert_msg(strstr(srv.request, host) != NULL, "%s", srv.request);
    ck_assert_ptr_nonnull(strstr(srv.request, "\r\nConnection: close\r\n"));
}
END_TEST

START_TEST(test_no_path_means_root)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_200, "", url), 0);
    ck_assert_msg(strncmp(srv.request, "GET / HTTP/1.1\r\n", 16) == 0, "%s", srv.request);
}
END_TEST

START_TEST(test_localhost_name)
{
    char url[128];

    /* localhost may resolve to ::1 first: the client must go on to 127.0.0.1 */
    start_server(REPLY_200);
    snprintf(url, sizeof url, "http://localhost:%u/v2/health/live", srv.port);
    ck_assert_int_eq(run_captured(url, 3000), 0);
    stop_server();
    ck_assert_str_eq(captured, "");
}
END_TEST

START_TEST(test_ipv6_literal)
{
    char url[128], host[64];

    memset(&srv, 0, sizeof srv);
    srv.fd = bound_socket6(&srv.port);
    if (srv.fd < 0) {
        /* no IPv6 loopback here: the bracketed form must still parse and fail to connect */
        ck_assert_int_eq(run_captured("http://[::1]:9/v2/health/live", 3000), 1);
        assert_one_line("cannot connect");
        return;
    }
    start_thread(REPLY_200);
    snprintf(url, sizeof url, "http://[::1]:%u/v2/health/live", srv.port);
    ck_assert_int_eq(run_captured(url, 3000), 0);
    stop_server();
    snprintf(host, sizeof host, "\r\nHost: [::1]:%u\r\n", srv.port);
    ck_assert_msg(strstr(srv.request, host) != NULL, "%s", srv.request);
}
END_TEST

START_TEST(test_trickled_200)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_TRICKLE, "/", url), 0);
}
END_TEST

START_TEST(test_503_is_unhealthy)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_503, "/v2/health/ready", url), 1);
    assert_one_line("503");
    ck_assert_ptr_nonnull(strstr(captured, url));
}
END_TEST

/* Exit 0 only for 200: another 2xx is not the health routes' answer. */
START_TEST(test_204_is_unhealthy)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_204, "/v2/health/ready", url), 1);
    assert_one_line("204");
}
END_TEST

START_TEST(test_garbage_is_unhealthy)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_GARBAGE, "/", url), 1);
    assert_one_line("malformed answer");
}
END_TEST

START_TEST(test_hangup_is_unhealthy)
{
    char url[128];

    ck_assert_int_eq(probe_local(REPLY_HANGUP, "/", url), 1);
    assert_one_line("closed without an answer");
}
END_TEST

START_TEST(test_refused)
{
    unsigned port;
    int fd = bound_socket(false, &port); /* bound, not listening: the port answers RST */
    char url[128];

    snprintf(url, sizeof url, "http://127.0.0.1:%u/v2/health/live", port);
    ck_assert_int_eq(run_captured(url, 3000), 1);
    close(fd);
    assert_one_line("refused");
}
END_TEST

START_TEST(test_timeout)
{
    char url[128];
    double t0, elapsed;

    start_server(REPLY_SILENT);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v2/health/ready", srv.port);
    t0 = now_s();
    ck_assert_int_eq(run_captured(url, 300), 1);
    elapsed = now_s() - t0;
    stop_server();
    assert_one_line("timed out");
    ck_assert_msg(elapsed >= 0.25 && elapsed < 2.0, "took %.3f s for a 300 ms timeout", elapsed);
}
END_TEST

static const char *const bad_urls[] = {
    "",
    "127.0.0.1:8080/v2/health/live",
    "https://127.0.0.1:8080/",
    "ftp://127.0.0.1/",
    "http://",
    "http:///v2/health/live",
    "http://:8080/",
    "http://127.0.0.1:/",
    "http://127.0.0.1:0/",
    "http://127.0.0.1:65536/",
    "http://127.0.0.1:123456/",
    "http://127.0.0.1:80x/",
    "http://127.0.0.1:-1/",
    "http://[::1/",
    "http://[]:80/",
    "http://[::1]x/",
    "http://user@127.0.0.1/",
    "http://127.0.0.1:8080v2/health",
    "http://127.0.0.1:8080/a b",
    "http://127.0.0.1:8080/\nX-Injected: 1",
    "http://127.0.0.1:8080/\x7f",
};

START_TEST(test_malformed_url)
{
    ck_assert_int_eq(run_captured(bad_urls[_i], 3000), 1);
    assert_one_line("malformed URL");
}
END_TEST

START_TEST(test_null_url_and_bad_timeout)
{
    ck_assert_int_eq(run_captured(NULL, 3000), 1);
    assert_one_line("malformed URL");
    ck_assert_int_eq(run_captured("http://127.0.0.1:8080/", 0), 1);
    assert_one_line("timeout");
}
END_TEST

static Suite *healthcheck_suite(void)
{
    Suite *s = suite_create("healthcheck");
    TCase *ok = tcase_create("answers"), *bad = tcase_create("failures");
    TCase *url = tcase_create("urls");

    tcase_add_test(ok, test_200_is_healthy);
    tcase_add_test(ok, test_no_path_means_root);
    tcase_add_test(ok, test_localhost_name);
    tcase_add_test(ok, test_ipv6_literal);
    tcase_add_test(ok, test_trickled_200);
    tcase_add_test(bad, test_503_is_unhealthy);
    tcase_add_test(bad, test_204_is_unhealthy);
    tcase_add_test(bad, test_garbage_is_unhealthy);
    tcase_add_test(bad, test_hangup_is_unhealthy);
    tcase_add_test(bad, test_refused);
    tcase_add_test(bad, test_timeout);
    tcase_add_loop_test(url, test_malformed_url, 0, (int)(sizeof bad_urls / sizeof bad_urls[0]));
    tcase_add_test(url, test_null_url_and_bad_timeout);
    suite_add_tcase(s, ok);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, url);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(healthcheck_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
