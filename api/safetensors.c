/* safetensors.c: the safetensors container, parsed and written; knows nothing of layers.
 * Invariant of a parsed file: every tensor's bytes lie inside the caller's buffer, the tensors
 * tile the data section exactly, and every count that sized an allocation was bounded by the
 * header's length (which is bounded by the buffer's). The JSON header goes through cJSON; the
 * integers in it are checked to be exact, non-negative and below 2^53 before any use. */
#include "api/safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_hooks.h"
#include "api/json_scan.h"
#include "core/alloc.h"

#define NAME_SHOW 48         /* bytes of a file-provided name shown in a message */
#define EXACT_MAX 9007199254740992.0 /* 2^53: larger integers are not exact in a double */

static const struct {
    const char *name;
    size_t size;
} dtypes[HBN_ST_DTYPE_COUNT] = {
    [HBN_ST_BOOL] = {"BOOL", 1}, [HBN_ST_U8] = {"U8", 1}, [HBN_ST_I8] = {"I8", 1},
    [HBN_ST_F8_E5M2] = {"F8_E5M2", 1}, [HBN_ST_F8_E4M3] = {"F8_E4M3", 1},
    [HBN_ST_I16] = {"I16", 2}, [HBN_ST_U16] = {"U16", 2}, [HBN_ST_F16] = {"F16", 2},
    [HBN_ST_BF16] = {"BF16", 2}, [HBN_ST_I32] = {"I32", 4}, [HBN_ST_U32] = {"U32", 4},
    [HBN_ST_F32] = {"F32", 4}, [HBN_ST_I64] = {"I64", 8}, [HBN_ST_U64] = {"U64", 8},
    [HBN_ST_F64] = {"F64", 8},
};

const char *hbn_st_dtype_name(hbn_st_dtype dtype)
{
    return dtypes[dtype].name;
}

size_t hbn_st_dtype_size(hbn_st_dtype dtype)
{
    return dtypes[dtype].size;
}

const char *hbn_st_printable(const char *s, char *out, size_t out_size)
{
    size_t n = 0, keep = out_size > 4 ? out_size - 4 : 0;

    for (; s[n] != '\0' && n < keep; n++)
        out[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    if (s[n] != '\0' && out_size >= 4)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
    return out;
}

void hbn_safetensors_init(hbn_safetensors *st)
{
    memset(st, 0, sizeof *st);
}

void hbn_safetensors_clear(hbn_safetensors *st)
{
    cJSON_Delete(st->header);
    hbn_free(st->tensors);
    hbn_free(st->meta);
    hbn_safetensors_init(st);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const hbn_st_tensor *)a)->name, ((const hbn_st_tensor *)b)->name);
}

static int cmp_tensor_offsets(const void *a, const void *b)
{
    const hbn_st_tensor *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(((const hbn_st_meta *)a)->key, ((const hbn_st_meta *)b)->key);
}

/* Whether ITEM is a JSON number holding an exact integer in [0, 2^53]; stores it in *OUT. */
static bool json_uint(const cJSON *item, uint64_t *out)
{
    double d;

    if (!cJSON_IsNumber(item))
        return false;
    d = item->valuedouble;
    if (!(d >= 0.0 && d <= EXACT_MAX) || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

static bool dtype_parse(const char *s, hbn_st_dtype *out)
{
    for (int i = 0; i < HBN_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (hbn_st_dtype)i;
            return true;
        }
    return false;
}

/* Fills T's rank, shape and numel from the JSON array SHAPE; NAME is the printable tensor name. */
static hbn_status parse_shape(const cJSON *shape, const char *name, hbn_st_tensor *t,
                              hbn_err *err)
{
    const cJSON *dim;

    if (!cJSON_IsArray(shape))
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s: shape is not an array", name);
    t->rank = 0;
    t->numel = 1;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t d;

        if (t->rank == HBN_ST_MAX_RANK)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s: shape has more than %d dimensions", name,
                               HBN_ST_MAX_RANK);
        if (!json_uint(dim, &d))
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s: a dimension is not a non-negative integer", name);
        t->shape[t->rank++] = d;
        if (d != 0 && t->numel > UINT64_MAX / d)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "tensor %s: the shape's element count overflows", name);
        t->numel *= d;
    }
    return HBN_OK;
}

