/* state.c: a layer <-> its safetensors state file (SEMANTICS 7): the key names, the metadata,
 * the checksum, and the three import kinds. The container itself is api/safetensors.c's job.
 * Decoding plans first (which tensor is what, the configuration, the slot count), checking every
 * header field against the already-validated container, and only then allocates: every array
 * it sizes is bounded by the number of tensors present or by a C that hbn_config_validate
 * accepted and the data section holds. Values are read with explicit little-endian loads. */
#include "api/state.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/safetensors.h"
#include "core/alloc.h"
#include "core/config.h"

#define NAME_MAX_LEN 32 /* "mean_" + 19 digits + NUL fits */
#define SHOW 48         /* bytes of a file-provided string shown in a message */
#define CRC32C_POLY 0x82F63B78u

void hbn_state_options_init(hbn_state_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->mode = HBN_MODE_TRAIN;
}

uint32_t hbn_state_crc32c(uint32_t crc, const void *data, size_t n)
{
    uint32_t table[256];
    const uint8_t *p = data;

    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        table[i] = c;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian values ----------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;

    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_f32s(uint8_t *p, const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;

        memcpy(&bits, &v[i], sizeof bits);
        put_le(p + 4 * i, bits, 4);
    }
}

static float f32_from_bits(uint32_t bits)
{
    float f;

    memcpy(&f, &bits, sizeof f);
    return f;
}

static float f16_to_float(uint32_t h)
{
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    float v = exp == 0    ? ldexpf((float)mant, -24)
              : exp == 31 ? (mant != 0 ? NAN : INFINITY)
                          : ldexpf((float)(mant | 0x400u), (int)exp - 25);

    return (h & 0x8000u) ? -v : v;
}

/* Converts T's NUMEL elements (a float dtype) to float32 in OUT. A float64 beyond float32's range
 * becomes an infinity (and is then refused as non-finite). */
static void read_floats(const hbn_st_tensor *t, float *out)
{
    for (uint64_t i = 0; i < t->numel; i++) {
        double d;

        switch (t->dtype) {
        case HBN_ST_F64:
            memcpy(&d, &(uint64_t){get_le(t->data + 8 * i, 8)}, sizeof d);
            out[i] = !isfinite(d) || fabs(d) <= (double)FLT_MAX ? (float)d
                     : d > 0.0                          ? INFINITY
                                                        : -INFINITY;
            break;
        case HBN_ST_F16:
            out[i] = f16_to_float((uint32_t)get_le(t->data + 2 * i, 2));
            break;
        case HBN_ST_BF16:
            out[i] = f32_from_bits((uint32_t)get_le(t->data + 2 * i, 2) << 16);
            break;
        default:
            out[i] = f32_from_bits((uint32_t)get_le(t->data + 4 * i, 4));
            break;
        }
    }
}

/* ---- names and numbers -------------------------------------------------------------------- */

/* Parses a canonical decimal int64 (no sign, no leading zero but "0") at S; *END after it. */
static bool parse_int64(const char *s, const char **end, int64_t *out)
{
    int64_t v = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (p == s || (s[0] == '0' && p - s > 1))
        return false;
    *end = p;
    *out = v;
    return true;
}

/* Whether NAME is PREFIX followed by a canonical decimal K, as the seed's _stats_names makes. */
static bool slot_name(const char *name, const char *prefix, int64_t *k)
{
    size_t n = strlen(prefix);
    const char *end;

    return strncmp(name, prefix, n) == 0 && parse_int64(name + n, &end, k) && *end == '\0';
}

/* The shortest "%.*g" rendering of V that reads back as V exactly. */
static void format_double(double v, char *out, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- encoding ----------------------------------------------------------------------------- */

enum kind { K_NUM_STATS, K_SCALE, K_BIAS, K_W0, K_W1, K_MEAN, K_VAR };

typedef struct enc_item {
    char name[NAME_MAX_LEN];
    enum kind kind;
    int64_t slot;
} enc_item;

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const enc_item *)a)->name, ((const enc_item *)b)->name);
}

/* Lists LAYER's tensors in ITEMS (room for 5 + 2T), sorted by name, and returns how many. */
static size_t enc_items(const hbn_layer *layer, enc_item *items)
{
    static const struct {
        const char *name;
        enum kind kind;
    } fixed[] = {{"_num_stats", K_NUM_STATS}, {"scale", K_SCALE}, {"bias", K_BIAS},
                 {"_weights.0", K_W0}, {"_weights.1", K_W1}};
    size_t n = 0, nfixed = hbn_layer_config(layer)->affine ? 5 : 1;

    for (size_t i = 0; i < nfixed; i++, n++) {
        snprintf(items[n].name, sizeof items[n].name, "%s", fixed[i].name);
        items[n].kind = fixed[i].kind;
        items[n].slot = 0;
    }
    for (int64_t k = 0; k < hbn_layer_num_stats(layer); k++) {
        snprintf(items[n].name, sizeof items[n].name, "mean_%" PRId64, k);
        items[n].kind = K_MEAN;
        items[n++].slot = k;
        snprintf(items[n].name, sizeof items[n].name, "var_%" PRId64, k);
        items[n].kind = K_VAR;
        items[n++].slot = k;
    }
    qsort(items, n, sizeof *items, cmp_item);
    return n;
}

