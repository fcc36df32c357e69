/* check_inplace.c: Check tests of the zero-copy paths: server/body.c's 64-byte aligned request
 * buffers and their hand-over (hbn_body_take), and the binary forward computing in the request's
 * writable body (hbn_request.body_mut) and answering from it (a borrowed response body), against
 * the copying path and a plain double-precision batch norm written here. Runs against a real
 * in-memory registry, without a socket (the HTTP hand-over is covered by the integration tests
 * under ASan). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "server/body.h"
#include "server/registry.h"

/* ---- body ------------------------------------------------------------------------------- */

START_TEST(test_body_aligned)
{
    hbn_body b;
    uint8_t chunk[3000];

    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)(i * 7);
    hbn_body_init(&b, 1 << 20);
    ck_assert_int_eq(hbn_body_reserve(&b, 1000), HBN_OK); /* a declared Content-Length */
    ck_assert_uint_eq((uintptr_t)b.data % 64, 0);
    ck_assert_uint_eq(b.cap, 1000);
    hbn_body_clear(&b);
    for (int i = 0; i < 40; i++) { /* chunked: every growth stays aligned and keeps the bytes */
        ck_assert_int_eq(hbn_body_append(&b, chunk, sizeof chunk), HBN_OK);
        ck_assert_uint_eq((uintptr_t)b.data % 64, 0);
    }
    ck_assert_uint_eq(b.len, 40 * sizeof chunk);
    for (int i = 0; i < 40; i++)
        ck_assert(memcmp(b.data + i * sizeof chunk, chunk, sizeof chunk) == 0);
    hbn_body_clear(&b);
}
END_TEST

START_TEST(test_body_take)
{
    hbn_body b;

    hbn_body_init(&b, 100);
    ck_assert_ptr_null(hbn_body_take(&b)); /* nothing yet */
    ck_assert_int_eq(hbn_body_append(&b, "abc", 3), HBN_OK);
    uint8_t *data = hbn_body_take(&b);
    ck_assert_ptr_nonnull(data);
    ck_assert(memcmp(data, "abc", 3) == 0);
    ck_assert_ptr_null(b.data); /* B forgot it: clearing must not free it */
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.limit, 100);
    hbn_body_clear(&b);
    data[0] = 'x'; /* still valid: ASan reports a use after free otherwise */
    free(data);
    ck_assert_int_eq(hbn_body_append(&b, "de", 2), HBN_OK); /* B is usable again */
    hbn_body_clear(&b);
}
END_TEST

/* ---- the binary forward in place -------------------------------------------------------- */

static hbn_registry *reg;
static hbn_api api;

static void setup(void)
{
    hbn_registry_options opts = {0};
    hbn_request req = {.method = "POST", .path = "/v1/layers", .content_type = "application/json"};
    static const char body[] = "{\"name\":\"bn\",\"num_features\":3}";
    hbn_response res;

    ck_assert_int_eq(hbn_registry_create(&opts, &reg, NULL), HBN_OK);
    memset(&api, 0, sizeof api);
    hbn_registry_store(reg, &api.store);
    api.version = "test";
    req.body = (const uint8_t *)body;
    req.body_len = sizeof body - 1;
    hbn_response_init(&res);
    hbn_api_handle(&api, &req, &res);
    ck_assert_int_eq(res.http_status, 201);
    hbn_response_clear(&res);
}

static void teardown(void)
{
    hbn_registry_free(reg);
    reg = NULL;
}

/* POSTs the N float32 values of IN (copied into a 64-byte aligned buffer at offset SKEW) as a
 * binary forward with QUERY; the request offers that buffer as writable when WRITABLE. */
