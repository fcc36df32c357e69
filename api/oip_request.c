/* oip_request.c: decoding an OIP inference request (oip_request.h). The JSON header is validated
 * once by json_fields (syntax, top-level members), then its nested lists are read with json_walk
 * over the validated text. Binary inputs take consecutive ranges after the header in the order of
 * the inputs list; every size is checked with overflow-safe arithmetic before any span is formed,
 * so a span never leaves the body. Errors are noted by class (structure, shape) and the first of
 * the first class wins, whatever the order of the members. */
#include "api/oip_request.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/name.h"
#include "api/query.h"

const char *const hbn_oip_input_names[HBN_OIP_INPUTS] = {"inputs", "weight", "bias",
                                                         "running_mean", "running_var"};
const char *const hbn_oip_output_names[HBN_OIP_OUTPUTS] = {"outputs", "running_mean",
                                                           "running_var"};

enum { T_ID, T_PARAMETERS, T_INPUTS, T_OUTPUTS, T_MODEL_NAME, T_MODEL_VERSION, T_N };
static const char *const top_names[T_N] = {"id", "parameters", "inputs", "outputs", "model_name",
                                           "model_version"};

/* Notes the error ST (sentence in ERR) in R's classes; returns ST. */
static hbn_status note(hbn_oip_request *r, hbn_status st, const hbn_err *err)
{
    return hbn_json_fields_note(&r->errors, st, err);
}

/* Notes error ST (structure or, for HBN_E_SHAPE_MISMATCH, shape) with a printf-style sentence;
 * returns ST. */
__attribute__((format(printf, 3, 4))) static hbn_status bad(hbn_oip_request *r, hbn_status st,
                                                            const char *fmt, ...);

static hbn_status bad(hbn_oip_request *r, hbn_status st, const char *fmt, ...)
{
    hbn_err err;
    va_list ap;

    va_start(ap, fmt);
    err.status = st;
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    return note(r, st, &err);
}

static hbn_json_field field_of(hbn_json_span s)
{
    return (hbn_json_field){.value = s.p, .len = s.len};
}

static const char *kind_name(hbn_json_span v)
{
    switch (hbn_json_walk_kind(v)) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

/* Reads the header value S (digits only) into *H, requiring H <= LEN. */
static hbn_status read_header_length(const char *s, size_t len, size_t *h, hbn_err *err)
{
    size_t v = 0;
    char shown[48];

    hbn_name_excerpt(s, strlen(s), shown, sizeof shown);
    if (*s == '\0')
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "Inference-Header-Content-Length is empty");
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "Inference-Header-Content-Length must be a decimal byte count, "
                               "got '%s'", shown);
        if (v > (SIZE_MAX - 9) / 10)
            v = SIZE_MAX; /* saturates: beyond any body */
        else
            v = v * 10 + (size_t)(*p - '0');
    }
    if (v > len)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "Inference-Header-Content-Length %s is beyond the body's %zu bytes",
                           shown, len);
    *h = v;
    return HBN_OK;
}

/* ---- request parameters ------------------------------------------------------------------ */

/* Reads the request's "parameters" object: stats_id, mode, num_batches_tracked and
 * binary_data_output; every other entry is ignored (Triton's reserved ones included). */
static void read_parameters(hbn_json_span v, hbn_oip_request *r, bool *binary_output)
{
    static const char *const known[] = {"stats_id", "mode", "num_batches_tracked",
                                        "binary_data_output"};
    hbn_forward_args *a = &r->scalars;
    bool seen[4] = {false, false, false, false}, overflow;
    hbn_json_span key, val;
    hbn_json_walk w;
    hbn_err err;

    if (hbn_json_walk_kind(v) != '{' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "parameters must be an object, got %s", kind_name(v));
        return;
    }
    while (hbn_json_walk_next(&w, &key, &val)) {
        hbn_json_field f = field_of(val);
        hbn_status st = HBN_OK;
        int k = 0;

        while (k < 4 && !hbn_json_walk_string_is(key, known[k]))
            k++;
        if (k == 4)
            continue;
        if (seen[k]) {
            bad(r, HBN_E_INVALID_ARGUMENT, "parameter %s is given more than once", known[k]);
            continue;
        }
        seen[k] = true;
        if (k == 0) {
            a->has_stats_id = true;
            st = hbn_json_fields_int(&f, "parameter stats_id", &a->stats_id, &overflow, &err);
        } else if (k == 1) {
            a->has_mode = true;
            st = hbn_json_fields_mode(&f, "parameter mode", &a->mode, &err);
        } else if (k == 2) {
            a->has_num_batches_tracked = true;
            st = hbn_json_fields_int(&f, "parameter num_batches_tracked",
                                     &a->num_batches_tracked, &r->count_overflow, &err);
            if (st == HBN_OK && a->num_batches_tracked < 0)
                st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                                 "parameter num_batches_tracked must be >= 0, got %" PRId64,
                                 a->num_batches_tracked);
        } else {
            st = hbn_json_fields_bool(&f, "parameter binary_data_output", binary_output, &err);
        }
        note(r, st, &err);
    }
}

