/* healthcheck.c: the `--healthcheck URL` client (healthcheck.h). One non-blocking socket per
 * address tried, one monotonic deadline for connect + send + status line; only the status line
 * is read, the rest of the answer is ignored. The one failure line is built in a caller-owned
 * buffer and printed once, with the URL's non-printable bytes replaced, so it stays one line. */
#include "server/healthcheck.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HC_WHY_MAX 256
#define HC_STATUS_LINE_MAX 512

typedef struct hc_target {
    char host[256]; /* without the brackets of an IPv6 address */
    char port[6];
    char path[2048];
    bool bracketed;
} hc_target;

/* Copies N bytes of SRC into DST (SIZE bytes) when they all belong to ALLOWED. */
static bool hc_copy_part(char *dst, size_t size, const char *src, size_t n, const char *allowed)
{
    if (n == 0 || n >= size)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\0' || strchr(allowed, src[i]) == NULL)
            return false;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

/* Splits URL into T; on failure *WHY names the problem (static string). */
static bool hc_parse_url(const char *url, hc_target *t, const char **why)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-_";
    const char *p, *close;
    size_t n;
    unsigned port = 0;

    *why = "malformed URL: expected http://HOST[:PORT][/PATH]";
    if (url == NULL || strncmp(url, "http://", 7) != 0)
        return false;
    p = url + 7;
    t->bracketed = *p == '[';
    if (t->bracketed) {
        close = strchr(p, ']');
        if (close == NULL || !hc_copy_part(t->host, sizeof t->host, p + 1,
                                           (size_t)(close - p - 1), "0123456789abcdefABCDEF:."))
            return false;
        p = close + 1;
    } else {
        n = strcspn(p, ":/");
        if (!hc_copy_part(t->host, sizeof t->host, p, n, name_chars))
            return false;
        p += n;
    }
    strcpy(t->port, "80");
    if (*p == ':') {
        n = strspn(++p, "0123456789");
        for (size_t i = 0; i < n && i < 6; i++)
            port = port * 10 + (unsigned)(p[i] - '0');
        *why = "malformed URL: the port must be a number in 1..65535";
        if (n == 0 || n > 5 || port == 0 || port > 65535)
            return false;
        snprintf(t->port, sizeof t->port, "%u", port);
        p += n;
    }
    *why = "malformed URL: expected http://HOST[:PORT][/PATH]";
    if (*p == '\0')
        p = "/";
    n = strlen(p);
    if (*p != '/' || n >= sizeof t->path)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= ' ' || p[i] > '~')
            return false;
    }
    memcpy(t->path, p, n + 1);
    return true;
}