static void forward(const float *in, size_t n, const char *query, bool writable, size_t skew,
                    uint8_t **buf, hbn_request *req, hbn_response *res)
{
    *buf = aligned_alloc(64, 64 + ((n * sizeof(float) + 63) / 64) * 64);
    ck_assert_ptr_nonnull(*buf);
    memcpy(*buf + skew, in, n * sizeof(float)); /* little-endian hosts */
    memset(req, 0, sizeof *req);
    req->method = "POST";
    req->path = "/v1/layers/bn/forward";
    req->query = query;
    req->content_type = "application/octet-stream";
    req->body = *buf + skew;
    req->body_len = n * sizeof(float);
    req->body_mut = writable ? *buf + skew : NULL;
    hbn_response_init(res);
    hbn_api_handle(&api, req, res);
}

/* Eval mode on a fresh layer (running mean 0, variance 1, weight 1, bias 0, eps 1e-5). */
static void expect_eval(const float *in, const void *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float got;
        memcpy(&got, (const uint8_t *)out + i * sizeof got, sizeof got);
        ck_assert_double_eq_tol((double)got, (double)in[i] / sqrt(1.0 + 1e-5), 1e-6);
    }
}

START_TEST(test_forward_in_place)
{
    static const float in[12] = {1, -2, 3.5f, 0.25f, 8, -1, 2, 2, 2, -0.5f, 0, 7};
    uint8_t *buf;
    hbn_request req;
    hbn_response res;

    forward(in, 12, "shape=4,3&mode=eval", true, 0, &buf, &req, &res);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert_str_eq(res.content_type, "application/octet-stream");
    ck_assert(res.body_borrowed);           /* answered from the request's buffer */
    ck_assert_ptr_eq(res.body, (char *)buf); /* computed there, not copied */
    ck_assert_uint_eq(res.body_len, sizeof in);
    ck_assert_uint_eq(res.forward_elements, 12);
    expect_eval(in, buf, 12);
    hbn_response_clear(&res); /* leaves BUF alone */
    free(buf);
}
END_TEST

START_TEST(test_forward_copy_paths)
{
    static const float in[6] = {0.5f, 1.5f, -3, 4, 5, -6};
    uint8_t *buf;
    hbn_request req;
    hbn_response res;

    /* no writable body: the copying path, the request bytes untouched */
    forward(in, 6, "shape=2,3&mode=eval", false, 0, &buf, &req, &res);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert(!res.body_borrowed);
    ck_assert_ptr_ne(res.body, (char *)buf);
    ck_assert(memcmp(buf, in, sizeof in) == 0);
    expect_eval(in, res.body, 6);
    hbn_response_clear(&res); /* frees the copy */
    free(buf);
    /* a writable body not aligned for float: copied too */
    forward(in, 6, "shape=2,3&mode=eval", true, 1, &buf, &req, &res);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert(!res.body_borrowed);
    expect_eval(in, res.body, 6);
    hbn_response_clear(&res);
    free(buf);
}
END_TEST

START_TEST(test_forward_in_place_failure)
{
    static const float in[6] = {1, 2, 3, 4, 5, 6};
    uint8_t *buf;
    hbn_request req;
    hbn_response res;

    /* a failing request answers with its own error body, never the request's buffer */
    forward(in, 6, "shape=3,2&mode=eval", true, 0, &buf, &req, &res); /* C is 3, not 2 */
    ck_assert_int_eq(res.http_status, 422);
    ck_assert(!res.body_borrowed);
    ck_assert_ptr_ne(res.body, (char *)buf);
    ck_assert_ptr_nonnull(strstr(res.body, "\"code\":\"shape_mismatch\""));
    hbn_response_clear(&res);
    free(buf);
}
END_TEST

static Suite *inplace_suite(void)
{
    Suite *s = suite_create("inplace");
    TCase *tc = tcase_create("body");
    tcase_add_test(tc, test_body_aligned);
    tcase_add_test(tc, test_body_take);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary_forward");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_forward_in_place);
    tcase_add_test(tc, test_forward_copy_paths);
    tcase_add_test(tc, test_forward_in_place_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inplace_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