/* ---- inputs ------------------------------------------------------------------------------ */

/* The members of one input object. */
typedef struct input_members {
    hbn_json_span name, shape, datatype, parameters, data;
} input_members;

/* Collects the members of input object V (the I-th of the list) into *M; false (noted) when V is
 * not an object or has an unknown or repeated member. */
static bool input_members_read(hbn_json_span v, int i, input_members *m, hbn_oip_request *r)
{
    static const char *const names[] = {"name", "shape", "datatype", "parameters", "data"};
    hbn_json_span *slots[] = {&m->name, &m->shape, &m->datatype, &m->parameters, &m->data};
    hbn_json_span key, val;
    hbn_json_walk w;

    memset(m, 0, sizeof *m);
    if (hbn_json_walk_kind(v) != '{' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "inputs[%d] must be an object, got %s", i, kind_name(v));
        return false;
    }
    while (hbn_json_walk_next(&w, &key, &val)) {
        int k = 0;
        char shown[64];

        while (k < 5 && !hbn_json_walk_string_is(key, names[k]))
            k++;
        if (k == 5) {
            hbn_name_excerpt(key.p, key.len, shown, sizeof shown);
            bad(r, HBN_E_UNKNOWN_FIELD, "unknown field %s in inputs[%d]", shown, i);
            return false;
        }
        if (slots[k]->p != NULL) {
            bad(r, HBN_E_INVALID_ARGUMENT, "field %s is given more than once in inputs[%d]",
                names[k], i);
            return false;
        }
        *slots[k] = val;
    }
    for (int k = 0; k < 3; k++)
        if (slots[k]->p == NULL) {
            bad(r, HBN_E_INVALID_ARGUMENT, "inputs[%d] needs a %s", i, names[k]);
            return false;
        }
    return true;
}

/* The index of the tensor named by the JSON string V among NAMES[N], or -1 (noted, naming
 * WHAT: "input" or "output"). */
static int tensor_index(hbn_json_span v, const char *const *names, int n, const char *what,
                        int i, hbn_oip_request *r)
{
    char shown[64];

    if (hbn_json_walk_kind(v) != '"') {
        bad(r, HBN_E_INVALID_ARGUMENT, "%ss[%d].name must be a string, got %s", what, i,
            kind_name(v));
        return -1;
    }
    for (int k = 0; k < n; k++)
        if (hbn_json_walk_string_is(v, names[k]))
            return k;
    hbn_name_excerpt(v.p, v.len, shown, sizeof shown);
    if (n == HBN_OIP_INPUTS)
        bad(r, HBN_E_INVALID_ARGUMENT, "unknown input %s: this model takes inputs, weight, bias, "
            "running_mean and running_var", shown);
    else
        bad(r, HBN_E_INVALID_ARGUMENT, "unknown output %s: this model gives outputs, "
            "running_mean and running_var", shown);
    return -1;
}

/* Reads shape V of input NAME into IN (rank, entries, numel): 1 when usable, 0 after a shape
 * error (a negative dimension, more than HBN_TENSOR_MAX_RANK entries), -1 after a structural one
 * (not an array of integers). */
static int read_shape(hbn_json_span v, const char *name, hbn_oip_input *in, hbn_oip_request *r)
{
    hbn_json_span e;
    hbn_json_walk w;
    int ok = 1, n = 0;

    if (hbn_json_walk_kind(v) != '[' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "the shape of %s must be an array, got %s", name,
            kind_name(v));
        return -1;
    }
    in->numel = 1;
    while (hbn_json_walk_next(&w, NULL, &e)) {
        int64_t d = 0;
        bool overflow;

        if (!hbn_query_parse_int(e.p, e.len, &d, &overflow)) {
            bad(r, HBN_E_INVALID_ARGUMENT, "the shape of %s must hold integers, got %s", name,
                kind_name(e));
            return -1;
        }
        if (d < 0 && ok == 1) {
            bad(r, HBN_E_SHAPE_MISMATCH, "the shape of %s has a negative dimension %" PRId64,
                name, d);
            ok = 0;
        }
        if (n < HBN_TENSOR_MAX_RANK)
            in->shape[n] = d;
        n++;
        if (d >= 0 && in->numel != INT64_MAX)
            in->numel = d != 0 && in->numel > INT64_MAX / d ? INT64_MAX : in->numel * d;
    }
    if (n > HBN_TENSOR_MAX_RANK && ok == 1) {
        bad(r, HBN_E_SHAPE_MISMATCH, "the shape of %s has %d dimensions, at most %d are read",
            name, n, HBN_TENSOR_MAX_RANK);
        ok = 0;
    }
    in->rank = n > HBN_TENSOR_MAX_RANK ? HBN_TENSOR_MAX_RANK : n;
    return ok;
}