/* Writes the bytes of ITEMS[N] one after another into DATA and describes them in TENSORS.
 * SCRATCH holds 3C floats. */
static hbn_status enc_data(const hbn_layer *layer, const enc_item *items, size_t n, uint8_t *data,
                           hbn_st_tensor *tensors, float *scratch, hbn_err *err)
{
    int64_t c = hbn_layer_num_features(layer);
    float *w = scratch, *b = scratch + c, *s = scratch + 2 * c;
    size_t at = 0;
    hbn_status st;

    if (hbn_layer_config(layer)->affine &&
        (st = hbn_layer_get_weights(layer, w, b, err)) != HBN_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        hbn_st_tensor *t = &tensors[i];
        enum kind k = items[i].kind;
        const float *src = (k == K_SCALE || k == K_W0) ? w : (k == K_BIAS || k == K_W1) ? b : s;

        memset(t, 0, sizeof *t);
        t->name = items[i].name;
        t->data = data + at;
        if (k == K_NUM_STATS) {
            t->dtype = HBN_ST_I64, t->rank = 0, t->numel = 1, t->nbytes = 8;
            put_le(data + at, (uint64_t)hbn_layer_num_stats(layer), 8);
        } else {
            t->dtype = HBN_ST_F32, t->rank = 1, t->shape[0] = (uint64_t)c;
            t->numel = (uint64_t)c, t->nbytes = 4 * (size_t)c;
            if ((k == K_MEAN || k == K_VAR) &&
                (st = hbn_layer_get_stats(layer, items[i].slot, k == K_MEAN ? s : NULL,
                                          k == K_VAR ? s : NULL, NULL, NULL, err)) != HBN_OK)
                return st;
            put_f32s(data + at, src, c);
        }
        at += t->nbytes;
    }
    return HBN_OK;
}

/* The slots' counts as a JSON array "[3,0]": NEW (hbn_free()), or NULL when out of memory. */
static char *enc_counts(const hbn_layer *layer)
{
    int64_t t = hbn_layer_num_stats(layer);
    size_t cap = 3 + 21 * (size_t)t, n = 1;
    char *s = hbn_malloc(cap);

    if (s == NULL)
        return NULL;
    s[0] = '[';
    for (int64_t k = 0; k < t; k++) {
        int64_t count = 0;

        hbn_layer_get_stats(layer, k, NULL, NULL, &count, NULL, NULL);
        n += (size_t)snprintf(s + n, cap - n, "%s%" PRId64, k > 0 ? "," : "", count);
    }
    snprintf(s + n, cap - n, "]");
    return s;
}

/* Encodes the metadata of LAYER, whose data section has checksum CRC, and writes the file. */
static hbn_status enc_write(const hbn_layer *layer, const hbn_st_tensor *tensors, size_t n,
                            uint32_t crc, char **out, size_t *len, hbn_err *err)
{
    const hbn_config *cfg = hbn_layer_config(layer);
    char c[24], momentum[32] = "null", eps[32], crc_hex[12];
    char *counts = enc_counts(layer);
    hbn_status st;

    if (counts == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory encoding layer %s",
                           hbn_layer_name(layer));
    snprintf(c, sizeof c, "%" PRId64, cfg->num_features);
    if (cfg->has_momentum)
        format_double(cfg->momentum, momentum, sizeof momentum);
    format_double(cfg->eps, eps, sizeof eps);
    snprintf(crc_hex, sizeof crc_hex, "%08" PRIx32, crc);
    {
        const hbn_st_meta meta[] = {
            {"format", "pt"},
            {"hyperbn.affine", cfg->affine ? "true" : "false"},
            {"hyperbn.crc32c", crc_hex},
            {"hyperbn.eps", eps},
            {"hyperbn.format", HBN_STATE_FORMAT},
            {"hyperbn.frozen_stats", cfg->frozen_stats ? "true" : "false"},
            {"hyperbn.learnable_stats", cfg->learnable_stats ? "true" : "false"},
            {"hyperbn.mode", hbn_mode_name(hbn_layer_mode(layer))},
            {"hyperbn.momentum", momentum},
            {"hyperbn.num_batches_tracked", counts},
            {"hyperbn.num_features", c},
            {"hyperbn.track_running_stats", cfg->track_running_stats ? "true" : "false"},
            {"hyperbn.version", HBN_STATE_VERSION},
        };

        st = hbn_safetensors_write(tensors, n, meta, sizeof meta / sizeof meta[0], out, len, err);
    }
    hbn_free(counts);
    return st;
}

