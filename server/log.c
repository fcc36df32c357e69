/* log.c: stderr logging (log.h). Lines are built in a stack buffer and written with one
 * write(2); a line that does not fit is cut, never split. Client-supplied text (the method, an
 * MHD message) is reduced to printable ASCII without quotes or backslashes before it is written,
 * so it cannot forge a line or break the JSON. */
#include "server/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static hbn_log_format log_format = HBN_LOG_TEXT;

void hbn_log_set_format(hbn_log_format format)
{
    log_format = format;
}

/* Copies SRC into DST[SIZE] keeping printable ASCII except '"' and '\\' (and spaces unless
 * SPACES); every other byte becomes '?'. */
static void log_sanitise(const char *src, char *dst, size_t size, bool spaces)
{
    size_t i = 0;

    for (; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
        char c = src[i];
        bool keep = (c > ' ' && c <= '~' && c != '"' && c != '\\') || (spaces && c == ' ');

        dst[i] = keep ? c : '?';
    }
    dst[i] = '\0';
}

/* UTC time as 2024-01-02T03:04:05.678Z into BUF[32]. */
static void log_timestamp(char buf[32])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Makes BUF[0..N) (N may exceed SIZE - 1 after a cut snprintf) end in '\n'; returns the length. */
static size_t log_terminate(char *buf, size_t size, int n)
{
    size_t len = n < 0 ? 0 : (size_t)n;

    if (len > size - 2)
        len = size - 2;
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

size_t hbn_log_format_request(const hbn_log_request *r, char *buf, size_t size)
{
    char method[24], ts[32];
    int n;

    log_sanitise(r->method, method, sizeof method, false);
    log_timestamp(ts);
    if (log_format == HBN_LOG_JSON)
        n = snprintf(buf, size,
                     "{\"time\":\"%s\",\"level\":\"info\",\"request_id\":\"%s\",\"method\":\"%s\","
                     "\"route\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%.3f}",
                     ts, r->request_id, method, r->route, r->status,
                     (unsigned long long)r->bytes, r->duration_s * 1e3);
    else
        n = snprintf(buf, size,
                     "%s request id=%s method=%s route=%s status=%d bytes=%llu duration_ms=%.3f",
                     ts, r->request_id, method, r->route, r->status, (unsigned long long)r->bytes,
                     r->duration_s * 1e3);
    return log_terminate(buf, size, n);
}

static void log_write(const char *buf, size_t len)
{
    /* stderr is a log: a failed or short write is not worth failing a request for */
    if (write(STDERR_FILENO, buf, len) < 0)
        return;
}

void hbn_log_request_line(const hbn_log_request *r)
{
    char buf[LOG_LINE_MAX];

    log_write(buf, hbn_log_format_request(r, buf, sizeof buf));
}

void hbn_log_message(const char *level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    hbn_log_vmessage(level, fmt, ap);
    va_end(ap);
}

void hbn_log_vmessage(const char *level, const char *fmt, va_list ap)
{
    char raw[LOG_LINE_MAX / 2], msg[LOG_LINE_MAX / 2], ts[32], buf[LOG_LINE_MAX];
    int n;

    vsnprintf(raw, sizeof raw, fmt, ap);
    raw[strcspn(raw, "\r\n")] = '\0';
    log_sanitise(raw, msg, sizeof msg, true);
    log_timestamp(ts);
    if (log_format == HBN_LOG_JSON)
        n = snprintf(buf, sizeof buf, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}", ts,
                     level, msg);
    else
        n = snprintf(buf, sizeof buf, "%s %s %s", ts, level, msg);
    log_write(buf, log_terminate(buf, sizeof buf, n));
}