/* The datatype V of input NAME: FP32 or FP64 into *FP64. */
static bool read_datatype(hbn_json_span v, const char *name, bool *fp64, hbn_oip_request *r)
{
    char shown[48];

    if (hbn_json_walk_string_is(v, "FP32") || hbn_json_walk_string_is(v, "FP64")) {
        *fp64 = hbn_json_walk_string_is(v, "FP64");
        return true;
    }
    hbn_name_excerpt(v.p, v.len, shown, sizeof shown);
    bad(r, HBN_E_INVALID_ARGUMENT, "the datatype of %s must be \"FP32\" or \"FP64\", got %s",
        name, shown);
    return false;
}

/* Reads parameters.binary_data_size of input NAME from V (other entries ignored) into *SIZE;
 * *GIVEN says whether it was there. */
static bool read_binary_size(hbn_json_span v, const char *name, bool *given, uint64_t *size,
                             hbn_oip_request *r)
{
    hbn_json_span key, val;
    hbn_json_walk w;

    *given = false;
    if (hbn_json_walk_kind(v) != '{' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "the parameters of %s must be an object, got %s", name,
            kind_name(v));
        return false;
    }
    while (hbn_json_walk_next(&w, &key, &val)) {
        int64_t n = 0;
        bool overflow;

        if (!hbn_json_walk_string_is(key, "binary_data_size"))
            continue;
        if (*given || !hbn_query_parse_int(val.p, val.len, &n, &overflow) || n < 0) {
            bad(r, HBN_E_INVALID_ARGUMENT, "binary_data_size of %s must be given once, as an "
                "integer >= 0", name);
            return false;
        }
        *given = true;
        *size = overflow ? UINT64_MAX : (uint64_t)n;
    }
    return true;
}

/* The binary part of a request: its bytes and how many the inputs read so far have taken. */
typedef struct binary_part {
    const uint8_t *bytes;
    size_t len;
    size_t used;
} binary_part;

/* Takes input IN's binary data of SIZE bytes (declared for NAME) from BIN and checks it against
 * the declared shape when SHAPE_OK. */
static void take_binary(hbn_oip_input *in, const char *name, uint64_t size, bool shape_ok,
                        binary_part *bin, hbn_oip_request *r)
{
    uint64_t esize = in->fp64 ? 8 : 4;

    if (size > bin->len - bin->used) {
        bad(r, HBN_E_INVALID_ARGUMENT, "binary_data_size of %s is %" PRIu64 " bytes, but only %zu "
            "bytes follow the JSON header and the inputs before it", name, size,
            bin->len - bin->used);
        return;
    }
    in->binary = true;
    in->data = bin->bytes + bin->used;
    in->len = (size_t)size;
    bin->used += (size_t)size;
    if (shape_ok && ((uint64_t)in->numel > UINT64_MAX / esize ||
                     (uint64_t)in->numel * esize != size))
        bad(r, HBN_E_INVALID_ARGUMENT, "binary_data_size of %s is %" PRIu64 " bytes, but its "
            "shape holds %" PRId64 " %s values", name, size, in->numel,
            in->fp64 ? "FP64 (8-byte)" : "FP32 (4-byte)");
}

