/* fuzz_oip.c: fuzz target of the Open Inference Protocol request decoder and infer route
 * (api/oip_request.c, api/json_walk.c, api/routes_oip.c, api/oip_response.c). Input: byte 0
 * bits 0-2 shift where the body sits from a 64-byte boundary (so that binary data lands aligned
 * or not), bit 3 drops Inference-Header-Content-Length, bit 4 takes its value as the raw text
 * before the first '\n' of the rest (any string); otherwise bytes 1-2 give it as a
 * little-endian u16. The rest is the body. Decoder invariants: only its documented statuses; a
 * header value that is not a decimal <= the body length is invalid_argument (against a plain
 * reading); on success the JSON spans lie in the header, the binary spans follow it back to
 * back, sum to the rest and hold numel x element size bytes, ranks are in range. Route
 * invariants (layer "a", C 2, two slots): a status of API.md's table, never 500 or 503; a binary
 * answer's header length lies within its body, the header is a JSON object, and its outputs'
 * binary_data_size values sum to the bytes after it. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "api/api.h"
#include "api/oip_request.h"
#include "server/registry.h"

/* A plain reading of the header value S against a body of LEN bytes: decimal digits only,
 * at least one, and a value <= LEN. */
static bool header_value_ok(const char *s, size_t len)
{
    size_t digits = strspn(s, "0123456789"), v = 0;

    if (digits == 0 || s[digits] != '\0')
        return false;
    while (*s == '0' && digits > 1) {
        s++;
        digits--;
    }
    if (digits > 19)
        return false;
    for (size_t i = 0; i < digits; i++)
        v = v * 10 + (size_t)(s[i] - '0');
    return v <= len;
}

/* The decoder's contract on BODY[LEN] with header value IHCL (may be NULL). */
static void check_decoder(const uint8_t *body, size_t len, const char *ihcl)
{
    hbn_oip_request q;
    hbn_err err;
    hbn_status st = hbn_oip_request_parse(body, len, ihcl, &q, &err);
    const hbn_oip_input *spans[HBN_OIP_INPUTS];
    const uint8_t *next;
    int n = 0;

    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_INVALID_JSON || st == HBN_E_INVALID_ARGUMENT ||
                       st == HBN_E_UNKNOWN_FIELD || st == HBN_E_SHAPE_MISMATCH ||
                       st == HBN_E_NO_MEMORY,
                   "status %s", hbn_status_code(st));
    HBN_FUZZ_CHECK(st == HBN_OK || err.msg[0] != '\0', "no message for %s", hbn_status_code(st));
    if (ihcl != NULL && !header_value_ok(ihcl, len))
        HBN_FUZZ_CHECK(st == HBN_E_INVALID_ARGUMENT, "header value '%s' (body %zu) gave %s", ihcl,
                       len, hbn_status_code(st));
    if (st != HBN_OK)
        return;
    HBN_FUZZ_CHECK(q.header_len > 0 && q.header_len <= len, "header %zu of %zu", q.header_len,
                   len);
    for (int k = 0; k < HBN_OIP_INPUTS; k++) {
        const hbn_oip_input *in = &q.inputs[k];

        if (!in->present)
            continue;
        HBN_FUZZ_CHECK(k == HBN_OIP_IN_INPUTS ? in->rank >= 2 && in->rank <= 5 : in->rank == 1,
                       "input %d rank %d", k, in->rank);
        if (in->binary) {
            HBN_FUZZ_CHECK((uint64_t)in->numel * (in->fp64 ? 8u : 4u) == in->len,
                           "input %d: %zu bytes for %lld values", k, in->len,
                           (long long)in->numel);
            spans[n++] = in;
        } else {
            HBN_FUZZ_CHECK(in->data >= body && in->data + in->len <= body + q.header_len &&
                               in->len > 0,
                           "JSON data of input %d outside the header", k);
        }
    }
    /* the binary spans, in body order, tile the bytes after the header exactly */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && spans[j]->data < spans[j - 1]->data; j--) {
            const hbn_oip_input *t = spans[j];
            spans[j] = spans[j - 1];
            spans[j - 1] = t;
        }
    next = body + q.header_len;
    for (int i = 0; i < n; i++) {
        HBN_FUZZ_CHECK(spans[i]->data == next, "binary spans not back to back");
        next += spans[i]->len;
    }
    HBN_FUZZ_CHECK(next == body + len, "binary spans end at %td of %zu", next - body, len);
    HBN_FUZZ_CHECK(q.inputs[HBN_OIP_IN_INPUTS].present, "no inputs tensor");
    HBN_FUZZ_CHECK(q.inputs[HBN_OIP_IN_MEAN].present == q.inputs[HBN_OIP_IN_VAR].present,
                   "unpaired statistics");
}

