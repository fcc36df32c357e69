/* check_state.c: Check tests of the layer state codec (api/state.c) and its safetensors container
 * (api/safetensors.c): round trips, the committed hyperbn fixture byte for byte, imports of the
 * torch-made fixtures (values from tests/fixtures/state/expected.json, written by
 * tests/gen_state_fixtures.py), and a table of bad files, truncations and corruptions.
 * `check_state --write-hyperbn-fixture FILE` writes the known layer's file (see the script). */
#include <check.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/safetensors.h"
#include "api/state.h"
#include "core/layer.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* The file REL under $HBN_TOP_SRCDIR (or the current directory): NEW bytes, *LEN. */
static uint8_t *read_fixture(const char *rel, size_t *len)
{
    const char *top = getenv("HBN_TOP_SRCDIR");
    char path[1024];
    FILE *f;
    uint8_t *buf;
    long size;

    snprintf(path, sizeof path, "%s/%s", top != NULL ? top : ".", rel);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    ck_assert(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    ck_assert(buf != NULL);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* A raw file: the 8-byte little-endian length of HEADER, HEADER, then DATA[DLEN]. NEW. */
static uint8_t *make_file(const char *header, const char *data, size_t dlen, size_t *len)
{
    size_t n = strlen(header);
    uint8_t *buf = malloc(8 + n + dlen + 1);

    ck_assert(buf != NULL);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    memcpy(buf + 8 + n, data, dlen);
    *len = 8 + n + dlen;
    return buf;
}

static hbn_layer *new_layer(const hbn_config *cfg)
{
    hbn_layer *layer = NULL;
    hbn_err err;

    ck_assert_msg(hbn_layer_create("src", cfg, &layer, &err) == HBN_OK, "%s", err.msg);
    return layer;
}

static void set_slot(hbn_layer *layer, int64_t k, const float *mean, const float *var,
                     int64_t count)
{
    int64_t c = hbn_layer_num_features(layer);
    hbn_err err;

    ck_assert_msg(hbn_layer_set_stats(layer, k, mean, c, var, c, &count, &err) == HBN_OK, "%s",
                  err.msg);
}

/* The layer of tests/fixtures/state/hyperbn_layer.safetensors (KNOWN in the script), or NULL.
 * No Check assertions here: --write-hyperbn-fixture calls it outside the test runner. */
static hbn_layer *known_layer_or_null(void)
{
    static const float w[3] = {1.5f, -0.5f, 2.0f}, b[3] = {0.25f, 0.0f, -1.0f};
    static const float mean[3][3] = {{0.5f, -1.25f, 3.0f}, {-0.125f, 0.0f, 10.5f}, {0, 0, 0}};
    static const float var[3][3] = {{1.0f, 0.5f, 2.25f}, {0.75f, 4.0f, 0.0625f}, {1, 1, 1}};
    static const int64_t counts[3] = {7, 0, 2};
    hbn_config cfg;
    hbn_layer *layer = NULL;
    int64_t id;
    bool ok;

    hbn_config_init(&cfg, 3);
    cfg.momentum = 0.25;
    cfg.eps = 1e-3;
    if (hbn_layer_create("src", &cfg, &layer, NULL) != HBN_OK)
        return NULL;
    ok = hbn_layer_set_weights(layer, w, 3, b, 3, NULL) == HBN_OK;
    for (int k = 0; ok && k < 3; k++)
        ok = (k == 0 || hbn_layer_checkpoint(layer, &id, NULL) == HBN_OK) &&
             hbn_layer_set_stats(layer, k, mean[k], 3, var[k], 3, &counts[k], NULL) == HBN_OK;
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    if (!ok) {
        hbn_layer_free(layer);
        return NULL;
    }
    return layer;
}

static hbn_layer *known_layer(void)
{
    hbn_layer *layer = known_layer_or_null();

    ck_assert_ptr_nonnull(layer);
    return layer;
}

static void assert_same_layer(const hbn_layer *a, const hbn_layer *b)
{
    const hbn_config *x = hbn_layer_config(a), *y = hbn_layer_config(b);
    int64_t c = x->num_features, t = hbn_layer_num_stats(a);
    float *fa = calloc(2 * (size_t)c, sizeof *fa), *fb = calloc(2 * (size_t)c, sizeof *fb);

    ck_assert(fa != NULL && fb != NULL);
    ck_assert_int_eq(x->num_features, y->num_features);
    ck_assert_int_eq(x->has_momentum, y->has_momentum);
    ck_assert(!x->has_momentum || x->momentum == y->momentum);
    ck_assert(x->eps == y->eps);
    ck_assert_int_eq(x->affine, y->affine);
    ck_assert_int_eq(x->track_running_stats, y->track_running_stats);
    ck_assert_int_eq(x->frozen_stats, y->frozen_stats);
    ck_assert_int_eq(x->learnable_stats, y->learnable_stats);
    ck_assert_int_eq(hbn_layer_mode(a), hbn_layer_mode(b));
    ck_assert_int_eq(t, hbn_layer_num_stats(b));
    for (int64_t k = 0; k < t; k++) {
        int64_t ca = -1, cb = -2;

        ck_assert_int_eq(hbn_layer_get_stats(a, k, fa, fa + c, &ca, NULL, NULL), HBN_OK);
        ck_assert_int_eq(hbn_layer_get_stats(b, k, fb, fb + c, &cb, NULL, NULL), HBN_OK);
        ck_assert_mem_eq(fa, fb, 2 * (size_t)c * sizeof *fa);
        ck_assert_int_eq(ca, cb);
    }
    if (x->affine) {
        ck_assert_int_eq(hbn_layer_get_weights(a, fa, fa + c, NULL), HBN_OK);
        ck_assert_int_eq(hbn_layer_get_weights(b, fb, fb + c, NULL), HBN_OK);
        ck_assert_mem_eq(fa, fb, 2 * (size_t)c * sizeof *fa);
    }
    free(fa);
    free(fb);
}

/* Decodes BUF expecting HBN_OK; returns the NEW layer. */
static hbn_layer *decode_ok(const uint8_t *buf, size_t len, const hbn_state_options *opts)
{
    hbn_layer *layer = NULL;
    hbn_err err;
    hbn_status s = hbn_state_decode(buf, len, "copy", opts, &layer, &err);

    ck_assert_msg(s == HBN_OK, "decode failed: %s (%s)", err.msg, hbn_status_code(s));
    ck_assert(layer != NULL);
    ck_assert_str_eq(hbn_layer_name(layer), "copy");
    return layer;
}

/* Decodes BUF expecting HBN_E_INVALID_STATE with WANT in the message. */
static void decode_bad(const uint8_t *buf, size_t len, const hbn_state_options *opts,
                       const char *want)
{
    hbn_layer *layer = NULL;
    hbn_err err;
    hbn_status s = hbn_state_decode(buf, len, "copy", opts, &layer, &err);

    ck_assert_msg(s == HBN_E_INVALID_STATE, "expected invalid_state (%s), got %s: %s", want,
                  hbn_status_code(s), s == HBN_OK ? "" : err.msg);
    ck_assert_int_eq(err.status, HBN_E_INVALID_STATE);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    ck_assert(layer == NULL);
}

static char *encode(const hbn_layer *layer, size_t *len)
{
    char *out = NULL;
    hbn_err err;

    ck_assert_msg(hbn_state_encode(layer, &out, len, &err) == HBN_OK, "%s", err.msg);
    return out;
}

/* ---- CRC-32C and the container ------------------------------------------------------------ */

START_TEST(test_crc32c)
{
    /* The check value of CRC-32C (RFC 3720 appendix B.4 / the CRC catalogue). */
    ck_assert_uint_eq(hbn_state_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(hbn_state_crc32c(hbn_state_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    ck_assert_uint_eq(hbn_state_crc32c(0, "", 0), 0u);
    /* 32 zero bytes: RFC 3720 B.4 gives 0x8A9136AA. */
    ck_assert_uint_eq(hbn_state_crc32c(0, (uint8_t[32]){0}, 32), 0x8A9136AAu);
}
END_TEST

START_TEST(test_container_write_parse)
{
    static const uint8_t bytes[6] = {1, 2, 3, 4, 5, 6};
    hbn_st_tensor in[3] = {
        {.name = "a\"b\\c\n", .dtype = HBN_ST_U8, .rank = 2, .shape = {2, 2}, .numel = 4,
         .data = bytes, .nbytes = 4},
        /* A backslash then "u0000": written as an escaped backslash, not a NUL escape. */
        {.name = "e\\u0000", .dtype = HBN_ST_F32, .rank = 1, .shape = {0}, .numel = 0,
         .data = bytes, .nbytes = 0},
        {.name = "pair", .dtype = HBN_ST_I8, .rank = 1, .shape = {2}, .numel = 2,
         .data = bytes + 4, .nbytes = 2},
    };
    hbn_st_meta meta[1] = {{"k\"ey", "v\001al"}};
    hbn_safetensors st;
    char *out = NULL;
    size_t len = 0;
    uint64_t n = 0;

    ck_assert_int_eq(hbn_safetensors_write(in, 3, meta, 1, &out, &len, NULL), HBN_OK);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (uint8_t)out[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_uint_eq(len, 8 + n + 6);
    {
        static const char f1[] = "\"a\\\"b\\\\c\\n\":{\"dtype\":\"U8\",\"shape\":[2,2],"
                                 "\"data_offsets\":[0,4]}";
        static const char f2[] = "\"k\\\"ey\":\"v\\u0001al\"";

        ck_assert(memmem(out, len, f1, sizeof f1 - 1) != NULL);
        ck_assert(memmem(out, len, f2, sizeof f2 - 1) != NULL);
    }
    hbn_safetensors_init(&st);
    ck_assert_int_eq(hbn_safetensors_parse((const uint8_t *)out, len, &st, NULL), HBN_OK);
    ck_assert_uint_eq(st.num_tensors, 3);
    ck_assert_str_eq(hbn_safetensors_meta(&st, "k\"ey"), "v\001al");
    ck_assert_ptr_null(hbn_safetensors_meta(&st, "nope"));
    ck_assert_ptr_null(hbn_safetensors_find(&st, "nope"));
    ck_assert_mem_eq(hbn_safetensors_find(&st, "a\"b\\c\n")->data, bytes, 4);
    ck_assert_uint_eq(hbn_safetensors_find(&st, "e\\u0000")->nbytes, 0);
    ck_assert_mem_eq(hbn_safetensors_find(&st, "pair")->data, bytes + 4, 2);
    hbn_safetensors_clear(&st);
    free(out);
    /* No metadata: no __metadata__ key at all. */
    ck_assert_int_eq(hbn_safetensors_write(in + 2, 1, NULL, 0, &out, &len, NULL), HBN_OK);
    ck_assert(memmem(out, len, "__metadata__", 12) == NULL);
    ck_assert(memmem(out, len, "{\"pair\":", 8) != NULL);
    free(out);
}
END_TEST

START_TEST(test_printable)
{
    char out[8];

    ck_assert_str_eq(hbn_st_printable("ab\x01\xff", out, sizeof out), "ab??");
    ck_assert_str_eq(hbn_st_printable("abcdefghij", out, sizeof out), "abcd...");
}
END_TEST

/* ---- encoding ----------------------------------------------------------------------------- */

START_TEST(test_encode_matches_fixture)
{
    hbn_layer *layer = known_layer();
    size_t len = 0, flen = 0;
    char *out = encode(layer, &len);
    uint8_t *fixture = read_fixture("tests/fixtures/state/hyperbn_layer.safetensors", &flen);

    ck_assert_uint_eq(len, flen);
    ck_assert_mem_eq(out, fixture, len);
    free(out);
    free(fixture);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_encode_layout)
{
    hbn_layer *layer = known_layer();
    size_t len = 0, len2 = 0;
    char *out = encode(layer, &len), *again = encode(layer, &len2);
    uint64_t n = 0;
    static const char *const fragments[] = {
        "{\"__metadata__\":{\"format\":\"pt\",\"hyperbn.affine\":\"true\",\"hyperbn.crc32c\":\"",
        "\"hyperbn.eps\":\"0.001\",\"hyperbn.format\":\"hyperbn-layer-state\","
        "\"hyperbn.frozen_stats\":\"false\",\"hyperbn.learnable_stats\":\"false\","
        "\"hyperbn.mode\":\"eval\",\"hyperbn.momentum\":\"0.25\","
        "\"hyperbn.num_batches_tracked\":\"[7,0,2]\",\"hyperbn.num_features\":\"3\","
        "\"hyperbn.track_running_stats\":\"true\",\"hyperbn.version\":\"1\"},"
        "\"_num_stats\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"_weights.0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]},"
        "\"_weights.1\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[20,32]},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[32,44]},"
        "\"mean_0\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[44,56]},",
        "\"var_2\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[116,128]}}",
    };

    for (int i = 7; i >= 0; i--)
        n = n << 8 | (uint8_t)out[i];
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq(len, 8 + n + 128);
    ck_assert_mem_eq(out + 8, fragments[0], strlen(fragments[0]));
    for (size_t i = 1; i < 3; i++)
        ck_assert_msg(memmem(out, len, fragments[i], strlen(fragments[i])) != NULL, "%s",
                      fragments[i]);
    /* _num_stats = 3 little-endian, then _weights.0 = scale: 1.5f = 0x3fc00000. */
    ck_assert_mem_eq(out + 8 + n, "\x03\0\0\0\0\0\0\0\0\0\xc0\x3f", 12);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(out, again, len);
    free(out);
    free(again);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_encode_numbers_metadata)
{
    hbn_config cfg;
    hbn_layer *layer;
    size_t len = 0;
    char *out;

    hbn_config_init(&cfg, 2);
    layer = new_layer(&cfg);
    out = encode(layer, &len);
    ck_assert(memmem(out, len, "\"hyperbn.eps\":\"1e-05\"", 21) != NULL);
    ck_assert(memmem(out, len, "\"hyperbn.momentum\":\"0.1\"", 24) != NULL);
    ck_assert(memmem(out, len, "\"hyperbn.mode\":\"train\"", 22) != NULL);
    free(out);
    hbn_layer_free(layer);
    cfg.has_momentum = false;
    cfg.eps = 0.1 + 0.2;
    layer = new_layer(&cfg);
    out = encode(layer, &len);
    ck_assert(memmem(out, len, "\"hyperbn.momentum\":\"null\"", 25) != NULL);
    ck_assert(memmem(out, len, "\"hyperbn.eps\":\"0.30000000000000004\"", 35) != NULL);
    free(out);
    hbn_layer_free(layer);
}
END_TEST

/* ---- round trips -------------------------------------------------------------------------- */

/* Configuration I of the round-trip loop, with state that differs from a fresh layer's. */
static hbn_layer *roundtrip_layer(int i)
{
    static const float m[4] = {0.5f, -2.0f, 1e-30f, -0.0f}, v[4] = {0.0f, 3.5f, 1e30f, 2.0f};
    hbn_config cfg;
    hbn_layer *layer;
    int64_t id;

    if (i == 0)
        return known_layer();
    hbn_config_init(&cfg, 4);
    cfg.affine = i != 1 && i != 2 && i != 5;
    cfg.track_running_stats = i == 1 || i == 6;
    cfg.frozen_stats = i == 2;
    cfg.learnable_stats = i == 3;
    cfg.has_momentum = i != 1;
    cfg.momentum = i == 6 ? 1.0 / 3.0 : 0.0;
    cfg.eps = i == 6 ? 0.1 + 0.2 : 2e-7;
    layer = new_layer(&cfg);
    for (int64_t k = 1; i == 1 && k < 12; k++) /* 12 slots: mean_10 sorts before mean_2 */
        ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, NULL), HBN_OK);
    for (int64_t k = 0; (i == 1 || i == 3 || i == 6) && k < hbn_layer_num_stats(layer); k++)
        set_slot(layer, k, m, v, 5 * k + i);
    if (cfg.affine)
        ck_assert_int_eq(hbn_layer_set_weights(layer, v, 4, m, 4, NULL), HBN_OK);
    hbn_layer_set_mode(layer, i % 2 ? HBN_MODE_EVAL : HBN_MODE_TRAIN);
    return layer;
}

START_TEST(test_roundtrip)
{
    hbn_layer *layer = roundtrip_layer(_i), *copy;
    size_t len = 0, len2 = 0;
    char *out = encode(layer, &len), *again;

    copy = decode_ok((const uint8_t *)out, len, NULL);
    assert_same_layer(layer, copy);
    again = encode(copy, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(out, again, len);
    free(out);
    free(again);
    hbn_layer_free(copy);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_decode_options_against_hyperbn)
{
    hbn_layer *layer = known_layer(), *copy;
    hbn_state_options o;
    size_t len = 0;
    char *out = encode(layer, &len);
    const uint8_t *buf = (const uint8_t *)out;

    /* Options equal to the file's are fine. */
    hbn_state_options_init(&o);
    o.has_momentum = true, o.momentum = 0.25, o.has_eps = true, o.eps = 1e-3;
    o.has_mode = true, o.mode = HBN_MODE_EVAL, o.has_frozen_stats = true;
    copy = decode_ok(buf, len, &o);
    assert_same_layer(layer, copy);
    hbn_layer_free(copy);
    /* Each contradicting option is refused. */
    for (int i = 0; i < 6; i++) {
        hbn_state_options_init(&o);
        o.has_momentum = i == 0 || i == 1, o.momentum = 0.5, o.momentum_null = i == 1;
        o.has_eps = i == 2, o.eps = 1e-5;
        o.has_mode = i == 3, o.mode = HBN_MODE_TRAIN;
        o.has_frozen_stats = i == 4, o.frozen_stats = true;
        o.has_learnable_stats = i == 5, o.learnable_stats = true;
        decode_bad(buf, len, &o, "contradicts the state file");
    }
    ck_assert_int_eq(hbn_state_decode(buf, len, NULL, NULL, &copy, NULL), HBN_E_INVALID_ARGUMENT);
    free(out);
    hbn_layer_free(layer);
}
END_TEST

/* ---- imports of torch-made files ---------------------------------------------------------- */

static cJSON *expected_json(void)
{
    size_t len = 0;
    uint8_t *text = read_fixture("tests/fixtures/state/expected.json", &len);
    cJSON *json = cJSON_ParseWithLength((const char *)text, len);

    ck_assert(json != NULL);
    free(text);
    return json;
}

/* Asserts V[C] equals the float list FIXTURE.KEY of expected.json exactly. */
static void assert_expected(const cJSON *json, const char *fixture, const char *key,
                            const float *v, int64_t c)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(json, fixture), key);
    const cJSON *x;
    int64_t i = 0;

    ck_assert_msg(cJSON_IsArray(list), "%s.%s", fixture, key);
    ck_assert_int_eq(cJSON_GetArraySize(list), c);
    cJSON_ArrayForEach(x, list) {
        ck_assert_msg(v[i] == (float)x->valuedouble, "%s.%s[%" PRId64 "]", fixture, key, i);
        i++;
    }
}

static double expected_number(const cJSON *json, const char *fixture, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(json, fixture), key);

    ck_assert(cJSON_IsNumber(x));
    return x->valuedouble;
}

