/* fuzz_state.c: fuzz target of the state codec (api/state.c over api/safetensors.c): arbitrary
 * bytes as a PUT .../state body, decoded under several query option sets. Invariants: only
 * HBN_E_INVALID_STATE / HBN_E_NO_MEMORY fail, with a message and no layer; an accepted layer
 * holds only what the contract allows (valid configuration, finite values, variances and counts
 * >= 0, frozen statistics 0 / 1); and it round-trips: encode, decode, encode gives the same
 * bytes. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <string.h>

#include "api/state.h"
#include "core/config.h"
#include "core/layer.h"

#define FUZZ_NAME "fuzzed"
#define FUZZ_MAX_C 4096 /* channels whose values are inspected (the rest is only round-tripped) */

/* Checks what a decoded layer may hold. */
static void check_layer(const hbn_layer *layer)
{
    static float a[FUZZ_MAX_C], b[FUZZ_MAX_C];
    const hbn_config *cfg = hbn_layer_config(layer);
    int64_t c = hbn_layer_num_features(layer), t = hbn_layer_num_stats(layer), count, k, i;
    hbn_err err;

    HBN_FUZZ_CHECK(hbn_config_validate(cfg, &err) == HBN_OK, "decoded config invalid: %s",
                   err.msg);
    HBN_FUZZ_CHECK(strcmp(hbn_layer_name(layer), FUZZ_NAME) == 0, "name not kept");
    HBN_FUZZ_CHECK(t >= 0 && c == cfg->num_features, "T %lld, C %lld", (long long)t,
                   (long long)c);
    HBN_FUZZ_CHECK(t == 0 || cfg->track_running_stats || t == 1,
                   "%lld slots on a non-tracking layer", (long long)t);
    if (c > FUZZ_MAX_C)
        return;
    for (k = 0; k < t; k++) {
        HBN_FUZZ_CHECK(hbn_layer_get_stats(layer, k, a, b, &count, NULL, &err) == HBN_OK,
                       "slot %lld unreadable: %s", (long long)k, err.msg);
        HBN_FUZZ_CHECK(count >= 0, "slot %lld count %lld", (long long)k, (long long)count);
        for (i = 0; i < c; i++) {
            HBN_FUZZ_CHECK(isfinite(a[i]) && isfinite(b[i]) && b[i] >= 0.0f,
                           "slot %lld channel %lld: mean %g var %g", (long long)k, (long long)i,
                           (double)a[i], (double)b[i]);
            HBN_FUZZ_CHECK(!cfg->frozen_stats || (a[i] == 0.0f && b[i] == 1.0f),
                           "frozen statistics %g / %g", (double)a[i], (double)b[i]);
        }
    }
    if (!cfg->affine)
        return;
    HBN_FUZZ_CHECK(hbn_layer_get_weights(layer, a, b, &err) == HBN_OK, "weights: %s", err.msg);
    for (i = 0; i < c; i++)
        HBN_FUZZ_CHECK(isfinite(a[i]) && isfinite(b[i]), "weight %g bias %g", (double)a[i],
                       (double)b[i]);
}

/* Encodes LAYER, decodes the bytes and encodes again: both encodings must be identical. */
static void check_round_trip(const hbn_layer *layer)
{
    char *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    hbn_layer *again = NULL;
    hbn_err err;
    hbn_status st;

    st = hbn_state_encode(layer, &first, &first_len, &err);
    if (st == HBN_E_NO_MEMORY)
        return;
    HBN_FUZZ_CHECK(st == HBN_OK, "encode of a decoded layer: %s", err.msg);
    st = hbn_state_decode((const uint8_t *)first, first_len, FUZZ_NAME, NULL, &again, &err);
    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_NO_MEMORY, "own encoding rejected: %s",
                   err.msg);
    if (st == HBN_OK) {
        st = hbn_state_encode(again, &second, &second_len, &err);
        HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_NO_MEMORY, "second encode: %s", err.msg);
        HBN_FUZZ_CHECK(st != HBN_OK ||
                           (second_len == first_len && memcmp(first, second, first_len) == 0),
                       "encode(decode(encode(x))) differs from encode(x) (%zu vs %zu bytes)",
                       second_len, first_len);
    }
    free(second);
    hbn_layer_free(again);
    free(first);
}

/* The query option sets every input is decoded under (NULL first: nothing given). */
static void options_fill(hbn_state_options opts[3])
{
    for (int i = 0; i < 3; i++)
        hbn_state_options_init(&opts[i]);
    opts[0].has_momentum = true;
    opts[0].momentum_null = true;
    opts[0].has_eps = true;
    opts[0].eps = 1e-3;
    opts[0].has_mode = true;
    opts[0].mode = HBN_MODE_EVAL;
    opts[1].has_frozen_stats = true;
    opts[1].frozen_stats = true;
    opts[2].has_learnable_stats = true;
    opts[2].learnable_stats = true;
    opts[2].has_momentum = true;
    opts[2].momentum = 0.5;
}

int hbn_fuzz_state(const uint8_t *data, size_t size)
{
    hbn_state_options opts[3];

    options_fill(opts);
    for (int i = -1; i < 3; i++) {
        hbn_layer *layer = NULL;
        hbn_err err;
        hbn_status st;

        hbn_err_clear(&err);
        st = hbn_state_decode(data, size, FUZZ_NAME, i < 0 ? NULL : &opts[i], &layer, &err);
        if (st != HBN_OK) {
            HBN_FUZZ_CHECK(st == HBN_E_INVALID_STATE || st == HBN_E_NO_MEMORY,
                           "decode failed with %s: %s", hbn_status_code(st), err.msg);
            HBN_FUZZ_CHECK(err.status == st && err.msg[0] != '\0', "no message for %s",
                           hbn_status_code(st));
            HBN_FUZZ_CHECK(layer == NULL, "a layer despite %s", hbn_status_code(st));
            continue;
        }
        HBN_FUZZ_CHECK(layer != NULL, "HBN_OK without a layer");
        check_layer(layer);
        check_round_trip(layer);
        hbn_layer_free(layer);
    }
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_state)
