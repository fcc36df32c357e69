/* check_codec.c: unit tests of the api/ codecs: response messages, the string buffer, the float32
 * printer, the strict JSON scanner, the tensor codec and the envelope scan that parses a tensor
 * member in passing. Expected values are written by hand or
 * come from libc (strtof, snprintf of exact decimal expansions), never from the code under test.
 * Random samples use a fixed-seed xorshift, so every run checks the same values. */
#include <check.h>
#include <float.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/float_format.h"
#include "api/json_fields.h"
#include "api/json_scan.h"
#include "api/message.h"
#include "api/strbuf.h"
#include "api/tensor_json.h"

#define TEXT(s) {s, sizeof(s) - 1}

/* For hot loops: Check records every passing ck_assert (a write(2) each), so loops over
 * millions of values test with REQUIRE, which only calls into Check on failure. */
#define REQUIRE(cond, ...)                \
    do {                                  \
        if (!(cond))                      \
            ck_abort_msg(__VA_ARGS__);    \
    } while (0)

typedef struct text_case {
    const char *text;
    size_t len;
} text_case;

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float float_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* A random finite float over the whole bit range (subnormals and both signs included). */
static float random_finite_float(void)
{
    for (;;) {
        float f = float_from_bits((uint32_t)rng_next());
        if (isfinite(f))
            return f;
    }
}

/* ---- message ------------------------------------------------------------------------------- */

START_TEST(test_response_init_and_clear)
{
    hbn_response res;
    memset(&res, 0xAB, sizeof res);
    hbn_response_init(&res);
    ck_assert_int_eq(res.http_status, 500);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.body_len, 0);
    ck_assert_int_eq(res.header_count, 0);
    ck_assert_str_eq(res.route, "unknown");
    ck_assert_ptr_null(res.content_type);
    ck_assert_ptr_null(res.error_code);
    char *body = malloc(4);
    ck_assert_ptr_nonnull(body);
    memcpy(body, "{}\n", 4);
    hbn_response_set_body(&res, 200, "application/json", body, 3);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert_ptr_eq(res.body, body);
    ck_assert_uint_eq(res.body_len, 3);
    ck_assert_str_eq(res.content_type, "application/json");
    hbn_response_clear(&res); /* frees the body: ASan reports a leak otherwise */
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(res.http_status, 500);
    hbn_response_clear(&res); /* clearing twice is fine */
}
END_TEST

START_TEST(test_response_set_body_replaces)
{
    hbn_response res;
    hbn_response_init(&res);
    char *first = strdup("first"), *second = strdup("second!");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(second);
    hbn_response_set_body(&res, 201, "text/plain", first, 5);
    hbn_response_set_body(&res, 422, "application/json", second, 7); /* frees FIRST */
    ck_assert_int_eq(res.http_status, 422);
    ck_assert_str_eq(res.body, "second!");
    hbn_response_set_body(&res, 204, NULL, NULL, 0);
    ck_assert_ptr_null(res.body);
    ck_assert_ptr_null(res.content_type);
    hbn_response_clear(&res);
}
END_TEST

START_TEST(test_response_headers)
{
    hbn_response res;
    hbn_response_init(&res);
    ck_assert(hbn_response_add_header(&res, "Location", "/v1/layers/%s", "bn1"));
    ck_assert(hbn_response_add_header(&res, "Retry-After", "%d", 5));
    ck_assert_int_eq(res.header_count, 2);
    ck_assert_str_eq(res.headers[0].name, "Location");
    ck_assert_str_eq(res.headers[0].value, "/v1/layers/bn1");
    ck_assert_str_eq(res.headers[1].value, "5");
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert(!hbn_response_add_header(&res, "X-Big", "%s", big)); /* truncated: not added */
    ck_assert_int_eq(res.header_count, 2);
    ck_assert(hbn_response_add_header(&res, "Allow", "GET, PUT"));
    ck_assert(hbn_response_add_header(&res, "X-Request-Id", "abc"));
    ck_assert_int_eq(res.header_count, HBN_MAX_EXTRA_HEADERS);
    ck_assert(!hbn_response_add_header(&res, "X-More", "1")); /* table full */
    ck_assert_int_eq(res.header_count, HBN_MAX_EXTRA_HEADERS);
    hbn_response_clear(&res);
    ck_assert_int_eq(res.header_count, 0);
}
END_TEST

START_TEST(test_response_request_body)
{
    /* A body borrowed from the request's writable buffer is never freed by the response. */
    uint8_t *buf = malloc(64);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'b', 64);
    hbn_request req = {.method = "POST", .path = "/", .body = buf, .body_len = 64, .body_mut = buf};
    hbn_response res;
    hbn_response_init(&res);
    char *owned = strdup("owned");
    ck_assert_ptr_nonnull(owned);
    hbn_response_set_body(&res, 200, "text/plain", owned, 5);
    hbn_response_set_request_body(&res, 200, "application/octet-stream", &req, (char *)buf + 8,
                                  56); /* frees OWNED: ASan reports a leak otherwise */
    ck_assert(res.body_borrowed);
    ck_assert_ptr_eq(res.body, buf + 8);
    ck_assert_uint_eq(res.body_len, 56);
    ck_assert_str_eq(res.content_type, "application/octet-stream");
    hbn_response_clear(&res); /* must not free BUF */
    ck_assert(!res.body_borrowed);
    ck_assert_ptr_null(res.body);
    buf[63] = 'x'; /* still ours: ASan reports a use after free otherwise */
    hbn_response_set_request_body(&res, 200, "application/octet-stream", &req, (char *)buf, 64);
    owned = strdup("again");
    ck_assert_ptr_nonnull(owned);
    hbn_response_set_body(&res, 500, "text/plain", owned, 5); /* replaces, does not free BUF */
    ck_assert(!res.body_borrowed);
    ck_assert_ptr_eq(res.body, owned);
    hbn_response_clear(&res); /* frees OWNED */
    buf[0] = 'y';
    free(buf);
}
END_TEST

/* ---- strbuf -------------------------------------------------------------------------------- */

START_TEST(test_strbuf_append_and_take)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "ab");
    hbn_strbuf_append(&sb, "cdef", 2);
    hbn_strbuf_printf(&sb, "-%d-%s", 42, "x");
    ck_assert_str_eq(sb.data, "abcd-42-x");
    ck_assert_uint_eq(sb.len, 9);
    for (int i = 0; i < 1000; i++) /* growth well past the first allocation */
        hbn_strbuf_puts(&sb, "0123456789");
    ck_assert_uint_eq(sb.len, 10009);
    ck_assert_uint_eq(strlen(sb.data), 10009);
    ck_assert(sb.cap > sb.len);
    size_t len;
    char *data = hbn_strbuf_take(&sb, &len);
    ck_assert_uint_eq(len, 10009);
    ck_assert_mem_eq(data, "abcd-42-x0123456789", 19);
    ck_assert_ptr_null(sb.data);
    ck_assert_uint_eq(sb.len, 0);
    free(data);
    data = hbn_strbuf_take(&sb, &len); /* empty: "" rather than NULL */
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    free(data);
}
END_TEST

START_TEST(test_strbuf_printf_long)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "[");
    char word[301];
    memset(word, 'w', 300);
    word[300] = '\0';
    hbn_strbuf_printf(&sb, "%s|%s", word, word); /* longer than the room reserved first */
    ck_assert_uint_eq(sb.len, 602);
    ck_assert_uint_eq(strlen(sb.data), 602);
    ck_assert_int_eq(sb.data[301], '|');
    ck_assert_int_eq(sb.data[601], 'w');
    hbn_strbuf_clear(&sb);
    ck_assert_ptr_null(sb.data);
}
END_TEST