hbn_status hbn_state_encode(const hbn_layer *layer, char **out, size_t *len, hbn_err *err)
{
    int64_t c = hbn_layer_num_features(layer), t = hbn_layer_num_stats(layer);
    size_t n, floats = (hbn_layer_config(layer)->affine ? 4 : 0) + 2 * (size_t)t;
    enc_item *items = NULL;
    hbn_st_tensor *tensors = NULL;
    uint8_t *data = NULL;
    float *scratch = NULL;
    hbn_status st = HBN_E_NO_MEMORY;

    if ((uint64_t)t > (SIZE_MAX / 8 - 8) / (4 * (uint64_t)c + sizeof *items + sizeof *tensors))
        return hbn_err_set(err, HBN_E_NO_MEMORY, "layer %s is too large to encode",
                           hbn_layer_name(layer));
    items = hbn_calloc(5 + 2 * (size_t)t, sizeof *items);
    tensors = hbn_calloc(5 + 2 * (size_t)t, sizeof *tensors);
    data = hbn_malloc(8 + floats * 4 * (size_t)c);
    scratch = hbn_malloc(3 * (size_t)c * sizeof *scratch);
    if (items == NULL || tensors == NULL || data == NULL || scratch == NULL) {
        hbn_err_set(err, st, "out of memory encoding layer %s", hbn_layer_name(layer));
        goto out;
    }
    n = enc_items(layer, items);
    st = enc_data(layer, items, n, data, tensors, scratch, err);
    if (st == HBN_OK)
        st = enc_write(layer, tensors, n, hbn_state_crc32c(0, data, 8 + floats * 4 * (size_t)c),
                       out, len, err);
out:
    hbn_free(items);
    hbn_free(tensors);
    hbn_free(data);
    hbn_free(scratch);
    return st;
}

/* ---- decoding: the plan ------------------------------------------------------------------- */

typedef enum st_format { FMT_HYPERBN, FMT_SEED, FMT_TORCH } st_format;

static const char *const format_names[] = {"hyperbn", "seed BatchNormLayer", "torch.nn.BatchNorm"};

/* What a file says, checked, before any layer exists. */
typedef struct plan {
    st_format format;
    hbn_config cfg;
    hbn_mode mode;
    int64_t num_slots;
    const hbn_st_tensor *weight, *bias;         /* scale/weight and bias, or NULL */
    const hbn_st_tensor *dup_weight, *dup_bias; /* _weights.0, _weights.1, or NULL */
    const hbn_st_tensor **mean, **var;          /* NEW [num_slots] */
    int64_t *counts;                            /* NEW [num_slots] */
} plan;

static void plan_clear(plan *p)
{
    hbn_free(p->mean);
    hbn_free(p->var);
    hbn_free(p->counts);
    memset(p, 0, sizeof *p);
}

/* Allocates P's slot arrays for T slots (T is bounded by the tensors present), counts 0. */
static hbn_status plan_alloc_slots(plan *p, int64_t t, hbn_err *err)
{
    p->num_slots = t;
    p->mean = hbn_calloc((size_t)t + 1, sizeof *p->mean);
    p->var = hbn_calloc((size_t)t + 1, sizeof *p->var);
    p->counts = hbn_calloc((size_t)t + 1, sizeof *p->counts);
    if (p->mean == NULL || p->var == NULL || p->counts == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading a state file");
    return HBN_OK;
}

static bool is_seed_name(const char *name)
{
    int64_t k;

    return strcmp(name, "scale") == 0 || strcmp(name, "bias") == 0 ||
           strcmp(name, "_weights.0") == 0 || strcmp(name, "_weights.1") == 0 ||
           strcmp(name, "_num_stats") == 0 || slot_name(name, "mean_", &k) ||
           slot_name(name, "var_", &k);
}

static bool is_torch_name(const char *name)
{
    return strcmp(name, "weight") == 0 || strcmp(name, "bias") == 0 ||
           strcmp(name, "running_mean") == 0 || strcmp(name, "running_var") == 0 ||
           strcmp(name, "num_batches_tracked") == 0;
}

/* hyperbn when the metadata says so; torch when a torch-only key is present; else seed. Then
 * refuses any tensor that does not belong to that kind of state. */
static hbn_status detect_format(const hbn_safetensors *st, st_format *format, hbn_err *err)
{
    char show[SHOW];

    if (hbn_safetensors_meta(st, "hyperbn.format") != NULL)
        *format = FMT_HYPERBN;
    else if (hbn_safetensors_find(st, "weight") || hbn_safetensors_find(st, "running_mean") ||
             hbn_safetensors_find(st, "running_var") ||
             hbn_safetensors_find(st, "num_batches_tracked"))
        *format = FMT_TORCH;
    else
        *format = FMT_SEED;
    for (size_t i = 0; i < st->num_tensors; i++) {
        const char *name = st->tensors[i].name;

        if (*format == FMT_TORCH ? !is_torch_name(name) : !is_seed_name(name))
            return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s does not belong in a %s state",
                               hbn_st_printable(name, show, sizeof show), format_names[*format]);
    }
    return HBN_OK;
}