/* Milliseconds left before DEADLINE (CLOCK_MONOTONIC), 0 when it has passed. */
static int hc_remaining_ms(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms <= 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

/* Waits until FD has EVENTS or DEADLINE passes: 1 ready, 0 timed out, -1 poll failed. */
static int hc_wait(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int left = hc_remaining_ms(deadline);
        int rc;

        if (left == 0)
            return 0;
        rc = poll(&pfd, 1, left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* A connected non-blocking socket to AI, or -1 with the reason in WHY. */
static int hc_connect_one(const struct addrinfo *ai, const struct timespec *deadline, char *why)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int soerr = 0, rc;
    socklen_t len = sizeof soerr;

    if (fd < 0) {
        snprintf(why, HC_WHY_MAX, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        snprintf(why, HC_WHY_MAX, "cannot connect: %s", strerror(errno));
        goto fail;
    }
    rc = hc_wait(fd, POLLOUT, deadline);
    if (rc <= 0) {
        snprintf(why, HC_WHY_MAX, "%s", rc == 0 ? "timed out connecting" : strerror(errno));
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        snprintf(why, HC_WHY_MAX, "cannot connect: %s", strerror(soerr != 0 ? soerr : errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Tries every address of T in turn; a connected socket or -1 with the last reason in WHY. */
static int hc_connect(const hc_target *t, const struct timespec *deadline, char *why)
{
    struct addrinfo hints, *res = NULL;
    int fd = -1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, HC_WHY_MAX, "cannot resolve %.128s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0 && hc_remaining_ms(deadline) > 0;
         ai = ai->ai_next)
        fd = hc_connect_one(ai, deadline, why);
    if (fd < 0 && hc_remaining_ms(deadline) == 0)
        snprintf(why, HC_WHY_MAX, "timed out connecting");
    freeaddrinfo(res);
    return fd;
}

static bool hc_send_all(int fd, const char *buf, size_t len, const struct timespec *deadline,
                        char *why)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(why, HC_WHY_MAX, "cannot send the request: %s", strerror(errno));
            return false;
        } else if (hc_wait(fd, POLLOUT, deadline) <= 0) {
            snprintf(why, HC_WHY_MAX, "timed out sending the request");
            return false;
        }
    }
    return true;
}

/* Reads the status line and returns its code (100..599), or -1 with the reason in WHY. */
static int hc_read_status(int fd, const struct timespec *deadline, char *why)
{
    char line[HC_STATUS_LINE_MAX];
    size_t len = 0;
    int code = 0;

    while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
        ssize_t n = recv(fd, line + len, sizeof line - 1 - len, 0);

        if (n > 0) {
            len += (size_t)n;
        } else if (n == 0) {
            break;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(why, HC_WHY_MAX, "cannot read the answer: %s", strerror(errno));
            return -1;
        } else if (hc_wait(fd, POLLIN, deadline) <= 0) {
            snprintf(why, HC_WHY_MAX, "timed out waiting for the answer");
            return -1;
        }
    }
    line[len] = '\0';
    if (len == 0) {
        snprintf(why, HC_WHY_MAX, "connection closed without an answer");
        return -1;
    }
    /* "HTTP/1.x DDD" followed by a space or the end of the line */
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
        strspn(line + 9, "0123456789") != 3 || strchr(" \r\n", line[12]) == NULL ||
        line[12] == '\0' || line[9] < '1' || line[9] > '5') {
        snprintf(why, HC_WHY_MAX, "malformed answer (not an HTTP/1.x status line)");
        return -1;
    }
    for (int i = 9; i < 12; i++)
        code = code * 10 + (line[i] - '0');
    return code;
}

/* Prints the one failure line, with URL's bytes outside ' '..'~' shown as '?'. */
static void hc_report(const char *url, const char *why)
{
    char shown[201];
    size_t n = 0;

    for (; url != NULL && url[n] != '\0' && n < sizeof shown - 1; n++)
        shown[n] = url[n] >= ' ' && url[n] <= '~' ? url[n] : '?';
    shown[n] = '\0';
    fprintf(stderr, "healthcheck: %s%s: %s\n", url != NULL ? shown : "(no URL)",
            url != NULL && url[n] != '\0' ? "..." : "", why);
    fflush(stderr);
}

int hbn_healthcheck_run(const char *url, int timeout_ms)
{
    hc_target t;
    struct timespec deadline;
    char why[HC_WHY_MAX], request[sizeof t.path + sizeof t.host + 128];
    const char *parse_why = NULL;
    int fd = -1, code = -1, n;

    if (timeout_ms <= 0) {
        hc_report(url, "the timeout must be a positive number of milliseconds");
        return 1;
    }
    memset(&t, 0, sizeof t);
    if (!hc_parse_url(url, &t, &parse_why)) {
        hc_report(url, parse_why);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    n = snprintf(request, sizeof request,
                 "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: hyperbnd-healthcheck\r\n"
                 "Accept: */*\r\nConnection: close\r\n\r\n",
                 t.path, t.bracketed ? "[" : "", t.host, t.bracketed ? "]" : "", t.port);
    fd = hc_connect(&t, &deadline, why);
    if (fd >= 0 && hc_send_all(fd, request, (size_t)n, &deadline, why))
        code = hc_read_status(fd, &deadline, why);
    if (fd >= 0)
        close(fd);
    if (code == 200)
        return 0;
    if (code > 0)
        snprintf(why, sizeof why, "answered HTTP %d, not 200", code);
    hc_report(url, why);
    return 1;
}