/* A binary answer's framing: header within the body, a JSON object, sizes summing to the rest. */
static void check_binary_answer(const hbn_response *res)
{
    const char *h = NULL;
    const cJSON *o;
    cJSON *doc;
    size_t header, sum = 0;

    for (int i = 0; i < res->header_count; i++)
        if (strcmp(res->headers[i].name, "Inference-Header-Content-Length") == 0)
            h = res->headers[i].value;
    HBN_FUZZ_CHECK(h != NULL, "binary answer without Inference-Header-Content-Length");
    header = strtoul(h, NULL, 10);
    HBN_FUZZ_CHECK(header <= res->body_len, "header %zu beyond body %zu", header, res->body_len);
    doc = cJSON_ParseWithLength(res->body, header);
    HBN_FUZZ_CHECK(cJSON_IsObject(doc), "binary answer's header is no JSON object");
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(doc, "outputs"))
    {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(o, "parameters"), "binary_data_size");
        if (cJSON_IsNumber(size))
            sum += (size_t)size->valuedouble;
    }
    HBN_FUZZ_CHECK(sum == res->body_len - header, "binary sizes %zu, bytes %zu", sum,
                   res->body_len - header);
    cJSON_Delete(doc);
}

/* The infer route's contract for BODY[LEN] with header value IHCL and Content-Type CTYPE. */
static void check_route(const uint8_t *body, size_t len, const char *ihcl, const char *ctype)
{
    static const int allowed[] = {200, 400, 415, 422};
    hbn_registry_options opts = {.max_layers = 4, .max_slots = 4};
    hbn_registry *reg = NULL;
    hbn_request req = {.method = "POST", .path = "/v2/models/a/infer", .content_type = ctype,
                       .inference_header_length = ihcl, .body = len > 0 ? body : NULL,
                       .body_len = len};
    static const char layer[] = "{\"name\":\"a\",\"num_features\":2}";
    hbn_request create = {.method = "POST", .path = "/v1/layers",
                          .content_type = "application/json", .body = (const uint8_t *)layer,
                          .body_len = sizeof layer - 1};
    hbn_response res;
    hbn_api api;
    bool known = false;

    HBN_FUZZ_CHECK(hbn_registry_create(&opts, &reg, NULL) == HBN_OK, "registry");
    memset(&api, 0, sizeof api);
    hbn_registry_store(reg, &api.store);
    api.version = "fuzz";
    hbn_response_init(&res);
    hbn_api_handle(&api, &create, &res);
    HBN_FUZZ_CHECK(res.http_status == 201, "fixture: %d", res.http_status);
    hbn_response_clear(&res);
    hbn_api_handle(&api, &req, &res);
    if (getenv("HBN_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "infer (%zu bytes, header %s) -> %d %s\n", len, ihcl != NULL ? ihcl : "-",
                res.http_status, res.error_code != NULL ? res.error_code : "");
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        known |= res.http_status == allowed[i];
    HBN_FUZZ_CHECK(known, "status %d (%s)", res.http_status,
                   res.error_code != NULL ? res.error_code : "-");
    if (res.http_status == 200 && res.content_type != NULL &&
        strcmp(res.content_type, "application/octet-stream") == 0)
        check_binary_answer(&res);
    hbn_response_clear(&res);
    hbn_registry_free(reg);
}

int hbn_fuzz_oip(const uint8_t *data, size_t size)
{
    uint8_t sel = size > 0 ? data[0] : 0;
    const uint8_t *rest = size > 0 ? data + 1 : data;
    size_t len = size > 0 ? size - 1 : 0;
    char ihcl[256];
    const char *h = ihcl;
    uint8_t *mem;

    if (sel & 8) {
        h = NULL;
    } else if (sel & 16) {
        const uint8_t *nl = memchr(rest, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - rest) : len;

        snprintf(ihcl, sizeof ihcl, "%.*s", (int)(n < 255 ? n : 255), (const char *)rest);
        rest += nl != NULL ? n + 1 : n;
        len -= nl != NULL ? n + 1 : n;
    } else {
        unsigned v = len >= 2 ? (unsigned)rest[0] | (unsigned)rest[1] << 8 : 0;

        snprintf(ihcl, sizeof ihcl, "%u", v);
        rest += len >= 2 ? 2 : len;
        len -= len >= 2 ? 2 : len;
    }
    /* the body at offset (sel & 7) past a 64-byte boundary, like a server buffer would be */
    mem = aligned_alloc(64, (len + 64 + 63) / 64 * 64);
    if (mem == NULL)
        return 0;
    if (len > 0)
        memcpy(mem + (sel & 7), rest, len);
    check_decoder(mem + (sel & 7), len, h);
    check_route(mem + (sel & 7), len, h, (sel & 32) ? "application/octet-stream" : NULL);
    free(mem);
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_oip)