/* Asserts slot K of LAYER against FIXTURE's MEAN / VAR keys and COUNT. */
static void assert_slot(const cJSON *json, const hbn_layer *layer, const char *fixture,
                        int64_t k, const char *mean, const char *var, int64_t count)
{
    float m[8], v[8];
    int64_t c = hbn_layer_num_features(layer), n = -1;

    ck_assert_int_le(c, 8);
    ck_assert_int_eq(hbn_layer_get_stats(layer, k, m, v, &n, NULL, NULL), HBN_OK);
    assert_expected(json, fixture, mean, m, c);
    assert_expected(json, fixture, var, v, c);
    ck_assert_int_eq(n, count);
}

static void assert_weights(const cJSON *json, const hbn_layer *layer, const char *fixture,
                           const char *wkey)
{
    float w[8], b[8];

    ck_assert_int_eq(hbn_layer_get_weights(layer, w, b, NULL), HBN_OK);
    assert_expected(json, fixture, wkey, w, hbn_layer_num_features(layer));
    assert_expected(json, fixture, "bias", b, hbn_layer_num_features(layer));
}

START_TEST(test_import_seed)
{
    cJSON *json = expected_json();
    size_t len = 0;
    uint8_t *buf = read_fixture("tests/fixtures/state/seed_layer.safetensors", &len);
    hbn_layer *layer = decode_ok(buf, len, NULL);
    const hbn_config *cfg = hbn_layer_config(layer);
    hbn_state_options o;
    char name[8], vname[8];

    ck_assert_int_eq(cfg->num_features, 4);
    ck_assert(cfg->affine && cfg->track_running_stats && !cfg->frozen_stats);
    ck_assert(cfg->has_momentum && cfg->momentum == 0.1 && cfg->eps == 1e-5);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_TRAIN);
    ck_assert_int_eq(hbn_layer_num_stats(layer), (int64_t)expected_number(json, "seed_layer",
                                                                           "_num_stats"));
    ck_assert_int_eq(hbn_layer_num_stats(layer), 3);
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "mean_%d", k);
        snprintf(vname, sizeof vname, "var_%d", k);
        assert_slot(json, layer, "seed_layer", k, name, vname, 0);
    }
    assert_weights(json, layer, "seed_layer", "scale");
    hbn_layer_free(layer);
    /* Options the file does not carry come from the request. */
    hbn_state_options_init(&o);
    o.has_momentum = true, o.momentum_null = true, o.has_eps = true, o.eps = 1e-3;
    o.has_mode = true, o.mode = HBN_MODE_EVAL;
    layer = decode_ok(buf, len, &o);
    ck_assert(!hbn_layer_config(layer)->has_momentum && hbn_layer_config(layer)->eps == 1e-3);
    ck_assert_int_eq(hbn_layer_mode(layer), HBN_MODE_EVAL);
    hbn_layer_free(layer);
    /* A frozen or learnable layer holds one slot; this file has three. */
    o.has_frozen_stats = true, o.frozen_stats = true;
    decode_bad(buf, len, &o, "exactly one statistics slot");
    free(buf);
    cJSON_Delete(json);
}
END_TEST

