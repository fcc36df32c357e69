/* request_id.c: request ids (request_id.h). Generated ids are splitmix64 of a process seed plus
 * an atomic counter: distinct for 2^64 requests, no lock on the hot path. */
#include "server/request_id.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic uint64_t request_id_seed_value;
static _Atomic uint64_t request_id_counter;

void hbn_request_id_seed(uint64_t seed)
{
    atomic_store(&request_id_seed_value, seed);
}

bool hbn_request_id_is_sane(const char *id)
{
    size_t n = 0;

    if (id == NULL)
        return false;
    for (; id[n] != '\0'; n++) {
        char c = id[n];

        if (n >= HBN_REQUEST_ID_MAX)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* splitmix64's output function: a bijection, so distinct inputs give distinct ids. */
static uint64_t request_id_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void hbn_request_id_make(const char *client, char out[HBN_REQUEST_ID_MAX + 1])
{
    uint64_t n;

    if (hbn_request_id_is_sane(client)) {
        strcpy(out, client);
        return;
    }
    n = atomic_fetch_add(&request_id_counter, 1) + atomic_load(&request_id_seed_value);
    snprintf(out, HBN_REQUEST_ID_MAX + 1, "%016llx", (unsigned long long)request_id_mix(n));
}