/* Checks T's data_offsets (the JSON array OFFS) against its size and the data section. */
static hbn_status parse_offsets(const cJSON *offs, const char *name, size_t data_len,
                                hbn_st_tensor *t, hbn_err *err)
{
    uint64_t begin, end, size = hbn_st_dtype_size(t->dtype);

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &begin) ||
        !json_uint(offs->child->next, &end))
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s: data_offsets is not two non-negative integers", name);
    if (begin > end)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s: data_offsets begin %" PRIu64 " > end %" PRIu64, name,
                           begin, end);
    if (end > data_len)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s: data_offsets end %" PRIu64
                           " is past the data section (%zu bytes)", name, end, data_len);
    if (t->numel > UINT64_MAX / size || end - begin != t->numel * size)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "tensor %s: %" PRIu64 " bytes of data, but its shape and dtype %s "
                           "need %" PRIu64 " elements of %" PRIu64 " bytes", name, end - begin,
                           hbn_st_dtype_name(t->dtype), t->numel, size);
    t->begin = (size_t)begin;
    t->nbytes = (size_t)(end - begin);
    return HBN_OK;
}

/* Parses the tensor entry ITEM (its key is ITEM->string) into T. */
static hbn_status parse_tensor(const cJSON *item, const uint8_t *data, size_t data_len,
                               hbn_st_tensor *t, hbn_err *err)
{
    char name[NAME_SHOW];
    const cJSON *field, *dtype = NULL, *shape = NULL, *offs = NULL;
    hbn_status st;

    hbn_st_printable(item->string, name, sizeof name);
    if (!cJSON_IsObject(item))
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s is not a JSON object", name);
    cJSON_ArrayForEach(field, item) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offs
                                                                          : NULL;
        char fname[NAME_SHOW];

        if (slot == NULL || *slot != NULL)
            return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s: %s field %s", name,
                               slot == NULL ? "unknown" : "repeated",
                               hbn_st_printable(field->string, fname, sizeof fname));
        *slot = field;
    }
    if (dtype == NULL || shape == NULL || offs == NULL)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s lacks %s", name,
                           dtype == NULL ? "dtype" : shape == NULL ? "shape" : "data_offsets");
    t->name = item->string;
    if (!cJSON_IsString(dtype) || !dtype_parse(dtype->valuestring, &t->dtype)) {
        char dname[NAME_SHOW];

        return hbn_err_set(err, HBN_E_INVALID_STATE, "tensor %s: unknown dtype %s", name,
                           cJSON_IsString(dtype) ? hbn_st_printable(dtype->valuestring, dname,
                                                                    sizeof dname)
                                                 : "(not a string)");
    }
    if ((st = parse_shape(shape, name, t, err)) != HBN_OK ||
        (st = parse_offsets(offs, name, data_len, t, err)) != HBN_OK)
        return st;
    t->data = data + t->begin;
    return HBN_OK;
}

/* Fills ST->meta from the __metadata__ object ITEM. */
static hbn_status parse_meta(const cJSON *item, hbn_safetensors *st, hbn_err *err)
{
    const cJSON *e;

    if (!cJSON_IsObject(item))
        return hbn_err_set(err, HBN_E_INVALID_STATE, "__metadata__ is not a JSON object");
    st->meta = hbn_calloc((size_t)cJSON_GetArraySize(item) + 1, sizeof *st->meta);
    if (st->meta == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading a state file");
    cJSON_ArrayForEach(e, item) {
        char key[NAME_SHOW];

        if (!cJSON_IsString(e))
            return hbn_err_set(err, HBN_E_INVALID_STATE, "__metadata__ value of %s is not a string",
                               hbn_st_printable(e->string, key, sizeof key));
        st->meta[st->num_meta].key = e->string;
        st->meta[st->num_meta++].value = e->valuestring;
    }
    qsort(st->meta, st->num_meta, sizeof *st->meta, cmp_meta_key);
    for (size_t i = 1; i < st->num_meta; i++)
        if (strcmp(st->meta[i - 1].key, st->meta[i].key) == 0) {
            char key[NAME_SHOW];

            return hbn_err_set(err, HBN_E_INVALID_STATE, "__metadata__ has the key %s twice",
                               hbn_st_printable(st->meta[i].key, key, sizeof key));
        }
    return HBN_OK;
}

/* Checks that ST's tensors have distinct names and tile the data section exactly; leaves them
 * sorted by name. */
static hbn_status check_layout(hbn_safetensors *st, hbn_err *err)
{
    char a[NAME_SHOW], b[NAME_SHOW];
    size_t expected = 0;

    qsort(st->tensors, st->num_tensors, sizeof *st->tensors, cmp_tensor_offsets);
    for (size_t i = 0; i < st->num_tensors; i++) {
        const hbn_st_tensor *t = &st->tensors[i];

        if (t->begin < expected)
            return hbn_err_set(err, HBN_E_INVALID_STATE, "tensors %s and %s overlap",
                               hbn_st_printable(st->tensors[i - 1].name, a, sizeof a),
                               hbn_st_printable(t->name, b, sizeof b));
        if (t->begin > expected)
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "data bytes %zu..%zu belong to no tensor (gap before %s)",
                               expected, t->begin, hbn_st_printable(t->name, a, sizeof a));
        expected = t->begin + t->nbytes;
    }
    if (expected != st->data_len)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the tensors cover %zu of the data section's %zu bytes", expected,
                           st->data_len);
    qsort(st->tensors, st->num_tensors, sizeof *st->tensors, cmp_tensor_name);
    for (size_t i = 1; i < st->num_tensors; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return hbn_err_set(err, HBN_E_INVALID_STATE, "the header names tensor %s twice",
                               hbn_st_printable(st->tensors[i].name, a, sizeof a));
    return HBN_OK;
}