START_TEST(test_import_seed_frozen)
{
    size_t len = 0;
    uint8_t *buf = read_fixture("tests/fixtures/state/seed_frozen.safetensors", &len);
    hbn_state_options o;
    hbn_layer *layer = decode_ok(buf, len, NULL);
    float m[3], v[3];

    /* Without options: _num_stats 1 > 0 makes a tracking, non-affine layer at 0 / 1. */
    ck_assert(hbn_layer_config(layer)->track_running_stats && !hbn_layer_config(layer)->affine);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 1);
    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m, v, NULL, NULL, NULL), HBN_OK);
    ck_assert(m[0] == 0.0f && m[2] == 0.0f && v[0] == 1.0f && v[2] == 1.0f);
    hbn_layer_free(layer);
    hbn_state_options_init(&o);
    o.has_frozen_stats = true, o.frozen_stats = true;
    layer = decode_ok(buf, len, &o);
    ck_assert(hbn_layer_config(layer)->frozen_stats);
    ck_assert(!hbn_layer_config(layer)->track_running_stats);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 1);
    hbn_layer_free(layer);
    o.has_frozen_stats = false, o.has_learnable_stats = true, o.learnable_stats = true;
    layer = decode_ok(buf, len, &o);
    ck_assert(hbn_layer_config(layer)->learnable_stats);
    hbn_layer_free(layer);
    free(buf);
}
END_TEST

