/* log.h: the daemon's stderr log: one line per request (id, method, route template, status,
 * response bytes, duration) and operational messages, as text or JSON lines. Never bodies, keys
 * or raw paths: every field logged is either a template, a number or sanitised. Each line is
 * written with a single write(2), so lines from concurrent requests never interleave. */
#ifndef HBN_LOG_H
#define HBN_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "server/options.h"

typedef struct hbn_log_request {
    const char *request_id; /* sane (request_id.h) */
    const char *method;     /* from the client: sanitised here */
    const char *route;      /* a route template */
    int status;
    uint64_t bytes;         /* response body bytes */
    double duration_s;
} hbn_log_request;

/* Chooses the format of every later line (text until called). Call before threads start. */
void hbn_log_set_format(hbn_log_format format);

/* Formats one request line into BUF[SIZE] (NUL-terminated, ending in '\n'); returns its length. */
size_t hbn_log_format_request(const hbn_log_request *r, char *buf, size_t size);

/* Writes one request line to stderr. */
void hbn_log_request_line(const hbn_log_request *r);

/* Writes an operational message (LEVEL "info", "warn", "error") to stderr; only its first line
 * is kept. */
void hbn_log_message(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hbn_log_vmessage(const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
