/* check_api_units.c: unit tests of api/'s small pieces: the status -> HTTP table (written out
 * from API.md), hbn_api_error for the errors the server decides before the body, the router's
 * classification (hbn_api_route) on raw paths, layer names, query parsing and the JSON envelope's
 * typed readers. */
#include "tests/check_api.h"

#include <stdint.h>
#include <string.h>

#include "api/json_fields.h"
#include "api/name.h"
#include "api/query.h"
#include "api/router.h"

/* ---- status -> HTTP --------------------------------------------------------------------- */

static const struct {
    hbn_status status;
    int http;
    const char *code;
} status_table[] = {
    {HBN_OK, 200, "ok"},
    {HBN_E_INVALID_JSON, 400, "invalid_json"},
    {HBN_E_INVALID_ARGUMENT, 400, "invalid_argument"},
    {HBN_E_UNKNOWN_FIELD, 400, "unknown_field"},
    {HBN_E_INVALID_NAME, 400, "invalid_name"},
    {HBN_E_UNAUTHORIZED, 401, "unauthorized"},
    {HBN_E_LAYER_NOT_FOUND, 404, "layer_not_found"},
    {HBN_E_STATS_NOT_FOUND, 404, "stats_not_found"},
    {HBN_E_NOT_FOUND, 404, "not_found"},
    {HBN_E_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
    {HBN_E_LAYER_EXISTS, 409, "layer_exists"},
    {HBN_E_NOT_TRACKING, 409, "not_tracking"},
    {HBN_E_FROZEN_STATS, 409, "frozen_stats"},
    {HBN_E_NOT_AFFINE, 409, "not_affine"},
    {HBN_E_LENGTH_REQUIRED, 411, "length_required"},
    {HBN_E_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
    {HBN_E_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type"},
    {HBN_E_SHAPE_MISMATCH, 422, "shape_mismatch"},
    {HBN_E_STATS_ID_REQUIRED, 422, "stats_id_required"},
    {HBN_E_STATS_ID_OUT_OF_RANGE, 422, "stats_id_out_of_range"},
    {HBN_E_NON_FINITE, 422, "non_finite"},
    {HBN_E_INVALID_VALUE, 422, "invalid_value"},
    {HBN_E_BATCH_TOO_SMALL, 422, "batch_too_small"},
    {HBN_E_INVALID_CONFIG, 422, "invalid_config"},
    {HBN_E_INVALID_STATE, 422, "invalid_state"},
    {HBN_E_QUOTA_EXCEEDED, 429, "quota_exceeded"},
    {HBN_E_INTERNAL, 500, "internal_error"},
    {HBN_E_IO, 500, "io_error"},
    {HBN_E_NO_MEMORY, 503, "unavailable"},
    {HBN_E_UNAVAILABLE, 503, "unavailable"},
    {HBN_E_INSUFFICIENT_STORAGE, 507, "insufficient_storage"},
};

START_TEST(test_http_status_table)
{
    ck_assert_int_eq((int)(sizeof status_table / sizeof status_table[0]), HBN_STATUS_COUNT);
    ck_assert_int_eq(hbn_http_status(status_table[_i].status), status_table[_i].http);
}
END_TEST

START_TEST(test_api_error_before_body)
{
    static const hbn_status statuses[] = {HBN_E_UNAUTHORIZED, HBN_E_LENGTH_REQUIRED,
                                          HBN_E_PAYLOAD_TOO_LARGE, HBN_E_UNAVAILABLE,
                                          HBN_E_NO_MEMORY};
    size_t i;

    for (i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        hbn_response res;
        cJSON *json;
        int http = hbn_http_status(statuses[i]);

        hbn_response_init(&res);
        hbn_api_error(&res, statuses[i], "say \"why\"\n");
        ck_assert_int_eq(res.http_status, http);
        ck_assert_str_eq(res.content_type, "application/json");
        ck_assert_str_eq(res.error_code, hbn_status_code(statuses[i]));
        json = cJSON_ParseWithLength(res.body, res.body_len);
        ck_assert_ptr_nonnull(json);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(json, "error")->valuestring,
                         "say \"why\"\n");
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(json, "code")->valuestring,
                         hbn_status_code(statuses[i]));
        ck_assert_int_eq(res.header_count, http == 503 ? 1 : 0);
        if (http == 503)
            ck_assert_str_eq(res.headers[0].name, "Retry-After");
        cJSON_Delete(json);
        hbn_response_clear(&res);
    }
}
END_TEST

/* ---- router ----------------------------------------------------------------------------- */

static const struct {
    const char *method;
    const char *path;
    const char *route;
    bool known, allowed, body, optional, auth;
} route_table[] = {
    {"GET", "/v1/layers", "/v1/layers", true, true, false, false, true},
    {"POST", "/v1/layers", "/v1/layers", true, true, true, false, true},
    {"DELETE", "/v1/layers", "/v1/layers", true, false, false, false, true},
    {"GET", "/v1/layers/x", "/v1/layers/{name}", true, true, false, false, true},
    {"DELETE", "/v1/layers/x", "/v1/layers/{name}", true, true, false, false, true},
    {"PUT", "/v1/layers/x/mode", "/v1/layers/{name}/mode", true, true, true, false, true},
    {"GET", "/v1/layers/x/weights", "/v1/layers/{name}/weights", true, true, false, false, true},
    {"PUT", "/v1/layers/x/weights", "/v1/layers/{name}/weights", true, true, true, false, true},
    {"POST", "/v1/layers/x/checkpoints", "/v1/layers/{name}/checkpoints", true, true, true, true,
     true},
    {"GET", "/v1/layers/x/stats", "/v1/layers/{name}/stats", true, true, false, false, true},
    {"GET", "/v1/layers/x/stats/3", "/v1/layers/{name}/stats/{id}", true, true, false, false,
     true},
    {"PUT", "/v1/layers/x/stats/3", "/v1/layers/{name}/stats/{id}", true, true, true, false,
     true},
    {"POST", "/v1/layers/x/forward", "/v1/layers/{name}/forward", true, true, true, false, true},
    {"GET", "/v2/health/live", "/v2/health/live", true, true, false, false, false},
    {"GET", "/v2/health/ready", "/v2/health/ready", true, true, false, false, false},
    {"POST", "/v2/health/ready", "/v2/health/ready", true, false, false, false, false},
    {"GET", "/metrics", "/metrics", true, true, false, false, true},
    /* raw matching: an encoded slash stays inside its segment */
    {"GET", "/v1/layers/a%2Fb", "/v1/layers/{name}", true, true, false, false, true},
    {"GET", "/v1/layers/a%2Fb/weights", "/v1/layers/{name}/weights", true, true, false, false,
     true},
    {"GET", "/v1/layers/a/b", "unknown", false, false, false, false, true},
    {"GET", "/v1/layers/x/", "unknown", false, false, false, false, true},
    {"GET", "/v1//layers", "unknown", false, false, false, false, true},
    {"GET", "/metrics/", "unknown", false, false, false, false, true},
    {"GET", "v1/layers", "unknown", false, false, false, false, true},
    {"GET", "/", "unknown", false, false, false, false, true},
};

START_TEST(test_route_info)
{
    hbn_route_info info;

    memset(&info, 0xff, sizeof info);
    hbn_api_route(route_table[_i].method, route_table[_i].path, &info);
    ck_assert_msg(strcmp(info.route, route_table[_i].route) == 0, "%s %s: route %s",
                  route_table[_i].method, route_table[_i].path, info.route);
    ck_assert_int_eq(info.known_path, route_table[_i].known);
    ck_assert_int_eq(info.method_allowed, route_table[_i].allowed);
    ck_assert_int_eq(info.takes_body, route_table[_i].body);
    ck_assert_int_eq(info.length_optional, route_table[_i].optional);
    ck_assert_int_eq(info.needs_auth, route_table[_i].auth);
}
END_TEST

START_TEST(test_router_params)
{
    hbn_route_match m;

    hbn_router_match("PUT", "/v1/layers/a%2Fb/stats/12", &m);
    ck_assert_ptr_nonnull(m.route);
    ck_assert_int_eq(m.route->endpoint, HBN_EP_STATS_PUT);
    ck_assert_int_eq(m.param_count, 2);
    ck_assert_uint_eq(m.params[0].len, 5);
    ck_assert_int_eq(strncmp(m.params[0].start, "a%2Fb", 5), 0);
    ck_assert_uint_eq(m.params[1].len, 2);
    ck_assert_int_eq(strncmp(m.params[1].start, "12", 2), 0);
}
END_TEST

/* ---- names ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    bool valid;
} names[] = {
    {"a", true},          {"Z9", true},         {"0", true},           {"bn1.weight_2-x", true},
    {"a.b.c", true},      {"a-", true},         {"a.", true},          {"", false},
    {".a", false},        {"_a", false},        {"-a", false},         {"a..b", false},
    {"..", false},        {"a/b", false},       {"a%2Fb", false},      {"a%00b", false},
    {"a b", false},       {"a\tb", false},      {"\xc3\xa9", false},   {"a:b", false},
};

START_TEST(test_name_check)
{
    hbn_err err;
    hbn_status st = hbn_name_check(names[_i].name, strlen(names[_i].name), &err);

    ck_assert_msg((st == HBN_OK) == names[_i].valid, "name '%s'", names[_i].name);
    if (!names[_i].valid)
        ck_assert_int_eq(st, HBN_E_INVALID_NAME);
}
END_TEST

START_TEST(test_name_length)
{
    char name[131];
    hbn_err err;

    memset(name, 'n', sizeof name);
    ck_assert_int_eq(hbn_name_check(name, 128, &err), HBN_OK);
    ck_assert_int_eq(hbn_name_check(name, 129, &err), HBN_E_INVALID_NAME);
    /* a NUL inside the span is a byte like any other: invalid */
    name[3] = '\0';
    ck_assert_int_eq(hbn_name_check(name, 8, &err), HBN_E_INVALID_NAME);
}
END_TEST