START_TEST(test_import_torch)
{
    cJSON *json = expected_json();
    size_t len = 0;
    uint8_t *buf = read_fixture("tests/fixtures/state/torch_bn2d.safetensors", &len);
    hbn_layer *layer = decode_ok(buf, len, NULL);
    hbn_state_options o;
    const hbn_config *cfg = hbn_layer_config(layer);

    ck_assert_int_eq(cfg->num_features, 5);
    ck_assert(cfg->affine && cfg->track_running_stats);
    ck_assert_int_eq(hbn_layer_num_stats(layer), 1);
    assert_slot(json, layer, "torch_bn2d", 0, "running_mean", "running_var",
                (int64_t)expected_number(json, "torch_bn2d", "num_batches_tracked"));
    assert_weights(json, layer, "torch_bn2d", "weight");
    hbn_layer_free(layer);
    hbn_state_options_init(&o);
    o.has_learnable_stats = true, o.learnable_stats = true;
    decode_bad(buf, len, &o, "imports as a tracking layer");
    free(buf);
    buf = read_fixture("tests/fixtures/state/torch_bn1d_plain.safetensors", &len);
    layer = decode_ok(buf, len, NULL);
    ck_assert(!hbn_layer_config(layer)->affine && hbn_layer_config(layer)->track_running_stats);
    assert_slot(json, layer, "torch_bn1d_plain", 0, "running_mean", "running_var",
                (int64_t)expected_number(json, "torch_bn1d_plain", "num_batches_tracked"));
    ck_assert_int_eq(expected_number(json, "torch_bn1d_plain", "num_batches_tracked"), 5);
    hbn_layer_free(layer);
    free(buf);
    cJSON_Delete(json);
}
END_TEST