/* Reads the I-th element V of the inputs list into its slot of R. */
static void read_input(hbn_json_span v, int i, binary_part *bin, hbn_oip_request *r)
{
    hbn_oip_input in;
    input_members m;
    const char *name;
    bool given = false;
    uint64_t size = 0;
    int k, shape;

    memset(&in, 0, sizeof in);
    if (!input_members_read(v, i, &m, r) ||
        (k = tensor_index(m.name, hbn_oip_input_names, HBN_OIP_INPUTS, "input", i, r)) < 0)
        return;
    name = hbn_oip_input_names[k];
    if (r->inputs[k].present) {
        bad(r, HBN_E_INVALID_ARGUMENT, "input %s is given more than once", name);
        return;
    }
    if (!read_datatype(m.datatype, name, &in.fp64, r) ||
        (shape = read_shape(m.shape, name, &in, r)) < 0 ||
        (m.parameters.p != NULL && !read_binary_size(m.parameters, name, &given, &size, r)))
        return;
    if (given == (m.data.p != NULL)) {
        bad(r, HBN_E_INVALID_ARGUMENT, given ? "input %s has both data and binary_data_size"
                                             : "input %s has neither data nor binary_data_size",
            name);
        return;
    }
    in.present = true;
    if (given) {
        take_binary(&in, name, size, shape == 1, bin, r);
    } else {
        in.data = (const uint8_t *)m.data.p;
        in.len = m.data.len;
    }
    r->inputs[k] = in;
}

/* Reads the request's inputs list V; then the framing: the binary inputs take all of BIN. */
static void read_inputs(hbn_json_span v, binary_part *bin, hbn_oip_request *r)
{
    hbn_json_span e;
    hbn_json_walk w;
    int i = 0;

    if (hbn_json_walk_kind(v) != '[' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "inputs must be an array, got %s", kind_name(v));
        return;
    }
    while (hbn_json_walk_next(&w, NULL, &e))
        read_input(e, i++, bin, r);
}

/* Reads output object V (the I-th of the list) into R; BINARY is the request's default. */
static void read_output(hbn_json_span v, int i, bool binary, hbn_oip_request *r)
{
    hbn_json_span key, val, name = {NULL, 0}, params = {NULL, 0};
    hbn_json_walk w;
    hbn_err err;
    char shown[64];
    int k;

    if (hbn_json_walk_kind(v) != '{' || !hbn_json_walk_init(&w, v)) {
        bad(r, HBN_E_INVALID_ARGUMENT, "outputs[%d] must be an object, got %s", i, kind_name(v));
        return;
    }
    while (hbn_json_walk_next(&w, &key, &val)) {
        hbn_json_span *slot = hbn_json_walk_string_is(key, "name")         ? &name
                              : hbn_json_walk_string_is(key, "parameters") ? &params
                                                                           : NULL;
        if (slot == NULL || slot->p != NULL) {
            hbn_name_excerpt(key.p, key.len, shown, sizeof shown);
            bad(r, slot == NULL ? HBN_E_UNKNOWN_FIELD : HBN_E_INVALID_ARGUMENT,
                slot == NULL ? "unknown field %s in outputs[%d]"
                             : "field %s is given more than once in outputs[%d]", shown, i);
            return;
        }
        *slot = val;
    }
    if (name.p == NULL) {
        bad(r, HBN_E_INVALID_ARGUMENT, "outputs[%d] needs a name", i);
        return;
    }
    if ((k = tensor_index(name, hbn_oip_output_names, HBN_OIP_OUTPUTS, "output", i, r)) < 0)
        return;
    if (r->outputs[k].requested) {
        bad(r, HBN_E_INVALID_ARGUMENT, "output %s is named more than once",
            hbn_oip_output_names[k]);
        return;
    }
    if (params.p != NULL) {
        if (hbn_json_walk_kind(params) != '{' || !hbn_json_walk_init(&w, params)) {
            bad(r, HBN_E_INVALID_ARGUMENT, "the parameters of output %s must be an object",
                hbn_oip_output_names[k]);
            return;
        }
        while (hbn_json_walk_next(&w, &key, &val)) {
            hbn_json_field f = field_of(val);

            if (hbn_json_walk_string_is(key, "binary_data") &&
                hbn_json_fields_bool(&f, "binary_data", &binary, &err) != HBN_OK) {
                note(r, err.status, &err);
                return;
            }
        }
    }
    r->outputs[k].requested = true;
    r->outputs[k].binary = binary;
}

/* Reads the outputs list V (absent: every output, encoded as BINARY says). */
static void read_outputs(const hbn_json_field *f, bool binary, hbn_oip_request *r)
{
    hbn_json_span v = {f->value, f->len}, e;
    hbn_json_walk w;
    int i = 0;

    if (f->value != NULL && (hbn_json_walk_kind(v) != '[' || !hbn_json_walk_init(&w, v))) {
        bad(r, HBN_E_INVALID_ARGUMENT, "outputs must be an array, got %s", kind_name(v));
        return;
    }
    if (f->value != NULL)
        while (hbn_json_walk_next(&w, NULL, &e))
            read_output(e, i++, binary, r);
    r->outputs_named = i > 0;
    if (!r->outputs_named)
        for (int k = 0; k < HBN_OIP_OUTPUTS; k++)
            r->outputs[k] = (hbn_oip_output){.requested = true, .binary = binary};
}