/* Reads the count scalar T (I64 or I32, shape []) into *V; refuses a negative one. */
static hbn_status read_count(const hbn_st_tensor *t, int64_t *v, hbn_err *err)
{
    if (t->dtype != HBN_ST_I64 && t->dtype != HBN_ST_I32)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s has dtype %s, expected I64",
                           t->name, hbn_st_dtype_name(t->dtype));
    if (t->rank != 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s has %d dimensions, expected a scalar (shape [])", t->name,
                           t->rank);
    if (t->dtype == HBN_ST_I64) {
        uint64_t u = get_le(t->data, 8);

        memcpy(v, &u, sizeof *v);
    } else {
        uint32_t u = (uint32_t)get_le(t->data, 4);
        int32_t s;

        memcpy(&s, &u, sizeof s);
        *v = s;
    }
    if (*v < 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s is negative (%" PRId64 ")",
                           t->name, *v);
    return HBN_OK;
}

/* Seed-style tensors (hyperbn and seed files): _num_stats = T, mean_k / var_k for every k < T
 * and none beyond, scale, bias, _weights.*. */
static hbn_status plan_seed_tensors(const hbn_safetensors *st, plan *p, hbn_err *err)
{
    const hbn_st_tensor *ns = hbn_safetensors_find(st, "_num_stats");
    char name[NAME_MAX_LEN];
    int64_t t, k;
    hbn_status s;

    if (ns == NULL)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the state has no _num_stats tensor");
    if ((s = read_count(ns, &t, err)) != HBN_OK)
        return s;
    for (size_t i = 0; i < st->num_tensors; i++)
        if ((slot_name(st->tensors[i].name, "mean_", &k) ||
             slot_name(st->tensors[i].name, "var_", &k)) && k >= t)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s is an extra slot: _num_stats is %" PRId64,
                               st->tensors[i].name, t);
    /* Stops at the first missing slot, so it runs at most num_tensors + 1 times. */
    for (k = 0; k < t; k++)
        for (int v = 0; v < 2; v++) {
            snprintf(name, sizeof name, "%s_%" PRId64, v ? "var" : "mean", k);
            if (hbn_safetensors_find(st, name) == NULL)
                return hbn_err_set(err, HBN_E_INVALID_STATE,
                                   "tensor %s is missing: _num_stats is %" PRId64, name, t);
        }
    if ((s = plan_alloc_slots(p, t, err)) != HBN_OK)
        return s;
    for (k = 0; k < t; k++) {
        snprintf(name, sizeof name, "mean_%" PRId64, k);
        p->mean[k] = hbn_safetensors_find(st, name);
        snprintf(name, sizeof name, "var_%" PRId64, k);
        p->var[k] = hbn_safetensors_find(st, name);
    }
    p->weight = hbn_safetensors_find(st, "scale");
    p->bias = hbn_safetensors_find(st, "bias");
    p->dup_weight = hbn_safetensors_find(st, "_weights.0");
    p->dup_bias = hbn_safetensors_find(st, "_weights.1");
    return HBN_OK;
}

/* Torch tensors: running_mean, running_var (required), num_batches_tracked, weight, bias. */
static hbn_status plan_torch_tensors(const hbn_safetensors *st, plan *p, hbn_err *err)
{
    const hbn_st_tensor *nbt = hbn_safetensors_find(st, "num_batches_tracked");
    hbn_status s;

    if ((s = plan_alloc_slots(p, 1, err)) != HBN_OK)
        return s;
    p->mean[0] = hbn_safetensors_find(st, "running_mean");
    p->var[0] = hbn_safetensors_find(st, "running_var");
    if (p->mean[0] == NULL || p->var[0] == NULL)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a torch.nn.BatchNorm state needs running_mean and running_var "
                           "(track_running_stats=True); this one lacks %s",
                           p->mean[0] == NULL ? "running_mean" : "running_var");
    if (nbt != NULL && (s = read_count(nbt, &p->counts[0], err)) != HBN_OK)
        return s;
    p->weight = hbn_safetensors_find(st, "weight");
    p->bias = hbn_safetensors_find(st, "bias");
    return HBN_OK;
}

/* Checks that T is a float vector of C elements; *C < 0 means not known yet (T fixes it). */
static hbn_status check_vector(const hbn_st_tensor *t, int64_t *c, hbn_err *err)
{
    if (t->dtype != HBN_ST_F32 && t->dtype != HBN_ST_F64 && t->dtype != HBN_ST_F16 &&
        t->dtype != HBN_ST_BF16)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s has dtype %s, expected F32",
                           t->name, hbn_st_dtype_name(t->dtype));
    if (t->rank != 1)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s has %d dimensions, expected 1 (shape [C])", t->name, t->rank);
    if (*c < 0 && t->shape[0] <= (uint64_t)INT64_MAX)
        *c = (int64_t)t->shape[0];
    if (t->shape[0] != (uint64_t)*c)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s has shape [%" PRIu64 "], expected [%" PRId64 "]", t->name,
                           t->shape[0], *c);
    return HBN_OK;
}