/* An imported layer re-exports as a hyperbn file that restores to the same layer. */
START_TEST(test_import_reexport)
{
    static const char *const files[] = {"seed_layer", "seed_frozen", "torch_bn2d",
                                        "torch_bn1d_plain"};
    char path[128];
    size_t len = 0, olen = 0;
    uint8_t *buf;
    char *out;
    hbn_layer *layer, *copy;

    snprintf(path, sizeof path, "tests/fixtures/state/%s.safetensors", files[_i]);
    buf = read_fixture(path, &len);
    layer = decode_ok(buf, len, NULL);
    out = encode(layer, &olen);
    copy = decode_ok((const uint8_t *)out, olen, NULL);
    assert_same_layer(layer, copy);
    hbn_layer_free(copy);
    hbn_layer_free(layer);
    free(out);
    free(buf);
}
END_TEST

/* Other dtypes: F64, F16, BF16 floats and I32 counts are converted. */
START_TEST(test_import_dtypes)
{
    static const char header[] =
        "{\"_num_stats\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
        "\"mean_0\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
        "\"var_0\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[8,24]},"
        "\"scale\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
        "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[28,36]}}";
    /* 1 | f16 1.0, -2.5 | f64 0.25, 3.0 | bf16 -1.0, 0.5 | f32 2.0, -0.0 */
    static const char data[] = "\x01\0\0\0" "\x00\x3c\x00\xc1"
                               "\0\0\0\0\0\0\xd0\x3f" "\0\0\0\0\0\0\x08\x40"
                               "\x80\xbf\x00\x3f" "\0\0\0\x40" "\0\0\0\x80";
    size_t len = 0;
    uint8_t *buf = make_file(header, data, sizeof data - 1, &len);
    hbn_layer *layer = decode_ok(buf, len, NULL);
    float m[2], v[2], w[2], b[2];

    ck_assert_int_eq(hbn_layer_get_stats(layer, 0, m, v, NULL, NULL, NULL), HBN_OK);
    ck_assert(m[0] == 1.0f && m[1] == -2.5f && v[0] == 0.25f && v[1] == 3.0f);
    ck_assert_int_eq(hbn_layer_get_weights(layer, w, b, NULL), HBN_OK);
    ck_assert(w[0] == -1.0f && w[1] == 0.5f && b[0] == 2.0f && b[1] == 0.0f && signbit(b[1]));
    hbn_layer_free(layer);
    free(buf);
}
END_TEST

/* ---- bad files ---------------------------------------------------------------------------- */

#define E(name, dtype, shape, offs) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":[" shape "],\"data_offsets\":[" offs "]}"
#define NS E("_num_stats", "I64", "", "0,8")
#define SLOT0 E("mean_0", "F32", "2", "8,16") "," E("var_0", "F32", "2", "16,24")
#define I1 "\x01\0\0\0\0\0\0\0"
#define I2 "\x02\0\0\0\0\0\0\0"
#define F0 "\0\0\0\0"
#define F1 "\0\0\x80\x3f"
#define FHALF "\0\0\0\x3f"
#define FNAN "\0\0\xc0\x7f"
#define FNEG "\0\0\x80\xbf"
#define GOOD_DATA I1 F0 F0 F1 F1

typedef struct bad_case {
    const char *header;
    const char *data;
    size_t dlen;
    int opts;         /* 1: frozen_stats requested */
    const char *want; /* part of the message */
} bad_case;

#define D(x) x, sizeof(x) - 1

