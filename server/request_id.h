/* request_id.h: the X-Request-Id of every response: the client's when it is sane (1..64
 * characters of [A-Za-z0-9._-]), else a fresh one (16 hex digits, unique within the process,
 * unpredictable across processes). Sane ids are safe to log and to echo in a header. */
#ifndef HBN_REQUEST_ID_H
#define HBN_REQUEST_ID_H

#include <stdbool.h>
#include <stdint.h>

#define HBN_REQUEST_ID_MAX 64

/* Seeds the generator (call once before serving; a process that never calls it still gets
 * unique ids). */
void hbn_request_id_seed(uint64_t seed);

/* True when ID is 1..HBN_REQUEST_ID_MAX characters of [A-Za-z0-9._-]. */
bool hbn_request_id_is_sane(const char *id);

/* Writes the response's id into OUT: CLIENT (the request's header, or NULL) when sane, else a
 * generated one. Thread-safe. */
void hbn_request_id_make(const char *client, char out[HBN_REQUEST_ID_MAX + 1]);

#endif