/* Checks the pairing and shapes of every float tensor of P; fixes C when it is not known. */
static hbn_status plan_check_shapes(plan *p, hbn_err *err)
{
    const char *wname = p->format == FMT_TORCH ? "weight" : "scale";
    const hbn_st_tensor *all[4] = {p->weight, p->bias, p->dup_weight, p->dup_bias};
    int64_t *c = &p->cfg.num_features;
    hbn_status s;

    if ((p->weight == NULL) != (p->bias == NULL))
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the state has %s but no %s",
                           p->weight ? wname : "bias", p->weight ? "bias" : wname);
    if (p->weight == NULL && (p->dup_weight != NULL || p->dup_bias != NULL))
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state has _weights.* but no scale and bias");
    for (int i = 0; i < 4; i++)
        if (all[i] != NULL && (s = check_vector(all[i], c, err)) != HBN_OK)
            return s;
    for (int64_t k = 0; k < p->num_slots; k++)
        if ((s = check_vector(p->mean[k], c, err)) != HBN_OK ||
            (s = check_vector(p->var[k], c, err)) != HBN_OK)
            return s;
    if (*c < 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state holds no tensor that gives num_features "
                           "(no scale and no statistics)");
    return HBN_OK;
}

/* Validates P's configuration and its agreement with the tensors: affine exactly when weights
 * are present; the slot count a configuration implies; a frozen slot's count 0. */
static hbn_status plan_check_config(const plan *p, hbn_err *err)
{
    const hbn_config *cfg = &p->cfg;
    hbn_err inner;

    if (hbn_config_validate(cfg, &inner) != HBN_OK)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the state's configuration is invalid: %s",
                           inner.msg);
    if (cfg->affine != (p->weight != NULL))
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the metadata says affine=%s but the file %s",
                           cfg->affine ? "true" : "false",
                           cfg->affine ? "has no scale" : "has a scale");
    if (cfg->track_running_stats && p->num_slots < 1)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a layer that tracks running statistics has at least one slot, "
                           "the state has _num_stats 0");
    if ((cfg->frozen_stats || cfg->learnable_stats) && p->num_slots != 1)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a %s layer has exactly one statistics slot, the state has "
                           "_num_stats %" PRId64,
                           cfg->frozen_stats ? "frozen_stats" : "learnable_stats", p->num_slots);
    if (hbn_config_initial_slots(cfg) == 0 && p->num_slots != 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a layer without running statistics has no slots, the state has "
                           "_num_stats %" PRId64, p->num_slots);
    if (cfg->frozen_stats && p->counts[0] != 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a frozen_stats layer's slot counts no batches, the state says %" PRId64,
                           p->counts[0]);
    return HBN_OK;
}

/* ---- decoding: hyperbn metadata ----------------------------------------------------------- */

static const char *const hyperbn_keys[] = {
    "format", "hyperbn.affine", "hyperbn.crc32c", "hyperbn.eps", "hyperbn.format",
    "hyperbn.frozen_stats", "hyperbn.learnable_stats", "hyperbn.mode", "hyperbn.momentum",
    "hyperbn.num_batches_tracked", "hyperbn.num_features", "hyperbn.track_running_stats",
    "hyperbn.version",
};

/* In a hyperbn file every key must be one of hyperbn_keys; elsewhere no "hyperbn." key may
 * appear (foreign keys such as safetensors' "format" are ignored). */
static hbn_status meta_check_keys(const hbn_safetensors *st, bool hyperbn, hbn_err *err)
{
    char show[SHOW];

    for (size_t i = 0; i < st->num_meta; i++) {
        const char *key = st->meta[i].key;
        bool known = false;

        for (size_t j = 0; j < sizeof hyperbn_keys / sizeof hyperbn_keys[0]; j++)
            known = known || strcmp(key, hyperbn_keys[j]) == 0;
        if (hyperbn && !known)
            return hbn_err_set(err, HBN_E_INVALID_STATE, "unknown metadata key %s",
                               hbn_st_printable(key, show, sizeof show));
        if (!hyperbn && strncmp(key, "hyperbn.", 8) == 0)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "metadata key %s in a file without hyperbn.format",
                               hbn_st_printable(key, show, sizeof show));
    }
    return HBN_OK;
}

/* The value of KEY into *V; a missing key is an error. */
static hbn_status meta_get(const hbn_safetensors *st, const char *key, const char **v,
                           hbn_err *err)
{
    *v = hbn_safetensors_meta(st, key);
    if (*v == NULL)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the metadata lacks %s", key);
    return HBN_OK;
}

static hbn_status meta_bad(const char *key, const char *v, const char *want, hbn_err *err)
{
    char show[SHOW];

    return hbn_err_set(err, HBN_E_INVALID_STATE, "metadata %s must be %s, got \"%s\"", key, want,
                       hbn_st_printable(v, show, sizeof show));
}