/* ---- query ------------------------------------------------------------------------------ */

START_TEST(test_query_parse)
{
    static const char *const known[] = {"shape", "stats_id", "mode"};
    hbn_query_value v[3];
    int64_t shape[HBN_MAX_RANK], id;
    hbn_mode mode;
    hbn_err err;
    int rank;

    ck_assert_int_eq(hbn_query_parse("mode=eval&&shape=8%2C4%2c2&stats_id=-3&", known, 3, v, &err),
                     HBN_OK);
    ck_assert(v[0].present && v[1].present && v[2].present);
    ck_assert_str_eq(v[0].text, "8,4,2");
    ck_assert_int_eq(hbn_query_shape(&v[0], "shape", &rank, shape, &err), HBN_OK);
    ck_assert_int_eq(rank, 3);
    ck_assert(shape[0] == 8 && shape[1] == 4 && shape[2] == 2);
    ck_assert_int_eq(hbn_query_int(&v[1], "stats_id", &id, &err), HBN_OK);
    ck_assert_int_eq(id, -3);
    ck_assert_int_eq(hbn_query_mode(&v[2], "mode", &mode, &err), HBN_OK);
    ck_assert_int_eq(mode, HBN_MODE_EVAL);

    ck_assert_int_eq(hbn_query_parse(NULL, known, 3, v, &err), HBN_OK);
    ck_assert(!v[0].present && !v[1].present && !v[2].present);
    ck_assert_int_eq(hbn_query_parse("shape=1&Shape=2", known, 3, v, &err), HBN_E_UNKNOWN_FIELD);
    ck_assert_ptr_nonnull(strstr(err.msg, "Shape"));
    ck_assert_int_eq(hbn_query_parse("mode=a&mode=b", known, 3, v, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_query_parse("mode=%zz", known, 3, v, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_query_parse("mode=%00", known, 3, v, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_query_parse("mode=%4", known, 3, v, &err), HBN_E_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_query_int_saturates)
{
    hbn_query_value v = {true, "99999999999999999999999"};
    int64_t id;
    bool over;
    hbn_err err;

    ck_assert_int_eq(hbn_query_int(&v, "stats_id", &id, &err), HBN_OK);
    ck_assert(id == INT64_MAX);
    ck_assert(hbn_query_parse_int("-9223372036854775808", 20, &id, &over));
    ck_assert(id == INT64_MIN && !over);
    ck_assert(hbn_query_parse_int("9223372036854775807", 19, &id, &over));
    ck_assert(id == INT64_MAX && !over);
    ck_assert(hbn_query_parse_int("9223372036854775808", 19, &id, &over));
    ck_assert(id == INT64_MAX && over);
    ck_assert(!hbn_query_parse_int("-", 1, &id, &over));
    ck_assert(!hbn_query_parse_int("1e3", 3, &id, &over));
}
END_TEST

/* ---- the JSON envelope ------------------------------------------------------------------ */

static const char *const env_names[] = {"n", "b", "s", "x"};

/* Scans TEXT against env_names into F. */
static hbn_status scan(const char *text, hbn_json_field *f, hbn_err *err)
{
    return hbn_json_fields_scan(text, strlen(text), env_names, 4, f, err);
}

START_TEST(test_json_fields_readers)
{
    hbn_json_field f[4];
    hbn_err err;
    int64_t n;
    bool over, b, fits;
    char s[8];
    double x;

    ck_assert_int_eq(scan(" {\"n\": -12 , \"b\":false,\"s\":\"h\\u00e9\",\"x\":2.5e-1} ", f, &err),
                     HBN_OK);
    ck_assert_int_eq(hbn_json_fields_int(&f[0], "n", &n, &over, &err), HBN_OK);
    ck_assert(n == -12 && !over);
    ck_assert_int_eq(hbn_json_fields_bool(&f[1], "b", &b, &err), HBN_OK);
    ck_assert(!b);
    ck_assert_int_eq(hbn_json_fields_string(&f[2], "s", s, sizeof s, &fits, &err), HBN_OK);
    ck_assert(fits);
    ck_assert_str_eq(s, "h\xc3\xa9");
    ck_assert_int_eq(hbn_json_fields_number(&f[3], "x", &x, &err), HBN_OK);
    ck_assert_double_eq(x, 0.25);

    ck_assert_int_eq(scan("{\"n\":5}", f, &err), HBN_OK);
    ck_assert(hbn_json_fields_present(&f[0]) && !hbn_json_fields_present(&f[1]));
    ck_assert_int_eq(scan("{\"n\":null}", f, &err), HBN_OK);
    ck_assert(hbn_json_fields_is_null(&f[0]));
    ck_assert_int_eq(hbn_json_fields_int(&f[0], "n", &n, &over, &err), HBN_E_INVALID_ARGUMENT);
}
END_TEST

/* Bad small members: the JSON text, the reader (0 int, 1 bool, 2 string, 3 number). */
static const struct {
    const char *text;
    int reader;
} bad_members[] = {
    {"{\"n\":2.5}", 0},   {"{\"n\":1e300}", 0}, {"{\"n\":2.0}", 0},   {"{\"n\":\"2\"}", 0},
    {"{\"n\":true}", 0},  {"{\"n\":[1]}", 0},   {"{\"b\":1}", 1},     {"{\"b\":\"true\"}", 1},
    {"{\"b\":null}", 1},  {"{\"s\":1}", 2},     {"{\"s\":[\"a\"]}", 2}, {"{\"x\":\"1\"}", 3},
    {"{\"x\":{}}", 3},    {"{\"x\":false}", 3},
};

START_TEST(test_json_fields_bad_types)
{
    hbn_json_field f[4];
    hbn_err err;
    int64_t n;
    bool over, b, fits;
    char s[8];
    double x;
    hbn_status st;

    ck_assert_int_eq(scan(bad_members[_i].text, f, &err), HBN_OK);
    switch (bad_members[_i].reader) {
    case 0:
        st = hbn_json_fields_int(&f[0], "n", &n, &over, &err);
        break;
    case 1:
        st = hbn_json_fields_bool(&f[1], "b", &b, &err);
        break;
    case 2:
        st = hbn_json_fields_string(&f[2], "s", s, sizeof s, &fits, &err);
        break;
    default:
        st = hbn_json_fields_number(&f[3], "x", &x, &err);
        break;
    }
    ck_assert_msg(st == HBN_E_INVALID_ARGUMENT, "%s", bad_members[_i].text);
}
END_TEST

START_TEST(test_json_fields_envelope_errors)
{
    hbn_json_field f[4];
    hbn_err err;
    bool fits;
    char s[4], wide[16];
    int64_t n;
    bool over;

    ck_assert_int_eq(scan("{\"n\":1,\"q\":2}", f, &err), HBN_E_UNKNOWN_FIELD);
    ck_assert_ptr_nonnull(strstr(err.msg, "'q'"));
    ck_assert_int_eq(scan("{\"n\":1,\"n\":2}", f, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(scan("{\"q\":1,\"n\":}", f, &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(scan("{\"n\":1,\"n\":2,", f, &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(scan("[]", f, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(scan("", f, &err), HBN_E_INVALID_JSON);
    ck_assert_int_eq(scan("{} x", f, &err), HBN_E_INVALID_JSON);
    /* a string that does not fit, or that hides a NUL, is reported through FITS */
    ck_assert_int_eq(scan("{\"s\":\"abcd\"}", f, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_fields_string(&f[2], "s", s, sizeof s, &fits, &err), HBN_OK);
    ck_assert(!fits);
    ck_assert_int_eq(scan("{\"s\":\"a\\u0000\"}", f, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_fields_string(&f[2], "s", s, sizeof s, &fits, &err), HBN_OK);
    ck_assert(!fits);
    ck_assert_int_eq(scan("{\"s\":\"a\\\\u0000\"}", f, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_fields_string(&f[2], "s", wide, sizeof wide, &fits, &err), HBN_OK);
    ck_assert(fits); /* an escaped backslash followed by "u0000" is no NUL */
    ck_assert_str_eq(wide, "a\\u0000");
    /* an integer beyond int64 saturates and says so */
    ck_assert_int_eq(scan("{\"n\":-99999999999999999999}", f, &err), HBN_OK);
    ck_assert_int_eq(hbn_json_fields_int(&f[0], "n", &n, &over, &err), HBN_OK);
    ck_assert(n == INT64_MIN && over);
}
END_TEST

START_TEST(test_json_fields_error_classes)
{
    hbn_json_fields_errors e;
    hbn_err shape, structure, out;

    hbn_json_fields_errors_init(&e);
    ck_assert_int_eq(hbn_json_fields_first(&e, &out), HBN_OK);
    hbn_err_set(&shape, HBN_E_SHAPE_MISMATCH, "first shape");
    hbn_json_fields_note(&e, shape.status, &shape);
    hbn_err_set(&shape, HBN_E_SHAPE_MISMATCH, "second shape");
    hbn_json_fields_note(&e, shape.status, &shape);
    ck_assert_int_eq(hbn_json_fields_first(&e, &out), HBN_E_SHAPE_MISMATCH);
    ck_assert_str_eq(out.msg, "first shape");
    hbn_err_set(&structure, HBN_E_INVALID_ARGUMENT, "structure");
    hbn_json_fields_note(&e, structure.status, &structure);
    ck_assert_int_eq(hbn_json_fields_first(&e, &out), HBN_E_INVALID_ARGUMENT);
    ck_assert_str_eq(out.msg, "structure");
}
END_TEST

Suite *hbn_api_units_suite(void)
{
    Suite *s = suite_create("api_units");
    TCase *status = tcase_create("http_status");
    TCase *router = tcase_create("router");
    TCase *name = tcase_create("name");
    TCase *query = tcase_create("query");
    TCase *json = tcase_create("json_fields");

    tcase_add_loop_test(status, test_http_status_table, 0,
                        (int)(sizeof status_table / sizeof status_table[0]));
    tcase_add_test(status, test_api_error_before_body);
    suite_add_tcase(s, status);
    tcase_add_loop_test(router, test_route_info, 0,
                        (int)(sizeof route_table / sizeof route_table[0]));
    tcase_add_test(router, test_router_params);
    suite_add_tcase(s, router);
    tcase_add_loop_test(name, test_name_check, 0, (int)(sizeof names / sizeof names[0]));
    tcase_add_test(name, test_name_length);
    suite_add_tcase(s, name);
    tcase_add_test(query, test_query_parse);
    tcase_add_test(query, test_query_int_saturates);
    suite_add_tcase(s, query);
    tcase_add_test(json, test_json_fields_readers);
    tcase_add_loop_test(json, test_json_fields_bad_types, 0,
                        (int)(sizeof bad_members / sizeof bad_members[0]));
    tcase_add_test(json, test_json_fields_envelope_errors);
    tcase_add_test(json, test_json_fields_error_classes);
    suite_add_tcase(s, json);
    return s;
}