START_TEST(test_strbuf_failure_is_sticky)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "ok");
    ck_assert(!hbn_strbuf_reserve(&sb, SIZE_MAX - 1)); /* cannot be satisfied */
    ck_assert(sb.failed);
    hbn_strbuf_puts(&sb, "more");
    hbn_strbuf_printf(&sb, "%d", 1);
    ck_assert_uint_eq(sb.len, 2);
    size_t len = 99;
    ck_assert_ptr_null(hbn_strbuf_take(&sb, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert(!sb.failed); /* left empty and usable */
    ck_assert_ptr_null(sb.data);
}
END_TEST

static const struct {
    const char *in, *out;
} json_string_cases[] = {
    {"plain", "\"plain\""},
    {"", "\"\""},
    {"q\"b\\s/", "\"q\\\"b\\\\s/\""},
    {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
    {"\x01\x1f", "\"\\u0001\\u001f\""},
    {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
    {"bad\xFFx", "\"bad\xEF\xBF\xBDx\""},              /* invalid byte */
    {"\xC0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},       /* overlong NUL */
    {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* surrogate */
    {"cut\xE2\x82", "\"cut\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* truncated at the end */
};

START_TEST(test_strbuf_json_string)
{
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_strbuf_json_string(&sb, json_string_cases[_i].in);
    ck_assert_str_eq(sb.data, json_string_cases[_i].out);
    ck_assert_int_eq(hbn_json_validate(sb.data, sb.len, NULL), HBN_OK);
    hbn_strbuf_clear(&sb);
}
END_TEST

/* ---- float_format -------------------------------------------------------------------------- */

static const struct {
    float v;
    const char *text;
} float_cases[] = {
    {0.0f, "0"},
    {-0.0f, "-0"},
    {1.0f, "1"},
    {-1.0f, "-1"},
    {0.1f, "0.1"},
    {0.3f, "0.3"},
    {1.0f / 3.0f, "0.33333334"},
    {-2.75f, "-2.75"},
    {1e-7f, "1e-07"},
    {1.5e20f, "1.5e+20"},
    {FLT_MAX, "3.4028235e+38"},
    {-FLT_MAX, "-3.4028235e+38"},
    {FLT_MIN, "1.1754944e-38"},
    {FLT_MIN / 2, "5.877472e-39"},
    {1.401298464e-45f, "1e-45"}, /* the smallest subnormal */
    {16777216.0f, "16777216"},
    {100000.0f, "100000"},
    {1e8f, "100000000"},
    {1e9f, "1e+09"},
    {123456789.0f, "123456790"},
    {12345678.9f, "12345679"},
    {123456.789f, "123456.79"},
    {0.0001f, "0.0001"},
    {0.00001f, "1e-05"},
    {0.000123456789f, "0.00012345679"},
    {9.999999e-5f, "9.999999e-05"},
    {2.5e-5f, "2.5e-05"},
    {6.103515625e-05f, "6.1035156e-05"},
    {3.14159265358979f, "3.1415927"},
    {1e38f, "1e+38"},
};

START_TEST(test_float_known)
{
    char buf[HBN_FLOAT_CHARS_MAX];
    size_t n = hbn_float_format(float_cases[_i].v, buf);
    ck_assert_str_eq(buf, float_cases[_i].text);
    ck_assert_uint_eq(n, strlen(float_cases[_i].text));
}
END_TEST

START_TEST(test_float_non_finite_is_null)
{
    char buf[HBN_FLOAT_CHARS_MAX];
    ck_assert_uint_eq(hbn_float_format(INFINITY, buf), 4);
    ck_assert_str_eq(buf, "null");
    hbn_float_format(-INFINITY, buf);
    ck_assert_str_eq(buf, "null");
    hbn_float_format(NAN, buf);
    ck_assert_str_eq(buf, "null");
}
END_TEST

/* Formats V and checks what every output must satisfy: exact round trip through strtof, a
 * valid JSON number token, at most 15 bytes. */
static void check_round_trip(float v, char *buf)
{
    size_t n = hbn_float_format(v, buf);
    REQUIRE(n == strlen(buf) && n <= 15, "%08x: length %zu for %s", bits_of(v), n, buf);
    bool integer;
    REQUIRE(hbn_json_number_span(buf, n, &integer) == n, "not a JSON number: %s", buf);
    float back = strtof(buf, NULL);
    REQUIRE(bits_of(back) == bits_of(v), "%08x printed as %s reads back as %08x", bits_of(v), buf,
            bits_of(back));
}

/* Significant digits of the printed number BUF into DIGITS; returns how many (trailing zeros of
 * an integer such as 1500 are not significant). */
static int significant_digits(const char *buf, char *digits)
{
    int n = 0;
    for (const char *p = buf; *p != '\0' && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && (n > 0 || *p != '0'))
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

/* BUF (from hbn_float_format(V)) must be shortest: neither (P-1)-digit decimal next to V reads
 * back as V; and closest: if the correctly rounded P-digit decimal reads back as V, BUF is it. */
static void check_shortest_and_closest(float v, const char *buf)
{
    char digits[16], exact[160], probe[64];
    int p = significant_digits(buf, digits);
    snprintf(exact, sizeof exact, "%.120e", (double)fabsf(v)); /* exact: d.ddd...e+XX */
    int x = atoi(strchr(exact, 'e') + 1);
    if (p > 1) {
        unsigned long long lower = 0;
        for (int i = 0, k = 0; k < p - 1; i++)
            if (exact[i] != '.')
                lower = lower * 10 + (unsigned long long)(exact[i] - '0'), k++;
        for (unsigned long long cand = lower; cand <= lower + 1; cand++) {
            snprintf(probe, sizeof probe, "%s%llue%d", v < 0 ? "-" : "", cand, x - (p - 2));
            REQUIRE(bits_of(strtof(probe, NULL)) != bits_of(v), "%s is shorter than %s for %08x",
                    probe, buf, bits_of(v));
        }
    }
    snprintf(probe, sizeof probe, "%.*e", p - 1, (double)v);
    if (bits_of(strtof(probe, NULL)) == bits_of(v))
        REQUIRE(strtod(probe, NULL) == strtod(buf, NULL), "%s is closer than %s", probe, buf);
}

START_TEST(test_float_random_sample)
{
    char buf[HBN_FLOAT_CHARS_MAX];
    for (int i = 0; i < 300000; i++) {
        float v = random_finite_float();
        check_round_trip(v, buf);
        if (i % 4 == 0)
            check_shortest_and_closest(v, buf);
    }
    for (int i = 0; i < 100000; i++) { /* the values a tensor usually holds */
        float v = (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 8.0 - 4.0);
        check_round_trip(v, buf);
        if (i % 4 == 0)
            check_shortest_and_closest(v, buf);
    }
}
END_TEST

START_TEST(test_float_special_values)
{
    char buf[HBN_FLOAT_CHARS_MAX], want[32];
    const float specials[] = {FLT_MAX, FLT_MIN, FLT_TRUE_MIN, nextafterf(FLT_MIN, 0),
                              nextafterf(FLT_MAX, 0), nextafterf(1.0f, 2.0f), nextafterf(1.0f, 0),
                              16777215.0f, 16777218.0f, 0.1f, 0.2f, 1.0f / 3.0f, 2.0f / 3.0f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        check_round_trip(specials[i], buf);
        check_shortest_and_closest(specials[i], buf);
        check_round_trip(-specials[i], buf);
    }
    for (int k = -45; k <= 38; k++) { /* powers of ten print as a single digit */
        snprintf(want, sizeof want, "1e%d", k);
        float v = strtof(want, NULL);
        hbn_float_format(v, buf);
        if (k >= -4 && k <= 8)
            snprintf(want, sizeof want, "%.*f", k < 0 ? -k : 0, pow(10.0, k));
        else
            snprintf(want, sizeof want, "1e%c%02d", k < 0 ? '-' : '+', abs(k));
        ck_assert_str_eq(buf, want);
    }
    for (int i = 0; i <= 16777216; i += i < 100000 ? 1 : 997) { /* integers print as integers */
        hbn_float_format((float)i, buf);
        snprintf(want, sizeof want, "%d", i);
        REQUIRE(strcmp(buf, want) == 0, "%d printed as %s", i, buf);
    }
    for (int e = -149; e <= 127; e++) /* every power of two, subnormal ones included */
        check_round_trip(ldexpf(1.0f, e), buf);
}
END_TEST

START_TEST(test_float_nine_digit_fives)
{
    /* Floats whose 9-digit rounding ends in 5: the rounding decisions sit right at a half. */
    char buf[HBN_FLOAT_CHARS_MAX], nine[40];
    int found = 0;
    for (int i = 0; found < 20000 && i < 2000000; i++) {
        float v = random_finite_float();
        snprintf(nine, sizeof nine, "%.8e", (double)v);
        if (strchr(nine, 'e')[-1] != '5')
            continue;
        found++;
        check_round_trip(v, buf);
        check_shortest_and_closest(v, buf);
    }
    ck_assert_int_eq(found, 20000);
}
END_TEST

START_TEST(test_float_sweep)
{
    /* Every 1009th bit pattern of all 2^32 (1009 is prime, so all exponents and mantissa
     * patterns are visited). The full 2^32 sweep was run once offline without a failure. */
    char buf[HBN_FLOAT_CHARS_MAX];
    uint64_t checked = 0;
    for (uint64_t b = 0; b < (UINT64_C(1) << 32); b += 1009) {
        float v = float_from_bits((uint32_t)b);
        if (!isfinite(v))
            continue;
        check_round_trip(v, buf);
        checked++;
    }
    ck_assert_uint_gt(checked, 4200000);
}
END_TEST

START_TEST(test_float_exact_buffer)
{
    /* The formatter stores 8 bytes at a time: a buffer of exactly HBN_FLOAT_CHARS_MAX bytes must
     * still do, for the longest outputs (ASan checks the bounds). */
    static const float longest[] = {-1.17549435e-38f, -3.40282347e+38f, -0.000123456789f,
                                    -123456.789f,     -1.23456789f,     -9.999999e-5f,
                                    -1.1754942e-38f,  -16777215.0f,     -0.33333334f};
    char *buf = malloc(HBN_FLOAT_CHARS_MAX);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < sizeof longest / sizeof longest[0]; i++)
        check_round_trip(longest[i], buf);
    for (int i = 0; i < 20000; i++)
        check_round_trip(random_finite_float(), buf);
    free(buf);
}
END_TEST

START_TEST(test_float_list)
{
    /* hbn_float_format_list is hbn_float_format joined by commas, in exactly the room it asks
     * for (ASan checks the bounds), including "null" for a non-finite value. */
    enum { MAX_N = 300 };
    float v[MAX_N];
    char one[HBN_FLOAT_CHARS_MAX], *want = malloc(MAX_N * 16 + 1);
    ck_assert_ptr_nonnull(want);
    for (int round = 0; round < 200; round++) {
        size_t n = round < 20 ? (size_t)round : 1 + (size_t)(rng_next() % MAX_N);
        for (size_t i = 0; i < n; i++)
            v[i] = round % 3 == 0 ? random_finite_float()
                                  : (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 8 - 4);
        if (round == 7)
            v[3] = INFINITY;
        if (round == 8)
            v[0] = -0.0f;
        size_t wlen = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k = hbn_float_format(v[i], one);
            if (i > 0)
                want[wlen++] = ',';
            memcpy(want + wlen, one, k);
            wlen += k;
        }
        char *out = malloc(HBN_FLOAT_LIST_BYTES(n));
        ck_assert_ptr_nonnull(out);
        size_t len = hbn_float_format_list(v, n, out);
        ck_assert_uint_eq(len, wlen);
        ck_assert(memcmp(out, want, len) == 0);
        free(out);
    }
    free(want);
}
END_TEST

/* ---- json_scan ----------------------------------------------------------------------------- */

static const text_case valid_docs[] = {
    TEXT("{}"), TEXT(" \t\r\n{ } \n"), TEXT("[]"), TEXT("0"), TEXT("-0"), TEXT("-0.0e+0"),
    TEXT("1E5"), TEXT("1e-5"), TEXT("123.456e789"), TEXT("true"), TEXT("false"), TEXT("null"),
    TEXT("\"\""), TEXT("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), TEXT("\"\\u00e9\\uD83D\\uDE00\""),
    TEXT("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF\""),
    TEXT("{\"a\":[1,{\"b\":null},\"c\"],\"d\":{}}"), TEXT("[[[]],[{}],[[1,2],[3]]]"),
    TEXT("{\"\":0}"), TEXT("\"\x7f\""),
};

static const text_case invalid_docs[] = {
    TEXT(""), TEXT("   "), TEXT("{"), TEXT("}"), TEXT("["), TEXT("]"), TEXT("[1,]"),
    TEXT("{\"a\":1,}"), TEXT("[,1]"), TEXT("[1,,2]"), TEXT("{,}"), TEXT("// c\n{}"),
    TEXT("/* c */{}"), TEXT("{} // c"), TEXT("{\"a\":NaN}"), TEXT("[Infinity]"),
    TEXT("[-Infinity]"), TEXT("[nan]"), TEXT("[01]"), TEXT("[-01]"), TEXT("[00]"), TEXT("[1.]"),
    TEXT("[.5]"), TEXT("[+1]"), TEXT("[1e]"), TEXT("[1e+]"), TEXT("[-]"), TEXT("[0x10]"),
    TEXT("[1.2.3]"), TEXT("[1e5e5]"), TEXT("[1-2]"), TEXT("\"\x01\""), TEXT("\"a\tb\""),
    TEXT("\"a\nb\""), TEXT("\"\\x\""), TEXT("\"\\u12\""), TEXT("\"\\u12G4\""), TEXT("\"\\U0041\""),
    TEXT("\"\\uD800\""), TEXT("\"\\uDC00\""), TEXT("\"\\uD800\\u0041\""), TEXT("\"\\uD800x\""),
    TEXT("\"\\uDC00\\uD800\""), TEXT("\"\\uD83D\\uD83D\""), TEXT("\"\xC0\x80\""),
    TEXT("\"\xC1\xBF\""), TEXT("\"\xE0\x80\xAF\""), TEXT("\"\xED\xA0\x80\""),
    TEXT("\"\xF0\x80\x80\xAF\""), TEXT("\"\xF4\x90\x80\x80\""), TEXT("\"\xF5\x80\x80\x80\""),
    TEXT("\"\xFF\""), TEXT("\"\x80\""), TEXT("\"\xE2\x82\""), TEXT("\"\xE2\x82"),
    TEXT("\xEF\xBB\xBF{}"), TEXT("[1] [2]"), TEXT("{} x"), TEXT("{}}"), TEXT("{'a':1}"),
    TEXT("{a:1}"), TEXT("[true false]"), TEXT("tru"), TEXT("nul"), TEXT("True"), TEXT("[1 2]"),
    TEXT("{\"a\" 1}"), TEXT("{\"a\":}"), TEXT("{\"a\"}"), TEXT("{1:2}"), TEXT("\"abc"),
    TEXT("[1\0]"), TEXT("{\"a\":1\0}"), TEXT("\"a\0b\""), TEXT("[1]\0"), TEXT("\v[]"),
    TEXT("\f[]"), TEXT("[\"a\",]"), TEXT("{\"a\":{\"b\":1,}}"), TEXT("[[1],[2]"),
};

START_TEST(test_validate_valid)
{
    hbn_err err;
    hbn_err_clear(&err);
    ck_assert_msg(hbn_json_validate(valid_docs[_i].text, valid_docs[_i].len, &err) == HBN_OK,
                  "case %d: %s", _i, err.msg);
}
END_TEST

START_TEST(test_validate_invalid)
{
    hbn_err err;
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_json_validate(invalid_docs[_i].text, invalid_docs[_i].len, &err),
                     HBN_E_INVALID_JSON);
    ck_assert_int_eq(err.status, HBN_E_INVALID_JSON);
    ck_assert_msg(strncmp(err.msg, "invalid JSON", 12) == 0, "message: %s", err.msg);
}
END_TEST

/* Walks every member of TEXT; returns the first non-OK status (or OK at the end). */
static hbn_status walk_all(const char *text, size_t len, hbn_err *err)
{
    hbn_json_iter it;
    hbn_json_member m;
    bool done = false;
    hbn_status st = hbn_json_iter_init(&it, text, len, err);
    for (int guard = 0; st == HBN_OK && !done && guard < 1000; guard++)
        st = hbn_json_iter_next(&it, &m, &done, err);
    return st;
}

static const text_case invalid_objects[] = {
    TEXT("{"), TEXT("{\"a\":1"), TEXT("{\"a\":1,}"), TEXT("{\"a\":1 \"b\":2}"),
    TEXT("{\"a\":[1,]}"), TEXT("{\"a\":1} x"), TEXT("{\"a\":1}}"), TEXT("{\"a\":01}"),
    TEXT("{\"a\":\"\\uD800\"}"), TEXT("{\"a\":1,\"b\"}"), TEXT("{\"a\\q\":1}"),
    TEXT("{\"a\":1,,\"b\":2}"), TEXT("{,\"a\":1}"), TEXT("{\"a\":tru}"), TEXT("{\"a\":1,\"b\":}"),
    TEXT("{\"\xFF\":1}"), TEXT("{\"a\":1}\0"),
};

START_TEST(test_iter_invalid)
{
    hbn_err err;
    hbn_err_clear(&err);
    ck_assert_int_eq(walk_all(invalid_objects[_i].text, invalid_objects[_i].len, &err),
                     HBN_E_INVALID_JSON);
    ck_assert_msg(strstr(err.msg, "at byte") != NULL, "no offset in: %s", err.msg);
}
END_TEST

START_TEST(test_iter_members)
{
    static const char doc[] = " {\"inputs\" : [[1, 2], [3, 4]], \"m\\u00e9\\uD83D\\uDE00\":"
                              "\"s,}\" ,\"o\":{\"k\":[true,null]}, \"n\":-1.5e3 }\r\n";
    static const struct {
        const char *key, *value;
    } want[] = {
        {"inputs", "[[1, 2], [3, 4]]"},
        {"m\xC3\xA9\xF0\x9F\x98\x80", "\"s,}\""},
        {"o", "{\"k\":[true,null]}"},
        {"n", "-1.5e3"},
    };
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done = true;
    ck_assert_int_eq(hbn_json_iter_init(&it, doc, sizeof doc - 1, &err), HBN_OK);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
        ck_assert(!done);
        ck_assert_str_eq(m.key, want[i].key);
        ck_assert_uint_eq(m.value_len, strlen(want[i].value));
        ck_assert_mem_eq(m.value, want[i].value, m.value_len);
    }
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert(done);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK); /* stays done */
    ck_assert(done);
}
END_TEST

START_TEST(test_iter_empty_object)
{
    hbn_json_iter it;
    hbn_json_member m;
    bool done = false;
    ck_assert_int_eq(hbn_json_iter_init(&it, " { } ", 5, NULL), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, NULL), HBN_OK);
    ck_assert(done);
}
END_TEST

START_TEST(test_iter_not_an_object)
{
    static const struct {
        const char *text;
        hbn_status st;
        const char *msg;
    } cases[] = {
        {"[1,2]", HBN_E_INVALID_ARGUMENT, "expected a JSON object, got an array"},
        {" 5 ", HBN_E_INVALID_ARGUMENT, "expected a JSON object, got a number"},
        {"\"x\"", HBN_E_INVALID_ARGUMENT, "expected a JSON object, got a string"},
        {"true", HBN_E_INVALID_ARGUMENT, "expected a JSON object, got a boolean"},
        {"null", HBN_E_INVALID_ARGUMENT, "expected a JSON object, got null"},
        {"[1,]", HBN_E_INVALID_JSON, "invalid JSON at byte 3: unexpected character"},
        {"", HBN_E_INVALID_JSON, "invalid JSON: empty document"},
        {" \n ", HBN_E_INVALID_JSON, "invalid JSON: empty document"},
        {"{\"a\":1} 2", HBN_E_INVALID_JSON, "invalid JSON at byte 8: unexpected data after "
                                            "the JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hbn_err err;
        hbn_err_clear(&err);
        ck_assert_int_eq(walk_all(cases[i].text, strlen(cases[i].text), &err), cases[i].st);
        ck_assert_str_eq(err.msg, cases[i].msg);
    }
}
END_TEST

START_TEST(test_iter_errors_are_final)
{
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done = true;
    ck_assert_int_eq(hbn_json_iter_init(&it, "[1]", 3, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_E_INVALID_JSON);
    ck_assert(!done); /* a rejected document never looks like an empty object */
    static const char bad[] = "{\"a\":1 \"b\":2}";
    ck_assert_int_eq(hbn_json_iter_init(&it, bad, sizeof bad - 1, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_E_INVALID_JSON);
    ck_assert(!done);
}
END_TEST

START_TEST(test_iter_long_keys)
{
    char doc[256], key[80];
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done;
    memset(key, 'k', 63);
    key[63] = '\0';
    snprintf(doc, sizeof doc, "{\"%s\":1}", key); /* 63 bytes: fits */
    ck_assert_int_eq(hbn_json_iter_init(&it, doc, strlen(doc), &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert_str_eq(m.key, key);
    memset(key, 'k', 64);
    key[64] = '\0';
    snprintf(doc, sizeof doc, "{\"%s\":1}", key); /* 64 bytes: unknown field */
    ck_assert_int_eq(walk_all(doc, strlen(doc), &err), HBN_E_UNKNOWN_FIELD);
    ck_assert_str_eq(err.msg, "unknown field \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
    snprintf(doc, sizeof doc, "{\"%s\":1,}", key); /* ... unless the body is not JSON */
    ck_assert_int_eq(walk_all(doc, strlen(doc), &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(walk_all("{\"a\\u0000b\":1}", 14, &err), HBN_E_UNKNOWN_FIELD);
    /* Two-byte characters are never cut in the message. */
    snprintf(doc, sizeof doc, "{\"k%s\":1}",
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9");
    ck_assert_int_eq(walk_all(doc, strlen(doc), &err), HBN_E_UNKNOWN_FIELD);
    ck_assert_int_eq(hbn_json_validate(err.msg + 14, strlen(err.msg) - 14, NULL), HBN_OK);
}
END_TEST

START_TEST(test_iter_two_halves)
{
    /* next_key + skip is next; next_key stops at the value with the rest of the document. */
    static const char doc[] = " {\"inputs\" : [[1, 2], [3, 4]], \"s\":\"s,}\" ,\"o\":{\"k\":[true]}}\n";
    static const char *const keys[] = {"inputs", "s", "o"};
    static const char *const values[] = {"[[1, 2], [3, 4]]", "\"s,}\"", "{\"k\":[true]}"};
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done = true;
    ck_assert_int_eq(hbn_json_iter_init(&it, doc, sizeof doc - 1, &err), HBN_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_OK);
        ck_assert(!done);
        ck_assert_str_eq(m.key, keys[i]);
        ck_assert_ptr_eq(m.value, strstr(doc, values[i]));
        ck_assert_uint_eq(m.value_len, (size_t)(doc + sizeof doc - 1 - m.value));
        ck_assert_uint_eq(hbn_json_iter_offset(&it), (size_t)(m.value - doc));
        ck_assert_int_eq(hbn_json_iter_skip(&it, &m, &err), HBN_OK);
        ck_assert_uint_eq(m.value_len, strlen(values[i]));
    }
    ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_OK);
    ck_assert(done);
    /* a bad value is reported by the second half, and stays reported */
    static const char bad[] = "{\"a\":[1,],\"b\":2}";
    ck_assert_int_eq(hbn_json_iter_init(&it, bad, sizeof bad - 1, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_skip(&it, &m, &err), HBN_E_INVALID_JSON);
    ck_assert_str_eq(err.msg, "invalid JSON at byte 8: unexpected character");
    ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_E_INVALID_JSON);
    ck_assert(!done);
}
END_TEST

START_TEST(test_iter_advance)
{
    /* A caller that parsed a value itself moves the walk past it. */
    static const char doc[] = "{\"a\":[1,2],\"b\":3}";
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done = true;
    ck_assert_int_eq(hbn_json_iter_init(&it, doc, sizeof doc - 1, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_OK);
    ck_assert_str_eq(m.key, "a");
    hbn_json_iter_advance(&it, &m, 5);
    ck_assert_uint_eq(m.value_len, 5);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert_str_eq(m.key, "b");
    ck_assert_uint_eq(m.value_len, 1);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert(done);
    /* advancing to the wrong place shows up as a syntax error of the walk */
    ck_assert_int_eq(hbn_json_iter_init(&it, doc, sizeof doc - 1, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next_key(&it, &m, &done, &err), HBN_OK);
    hbn_json_iter_advance(&it, &m, 3);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_E_INVALID_JSON);
}
END_TEST

START_TEST(test_iter_prefix)
{
    /* An object that a longer text starts with: the walk stops at its closing brace. */
    static const char text[] = " \t{\"x\":1, \"y\" :[2,{}]} ,\"rest\":[";
    hbn_json_iter it;
    hbn_json_member m;
    hbn_err err;
    bool done = true;
    int members = 0;
    ck_assert_int_eq(hbn_json_iter_init_prefix(&it, text, sizeof text - 1, &err), HBN_OK);
    while (hbn_json_iter_next(&it, &m, &done, &err) == HBN_OK && !done)
        members++;
    ck_assert(done);
    ck_assert_int_eq(members, 2);
    ck_assert_str_eq(m.key, "y");
    ck_assert_uint_eq(hbn_json_iter_offset(&it), (size_t)(strstr(text, "} ,") - text) + 1);
    ck_assert_int_eq(hbn_json_iter_init_prefix(&it, "{}", 2, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert(done);
    ck_assert_uint_eq(hbn_json_iter_offset(&it), 2);
    ck_assert_int_eq(hbn_json_iter_init_prefix(&it, " [1]", 4, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_json_iter_init_prefix(&it, "  ", 2, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_json_iter_init_prefix(&it, "{\"x\":1", 6, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_iter_next(&it, &m, &done, &err), HBN_E_INVALID_JSON); /* cut */
}
END_TEST

/* A document of DEPTH nested arrays, optionally inside an object member. */
static char *nested_doc(int depth, bool in_object, size_t *len)
{
    char *s = malloc((size_t)depth * 2 + 16);
    ck_assert_ptr_nonnull(s);
    size_t n = 0;
    if (in_object)
        n += (size_t)sprintf(s, "{\"a\":");
    for (int i = 0; i < depth; i++)
        s[n++] = '[';
    for (int i = 0; i < depth; i++)
        s[n++] = ']';
    if (in_object)
        s[n++] = '}';
    s[n] = '\0';
    *len = n;
    return s;
}

START_TEST(test_depth_limit)
{
    size_t len;
    hbn_err err;
    char *s = nested_doc(HBN_JSON_MAX_DEPTH, false, &len);
    ck_assert_int_eq(hbn_json_validate(s, len, &err), HBN_OK);
    free(s);
    s = nested_doc(HBN_JSON_MAX_DEPTH + 1, false, &len);
    ck_assert_int_eq(hbn_json_validate(s, len, &err), HBN_E_INVALID_JSON);
    ck_assert_str_eq(err.msg, "invalid JSON at byte 64: nesting deeper than 64 levels");
    free(s);
    s = nested_doc(HBN_JSON_MAX_DEPTH - 1, true, &len); /* the object is level 1 */
    ck_assert_int_eq(walk_all(s, len, &err), HBN_OK);
    free(s);
    s = nested_doc(HBN_JSON_MAX_DEPTH, true, &len);
    ck_assert_int_eq(walk_all(s, len, &err), HBN_E_INVALID_JSON);
    free(s);
    s = nested_doc(100000, false, &len); /* no recursion, no stack overflow */
    ck_assert_int_eq(hbn_json_validate(s, len, &err), HBN_E_INVALID_JSON);
    free(s);
}
END_TEST

START_TEST(test_number_span)
{
    static const struct {
        const char *text;
        size_t span;
        bool integer;
    } cases[] = {
        {"0", 1, true},       {"-0", 2, true},        {"12,", 2, true},
        {"1.5]", 3, false},   {"1e5 ", 3, false},      {"-1.25E-7}", 8, false},
        {"0.0", 3, false},    {"1E+2", 4, false},      {"01", 0, false},
        {"1.", 0, false},     {".1", 0, false},        {"+1", 0, false},
        {"-", 0, false},      {"1e", 0, false},        {"1e+", 0, false},
        {"1.2.3", 0, false},  {"Infinity", 0, false},  {"-Infinity", 0, false},
        {"NaN", 0, false},    {"0x1", 1, true},        {"", 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool integer = !cases[i].integer;
        size_t n = hbn_json_number_span(cases[i].text, strlen(cases[i].text), &integer);
        ck_assert_msg(n == cases[i].span, "\"%s\": %zu", cases[i].text, n);
        if (n > 0)
            ck_assert(integer == cases[i].integer);
    }
}
END_TEST

START_TEST(test_number_parse)
{
    static const struct {
        const char *text;
        uint64_t significand;
        int32_t exponent;
        bool negative, inexact, integer;
    } cases[] = {
        {"123", 123, 0, false, false, true},
        {"-1.5e3", 15, 2, true, false, false},
        {"0.000123", 123, -6, false, false, false},
        {"-0", 0, 0, true, false, true},
        {"12345678.87654321", UINT64_C(1234567887654321), -8, false, false, false},
        {"1E-7", 1, -7, false, false, false},
        {"1000000000000000000000", UINT64_C(1000000000000000000), 3, false, false, true},
        {"1234567890123456789012", UINT64_C(1234567890123456789), 3, false, true, true},
        {"0.12345678901234567891", UINT64_C(1234567890123456789), -19, false, true, false},
        {"0.12345678901234567800", UINT64_C(1234567890123456780), -19, false, false, false},
        {"5e+22", 5, 22, false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hbn_json_decimal dec;
        size_t len = strlen(cases[i].text);
        ck_assert_uint_eq(hbn_json_number_parse(cases[i].text, len, &dec), len);
        ck_assert_msg(dec.significand == cases[i].significand, "%s: %llu", cases[i].text,
                      (unsigned long long)dec.significand);
        ck_assert_msg(dec.exponent == cases[i].exponent, "%s: e%d", cases[i].text, dec.exponent);
        ck_assert(dec.negative == cases[i].negative);
        ck_assert(dec.inexact == cases[i].inexact);
        ck_assert(dec.integer == cases[i].integer);
    }
    hbn_json_decimal dec;
    ck_assert_uint_eq(hbn_json_number_parse("1e99999999999999", 16, &dec), 16);
    ck_assert_int_ge(dec.exponent, 1000000000); /* saturates instead of wrapping */
    ck_assert_uint_eq(hbn_json_number_parse("01", 2, &dec), 0);
}
END_TEST

/* ---- tensor parse -------------------------------------------------------------------------- */

static hbn_status parse_str(const char *text, hbn_tensor *t, hbn_err *err)
{
    return hbn_tensor_json_parse(text, strlen(text), "inputs", t, err);
}

START_TEST(test_tensor_nested_shapes)
{
    static const struct {
        const char *text;
        int rank;
        int64_t shape[5];
        int64_t numel;
        float data[6];
    } cases[] = {
        {"[1,2,3]", 1, {3}, 3, {1, 2, 3}},
        {" [ 1 , 2 ] ", 1, {2}, 2, {1, 2}},
        {"[[1,2],[3,4],[5,6]]", 2, {3, 2}, 6, {1, 2, 3, 4, 5, 6}},
        {"[[[1],[2]],[[3],[4]]]", 3, {2, 2, 1}, 4, {1, 2, 3, 4}},
        {"[[[[1,2,3]]]]", 4, {1, 1, 1, 3}, 3, {1, 2, 3}},
        {"[[[[[0]]],[[[1]]]]]", 5, {1, 2, 1, 1, 1}, 2, {0, 1}},
        {"[]", 1, {0}, 0, {0}},
        {"[[],[]]", 2, {2, 0}, 0, {0}},
        {"[[[]]]", 3, {1, 1, 0}, 0, {0}},
        {"\n[\t[ ]\r]", 2, {1, 0}, 0, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hbn_tensor t;
        hbn_err err;
        ck_assert_msg(parse_str(cases[i].text, &t, &err) == HBN_OK, "%s: %s", cases[i].text,
                      err.msg);
        ck_assert_int_eq(t.rank, cases[i].rank);
        ck_assert_int_eq(t.numel, cases[i].numel);
        ck_assert(!t.object_form);
        for (int d = 0; d < t.rank; d++)
            ck_assert_int_eq(t.shape[d], cases[i].shape[d]);
        for (int64_t k = 0; k < t.numel; k++)
            ck_assert(t.data[k] == cases[i].data[k]);
        if (t.numel == 0)
            ck_assert_ptr_null(t.data);
        else
            ck_assert_uint_eq((uintptr_t)t.data % 64, 0);
        hbn_tensor_clear(&t);
    }
}
END_TEST

START_TEST(test_tensor_values)
{
    hbn_tensor t;
    hbn_err err;
    const char *text = "[[0.1, -2.5e-3, 1e39], [-1e39, 1e-50, -0], [16777217, 1E2, 3.4028235e38]]";
    const float want[] = {0.1f, -2.5e-3f, INFINITY, -INFINITY, 0.0f, -0.0f,
                          16777216.0f, 100.0f, FLT_MAX};
    ck_assert_int_eq(parse_str(text, &t, &err), HBN_OK);
    ck_assert_int_eq(t.numel, 9);
    for (int k = 0; k < 9; k++)
        ck_assert_msg(bits_of(t.data[k]) == bits_of(want[k]), "element %d: %a", k,
                      (double)t.data[k]);
    hbn_tensor_clear(&t);
}
END_TEST

/* Tokens where rounding through double first would go wrong, long tokens and extremes: each must
 * parse exactly as strtof parses it. */
static const char *const hard_numbers[] = {
    "16777217", "16777217.000000001", "16777216.999999999", "16777219", "16777218.999999999999",
    "33554434.0000000000000000001", "0.1", "0.30000001192092896", "1.00000005960464477539062",
    "1.000000059604644775390625", "1.0000000596046447753906251", "3.4028235677973366e38",
    "3.4028235677973367e38", "3.402823466e38", "1.17549435e-38", "1.1754942e-38",
    "7.006492321624085e-46", "7.006492321624086e-46", "1e-45", "2e-45", "1.4e-45", "1e-46",
    "123456789012345678901234567890", "0.000000000000000000000000000000000000000000000001",
    "9007199254740993", "9007199254740992e-22", "4503599627370497e22", "1e22", "1e23", "1e-22",
    "1e-23", "-0.0", "0e400", "-0e-400", "1e400", "-1e400", "1e-400", "8388608.5", "8388609.5",
    "0.5000000000000000000000000000000000000000000000000000000000000000000000000000000001",
};

START_TEST(test_tensor_hard_numbers)
{
    char text[256];
    for (size_t i = 0; i < sizeof hard_numbers / sizeof hard_numbers[0]; i++) {
        hbn_tensor t;
        hbn_err err;
        snprintf(text, sizeof text, "[%s]", hard_numbers[i]);
        ck_assert_int_eq(parse_str(text, &t, &err), HBN_OK);
        float want = strtof(hard_numbers[i], NULL);
        ck_assert_msg(bits_of(t.data[0]) == bits_of(want), "%s: got %a want %a", hard_numbers[i],
                      (double)t.data[0], (double)want);
        hbn_tensor_clear(&t);
    }
    /* the classic double-rounding trap, by hand: the exact value lies above the midpoint */
    hbn_tensor t;
    ck_assert_int_eq(parse_str("[16777217.000000001]", &t, NULL), HBN_OK);
    ck_assert(t.data[0] == 16777218.0f);
    hbn_tensor_clear(&t);
}
END_TEST

START_TEST(test_tensor_random_tokens)
{
    /* Random decimal tokens of 1-25 digits and exponents -60..50 against strtof. */
    enum { COUNT = 200000 };
    char *text = malloc((size_t)COUNT * 48 + 2), token[48];
    char **starts = malloc(sizeof *starts * COUNT);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(starts);
    size_t n = 0;
    text[n++] = '[';
    for (int i = 0; i < COUNT; i++) {
        int digits = 1 + (int)(rng_next() % 25), point = (int)(rng_next() % (uint64_t)(digits + 1));
        size_t k = 0;
        if (rng_next() & 1)
            token[k++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                token[k++] = '.';
            token[k++] = (char)((d == 0 ? '1' : '0') + (int)(rng_next() % (d == 0 ? 9 : 10)));
        }
        if (rng_next() % 3 != 0)
            k += (size_t)sprintf(token + k, "e%d", (int)(rng_next() % 111) - 60);
        token[k] = '\0';
        if (i > 0)
            text[n++] = ',';
        starts[i] = text + n;
        memcpy(text + n, token, k);
        n += k;
    }
    text[n++] = ']';
    hbn_tensor t;
    hbn_err err;
    ck_assert_int_eq(hbn_tensor_json_parse(text, n, "inputs", &t, &err), HBN_OK);
    ck_assert_int_eq(t.numel, COUNT);
    for (int i = 0; i < COUNT; i++) {
        float want = strtof(starts[i], NULL); /* stops at the ',' */
        REQUIRE(bits_of(t.data[i]) == bits_of(want), "%.30s", starts[i]);
    }
    hbn_tensor_clear(&t);
    free(starts);
    free(text);
}
END_TEST

START_TEST(test_tensor_long_number)
{
    char text[700];
    hbn_tensor t;
    size_t n = (size_t)sprintf(text, "[0.");
    for (int i = 0; i < 300; i++)
        text[n++] = i == 0 ? '5' : '0';
    n += (size_t)sprintf(text + n, "1, 1");
    for (int i = 0; i < 300; i++)
        text[n++] = '0';
    text[n++] = ']';
    ck_assert_int_eq(hbn_tensor_json_parse(text, n, "x", &t, NULL), HBN_OK);
    ck_assert_int_eq(t.numel, 2);
    ck_assert(bits_of(t.data[0]) == bits_of(strtof(text + 1, NULL)));
    ck_assert(t.data[1] == INFINITY);
    hbn_tensor_clear(&t);
}
END_TEST

START_TEST(test_tensor_object_form)
{
    hbn_tensor t;
    hbn_err err;
    ck_assert_int_eq(parse_str("{\"shape\": [2, 2], \"data\": [1, 2, 3, 4]}", &t, &err), HBN_OK);
    ck_assert(t.object_form);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.shape[0], 2);
    ck_assert_int_eq(t.shape[1], 2);
    ck_assert_int_eq(t.numel, 4);
    ck_assert(t.data[3] == 4.0f);
    ck_assert_uint_eq((uintptr_t)t.data % 64, 0);
    hbn_tensor_clear(&t);
    ck_assert_int_eq(parse_str(" {\"data\":[7],\"shape\":[1,1,1]} ", &t, &err), HBN_OK);
    ck_assert_int_eq(t.rank, 3);
    ck_assert(t.data[0] == 7.0f);
    hbn_tensor_clear(&t);
    ck_assert_int_eq(parse_str("{\"shape\":[0,4],\"data\":[]}", &t, &err), HBN_OK);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.shape[0], 0);
    ck_assert_int_eq(t.shape[1], 4);
    ck_assert_int_eq(t.numel, 0);
    ck_assert_ptr_null(t.data);
    ck_assert(t.object_form);
    hbn_tensor_clear(&t);
    ck_assert_int_eq(parse_str("{\"shape\":[],\"data\":[5]}", &t, &err), HBN_OK); /* rank 0 */
    ck_assert_int_eq(t.rank, 0);
    ck_assert_int_eq(t.numel, 1);
    hbn_tensor_clear(&t);
}
END_TEST

static const struct {
    const char *text;
    hbn_status st;
} bad_tensors[] = {
    {"", HBN_E_INVALID_JSON},
    {"[", HBN_E_INVALID_JSON},
    {"[1,]", HBN_E_INVALID_JSON},
    {"[,1]", HBN_E_INVALID_JSON},
    {"[1 2]", HBN_E_INVALID_JSON},
    {"[1,,2]", HBN_E_INVALID_JSON},
    {"[01]", HBN_E_INVALID_JSON},
    {"[1.]", HBN_E_INVALID_JSON},
    {"[.5]", HBN_E_INVALID_JSON},
    {"[+1]", HBN_E_INVALID_JSON},
    {"[1e]", HBN_E_INVALID_JSON},
    {"[-]", HBN_E_INVALID_JSON},
    {"[NaN]", HBN_E_INVALID_JSON},
    {"[Infinity]", HBN_E_INVALID_JSON},
    {"[-Infinity]", HBN_E_INVALID_JSON},
    {"[0x10]", HBN_E_INVALID_JSON},
    {"[[1],[2]", HBN_E_INVALID_JSON},
    {"[1]]", HBN_E_INVALID_JSON},
    {"[1] x", HBN_E_INVALID_JSON},
    {"[[1,2],[3,4],]", HBN_E_INVALID_JSON},
    {"[[],]", HBN_E_INVALID_JSON},
    {"[1, tru]", HBN_E_INVALID_JSON},
    {"[\"a]", HBN_E_INVALID_JSON},
    {"[[1,2],[3]", HBN_E_INVALID_JSON},    /* ragged, but not JSON: syntax first */
    {"[[1,2],[3]],", HBN_E_INVALID_JSON},
    {"[\"x\", 1,]", HBN_E_INVALID_JSON},
    {"{\"shape\":[1],\"data\":[1],}", HBN_E_INVALID_JSON},
    {"{\"shape\":[-1],\"data\":[1,]}", HBN_E_INVALID_JSON},
    {"01", HBN_E_INVALID_JSON},
    {"1", HBN_E_INVALID_ARGUMENT},
    {" -2.5 ", HBN_E_INVALID_ARGUMENT},
    {"\"a\"", HBN_E_INVALID_ARGUMENT},
    {"null", HBN_E_INVALID_ARGUMENT},
    {"true", HBN_E_INVALID_ARGUMENT},
    {"[1,\"a\"]", HBN_E_INVALID_ARGUMENT},
    {"[1,null]", HBN_E_INVALID_ARGUMENT},
    {"[[1],[true]]", HBN_E_INVALID_ARGUMENT},
    {"[{}]", HBN_E_INVALID_ARGUMENT},
    {"[[1,2],[3],\"x\"]", HBN_E_INVALID_ARGUMENT}, /* ragged and not numbers: structure first */
    {"[[1,2],[3],[false]]", HBN_E_INVALID_ARGUMENT},
    {"{}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"data\":[1]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[1],\"data\":[1],\"x\":1}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[1],\"shape\":[1],\"data\":[1]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":2,\"data\":[1,2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2.0],\"data\":[1,2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2e0],\"data\":[1,2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[\"2\"],\"data\":[1,2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[[2]],\"data\":[1,2]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[null],\"data\":[1]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2],\"data\":5}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2],\"data\":[1,\"a\"]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[2],\"data\":{}}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[-1],\"data\":[true]}", HBN_E_INVALID_ARGUMENT},
    {"{\"shape\":[1],\"data\":[1],\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
     "kkkkkkkkkk\":1}", HBN_E_INVALID_ARGUMENT},
    {"[[1,2],[3]]", HBN_E_SHAPE_MISMATCH},
    {"[[1,2],3]", HBN_E_SHAPE_MISMATCH},
    {"[1,[2]]", HBN_E_SHAPE_MISMATCH},
    {"[[1],[]]", HBN_E_SHAPE_MISMATCH},
    {"[[],[1]]", HBN_E_SHAPE_MISMATCH},
    {"[[],[[]]]", HBN_E_SHAPE_MISMATCH},
    {"[[[1]],[[1],[2]]]", HBN_E_SHAPE_MISMATCH},
    {"[[[1]],[1]]", HBN_E_SHAPE_MISMATCH},
    {"[[[[[[[[[1]]]]]]]]]", HBN_E_SHAPE_MISMATCH}, /* rank 9 */
    {"{\"shape\":[2,2],\"data\":[1,2,3]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[2,0],\"data\":[1]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[-1],\"data\":[]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[1]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[2],\"data\":[[1],[2]]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[9223372036854775807,4],\"data\":[1]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[99999999999999999999],\"data\":[1]}", HBN_E_SHAPE_MISMATCH},
    {"{\"shape\":[4294967296,4294967296,0],\"data\":[]}", HBN_E_SHAPE_MISMATCH},
};

START_TEST(test_tensor_bad)
{
    hbn_tensor t;
    hbn_err err;
    hbn_err_clear(&err);
    memset(&t, 0x5A, sizeof t); /* OUT may be uninitialised */
    hbn_status st = parse_str(bad_tensors[_i].text, &t, &err);
    ck_assert_msg(st == bad_tensors[_i].st, "%s: status %d (%s)", bad_tensors[_i].text, st,
                  err.msg);
    ck_assert_int_eq(err.status, st);
    ck_assert_ptr_null(t.data);
    ck_assert_int_eq(t.numel, 0);
    if (st != HBN_E_INVALID_JSON)
        ck_assert_msg(strstr(err.msg, "inputs") != NULL, "field not named: %s", err.msg);
}
END_TEST

START_TEST(test_tensor_messages)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"shape\":[2,2],\"data\":[1,2,3,4,5]}",
         "inputs: data has 5 values, shape [2, 2] needs 4"},
        {"[[1,2,3],[4,5]]", "inputs is ragged at depth 2: expected 3 elements, got 2"},
        {"[[1,2],[3,4],[5,6,7]]", "inputs is ragged at depth 2: expected 2 elements, got 3"},
        {"[[[1],[2]],[[3]]]", "inputs is ragged at depth 2: expected 2 elements, got 1"},
        {"[[1,2],3]", "inputs is ragged at depth 1: expected an array, got a number"},
        {"[[1,[2]]]", "inputs is ragged at depth 2: expected a number, got an array"},
        {"[[[[[[[[[1]]]]]]]]]", "inputs is nested deeper than 8 levels"},
        {"{\"shape\":[2,-3],\"data\":[]}", "inputs: shape has a negative dimension -3"},
        {"{\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[1]}",
         "inputs: shape has more than 8 dimensions"},
        {"{\"shape\":[9223372036854775807,4],\"data\":[1]}",
         "inputs: shape [9223372036854775807, 4] is too large (its dimensions multiply past "
         "2^63)"},
        {"{\"shape\":[112070,974099412070,9740994,0],\"data\":[]}", /* found by fuzz_tensor_json */
         "inputs: shape [112070, 974099412070, 9740994, 0] is too large (its dimensions multiply "
         "past 2^63)"},
        {"{\"shape\":[2],\"data\":[[1],[2]]}",
         "inputs: data must be a flat array of numbers, got a nested array"},
        {"{\"shape\":[2]}", "inputs: a tensor object needs \"data\""},
        {"{\"data\":[2]}", "inputs: a tensor object needs \"shape\""},
        {"{\"shape\":[1],\"data\":[1],\"dtype\":1}",
         "inputs: unexpected key \"dtype\" in a tensor object (only \"shape\" and \"data\")"},
        {"{\"shape\":[1.5],\"data\":[1]}", "inputs: shape must be an array of integers"},
        {"[1,\"2\"]", "inputs must hold only numbers"},
        {"7", "inputs must be a tensor (nested arrays or {\"shape\", \"data\"})"},
        {"[1,,2]", "invalid JSON in inputs at byte 3 of the value: unexpected character"},
        {"[1,2,]x", "invalid JSON in inputs at byte 5 of the value: unexpected character"},
        {"{\"shape\":[1],\"data\":[1],}", "invalid JSON at byte 24: expected a string key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hbn_tensor t;
        hbn_err err;
        ck_assert_int_ne(parse_str(cases[i].text, &t, &err), HBN_OK);
        ck_assert_str_eq(err.msg, cases[i].msg);
    }
}
END_TEST

START_TEST(test_vector_parse)
{
    hbn_tensor t;
    hbn_err err;
    ck_assert_int_eq(hbn_vector_json_parse("[1, -2, 3.5]", 12, "weight", &t, &err), HBN_OK);
    ck_assert_int_eq(t.rank, 1);
    ck_assert_int_eq(t.shape[0], 3);
    ck_assert(t.data[1] == -2.0f && t.data[2] == 3.5f);
    hbn_tensor_clear(&t);
    ck_assert_int_eq(hbn_vector_json_parse("[]", 2, "weight", &t, &err), HBN_OK);
    ck_assert_int_eq(t.rank, 1);
    ck_assert_int_eq(t.shape[0], 0);
    ck_assert_ptr_null(t.data);
    ck_assert_int_eq(hbn_vector_json_parse("[[1],[2]]", 9, "bias", &t, &err),
                     HBN_E_SHAPE_MISMATCH);
    ck_assert_str_eq(err.msg, "bias must be a flat array of numbers, got a nested array");
    ck_assert_int_eq(hbn_vector_json_parse("[1,[2]", 6, "bias", &t, &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(hbn_vector_json_parse("[[1],\"x\"]", 9, "bias", &t, &err),
                     HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_vector_json_parse("1.5", 3, "bias", &t, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_str_eq(err.msg, "bias must be an array of numbers");
    ck_assert_int_eq(hbn_vector_json_parse("{\"shape\":[1],\"data\":[1]}", 24, "bias", &t, &err),
                     HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_vector_json_parse("[1,]", 4, "bias", &t, &err), HBN_E_INVALID_JSON);
    ck_assert_ptr_null(t.data);
}
END_TEST

START_TEST(test_tensor_alloc)
{
    hbn_tensor t;
    hbn_err err;
    hbn_tensor_init(&t);
    ck_assert_int_eq(hbn_tensor_alloc(&t, 1000, &err), HBN_OK);
    ck_assert_ptr_nonnull(t.data);
    ck_assert_uint_eq((uintptr_t)t.data % 64, 0);
    t.data[999] = 1.0f; /* the whole range is usable */
    ck_assert_int_eq(hbn_tensor_alloc(&t, 0, &err), HBN_OK); /* frees the previous data */
    ck_assert_ptr_null(t.data);
    ck_assert_int_eq(hbn_tensor_alloc(&t, INT64_MAX, &err), HBN_E_NO_MEMORY);
    ck_assert_int_eq(hbn_tensor_alloc(&t, -1, &err), HBN_E_NO_MEMORY);
    hbn_tensor_clear(&t);
}
END_TEST

/* Tokens for the number fast path (plain decimals with at most 15 digits) and the tokens next to
 * its limits, which the general path must take instead: valid ones read as strtof does, invalid
 * ones are syntax errors, wherever they stand. */
static const char *const edge_tokens[] = {
    "0", "-0", "0.5", "-0.5", "7", "-7.25", "1234567", "-1234567.5", "12345678", "123456789.5",
    "0.123456789012345", "0.1234567890123456", "1.00000005960464477539062", "12345.6789012345",
    "1234567.12345678", "1234567.1234567891", "0.000000000000001", "0.0000000000000001",
    "9007199254740993", "0.30000001192092896", "8388609.5", "16777217.5", "3.4028235e38",
    "1.17549435e-38", "1.5e3", "1.5E-3", "1e5", "2.5E+1", "0.00001", "1.0000000", "100.000",
    "01", "00.5", "-01.5", "1.", "-1.", ".5", "-", "-.5", "1.5.5", "1..5", "1.5+", "1.5-2", "1e",
    "--1", "1.5e", "0x1", "12345678901234567890123",
};

static bool edge_valid(const char *tok)
{
    return hbn_json_number_span(tok, strlen(tok), NULL) == strlen(tok);
}

START_TEST(test_tensor_fast_path_edges)
{
    const char *tok = edge_tokens[_i];
    static const char pad[] = ",0.5,0.25,0.125,-1.5,2.75,-3.125,4.5,0.5,0.25,0.125,-1.5]";
    char first[256], middle[256], alone[64], alone2[64];
    snprintf(first, sizeof first, "[%s%s", tok, pad);       /* the first number of a run */
    snprintf(middle, sizeof middle, "[0.5,%s%s", tok, pad); /* inside a run */
    snprintf(alone, sizeof alone, "[%s]", tok);             /* too short for the fast path */
    snprintf(alone2, sizeof alone2, "[0.5,%s]", tok);
    const char *texts[] = {first, middle, alone}, *general[] = {alone, alone2, alone};
    for (int k = 0; k < 3; k++) {
        hbn_tensor t;
        hbn_err err, want_err;
        hbn_status st = parse_str(texts[k], &t, &err);
        if (!edge_valid(tok)) {
            /* rejected, and with the general path's message (same bytes up to the token's end) */
            ck_assert_msg(st == HBN_E_INVALID_JSON, "%s accepted in %s", tok, texts[k]);
            ck_assert_int_eq(parse_str(general[k], &t, &want_err), HBN_E_INVALID_JSON);
            ck_assert_str_eq(err.msg, want_err.msg);
            continue;
        }
        ck_assert_msg(st == HBN_OK, "%s: %s", texts[k], err.msg);
        float want = strtof(tok, NULL);
        ck_assert_msg(bits_of(t.data[k == 1]) == bits_of(want), "%s in %s: %a, want %a", tok,
                      texts[k], (double)t.data[k == 1], (double)want);
        ck_assert_int_eq(t.numel, k == 2 ? 1 : (k == 1 ? 13 : 12));
        hbn_tensor_clear(&t);
    }
}
END_TEST

START_TEST(test_tensor_spaced_runs)
{
    /* Runs of numbers with whitespace after the commas, before them, and line breaks. */
    static const char text[] = "[[1.5, -2.25,\n 3.125 , 4.0625,\t5.5,   6.75, 7.875, 8.5, 9.25, "
                               "10.5, 11.25, 12.125 ,13.0625,14.5],\r\n[1,2,3,4,5,6,7,8,9,10,11,"
                               "12,13,14]]";
    static const float row[14] = {1.5f, -2.25f, 3.125f, 4.0625f, 5.5f, 6.75f, 7.875f,
                                  8.5f, 9.25f, 10.5f, 11.25f, 12.125f, 13.0625f, 14.5f};
    hbn_tensor t;
    hbn_err err;
    ck_assert_msg(parse_str(text, &t, &err) == HBN_OK, "%s", err.msg);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.shape[0], 2);
    ck_assert_int_eq(t.shape[1], 14);
    for (int i = 0; i < 14; i++) {
        ck_assert(t.data[i] == row[i]);
        ck_assert(t.data[14 + i] == (float)(i + 1));
    }
    hbn_tensor_clear(&t);
}
END_TEST

/* A [ROWS, 4] array of short numbers; row BAD gets WHAT instead of its 4 numbers; SEP between
 * rows. Long enough for the fast path's row-to-row step. */
static char *rows_text(int rows, int bad, const char *what, const char *sep)
{
    hbn_strbuf sb;
    size_t len;
    hbn_strbuf_init(&sb);
    hbn_strbuf_puts(&sb, "[");
    for (int r = 0; r < rows; r++) {
        hbn_strbuf_puts(&sb, r > 0 ? sep : "");
        if (r == bad)
            hbn_strbuf_printf(&sb, "[%s]", what);
        else
            hbn_strbuf_printf(&sb, "[%d.5,-%d.25,0.125,%d]", r, r, r);
    }
    hbn_strbuf_puts(&sb, "]");
    char *s = hbn_strbuf_take(&sb, &len);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_tensor_long_rows)
{
    static const struct {
        const char *what, *sep;
        hbn_status st;
        const char *msg;
    } cases[] = {
        {NULL, ",", HBN_OK, NULL},
        {NULL, ", ", HBN_OK, NULL},
        {"1,2,3", ",", HBN_E_SHAPE_MISMATCH,
         "inputs is ragged at depth 2: expected 4 elements, got 3"},
        {"1,2,3,4,5", ",", HBN_E_SHAPE_MISMATCH,
         "inputs is ragged at depth 2: expected 4 elements, got 5"},
        {"", ",", HBN_E_SHAPE_MISMATCH, "inputs is ragged at depth 2: expected 4 elements, got 0"},
        {"1,[2],3,4", ",", HBN_E_SHAPE_MISMATCH,
         "inputs is ragged at depth 2: expected a number, got an array"},
        {"1,2,3,\"4\"", ",", HBN_E_INVALID_ARGUMENT, "inputs must hold only numbers"},
        {"1,2,3,4,", ",", HBN_E_INVALID_JSON, NULL},
        {"1,2,3,04", ",", HBN_E_INVALID_JSON, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = rows_text(20, cases[i].what != NULL ? 10 : -1, cases[i].what, cases[i].sep);
        hbn_tensor t;
        hbn_err err;
        hbn_status st = parse_str(text, &t, &err);
        ck_assert_msg(st == cases[i].st, "%s: %d %s", text, st, err.msg);
        if (cases[i].msg != NULL)
            ck_assert_str_eq(err.msg, cases[i].msg);
        if (st == HBN_OK) {
            ck_assert_int_eq(t.rank, 2);
            ck_assert_int_eq(t.shape[0], 20);
            ck_assert_int_eq(t.shape[1], 4);
            for (int r = 0; r < 20; r++) {
                ck_assert(t.data[4 * r] == (float)r + 0.5f);
                ck_assert(t.data[4 * r + 1] == -((float)r + 0.25f));
                ck_assert(t.data[4 * r + 2] == 0.125f);
                ck_assert(t.data[4 * r + 3] == (float)r);
            }
            hbn_tensor_clear(&t);
        }
        free(text);
    }
    /* rank 3: "]],[[" goes through the general walk, rows within through the fast step */
    hbn_tensor t;
    const char *cube = "[[[1.5,2.5],[3.5,4.5],[5.5,6.5]],[[7.5,8.5],[9.5,10.5],[11.5,12.5]],"
                       "[[13.5,14.5],[15.5,16.5],[17.5,18.5]]]";
    ck_assert_int_eq(parse_str(cube, &t, NULL), HBN_OK);
    ck_assert_int_eq(t.rank, 3);
    ck_assert_int_eq(t.shape[0], 3);
    ck_assert_int_eq(t.shape[1], 3);
    ck_assert_int_eq(t.shape[2], 2);
    for (int k = 0; k < 18; k++)
        ck_assert(t.data[k] == (float)k + 1.5f);
    hbn_tensor_clear(&t);
    ck_assert_int_eq(parse_str("[[[1.5,2.5],[3.5,4.5],[5.5,6.5]],[[7.5,8.5],[9.5,10.5]],"
                               "[[13.5,14.5],[15.5,16.5],[17.5,18.5]]]", &t, NULL),
                     HBN_E_SHAPE_MISMATCH);
}
END_TEST

START_TEST(test_tensor_prefix)
{
    /* A tensor at the start of a longer text: parsed where it lies, its length reported, the
     * same tensor as the parse of that span; anything else: false, OUT empty. */
    static const struct {
        const char *text;
        size_t used;
        int rank;
        int64_t numel;
        bool object_form;
    } good[] = {
        {"[[1,2],[3,4]],\"mode\":\"x\"}", 13, 2, 4, false},
        {"  [1, 2.5] , \"x\":[", 10, 1, 2, false},
        {"[]}", 2, 1, 0, false},
        {"[1] [", 3, 1, 1, false}, /* what follows is not looked at */
        {"{\"shape\":[2],\"data\":[1,2]}, \"x\":1}", 26, 1, 2, true},
        {"{\"data\":[1,2,3,4,5,6],\"shape\":[3,2]}}", 36, 2, 6, true},
    };
    static const char *const bad[] = {
        "[1,2", "[1,]", "[1,\"a\"]", "[[1],[2,3]]", "5", "\"x\"", "", "  ", "{\"shape\":[2]}",
        "{\"shape\":[2],\"data\":[1]}", "{\"shape\":[1],\"data\":[1],\"x\":1}",
        "{\"shape\":[1],\"data\":[1]", "[01]", "[[[[[[[[[1]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        hbn_tensor t, span;
        size_t used = 0;
        ck_assert_msg(hbn_tensor_json_parse_prefix(good[i].text, strlen(good[i].text), "inputs",
                                                   &t, &used),
                      "%s", good[i].text);
        ck_assert_uint_eq(used, good[i].used);
        ck_assert_int_eq(t.rank, good[i].rank);
        ck_assert_int_eq(t.numel, good[i].numel);
        ck_assert(t.object_form == good[i].object_form);
        ck_assert_int_eq(hbn_tensor_json_parse(good[i].text, used, "inputs", &span, NULL), HBN_OK);
        ck_assert_int_eq(span.rank, t.rank);
        for (int d = 0; d < t.rank; d++)
            ck_assert_int_eq(span.shape[d], t.shape[d]);
        for (int64_t k = 0; k < t.numel; k++)
            ck_assert(bits_of(span.data[k]) == bits_of(t.data[k]));
        hbn_tensor_clear(&span);
        hbn_tensor_clear(&t);
    }
    /* a short tensor early in a long document full of commas: the buffer sized by those
     * commas is not kept */
    enum { PAD = 200000 };
    char *doc = malloc(PAD + 64);
    ck_assert_ptr_nonnull(doc);
    int n = sprintf(doc, "[1.5,2.5],\"pad\":\"");
    memset(doc + n, ',', PAD);
    strcpy(doc + n + PAD, "\"}");
    hbn_tensor small;
    size_t small_used = 0;
    ck_assert(hbn_tensor_json_parse_prefix(doc, strlen(doc), "inputs", &small, &small_used));
    ck_assert_uint_eq(small_used, 9);
    ck_assert_int_eq(small.numel, 2);
    ck_assert(small.data[0] == 1.5f && small.data[1] == 2.5f);
    ck_assert_uint_eq((uintptr_t)small.data % 64, 0);
    ck_assert_uint_lt(malloc_usable_size(small.data), 4096);
    hbn_tensor_clear(&small);
    free(doc);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbn_tensor t;
        size_t used = 0;
        memset(&t, 0x5A, sizeof t);
        ck_assert_msg(!hbn_tensor_json_parse_prefix(bad[i], strlen(bad[i]), "inputs", &t, &used),
                      "%s", bad[i]);
        ck_assert_ptr_null(t.data);
        ck_assert_int_eq(t.numel, 0);
    }
}
END_TEST

/* hbn_json_fields_scan_tensor must answer exactly as hbn_json_fields_scan (status and message),
 * parsing the tensor member when it is well formed. */
static const char *const scan_docs[] = {
    "{\"mode\":\"train\",\"inputs\":[[1,2],[3,4]]}",
    "{\"inputs\":{\"shape\":[2],\"data\":[1,2]},\"mode\":\"eval\"}",
    "{\"inputs\":[1,\"a\"],\"mode\":1}",
    "{\"inputs\":[[1],[2,3]]}",
    "{\"inputs\":[1,]}",
    "{\"inputs\":[1],\"inputs\":[2]}",
    "{\"inputs\":[1],\"colour\":1}",
    "{\"inputs\":[1],\"mode\":}",
    "{\"colour\":1,\"inputs\":[1,}",
    "{\"inputs\":[1] \"mode\":1}",
    "{\"inputs\":5}",
    "{\"inputs\":",
    "[1]",
    "",
};

START_TEST(test_fields_scan_tensor)
{
    static const char *const names[] = {"inputs", "mode"};
    const char *doc = scan_docs[_i];
    hbn_json_field plain[2], eager[2];
    hbn_err e1, e2;
    hbn_tensor t;
    hbn_err_clear(&e1);
    hbn_err_clear(&e2);
    hbn_tensor_init(&t);
    hbn_status s1 = hbn_json_fields_scan(doc, strlen(doc), names, 2, plain, &e1);
    hbn_status s2 = hbn_json_fields_scan_tensor(doc, strlen(doc), names, 2, eager, 0, &t, &e2);
    ck_assert_int_eq(s2, s1);
    ck_assert_str_eq(e2.msg, e1.msg);
    if (s1 == HBN_OK) {
        for (int i = 0; i < 2; i++) {
            ck_assert_ptr_eq(eager[i].value, plain[i].value);
            ck_assert_uint_eq(eager[i].len, plain[i].len);
            ck_assert(!plain[i].parsed);
        }
        hbn_tensor span;
        hbn_status want = hbn_tensor_json_parse(plain[0].value, plain[0].len, "inputs", &span,
                                                NULL);
        ck_assert(eager[0].parsed == (want == HBN_OK));
        ck_assert(!eager[1].parsed);
        if (want == HBN_OK) {
            ck_assert_int_eq(t.numel, span.numel);
            ck_assert(memcmp(t.data, span.data, sizeof(float) * (size_t)span.numel) == 0);
            /* the reader takes the parsed tensor as it is */
            hbn_json_fields_errors e;
            hbn_json_fields_errors_init(&e);
            ck_assert_int_eq(hbn_json_fields_tensor(&eager[0], "inputs", &t, &e), HBN_OK);
            ck_assert_int_eq(t.numel, span.numel);
        } else {
            ck_assert_ptr_null(t.data);
        }
        hbn_tensor_clear(&span);
    }
    hbn_tensor_clear(&t);
}
END_TEST

/* ---- tensor print -------------------------------------------------------------------------- */

static char *print_tensor(const float *data, int rank, const int64_t *shape, bool object_form)
{
    hbn_strbuf sb;
    size_t len;
    hbn_strbuf_init(&sb);
    hbn_tensor_json_print(&sb, data, rank, shape, object_form);
    char *s = hbn_strbuf_take(&sb, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), len);
    return s;
}

START_TEST(test_tensor_print_size)
{
    /* The bound covers what is printed, for the longest floats and many small arrays. */
    static const int64_t shapes[][5] = {{4, 0, 0, 0, 0}, {3, 5, 0, 0, 0},     {2, 1, 1, 1, 7},
                                        {1, 1, 1, 1, 1}, {64, 2, 2, 1, 0},    {2, 0, 3, 0, 0},
                                        {0, 4, 0, 0, 0}, {300, 1, 1, 1, 1}};
    static const int ranks[] = {1, 2, 5, 5, 4, 3, 2, 5};
    float *data = malloc(sizeof(float) * 300);
    ck_assert_ptr_nonnull(data);
    for (int i = 0; i < 300; i++)
        data[i] = -1.17549435e-38f; /* 15 bytes each */
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        for (int object_form = 0; object_form < 2; object_form++) {
            char *s = print_tensor(data, ranks[i], shapes[i], object_form);
            size_t bound = hbn_tensor_json_print_size(ranks[i], shapes[i], object_form);
            ck_assert_msg(strlen(s) <= bound, "shape %zu: %zu > %zu", i, strlen(s), bound);
            free(s);
        }
    }
    free(data);
    static const int64_t huge[2] = {INT64_MAX, 2}, negative[2] = {2, -1};
    ck_assert_uint_eq(hbn_tensor_json_print_size(2, huge, false), SIZE_MAX);
    ck_assert_uint_eq(hbn_tensor_json_print_size(2, negative, true), SIZE_MAX);
}
END_TEST

START_TEST(test_tensor_print_known)
{
    static const float data[] = {1.0f, 2.5f, -0.0f, 1e-7f, 0.1f, 3.0f};
    static const struct {
        int rank;
        int64_t shape[4];
        bool object_form;
        const char *text;
    } cases[] = {
        {2, {2, 2}, false, "[[1,2.5],[-0,1e-07]]"},
        {2, {2, 2}, true, "{\"shape\":[2,2],\"data\":[1,2.5,-0,1e-07]}"},
        {1, {6}, false, "[1,2.5,-0,1e-07,0.1,3]"},
        {3, {3, 1, 2}, false, "[[[1,2.5]],[[-0,1e-07]],[[0.1,3]]]"},
        {4, {1, 1, 1, 1}, true, "{\"shape\":[1,1,1,1],\"data\":[1]}"},
        {2, {0, 4}, false, "[]"},
        {2, {2, 0}, false, "[[],[]]"},
        {3, {2, 0, 3}, false, "[[],[]]"},
        {3, {1, 2, 0}, false, "[[[],[]]]"},
        {2, {0, 4}, true, "{\"shape\":[0,4],\"data\":[]}"},
        {1, {0}, false, "[]"},
        {0, {0}, false, "1"},
        {0, {0}, true, "{\"shape\":[],\"data\":[1]}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = print_tensor(data, cases[i].rank, cases[i].shape, cases[i].object_form);
        ck_assert_str_eq(s, cases[i].text);
        free(s);
    }
    hbn_strbuf sb;
    hbn_strbuf_init(&sb);
    hbn_vector_json_print(&sb, data, 0);
    hbn_vector_json_print(&sb, data + 3, 3);
    ck_assert_str_eq(sb.data, "[][1e-07,0.1,3]");
    hbn_strbuf_clear(&sb);
}
END_TEST

START_TEST(test_tensor_round_trip)
{
    /* Random shapes of rank 1-5 in both forms, random finite data: print, validate, parse back. */
    for (int iter = 0; iter < 200; iter++) {
        int rank = 1 + iter % 5;
        bool object_form = (iter / 5) % 2 == 1;
        int64_t shape[5], numel = 1;
        for (int d = 0; d < rank; d++) {
            shape[d] = 1 + (int64_t)(rng_next() % (rank > 3 ? 4 : 9));
            if (object_form && iter % 17 == 3 && d == 0)
                shape[d] = 0; /* a zero dimension followed by more: the object form only */
            numel *= shape[d];
        }
        if (iter == 199) { /* one large tensor */
            rank = 2, shape[0] = 512, shape[1] = 512, numel = 262144;
        }
        float *data = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
        ck_assert_ptr_nonnull(data);
        for (int64_t k = 0; k < numel; k++)
            data[k] = random_finite_float();
        char *s = print_tensor(data, rank, shape, object_form);
        ck_assert_int_eq(hbn_json_validate(s, strlen(s), NULL), HBN_OK);
        hbn_tensor t;
        hbn_err err;
        ck_assert_msg(parse_str(s, &t, &err) == HBN_OK, "%s", err.msg);
        ck_assert_int_eq(t.rank, rank);
        ck_assert(t.object_form == object_form);
        ck_assert_int_eq(t.numel, numel);
        for (int d = 0; d < rank; d++)
            ck_assert_int_eq(t.shape[d], shape[d]);
        for (int64_t k = 0; k < numel; k++)
            REQUIRE(bits_of(t.data[k]) == bits_of(data[k]), "element %lld", (long long)k);
        hbn_tensor_clear(&t);
        free(s);
        free(data);
    }
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("message");
    tcase_add_test(tc, test_response_init_and_clear);
    tcase_add_test(tc, test_response_set_body_replaces);
    tcase_add_test(tc, test_response_headers);
    tcase_add_test(tc, test_response_request_body);
    suite_add_tcase(s, tc);

    tc = tcase_create("strbuf");
    tcase_add_test(tc, test_strbuf_append_and_take);
    tcase_add_test(tc, test_strbuf_printf_long);
    tcase_add_test(tc, test_strbuf_failure_is_sticky);
    tcase_add_loop_test(tc, test_strbuf_json_string, 0,
                        (int)(sizeof json_string_cases / sizeof json_string_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("float_format");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_float_known, 0, (int)(sizeof float_cases / sizeof float_cases[0]));
    tcase_add_test(tc, test_float_non_finite_is_null);
    tcase_add_test(tc, test_float_random_sample);
    tcase_add_test(tc, test_float_special_values);
    tcase_add_test(tc, test_float_nine_digit_fives);
    tcase_add_test(tc, test_float_sweep);
    tcase_add_test(tc, test_float_exact_buffer);
    tcase_add_test(tc, test_float_list);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_scan");
    tcase_add_loop_test(tc, test_validate_valid, 0,
                        (int)(sizeof valid_docs / sizeof valid_docs[0]));
    tcase_add_loop_test(tc, test_validate_invalid, 0,
                        (int)(sizeof invalid_docs / sizeof invalid_docs[0]));
    tcase_add_loop_test(tc, test_iter_invalid, 0,
                        (int)(sizeof invalid_objects / sizeof invalid_objects[0]));
    tcase_add_test(tc, test_iter_members);
    tcase_add_test(tc, test_iter_empty_object);
    tcase_add_test(tc, test_iter_not_an_object);
    tcase_add_test(tc, test_iter_errors_are_final);
    tcase_add_test(tc, test_iter_long_keys);
    tcase_add_test(tc, test_iter_two_halves);
    tcase_add_test(tc, test_iter_advance);
    tcase_add_test(tc, test_iter_prefix);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_number_span);
    tcase_add_test(tc, test_number_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("tensor_parse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tensor_nested_shapes);
    tcase_add_test(tc, test_tensor_values);
    tcase_add_test(tc, test_tensor_hard_numbers);
    tcase_add_test(tc, test_tensor_random_tokens);
    tcase_add_test(tc, test_tensor_long_number);
    tcase_add_test(tc, test_tensor_object_form);
    tcase_add_loop_test(tc, test_tensor_bad, 0, (int)(sizeof bad_tensors / sizeof bad_tensors[0]));
    tcase_add_test(tc, test_tensor_messages);
    tcase_add_test(tc, test_vector_parse);
    tcase_add_test(tc, test_tensor_alloc);
    tcase_add_loop_test(tc, test_tensor_fast_path_edges, 0,
                        (int)(sizeof edge_tokens / sizeof edge_tokens[0]));
    tcase_add_test(tc, test_tensor_spaced_runs);
    tcase_add_test(tc, test_tensor_long_rows);
    tcase_add_test(tc, test_tensor_prefix);
    tcase_add_loop_test(tc, test_fields_scan_tensor, 0,
                        (int)(sizeof scan_docs / sizeof scan_docs[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("tensor_print");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tensor_print_known);
    tcase_add_test(tc, test_tensor_print_size);
    tcase_add_test(tc, test_tensor_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