static hbn_status meta_bool(const hbn_safetensors *st, const char *key, bool *out, hbn_err *err)
{
    const char *v;
    hbn_status s = meta_get(st, key, &v, err);

    if (s != HBN_OK)
        return s;
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return meta_bad(key, v, "true or false", err);
    *out = v[0] == 't';
    return HBN_OK;
}

/* A finite double, or "null" when NULLABLE (then *IS_NULL). */
static hbn_status meta_double(const hbn_safetensors *st, const char *key, bool nullable,
                              bool *is_null, double *out, hbn_err *err)
{
    const char *v;
    char *end;
    hbn_status s = meta_get(st, key, &v, err);

    if (s != HBN_OK)
        return s;
    if (nullable)
        *is_null = strcmp(v, "null") == 0;
    if (nullable && *is_null)
        return HBN_OK;
    *out = strtod(v, &end);
    if (v[0] == '\0' || !(v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')) ||
        *end != '\0' || !isfinite(*out))
        return meta_bad(key, v, nullable ? "a finite number or null" : "a finite number", err);
    return HBN_OK;
}

/* The configuration and mode of a hyperbn file. */
static hbn_status meta_config(const hbn_safetensors *st, plan *p, hbn_err *err)
{
    hbn_config *cfg = &p->cfg;
    const char *v, *end;
    bool null = false;
    hbn_status s;

    if ((s = meta_get(st, "hyperbn.format", &v, err)) != HBN_OK)
        return s;
    if (strcmp(v, HBN_STATE_FORMAT) != 0)
        return meta_bad("hyperbn.format", v, "\"" HBN_STATE_FORMAT "\"", err);
    if ((s = meta_get(st, "hyperbn.version", &v, err)) != HBN_OK)
        return s;
    if (strcmp(v, HBN_STATE_VERSION) != 0)
        return meta_bad("hyperbn.version", v, HBN_STATE_VERSION " (the only version known)",
                        err);
    if ((s = meta_get(st, "hyperbn.num_features", &v, err)) != HBN_OK)
        return s;
    if (!parse_int64(v, &end, &cfg->num_features) || *end != '\0')
        return meta_bad("hyperbn.num_features", v, "a non-negative integer", err);
    if ((s = meta_double(st, "hyperbn.momentum", true, &null, &cfg->momentum, err)) != HBN_OK ||
        (s = meta_double(st, "hyperbn.eps", false, NULL, &cfg->eps, err)) != HBN_OK ||
        (s = meta_bool(st, "hyperbn.affine", &cfg->affine, err)) != HBN_OK ||
        (s = meta_bool(st, "hyperbn.track_running_stats", &cfg->track_running_stats, err)) !=
            HBN_OK ||
        (s = meta_bool(st, "hyperbn.frozen_stats", &cfg->frozen_stats, err)) != HBN_OK ||
        (s = meta_bool(st, "hyperbn.learnable_stats", &cfg->learnable_stats, err)) != HBN_OK ||
        (s = meta_get(st, "hyperbn.mode", &v, err)) != HBN_OK)
        return s;
    cfg->has_momentum = !null;
    if (hbn_mode_parse(v, &p->mode) != HBN_OK)
        return meta_bad("hyperbn.mode", v, "train or eval", err);
    return HBN_OK;
}

/* hyperbn.num_batches_tracked: a JSON array of exactly P->num_slots non-negative integers. */
static hbn_status meta_counts(const hbn_safetensors *st, plan *p, hbn_err *err)
{
    const char *v, *s;
    hbn_status status = meta_get(st, "hyperbn.num_batches_tracked", &v, err);
    char want[96];

    if (status != HBN_OK)
        return status;
    snprintf(want, sizeof want, "a JSON array of %" PRId64 " non-negative integers (one per slot)",
             p->num_slots);
    s = v;
    if (*s++ != '[')
        return meta_bad("hyperbn.num_batches_tracked", v, want, err);
    for (int64_t k = 0; k < p->num_slots; k++)
        if ((k > 0 && *s++ != ',') || !parse_int64(s, &s, &p->counts[k]))
            return meta_bad("hyperbn.num_batches_tracked", v, want, err);
    if (s[0] != ']' || s[1] != '\0')
        return meta_bad("hyperbn.num_batches_tracked", v, want, err);
    return HBN_OK;
}

/* hyperbn.crc32c must be the CRC-32C of the data section, as 8 lowercase hex digits. */
static hbn_status meta_crc(const hbn_safetensors *st, hbn_err *err)
{
    const char *v;
    char want[12];
    hbn_status s = meta_get(st, "hyperbn.crc32c", &v, err);

    if (s != HBN_OK)
        return s;
    snprintf(want, sizeof want, "%08" PRIx32, hbn_state_crc32c(0, st->data, st->data_len));
    if (strcmp(v, want) != 0) {
        char show[SHOW];

        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "checksum mismatch: hyperbn.crc32c says %s, the data section has %s",
                           hbn_st_printable(v, show, sizeof show), want);
    }
    return HBN_OK;
}