/* Whether the raw header H[N] holds a "\u0000" escape (cJSON would cut the string there, so
 * two different names could look the same). An escaped backslash before 'u' does not count. */
static bool has_nul_escape(const uint8_t *h, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        size_t bs = 0;

        if (h[i] != '\\')
            continue;
        while (i + bs < n && h[i + bs] == '\\')
            bs++;
        if (bs % 2 == 1 && i + bs + 5 <= n && h[i + bs] == 'u' &&
            memcmp(h + i + bs + 1, "0000", 4) == 0)
            return true;
        i += bs - 1;
    }
    return false;
}

/* Parses the N-byte header at H into ST->header after the checks of the text itself. */
static hbn_status parse_header_text(const uint8_t *h, size_t n, hbn_safetensors *st,
                                    hbn_err *err)
{
    const char *end = NULL;

    if (n == 0 || h[0] != '{')
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file's header is not a JSON object (it must start with {)");
    if (has_nul_escape(h, n))
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file's header holds a \\u0000 escape");
    hbn_json_hooks_install();
    st->header = cJSON_ParseWithLengthOpts((const char *)h, n, &end, 0);
    /* cJSON says NULL for bad text and for no memory alike: text that our own allocation-free
     * validator accepts (it accepts nothing cJSON refuses: tests/fuzz/fuzz_json_scan.c) was cut
     * short by memory, not by syntax */
    if (st->header == NULL && hbn_json_validate((const char *)h, n, NULL) == HBN_OK)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading the state file's header");
    if (st->header == NULL || !cJSON_IsObject(st->header))
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file's header is not valid JSON (near byte %td of %zu)",
                           end != NULL ? end - (const char *)h : (ptrdiff_t)0, n);
    for (size_t i = (size_t)(end - (const char *)h); i < n; i++)
        if (h[i] != ' ')
            return hbn_err_set(err, HBN_E_INVALID_STATE,
                               "the state file's header has bytes after its JSON object other "
                               "than space padding (at byte %zu)", i);
    return HBN_OK;
}

/* Fills ST from its parsed header. */
static hbn_status parse_entries(hbn_safetensors *st, hbn_err *err)
{
    const cJSON *item, *meta = NULL;
    size_t n = (size_t)cJSON_GetArraySize(st->header);
    hbn_status s;

    st->tensors = hbn_calloc(n + 1, sizeof *st->tensors);
    if (st->tensors == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading a state file");
    cJSON_ArrayForEach(item, st->header) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (meta != NULL)
                return hbn_err_set(err, HBN_E_INVALID_STATE,
                                   "the header holds __metadata__ twice");
            meta = item;
            if ((s = parse_meta(item, st, err)) != HBN_OK)
                return s;
            continue;
        }
        s = parse_tensor(item, st->data, st->data_len, &st->tensors[st->num_tensors], err);
        if (s != HBN_OK)
            return s;
        st->num_tensors++;
    }
    return check_layout(st, err);
}

hbn_status hbn_safetensors_parse(const uint8_t *buf, size_t len, hbn_safetensors *st,
                                 hbn_err *err)
{
    uint64_t n = 0;
    hbn_status s;

    if (len == 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "the state file is empty");
    if (len < 8)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file has %zu bytes, shorter than the 8-byte header length",
                           len);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n > HBN_ST_HEADER_MAX)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file's header length %" PRIu64 " is absurd (limit %u)", n,
                           HBN_ST_HEADER_MAX);
    if (n > len - 8)
        return hbn_err_set(err, HBN_E_INVALID_STATE,
                           "the state file's header length %" PRIu64
                           " runs past its end (%zu bytes after the length)", n, len - 8);
    st->data = buf + 8 + n;
    st->data_len = len - 8 - (size_t)n;
    if ((s = parse_header_text(buf + 8, (size_t)n, st, err)) != HBN_OK ||
        (s = parse_entries(st, err)) != HBN_OK)
        hbn_safetensors_clear(st);
    return s;
}