static const bad_case bad_cases[] = {
    {"{" NS "," SLOT0 "}", D(GOOD_DATA), 0, NULL}, /* the base: valid (checked apart) */
    {"[" NS "]", D(GOOD_DATA), 0, "must start with {"},
    {"{\"a\":", D(""), 0, "not valid JSON"},
    {"{not json}", D(""), 0, "not valid JSON"},
    {"{} x", D(""), 0, "other than space padding"},
    {"{\"me\\u0000an_0\":{}}", D(""), 0, "\\u0000"},
    {"{" NS ",\"mean_0\":7}", D(I1), 0, "not a JSON object"},
    {"{" NS ",\"mean_0\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8],\"x\":1}}",
     D(I1), 0, "unknown field x"},
    {"{" NS ",\"mean_0\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[0],"
     "\"data_offsets\":[8,8]}}", D(I1), 0, "repeated field dtype"},
    {"{" NS ",\"mean_0\":{\"dtype\":\"F32\",\"shape\":[2]}}", D(I1), 0, "lacks data_offsets"},
    {"{" NS "," E("mean_0", "F99", "2", "8,16") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "unknown dtype F99"},
    {"{" NS "," E("mean_0", "I32", "2", "8,16") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "mean_0 has dtype I32, expected F32"},
    {"{" E("_num_stats", "F32", "2", "0,8") "," SLOT0 "}", D(GOOD_DATA), 0,
     "_num_stats has dtype F32, expected I64"},
    {"{" E("_num_stats", "I64", "1", "0,8") "," SLOT0 "}", D(GOOD_DATA), 0,
     "expected a scalar"},
    {"{" NS "," E("mean_0", "F32", "1,2", "8,16") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "mean_0 has 2 dimensions"},
    {"{" NS "," E("mean_0", "F32", "2", "8,16") "," E("var_0", "F32", "3", "16,28") "}",
     D(GOOD_DATA F1), 0, "var_0 has shape [3], expected [2]"},
    {"{" NS "," E("mean_0", "F32", "2", "8,16") "," E("var_0", "F32", "2", "16,32") "}",
     D(GOOD_DATA), 0, "past the data section"},
    {"{" NS "," E("mean_0", "F32", "2", "8,16") "," E("var_0", "F32", "2", "12,20") "}",
     D(GOOD_DATA), 0, "overlap"},
    {"{" NS "," E("mean_0", "F32", "2", "8,16") "," E("var_0", "F32", "2", "20,28") "}",
     D(GOOD_DATA F1), 0, "belong to no tensor"},
    {"{" NS "," SLOT0 "}", D(GOOD_DATA F1), 0, "cover 24 of the data section's 28"},
    {"{" NS "," E("mean_0", "F32", "2", "16,8") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "begin 16 > end 8"},
    {"{" NS "," E("mean_0", "F32", "2", "8,12") "," E("var_0", "F32", "2", "12,24") "}",
     D(GOOD_DATA), 0, "need 2 elements of 4 bytes"},
    {"{" NS "," E("mean_0", "F32", "-2", "8,16") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "not a non-negative integer"},
    {"{" NS "," E("mean_0", "F32", "2", "8.5,16") "," E("var_0", "F32", "2", "16,24") "}",
     D(GOOD_DATA), 0, "not two non-negative integers"},
    {"{" NS "," E("mean_0", "F32", "1,1,1,1,1,1,1,1,2", "8,16") "," E("var_0", "F32", "2", "16,24")
     "}", D(GOOD_DATA), 0, "more than 8 dimensions"},
    {"{" NS "," E("mean_0", "F32", "4294967296,4294967296,4294967296", "8,16") "}", D(I1 F0 F0),
     0, "overflows"},
    {"{" NS "," SLOT0 "," E("mean_0", "F32", "0", "24,24") "}", D(GOOD_DATA), 0,
     "names tensor mean_0 twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}," NS "," SLOT0 "}", D(GOOD_DATA), 0,
     "__metadata__ twice"},
    {"{\"__metadata__\":[]," NS "," SLOT0 "}", D(GOOD_DATA), 0, "__metadata__ is not"},
    {"{\"__metadata__\":{\"a\":1}," NS "," SLOT0 "}", D(GOOD_DATA), 0, "value of a is not a"},
    {"{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}," NS "," SLOT0 "}", D(GOOD_DATA), 0,
     "the key a twice"},
    {"{\"__metadata__\":{\"hyperbn.eps\":\"1\"}," NS "," SLOT0 "}", D(GOOD_DATA), 0,
     "without hyperbn.format"},
    {"{" E("_num_stats", "I64", "", "0,8") "," SLOT0 "}", D(I2 F0 F0 F1 F1), 0,
     "mean_1 is missing: _num_stats is 2"},
    {"{" SLOT0 "," E("_num_stats", "I64", "", "0,8") "," E("mean_1", "F32", "2", "24,32") "}",
     D(GOOD_DATA F0 F0), 0, "mean_1 is an extra slot: _num_stats is 1"},
    {"{" E("_num_stats", "I64", "", "0,8") "}", D("\xff\xff\xff\xff\xff\xff\xff\xff"), 0,
     "_num_stats is negative"},
    {"{" NS "," SLOT0 "," E("foo", "F32", "0", "24,24") "}", D(GOOD_DATA), 0,
     "foo does not belong in a seed BatchNormLayer state"},
    {"{" E("mean_0", "F32", "2", "0,8") "," E("var_0", "F32", "2", "8,16") "}", D(F0 F0 F1 F1), 0,
     "no _num_stats"},
    {"{" E("_num_stats", "I64", "", "0,8") "}", D("\0\0\0\0\0\0\0\0"), 0,
     "no tensor that gives num_features"},
    {"{" NS "," SLOT0 "," E("bias", "F32", "2", "24,32") "}", D(GOOD_DATA F0 F0), 0,
     "has bias but no scale"},
    {"{" NS "," SLOT0 "," E("_weights.0", "F32", "2", "24,32") "}", D(GOOD_DATA F0 F0), 0,
     "_weights.* but no scale"},
    {"{" NS "," SLOT0 "," E("scale", "F32", "2", "24,32") "," E("bias", "F32", "2", "32,40") ","
     E("_weights.0", "F32", "2", "40,48") "}", D(GOOD_DATA F1 F1 F0 F0 F1 FHALF), 0,
     "_weights.0 differs from scale"},
    {"{" NS "," SLOT0 "}", D(I1 F0 FNAN F1 F1), 0, "mean_0[1] is not a finite"},
    {"{" NS "," SLOT0 "}", D(I1 F0 F0 F1 FNEG), 0, "var_0[1] is a negative variance"},
    {"{" NS "," E("mean_0", "F64", "1", "8,16") "," E("var_0", "F32", "1", "16,20") "}",
     D(I1 "\0\0\0\0\0\0\xf0\x7f" F1), 0, "mean_0[0] is not a finite"},
    {"{" NS "," E("mean_0", "F64", "1", "8,16") "," E("var_0", "F32", "1", "16,20") "}",
     D(I1 "\x2e\x9f\x87\xa2\xae\x42\x7d\x54" F1), 0, "mean_0[0] is not a finite"}, /* 1e99 */
    {"{" NS "," E("mean_0", "F16", "2", "8,12") "," E("var_0", "F32", "2", "12,20") "}",
     D(I1 "\0\0\x00\x7c" F1 F1), 0, "mean_0[1] is not a finite"},
    {"{" NS "," SLOT0 "}", D(I1 F0 FHALF F1 F1), 1, "mean 0 / var 1, but mean_0[1] is 0.5"},
    {"{" NS "," E("mean_0", "F32", "0", "8,8") "," E("var_0", "F32", "0", "8,8") "}", D(I1), 0,
     "num_features must be in [1, 1048576], got 0"},
    {"{" E("running_mean", "F32", "2", "0,8") "}", D(F0 F0), 0, "lacks running_var"},
    {"{" E("running_mean", "F32", "2", "0,8") "," E("running_var", "F32", "2", "8,16") ","
     E("scale", "F32", "2", "16,24") "}", D(F0 F0 F1 F1 F1 F1), 0,
     "scale does not belong in a torch.nn.BatchNorm state"},
    {"{" E("running_mean", "F32", "2", "0,8") "," E("running_var", "F32", "2", "8,16") ","
     E("bias", "F32", "2", "16,24") "}", D(F0 F0 F1 F1 F1 F1), 0, "has bias but no weight"},
    {"{" E("running_mean", "F32", "2", "0,8") "," E("running_var", "F32", "2", "8,16") ","
     E("num_batches_tracked", "I64", "", "16,24") "}",
     D(F0 F0 F1 F1 "\xfe\xff\xff\xff\xff\xff\xff\xff"), 0, "num_batches_tracked is negative"},
};

static uint8_t *bad_case_file(const bad_case *bc, size_t *len)
{
    return make_file(bc->header, bc->data, bc->dlen, len);
}