/* Every option OPTS gives must equal the one the hyperbn file carries. */
static hbn_status check_opts_agree(const hbn_state_options *o, const plan *p, hbn_err *err)
{
    const hbn_config *cfg = &p->cfg;
    const char *what = NULL;

    if (o->has_momentum && (o->momentum_null != !cfg->has_momentum ||
                            (cfg->has_momentum && o->momentum != cfg->momentum)))
        what = "momentum";
    else if (o->has_eps && o->eps != cfg->eps)
        what = "eps";
    else if (o->has_mode && o->mode != p->mode)
        what = "mode";
    else if (o->has_frozen_stats && o->frozen_stats != cfg->frozen_stats)
        what = "frozen_stats";
    else if (o->has_learnable_stats && o->learnable_stats != cfg->learnable_stats)
        what = "learnable_stats";
    if (what != NULL)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the requested %s contradicts the state file's (a hyperbn state "
                           "carries its whole configuration)", what);
    return HBN_OK;
}

/* ---- decoding: the three kinds ------------------------------------------------------------ */

static hbn_status plan_hyperbn(const hbn_safetensors *st, plan *p, const hbn_state_options *o,
                               hbn_err *err)
{
    hbn_status s;

    if ((s = meta_check_keys(st, true, err)) != HBN_OK ||
        (s = meta_config(st, p, err)) != HBN_OK ||
        (s = plan_seed_tensors(st, p, err)) != HBN_OK ||
        (s = meta_counts(st, p, err)) != HBN_OK ||
        (s = plan_check_shapes(p, err)) != HBN_OK ||
        (s = meta_crc(st, err)) != HBN_OK ||
        (s = plan_check_config(p, err)) != HBN_OK)
        return s;
    return check_opts_agree(o, p, err);
}

/* Momentum, eps and mode of an imported (seed or torch) state: OPTS, else the defaults. */
static void import_options(plan *p, const hbn_state_options *o)
{
    if (o->has_momentum) {
        p->cfg.has_momentum = !o->momentum_null;
        p->cfg.momentum = o->momentum_null ? 0.0 : o->momentum;
    }
    if (o->has_eps)
        p->cfg.eps = o->eps;
    p->mode = o->has_mode ? o->mode : HBN_MODE_TRAIN;
}

static hbn_status plan_seed(const hbn_safetensors *st, plan *p, const hbn_state_options *o,
                            hbn_err *err)
{
    hbn_status s;

    if ((s = meta_check_keys(st, false, err)) != HBN_OK ||
        (s = plan_seed_tensors(st, p, err)) != HBN_OK)
        return s;
    hbn_config_init(&p->cfg, -1);
    if ((s = plan_check_shapes(p, err)) != HBN_OK)
        return s;
    import_options(p, o);
    p->cfg.affine = p->weight != NULL;
    p->cfg.frozen_stats = o->has_frozen_stats && o->frozen_stats;
    p->cfg.learnable_stats = o->has_learnable_stats && o->learnable_stats;
    p->cfg.track_running_stats =
        p->num_slots > 0 && !p->cfg.frozen_stats && !p->cfg.learnable_stats;
    return plan_check_config(p, err);
}

static hbn_status plan_torch(const hbn_safetensors *st, plan *p, const hbn_state_options *o,
                             hbn_err *err)
{
    hbn_status s;

    if ((s = meta_check_keys(st, false, err)) != HBN_OK ||
        (s = plan_torch_tensors(st, p, err)) != HBN_OK)
        return s;
    hbn_config_init(&p->cfg, -1);
    if ((s = plan_check_shapes(p, err)) != HBN_OK)
        return s;
    if ((o->has_frozen_stats && o->frozen_stats) || (o->has_learnable_stats && o->learnable_stats))
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "a torch.nn.BatchNorm state imports as a tracking layer; "
                           "frozen_stats or learnable_stats cannot be requested for it");
    import_options(p, o);
    p->cfg.affine = p->weight != NULL;
    return plan_check_config(p, err);
}

/* ---- decoding: building the layer --------------------------------------------------------- */

/* Reads the C-element float tensor T into OUT and checks its values: finite; >= 0 for a
 * variance; exactly WANT everywhere when WANT >= 0 (a frozen slot). */
static hbn_status load_vector(const hbn_st_tensor *t, float *out, bool variance, float want,
                              hbn_err *err)
{
    read_floats(t, out);
    for (uint64_t i = 0; i < t->numel; i++) {
        if (!isfinite(out[i]))
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s[%" PRIu64 "] is not a finite float32 number", t->name,
                               i);
        if (variance && out[i] < 0.0f)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s[%" PRIu64 "] is a negative variance (%g)", t->name, i,
                               (double)out[i]);
        if (want >= 0.0f && out[i] != want)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "a frozen_stats layer holds mean 0 / var 1, but %s[%" PRIu64
                               "] is %g", t->name, i, (double)out[i]);
    }
    return HBN_OK;
}

