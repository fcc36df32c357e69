/* healthcheck.h: `hyperbnd --healthcheck URL`, a tiny HTTP/1.1 GET client for container and
 * orchestrator health checks (images without curl). Plain sockets, http:// only; it knows
 * nothing of the daemon's options, routes or keys (the health routes need no key). */
#ifndef HBN_HEALTHCHECK_H
#define HBN_HEALTHCHECK_H

/* A sensible bound for a health check run from a Dockerfile's HEALTHCHECK. */
#define HBN_HEALTHCHECK_TIMEOUT_MS 3000

/* Sends `GET PATH HTTP/1.1` (Host, Connection: close) to URL, which is
 * `http://HOST[:PORT][/PATH]`: HOST a name, an IPv4 address or a bracketed IPv6 address
 * (`[::1]`), PORT decimal 1..65535 (default 80), PATH visible ASCII (default `/`). URL is
 * BORROWED. Every address HOST resolves to is tried in turn; connecting, sending and reading
 * the status line together take at most TIMEOUT_MS (> 0) milliseconds (name resolution is not
 * bounded by it: give an address or `localhost`).
 * Returns 0 when the status line says 200, else 1 after printing exactly one line
 * `healthcheck: URL: REASON` to stderr (malformed URL, resolution failure, refused, timeout,
 * malformed answer, or the status code received). Never prints on success. Thread-safe;
 * SIGPIPE is never raised (MSG_NOSIGNAL). */
int hbn_healthcheck_run(const char *url, int timeout_ms);

#endif