START_TEST(test_bad_file)
{
    const bad_case *bc = &bad_cases[_i];
    hbn_state_options o;
    size_t len = 0;
    uint8_t *buf = bad_case_file(bc, &len);

    hbn_state_options_init(&o);
    o.has_frozen_stats = bc->opts == 1, o.frozen_stats = true;
    if (bc->want == NULL)
        hbn_layer_free(decode_ok(buf, len, &o));
    else
        decode_bad(buf, len, &o, bc->want);
    free(buf);
}
END_TEST

START_TEST(test_bad_lengths)
{
    static const uint8_t zero[8] = {0};
    size_t len = 0;
    uint8_t *buf = make_file("{}", "", 0, &len);

    decode_bad(zero, 0, NULL, "empty");
    decode_bad(zero, 7, NULL, "shorter than the 8-byte header length");
    buf[0] = 3; /* header length 3 with 2 bytes after the length */
    decode_bad(buf, len, NULL, "runs past its end");
    buf[0] = 0, buf[5] = 1; /* 2^40 */
    decode_bad(buf, len, NULL, "is absurd");
    buf[5] = 0; /* 0: an empty header */
    decode_bad(buf, len, NULL, "must start with {");
    free(buf);
    /* Space padding after the object is fine: {} with no tensors is then a seed file without
     * _num_stats. */
    buf = make_file("{}      ", "", 0, &len);
    decode_bad(buf, len, NULL, "no _num_stats");
    free(buf);
}
END_TEST

/* LAYER's hyperbn file with its metadata text FROM replaced by TO (same length keeps the header
 * length valid; otherwise the length is rewritten); frees LAYER. NEW. */
static uint8_t *mutated(hbn_layer *layer, const char *from, const char *to, size_t *len)
{
    size_t n = 0, olen = 0, fl = strlen(from), tl = strlen(to);
    char *out = encode(layer, &olen);
    char *at = memmem(out, olen, from, fl);
    uint8_t *buf = malloc(olen + tl + 8);
    uint64_t hlen = 0;

    ck_assert_msg(at != NULL, "%s", from);
    ck_assert(buf != NULL);
    n = (size_t)(at - out);
    memcpy(buf, out, n);
    memcpy(buf + n, to, tl);
    memcpy(buf + n + tl, at + fl, olen - n - fl);
    *len = olen - fl + tl;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    hlen = hlen + tl - fl;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(hlen >> (8 * i));
    free(out);
    hbn_layer_free(layer);
    return buf;
}

/* The known hyperbn file with FROM replaced by TO (see mutated). NEW. */
static uint8_t *mutated_known(const char *from, const char *to, size_t *len)
{
    return mutated(known_layer(), from, to, len);
}

static const char *const meta_cases[][3] = {
    {"\"hyperbn.version\":\"1\"", "\"hyperbn.version\":\"2\"", "hyperbn.version must be 1"},
    {"\"hyperbn.format\":\"hyperbn-layer-state\"", "\"hyperbn.format\":\"hyperbn-layer-stat\"",
     "hyperbn.format must be"},
    {"\"hyperbn.version\":\"1\"", "\"hyperbn.versio\":\"1\"",
     "unknown metadata key hyperbn.versio"},
    {",\"hyperbn.version\":\"1\"", "", "the metadata lacks hyperbn.version"},
    {"\"hyperbn.eps\":\"0.001\"", "\"hyperbn.eps\":\"abc\"", "hyperbn.eps must be a finite"},
    {"\"hyperbn.eps\":\"0.001\"", "\"hyperbn.eps\":\"inf\"", "hyperbn.eps must be a finite"},
    {"\"hyperbn.eps\":\"0.001\"", "\"hyperbn.eps\":\"-1\"", "eps must be finite and > 0"},
    {"\"hyperbn.momentum\":\"0.25\"", "\"hyperbn.momentum\":\"1.5\"", "momentum must be in"},
    {"\"hyperbn.affine\":\"true\"", "\"hyperbn.affine\":\"yes\"", "hyperbn.affine must be true"},
    {"\"hyperbn.affine\":\"true\"", "\"hyperbn.affine\":\"false\"", "affine=false but the file"},
    {"\"hyperbn.mode\":\"eval\"", "\"hyperbn.mode\":\"test\"", "hyperbn.mode must be train or"},
    {"\"hyperbn.num_features\":\"3\"", "\"hyperbn.num_features\":\"4\"", "expected [4]"},
    {"\"hyperbn.num_features\":\"3\"", "\"hyperbn.num_features\":\"03\"", "a non-negative"},
    {"\"hyperbn.num_batches_tracked\":\"[7,0,2]\"", "\"hyperbn.num_batches_tracked\":\"[7,0]\"",
     "a JSON array of 3 non-negative integers"},
    {"\"hyperbn.num_batches_tracked\":\"[7,0,2]\"",
     "\"hyperbn.num_batches_tracked\":\"[7,0,2,1]\"", "a JSON array of 3"},
    {"\"hyperbn.num_batches_tracked\":\"[7,0,2]\"", "\"hyperbn.num_batches_tracked\":\"[7,-1,2]\"",
     "a JSON array of 3"},
    {"\"hyperbn.num_batches_tracked\":\"[7,0,2]\"", "\"hyperbn.num_batches_tracked\":\"[7,0,2]x\"",
     "a JSON array of 3"},
    {"\"hyperbn.track_running_stats\":\"true\"", "\"hyperbn.track_running_stats\":\"false\"",
     "a layer without running statistics has no slots"},
    {"\"hyperbn.frozen_stats\":\"false\"", "\"hyperbn.frozen_stats\":\"true\"",
     "track_running_stats must be false when frozen_stats"},
    {"\"hyperbn.crc32c\":\"", "\"hyperbn.crc32c\":\"0", "checksum mismatch"},
    {"\"_num_stats\":{\"dtype\":\"I64\"", "\"_num_stats\":{\"dtype\":\"F64\"",
     "_num_stats has dtype F64"},
};

START_TEST(test_bad_metadata)
{
    size_t len = 0;
    uint8_t *buf = mutated_known(meta_cases[_i][0], meta_cases[_i][1], &len);

    decode_bad(buf, len, NULL, meta_cases[_i][2]);
    free(buf);
}
END_TEST

/* A frozen layer's one slot counts no batches: a file saying otherwise is refused. */
START_TEST(test_bad_frozen_count)
{
    hbn_config cfg;
    size_t len = 0;
    uint8_t *buf;

    hbn_config_init(&cfg, 2);
    cfg.track_running_stats = false;
    cfg.frozen_stats = true;
    buf = mutated(new_layer(&cfg), "\"hyperbn.num_batches_tracked\":\"[0]\"",
                  "\"hyperbn.num_batches_tracked\":\"[1]\"", &len);
    decode_bad(buf, len, NULL, "a frozen_stats layer's slot counts no batches, the state says 1");
    free(buf);
}
END_TEST