/* A status from a core setter on values already checked here: only running out of memory is
 * expected; anything else still means the file was unacceptable. */
static hbn_status as_state_error(hbn_status s, hbn_err *err)
{
    if (s == HBN_OK || s == HBN_E_NO_MEMORY)
        return s;
    if (err != NULL)
        err->status = HBN_E_INVALID_STATE;
    return HBN_E_INVALID_STATE;
}

static hbn_status build_weights(hbn_layer *layer, const plan *p, float *a, float *b,
                                hbn_err *err)
{
    int64_t c = p->cfg.num_features;
    const hbn_st_tensor *dups[2] = {p->dup_weight, p->dup_bias};
    const char *orig[2] = {p->weight->name, p->bias->name};
    hbn_status s;

    for (int i = 0; i < 2; i++) {
        if (dups[i] == NULL)
            continue;
        if ((s = load_vector(dups[i], a, false, -1.0f, err)) != HBN_OK ||
            (s = load_vector(i == 0 ? p->weight : p->bias, b, false, -1.0f, err)) != HBN_OK)
            return s;
        if (memcmp(a, b, (size_t)c * sizeof *a) != 0)
            return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s differs from %s",
                               dups[i]->name, orig[i]);
    }
    if ((s = load_vector(p->weight, a, false, -1.0f, err)) != HBN_OK ||
        (s = load_vector(p->bias, b, false, -1.0f, err)) != HBN_OK)
        return s;
    return as_state_error(hbn_layer_set_weights(layer, a, c, b, c, err), err);
}

static hbn_status build_slots(hbn_layer *layer, const plan *p, float *a, float *b, hbn_err *err)
{
    bool frozen = p->cfg.frozen_stats;
    int64_t c = p->cfg.num_features, id;
    hbn_status s;

    for (int64_t k = 0; k < p->num_slots; k++) {
        if ((s = load_vector(p->mean[k], a, false, frozen ? 0.0f : -1.0f, err)) != HBN_OK ||
            (s = load_vector(p->var[k], b, true, frozen ? 1.0f : -1.0f, err)) != HBN_OK)
            return s;
        if (frozen)
            continue; /* created at 0 / 1, count 0, and not writable */
        if (k > 0 && (s = hbn_layer_checkpoint(layer, &id, err)) != HBN_OK)
            return as_state_error(s, err);
        s = hbn_layer_set_stats(layer, k, a, c, b, c, &p->counts[k], err);
        if (s != HBN_OK)
            return as_state_error(s, err);
    }
    return HBN_OK;
}

static hbn_status plan_build(const plan *p, const char *name, hbn_layer **out, hbn_err *err)
{
    hbn_layer *layer = NULL;
    float *a = NULL, *b = NULL;
    hbn_status s = hbn_layer_create(name, &p->cfg, &layer, err);

    if (s != HBN_OK)
        return as_state_error(s, err);
    hbn_layer_set_mode(layer, p->mode);
    /* Scratch of C floats only when tensors back C (else it came from the metadata alone). */
    if (p->weight != NULL || p->num_slots > 0) {
        a = hbn_malloc((size_t)p->cfg.num_features * sizeof *a);
        b = hbn_malloc((size_t)p->cfg.num_features * sizeof *b);
        if (a == NULL || b == NULL) {
            s = hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory importing layer %s", name);
            goto out;
        }
        if ((p->weight != NULL && (s = build_weights(layer, p, a, b, err)) != HBN_OK) ||
            (s = build_slots(layer, p, a, b, err)) != HBN_OK)
            goto out;
    }
    *out = layer;
    layer = NULL;
out:
    hbn_free(a);
    hbn_free(b);
    hbn_layer_free(layer);
    return s;
}

hbn_status hbn_state_decode(const uint8_t *buf, size_t len, const char *name,
                            const hbn_state_options *opts, hbn_layer **out, hbn_err *err)
{
    hbn_state_options none;
    hbn_safetensors st;
    plan p;
    hbn_status s;

    if (name == NULL)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "a layer needs a name");
    if (opts == NULL) {
        hbn_state_options_init(&none);
        opts = &none;
    }
    hbn_safetensors_init(&st);
    memset(&p, 0, sizeof p);
    if ((s = hbn_safetensors_parse(buf, len, &st, err)) != HBN_OK ||
        (s = detect_format(&st, &p.format, err)) != HBN_OK)
        goto out;
    s = p.format == FMT_HYPERBN ? plan_hyperbn(&st, &p, opts, err)
        : p.format == FMT_SEED  ? plan_seed(&st, &p, opts, err)
                                : plan_torch(&st, &p, opts, err);
    if (s == HBN_OK)
        s = plan_build(&p, name, out, err);
out:
    plan_clear(&p);
    hbn_safetensors_clear(&st);
    return s;
}