/* The rules between members: required "inputs", statistics in pairs, num_batches_tracked only
 * with them; then the ranks (2..5 for inputs, 1 for the vectors). */
static void check_request(const hbn_json_field *f, hbn_oip_request *r)
{
    const hbn_oip_input *in = r->inputs;
    bool mean = in[HBN_OIP_IN_MEAN].present, var = in[HBN_OIP_IN_VAR].present;

    if (f[T_INPUTS].value == NULL)
        bad(r, HBN_E_INVALID_ARGUMENT, "field inputs is required");
    else if (!in[HBN_OIP_IN_INPUTS].present)
        bad(r, HBN_E_INVALID_ARGUMENT, "input \"inputs\" is required");
    if (mean != var)
        bad(r, HBN_E_INVALID_ARGUMENT,
            "running_mean and running_var must be given together, got only %s",
            mean ? "running_mean" : "running_var");
    if (r->scalars.has_num_batches_tracked && !(mean && var))
        bad(r, HBN_E_INVALID_ARGUMENT, "parameter num_batches_tracked is only accepted together "
            "with the inputs running_mean and running_var");
    if (r->count_overflow)
        r->scalars.has_num_batches_tracked = false;
    if (in[0].present && (in[0].rank < HBN_MIN_RANK || in[0].rank > HBN_MAX_RANK))
        bad(r, HBN_E_SHAPE_MISMATCH, "inputs has rank %d, expected 2 to 5 dimensions (N, C, ...)",
            in[0].rank);
    for (int k = 1; k < HBN_OIP_INPUTS; k++)
        if (in[k].present && in[k].rank != 1)
            bad(r, HBN_E_SHAPE_MISMATCH, "%s has rank %d, expected shape [C]",
                hbn_oip_input_names[k], in[k].rank);
}

hbn_status hbn_oip_request_parse(const uint8_t *body, size_t len, const char *header_length,
                                 hbn_oip_request *out, hbn_err *err)
{
    hbn_json_field f[T_N];
    binary_part bin;
    bool binary_output = false;
    hbn_status st;

    memset(out, 0, sizeof *out);
    hbn_forward_args_init(&out->scalars);
    hbn_json_fields_errors_init(&out->errors);
    out->header_len = len;
    if (header_length != NULL &&
        (st = read_header_length(header_length, len, &out->header_len, err)) != HBN_OK)
        return note(out, st, err);
    if (out->header_len == 0)
        return note(out, hbn_err_set(err, HBN_E_INVALID_JSON, "the JSON header is empty"), err);
    st = hbn_json_fields_scan((const char *)body, out->header_len, top_names, T_N, f, err);
    if (st != HBN_OK)
        return note(out, st, err);
    bin = (binary_part){body + out->header_len, len - out->header_len, 0};
    if (f[T_ID].value != NULL && f[T_ID].value[0] != '"')
        bad(out, HBN_E_INVALID_ARGUMENT, "id must be a string, got %s",
            kind_name((hbn_json_span){f[T_ID].value, f[T_ID].len}));
    else if (f[T_ID].value != NULL)
        out->id = (hbn_json_span){f[T_ID].value, f[T_ID].len};
    for (int k = T_MODEL_NAME; k <= T_MODEL_VERSION; k++)
        if (f[k].value != NULL && f[k].value[0] != '"')
            bad(out, HBN_E_INVALID_ARGUMENT, "%s must be a string", top_names[k]);
    if (f[T_PARAMETERS].value != NULL)
        read_parameters((hbn_json_span){f[T_PARAMETERS].value, f[T_PARAMETERS].len}, out,
                        &binary_output);
    if (f[T_INPUTS].value != NULL)
        read_inputs((hbn_json_span){f[T_INPUTS].value, f[T_INPUTS].len}, &bin, out);
    if (bin.used != bin.len && out->errors.structure.status == HBN_OK)
        bad(out, HBN_E_INVALID_ARGUMENT, "the inputs' binary_data_size values sum to %zu bytes, "
            "but %zu bytes follow the JSON header", bin.used, bin.len);
    read_outputs(&f[T_OUTPUTS], binary_output, out);
    check_request(f, out);
    return hbn_json_fields_first(&out->errors, err);
}