#define RANGE_HEADER \
    "{\"__metadata__\":{\"hyperbn.affine\":\"false\",\"hyperbn.crc32c\":\"%08x\"," \
    "\"hyperbn.eps\":\"1e-05\",\"hyperbn.format\":\"hyperbn-layer-state\"," \
    "\"hyperbn.frozen_stats\":\"false\",\"hyperbn.learnable_stats\":\"false\"," \
    "\"hyperbn.mode\":\"train\",\"hyperbn.momentum\":\"0.1\"," \
    "\"hyperbn.num_batches_tracked\":\"[]\",\"hyperbn.num_features\":\"%s\"," \
    "\"hyperbn.track_running_stats\":\"false\",\"hyperbn.version\":\"1\"}," \
    "\"_num_stats\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}"

/* A hyperbn file of a non-affine layer without slots, whose C therefore comes from the metadata
 * alone: out of range is refused before anything is sized by it; 2 is the valid control. */
START_TEST(test_bad_num_features_range)
{
    static const char *const values[] = {"1048577", "0", "9223372036854775807", "2"};
    char text[1024];
    size_t len = 0;
    uint8_t *buf;

    snprintf(text, sizeof text, RANGE_HEADER, (unsigned)hbn_state_crc32c(0, (uint8_t[8]){0}, 8),
             values[_i]);
    buf = make_file(text, "\0\0\0\0\0\0\0\0", 8, &len);
    if (_i == 3) { /* the control: a valid non-tracking, non-affine layer of 2 channels */
        hbn_layer *layer = decode_ok(buf, len, NULL);

        ck_assert_int_eq(hbn_layer_num_features(layer), 2);
        ck_assert_int_eq(hbn_layer_num_stats(layer), 0);
        hbn_layer_free(layer);
    } else {
        decode_bad(buf, len, NULL, "num_features must be in [1, 1048576]");
    }
    free(buf);
}
END_TEST

/* Every truncation of valid files is refused, never a crash. */
START_TEST(test_truncations)
{
    hbn_layer *layer = known_layer();
    size_t len = 0, slen = 0;
    char *out = encode(layer, &len);
    uint8_t *seed = read_fixture("tests/fixtures/state/seed_layer.safetensors", &slen);
    hbn_layer *got = NULL;

    for (size_t n = 0; n < len; n++)
        ck_assert_msg(hbn_state_decode((const uint8_t *)out, n, "t", NULL, &got, NULL) ==
                          HBN_E_INVALID_STATE, "prefix %zu", n);
    for (size_t n = 0; n < slen; n++)
        ck_assert_msg(hbn_state_decode(seed, n, "t", NULL, &got, NULL) == HBN_E_INVALID_STATE,
                      "seed prefix %zu", n);
    ck_assert_ptr_null(got);
    free(seed);
    free(out);
    hbn_layer_free(layer);
}
END_TEST

/* Any single corrupted byte is refused or decodes, never a crash; in the data section the
 * checksum always catches it. */
START_TEST(test_corruptions)
{
    static const uint8_t masks[] = {0x01, 0x20, 0x80, 0xff};
    hbn_layer *layer = known_layer();
    size_t len = 0;
    char *out = encode(layer, &len);
    uint8_t *buf = malloc(len);
    uint64_t n = 0;

    ck_assert(buf != NULL);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (uint8_t)out[i];
    for (size_t at = 0; at < len; at++)
        for (size_t m = 0; m < sizeof masks; m++) {
            hbn_layer *got = NULL;
            hbn_err err;
            hbn_status s;

            memcpy(buf, out, len);
            buf[at] ^= masks[m];
            s = hbn_state_decode(buf, len, "t", NULL, &got, &err);
            ck_assert_msg(s == HBN_OK || s == HBN_E_INVALID_STATE, "byte %zu: %s", at, err.msg);
            ck_assert_msg(at < 8 + n || s == HBN_E_INVALID_STATE, "data byte %zu accepted", at);
            hbn_layer_free(got);
        }
    free(buf);
    free(out);
    hbn_layer_free(layer);
}
END_TEST

/* ---- main --------------------------------------------------------------------------------- */

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("container");

    tcase_add_test(tc, test_crc32c);
    tcase_add_test(tc, test_container_write_parse);
    tcase_add_test(tc, test_printable);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, test_encode_matches_fixture);
    tcase_add_test(tc, test_encode_layout);
    tcase_add_test(tc, test_encode_numbers_metadata);
    tcase_add_loop_test(tc, test_roundtrip, 0, 7);
    tcase_add_test(tc, test_decode_options_against_hyperbn);
    suite_add_tcase(s, tc);
    tc = tcase_create("import");
    tcase_add_test(tc, test_import_seed);
    tcase_add_test(tc, test_import_seed_frozen);
    tcase_add_test(tc, test_import_torch);
    tcase_add_loop_test(tc, test_import_reexport, 0, 4);
    tcase_add_test(tc, test_import_dtypes);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_files");
    tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_bad_lengths);
    tcase_add_test(tc, test_bad_frozen_count);
    tcase_add_loop_test(tc, test_bad_metadata, 0,
                        (int)(sizeof meta_cases / sizeof meta_cases[0]));
    tcase_add_loop_test(tc, test_bad_num_features_range, 0, 4);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_corruptions);
    suite_add_tcase(s, tc);
    return s;
}

/* Writes the known layer's file to PATH (the committed fixture; see gen_state_fixtures.py). */
static int write_fixture(const char *path)
{
    hbn_layer *layer = known_layer_or_null();
    char *out = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "wb");
    int ok = layer != NULL && f != NULL && hbn_state_encode(layer, &out, &len, NULL) == HBN_OK &&
             fwrite(out, 1, len, f) == len;

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    free(out);
    hbn_layer_free(layer);
    fprintf(ok ? stdout : stderr, "%s %s (%zu bytes)\n", ok ? "wrote" : "failed to write", path,
            len);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    SRunner *sr;
    int failed;

    if (argc == 3 && strcmp(argv[1], "--write-hyperbn-fixture") == 0)
        return write_fixture(argv[2]);
    sr = srunner_create(state_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