const hbn_st_tensor *hbn_safetensors_find(const hbn_safetensors *st, const char *name)
{
    hbn_st_tensor key = {.name = name};

    if (st->num_tensors == 0)
        return NULL;
    return bsearch(&key, st->tensors, st->num_tensors, sizeof key, cmp_tensor_name);
}

const char *hbn_safetensors_meta(const hbn_safetensors *st, const char *key)
{
    hbn_st_meta probe = {.key = key};
    const hbn_st_meta *m;

    if (st->num_meta == 0)
        return NULL;
    m = bsearch(&probe, st->meta, st->num_meta, sizeof probe, cmp_meta_key);
    return m != NULL ? m->value : NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* A two-pass writer: with P == NULL it only counts, so the header is sized exactly first. */
typedef struct emitter {
    char *p;
    size_t len;
} emitter;

static void emit(emitter *e, const char *s, size_t n)
{
    if (e->p != NULL)
        memcpy(e->p + e->len, s, n);
    e->len += n;
}

static void emit_str(emitter *e, const char *s)
{
    emit(e, s, strlen(s));
}

static void emit_u64(emitter *e, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);

    emit(e, tmp, (size_t)n);
}

/* S as a JSON string literal, as serde_json escapes it. */
static void emit_json_string(emitter *e, const char *s)
{
    emit(e, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t" : NULL;

        if (esc != NULL) {
            emit(e, esc, 2);
        } else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
            emit(e, tmp, 6);
        } else {
            emit(e, (const char *)&c, 1);
        }
    }
    emit(e, "\"", 1);
}

static void emit_header(emitter *e, const hbn_st_tensor *tensors, size_t n,
                        const hbn_st_meta *meta, size_t nmeta)
{
    size_t offset = 0;

    emit(e, "{", 1);
    if (nmeta > 0) {
        emit_str(e, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i > 0)
                emit(e, ",", 1);
            emit_json_string(e, meta[i].key);
            emit(e, ":", 1);
            emit_json_string(e, meta[i].value);
        }
        emit_str(e, n > 0 ? "}," : "}");
    }
    for (size_t i = 0; i < n; i++) {
        const hbn_st_tensor *t = &tensors[i];

        if (i > 0)
            emit(e, ",", 1);
        emit_json_string(e, t->name);
        emit_str(e, ":{\"dtype\":\"");
        emit_str(e, hbn_st_dtype_name(t->dtype));
        emit_str(e, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d > 0)
                emit(e, ",", 1);
            emit_u64(e, t->shape[d]);
        }
        emit_str(e, "],\"data_offsets\":[");
        emit_u64(e, offset);
        emit(e, ",", 1);
        offset += t->nbytes;
        emit_u64(e, offset);
        emit_str(e, "]}");
    }
    emit(e, "}", 1);
    while (e->len % 8 != 0)
        emit(e, " ", 1);
}

hbn_status hbn_safetensors_write(const hbn_st_tensor *tensors, size_t n, const hbn_st_meta *meta,
                                 size_t nmeta, char **out, size_t *len, hbn_err *err)
{
    emitter e = {NULL, 0};
    size_t data_len = 0, total;
    char *buf;

    for (size_t i = 0; i < n; i++) {
        if (tensors[i].nbytes > SIZE_MAX / 2 - data_len)
            return hbn_err_set(err, HBN_E_NO_MEMORY, "a state file this large cannot be built");
        data_len += tensors[i].nbytes;
    }
    emit_header(&e, tensors, n, meta, nmeta);
    if (e.len > SIZE_MAX / 2 - 8 - data_len)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "a state file this large cannot be built");
    total = 8 + e.len + data_len;
    buf = hbn_malloc(total);
    if (buf == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory writing a state file (%zu bytes)",
                           total);
    for (int i = 0; i < 8; i++)
        buf[i] = (char)(((uint64_t)e.len >> (8 * i)) & 0xff);
    e.p = buf + 8;
    e.len = 0;
    emit_header(&e, tensors, n, meta, nmeta);
    for (size_t i = 0, at = 8 + e.len; i < n; at += tensors[i].nbytes, i++)
        if (tensors[i].nbytes > 0)
            memcpy(buf + at, tensors[i].data, tensors[i].nbytes);
    *out = buf;
    *len = total;
    return HBN_OK;
}
