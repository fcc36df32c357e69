/* check_api_errors.c: every error code of API.md's table that the v1 API, health and metrics
 * produce, as a table of literal bad requests (method, path, query, content type, body, expected
 * status and code) run by a loop test; each row also proves that the failing request changed
 * nothing (the GET-visible state before and after is identical), that the body is
 * {"error", "code"} and that 405 carries Allow. Rows marked "precedence" fail several rules at
 * once and check which one API.md says decides. Quotas have their own fixture. */
#include "tests/check_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J "application/json"
#define BIN "application/octet-stream"
#define ONE "\x00\x00\x80\x3f" /* 1.0f, little-endian */
#define NAN32 "\x00\x00\xc0\x7f"
#define LONG_NAME "@LONG@"
#define MAX_NAME "@MAX@"
#define FWD(layer) "/v1/layers/" layer "/forward"

typedef struct bad_request {
    const char *method;
    const char *path;
    const char *query;
    const char *ctype;
    const char *body; /* NULL: no body */
    int len;          /* body bytes; -1: strlen(body) */
    int status;
    const char *code;
} bad_request;

static const bad_request bad[] = {
    /* routes */
    {"GET", "/nope", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "/v1/layer", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "/v1/layers/bn/nope", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "/v1/layers/bn/stats/0/x", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "/v1/layers/bn/state/x", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "/v2/models/bn/versions/2", NULL, NULL, NULL, 0, 404, "not_found"},
    {"GET", "", NULL, NULL, NULL, 0, 404, "not_found"},
    {"DELETE", "/v1/layers", NULL, NULL, NULL, 0, 405, "method_not_allowed"},
    {"PATCH", "/v1/layers/bn", NULL, J, "{}", -1, 405, "method_not_allowed"},
    {"GET", FWD("bn"), NULL, NULL, NULL, 0, 405, "method_not_allowed"},
    {"POST", "/v1/layers/bn/stats/0", NULL, J, "{}", -1, 405, "method_not_allowed"},
    {"POST", "/v2/health/live", NULL, NULL, NULL, 0, 405, "method_not_allowed"},
    {"get", "/v1/layers", NULL, NULL, NULL, 0, 405, "method_not_allowed"},
    /* names */
    {"GET", "/v1/layers/a..b", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/..", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/a%2Fb", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/a%00b", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/bn%2F..%2Fx/weights", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/.hidden", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/-x", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/a%20b", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/\xc3\xa9t\xc3\xa9", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/" LONG_NAME, NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/" MAX_NAME, NULL, NULL, NULL, 0, 404, "layer_not_found"},
    {"POST", FWD("a%2Fb"), NULL, J, "{\"inputs\":[[1,2],[3,4]]}", -1, 400, "invalid_name"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"a..b\",\"num_features\":2}", -1, 400,
     "invalid_name"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"a/b\",\"num_features\":2}", -1, 400,
     "invalid_name"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"a\\u0000b\",\"num_features\":2}", -1, 400,
     "invalid_name"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"\",\"num_features\":2}", -1, 400,
     "invalid_name"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"" LONG_NAME "\",\"num_features\":2}", -1, 400,
     "invalid_name"},
    {"GET", "/v1/layers/missing", NULL, NULL, NULL, 0, 404, "layer_not_found"},
    {"DELETE", "/v1/layers/missing", NULL, NULL, NULL, 0, 404, "layer_not_found"},
    {"GET", "/v1/layers/missing/weights", NULL, NULL, NULL, 0, 404, "layer_not_found"},
    {"POST", "/v1/layers/missing/checkpoints", NULL, NULL, NULL, 0, 404, "layer_not_found"},
    /* create */
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"bn\",\"num_features\":2}", -1, 409,
     "layer_exists"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\"}", -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"num_features\":2}", -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":7,\"num_features\":2}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2.5}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2.0}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":1e300}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":\"2\"}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":null}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"affine\":1}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"affine\":\"true\"}",
     -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"momentum\":\"0.1\"}",
     -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"eps\":null}", -1, 400,
     "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"mode\":\"test\"}", -1,
     400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"mode\":\"Train\"}",
     -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"colour\":1}", -1, 400,
     "unknown_field"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"Name\":\"y\",\"num_features\":2}", -1,
     400, "unknown_field"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"name\":\"y\",\"num_features\":2}", -1,
     400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",", -1, 400, "invalid_json"},
    {"POST", "/v1/layers", NULL, J, "", 0, 400, "invalid_json"},
    {"POST", "/v1/layers", NULL, J, NULL, 0, 400, "invalid_json"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2} {}", -1, 400,
     "invalid_json"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"\xff\",\"num_features\":2}", -1, 400,
     "invalid_json"},
    {"POST", "/v1/layers", NULL, J, "[1,2]", -1, 400, "invalid_argument"},
    {"POST", "/v1/layers", NULL, J, "\"bn\"", -1, 400, "invalid_argument"},
    /* precedence: an unknown field before a syntax error: the syntax error decides */
    {"POST", "/v1/layers", NULL, J, "{\"bogus\":1,\"name\":}", -1, 400, "invalid_json"},
    {"POST", "/v1/layers", NULL, "text/plain", "{\"name\":\"x\",\"num_features\":2}", -1, 415,
     "unsupported_media_type"},
    {"POST", "/v1/layers", NULL, "application/x-www-form-urlencoded", "name=x", -1, 415,
     "unsupported_media_type"},
    {"POST", "/v1/layers", NULL, "application/jsonx", "{}", -1, 415, "unsupported_media_type"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":0}", -1, 422,
     "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":-3}", -1, 422,
     "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":99999999999999999999}", -1,
     422, "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":1048577}", -1, 422,
     "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"momentum\":1.5}", -1,
     422, "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"eps\":1e39}", -1, 422,
     "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"eps\":0}", -1, 422,
     "invalid_config"},
    {"POST", "/v1/layers", NULL, J, "{\"name\":\"x\",\"num_features\":2,\"frozen_stats\":true}",
     -1, 422, "invalid_config"},
    /* mode */
    {"PUT", "/v1/layers/bn/mode", NULL, J, "{\"mode\":\"test\"}", -1, 400, "invalid_argument"},
    {"PUT", "/v1/layers/bn/mode", NULL, J, "{\"mode\":1}", -1, 400, "invalid_argument"},
    {"PUT", "/v1/layers/bn/mode", NULL, J, "{\"mode\":\"eval\\u0000\"}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/mode", NULL, J, "{}", -1, 400, "invalid_argument"},
    {"PUT", "/v1/layers/bn/mode", NULL, J, "{\"mode\":\"eval\",\"x\":0}", -1, 400,
     "unknown_field"},
    {"PUT", "/v1/layers/bn/mode", NULL, "text/html", "{\"mode\":\"eval\"}", -1, 415,
     "unsupported_media_type"},
    {"PUT", "/v1/layers/missing/mode", NULL, J, "{\"mode\":\"eval\"}", -1, 404,
     "layer_not_found"},
    /* weights */
    {"GET", "/v1/layers/na/weights", NULL, NULL, NULL, 0, 409, "not_affine"},
    {"PUT", "/v1/layers/na/weights", NULL, J, "{\"weight\":[1,1],\"bias\":[0,0]}", -1, 409,
     "not_affine"},
    /* precedence: path conflicts before the body, even before its media type */
    {"PUT", "/v1/layers/na/weights", NULL, J, "{\"weight\":", -1, 409, "not_affine"},
    {"PUT", "/v1/layers/na/weights", NULL, "text/plain", "x", -1, 409, "not_affine"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,2,3],\"bias\":[0,0]}", -1, 422,
     "shape_mismatch"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[[1,2]],\"bias\":[0,0]}", -1, 422,
     "shape_mismatch"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,1e39],\"bias\":[0,0]}", -1, 422,
     "non_finite"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,2]}", -1, 400, "invalid_argument"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":5,\"bias\":[0,0]}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,\"a\"],\"bias\":[0,0]}", -1, 400,
     "invalid_argument"},
    /* precedence: a wrong type in bias before a shape problem in weight */
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,2,3],\"bias\":{}}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/weights", NULL, J, "{\"weight\":[1,2],\"bias\":[0,0],\"scale\":[1]}",
     -1, 400, "unknown_field"},
    /* checkpoints */
    {"POST", "/v1/layers/notrack/checkpoints", NULL, NULL, NULL, 0, 409, "not_tracking"},
    {"POST", "/v1/layers/frozen/checkpoints", NULL, NULL, NULL, 0, 409, "not_tracking"},
    {"POST", "/v1/layers/notrack/checkpoints", NULL, J, "{\"x\":1}", -1, 409, "not_tracking"},
    {"POST", "/v1/layers/bn/checkpoints", NULL, J, "{\"x\":1}", -1, 400, "unknown_field"},
    {"POST", "/v1/layers/bn/checkpoints", NULL, J, "[]", -1, 400, "invalid_argument"},
    {"POST", "/v1/layers/bn/checkpoints", NULL, J, "{", -1, 400, "invalid_json"},
    {"POST", "/v1/layers/bn/checkpoints", NULL, "text/plain", "{}", -1, 415,
     "unsupported_media_type"},
    /* statistics: path ids */
    {"GET", "/v1/layers/bn/stats/-1", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/abc", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/1.5", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/+1", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/%31", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/bn/stats/1", NULL, NULL, NULL, 0, 404, "stats_not_found"},
    {"GET", "/v1/layers/multi/stats/3", NULL, NULL, NULL, 0, 404, "stats_not_found"},
    {"GET", "/v1/layers/bn/stats/99999999999999999999999", NULL, NULL, NULL, 0, 404,
     "stats_not_found"},
    {"GET", "/v1/layers/notrack/stats", NULL, NULL, NULL, 0, 404, "stats_not_found"},
    {"GET", "/v1/layers/notrack/stats/0", NULL, NULL, NULL, 0, 404, "stats_not_found"},
    /* precedence: the name before the id, the id's syntax before the layer */
    {"GET", "/v1/layers/a%2Fb/stats/abc", NULL, NULL, NULL, 0, 400, "invalid_name"},
    {"GET", "/v1/layers/missing/stats/abc", NULL, NULL, NULL, 0, 400, "invalid_argument"},
    {"GET", "/v1/layers/missing/stats/0", NULL, NULL, NULL, 0, 404, "layer_not_found"},
    /* statistics: writes */
    {"PUT", "/v1/layers/frozen/stats/0", NULL, J, "{\"running_mean\":[0,0],\"running_var\":[1,1]}",
     -1, 409, "frozen_stats"},
    /* precedence: the conflict before a malformed body; the slot before the conflict */
    {"PUT", "/v1/layers/frozen/stats/0", NULL, J, "[", -1, 409, "frozen_stats"},
    {"PUT", "/v1/layers/frozen/stats/4", NULL, J, "[", -1, 404, "stats_not_found"},
    {"PUT", "/v1/layers/bn/stats/9", NULL, J, "{", -1, 404, "stats_not_found"},
    {"PUT", "/v1/layers/notrack/stats/0", NULL, J, "{", -1, 404, "stats_not_found"},
    {"PUT", "/v1/layers/frozen/stats/1", NULL, J, "{\"running_mean\":[0,0],\"running_var\":[1,1]}",
     -1, 404, "stats_not_found"},
    {"PUT", "/v1/layers/bn/stats/1", NULL, J, "{\"bogus\":1}", -1, 404, "stats_not_found"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J, "{\"running_mean\":[0,0]}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,1],\"num_batches_tracked\":-1}", -1, 400,
     "invalid_argument"},
    /* precedence: a negative count (structure) before a negative variance (values) */
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,-1],\"num_batches_tracked\":-1}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,1],\"num_batches_tracked\":2.5}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,1],\"num_batches_tracked\":true}", -1, 400,
     "invalid_argument"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,1],\"count\":1}", -1, 400, "unknown_field"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J, "{\"running_mean\":[0,0,0],\"running_var\":[1,1]}",
     -1, 422, "shape_mismatch"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J, "{\"running_mean\":[0,0],\"running_var\":[1,-1]}",
     -1, 422, "invalid_value"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J, "{\"running_mean\":[0,0],\"running_var\":[1,1e39]}",
     -1, 422, "non_finite"},
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0,0],\"running_var\":[1,1],\"num_batches_tracked\":99999999999999999999}",
     -1, 422, "non_finite"},
    /* precedence: a shape problem before an overflowing count */
    {"PUT", "/v1/layers/bn/stats/0", NULL, J,
     "{\"running_mean\":[0],\"running_var\":[1,1],\"num_batches_tracked\":99999999999999999999}",
     -1, 422, "shape_mismatch"},
    /* forward: structure */
    {"POST", FWD("bn"), NULL, J, "{}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":5}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":null}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,\"4\"]]}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"mode\":\"test\"}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"stats_id\":0.5}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"stats_id\":\"0\"}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"stats_id\":1e300}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0,0]}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"running_var\":[1,1]}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"num_batches_tracked\":1}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0,0],\"running_var\":[1,1],"
     "\"num_batches_tracked\":-2}", -1, 400, "invalid_argument"},
    /* precedence: these structure errors (400) before a ragged shape or a negative variance */
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3]],\"num_batches_tracked\":1}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3]],\"running_mean\":[0,0]}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0,0],\"running_var\":[1,-1],"
     "\"num_batches_tracked\":-1}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"weight\":7}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":{\"shape\":[2,2]}}", -1, 400, "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"Inputs\":1}", -1, 400,
     "unknown_field"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"inputs\":[[1,2],[3,4]]}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]]", -1, 400, "invalid_json"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4],]}", -1, 400, "invalid_json"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,NaN]]}", -1, 400, "invalid_json"},
    {"POST", FWD("bn"), NULL, "text/csv", "1,2\n3,4", -1, 415, "unsupported_media_type"},
    /* forward: shapes */
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[1,2]}", -1, 422, "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[[[[[1,2]]]]]]}", -1, 422, "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":{\"shape\":[1,2,1,1,1,1],\"data\":[1,2]}}", -1, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":{\"shape\":[2],\"data\":[1,2]}}", -1, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":{\"shape\":[2,2],\"data\":[1,2,3]}}", -1, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3]]}", -1, 422, "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2,3],[4,5,6]]}", -1, 422, "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"weight\":[1,1,1]}", -1, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0],\"running_var\":[1,1]}", -1, 422,
     "shape_mismatch"},
    /* forward: stats_id, values, batch size */
    {"POST", FWD("multi"), NULL, J, "{\"inputs\":[[1,2],[3,4]]}", -1, 422, "stats_id_required"},
    {"POST", FWD("multi"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"stats_id\":3}", -1, 422,
     "stats_id_out_of_range"},
    {"POST", FWD("multi"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"stats_id\":-1}", -1, 422,
     "stats_id_out_of_range"},
    {"POST", FWD("multi"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"stats_id\":99999999999999999999999}", -1, 422,
     "stats_id_out_of_range"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,1e39]]}", -1, 422, "non_finite"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3,4]],\"bias\":[0,-1e39]}", -1, 422,
     "non_finite"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0,0],\"running_var\":[1,-1]}", -1, 422,
     "invalid_value"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2],[3,4]],\"running_mean\":[0,0],\"running_var\":[1,1],"
     "\"num_batches_tracked\":99999999999999999999}", -1, 422, "non_finite"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2]]}", -1, 422, "batch_too_small"},
    {"POST", FWD("notrack"), NULL, J, "{\"inputs\":[[1,2]],\"mode\":\"eval\"}", -1, 422,
     "batch_too_small"},
    /* forward precedence: path first, then structure, shapes, stats_id, values, batch size */
    {"POST", FWD("missing"), NULL, J, "{", -1, 404, "layer_not_found"},
    {"POST", FWD("missing"), NULL, "text/plain", "x", -1, 404, "layer_not_found"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1,2],[3]],\"mode\":\"x\"}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"weight\":[1],\"inputs\":true}", -1, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), NULL, J, "{\"bogus\":1,\"inputs\":[[1,2],[3,4]}", -1, 400,
     "invalid_json"},
    {"POST", FWD("multi"), NULL, J, "{\"inputs\":[[1,2,3],[4,5,6]],\"stats_id\":7}", -1, 422,
     "shape_mismatch"},
    {"POST", FWD("multi"), NULL, J, "{\"inputs\":[[1,1e39],[4,5]],\"stats_id\":7}", -1, 422,
     "stats_id_out_of_range"},
    {"POST", FWD("bn"), NULL, J, "{\"inputs\":[[1e39,2]]}", -1, 422, "non_finite"},
    {"POST", FWD("bn"), NULL, J,
     "{\"inputs\":[[1,2]],\"running_mean\":[0,0],\"running_var\":[1,1],"
     "\"num_batches_tracked\":99999999999999999999}", -1, 422, "non_finite"},
    /* forward: the binary form */
    {"POST", FWD("bn"), "shape=2,2", BIN, ONE ONE ONE, 12, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=2,2", BIN, ONE ONE ONE ONE ONE, 20, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=2,2", BIN, ONE ONE ONE "\x00\x00\x80", 15, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), NULL, BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "stats_id=0", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=x", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,,2", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,2.0", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,2&shape=2,2", BIN, ONE ONE ONE ONE, 16, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), "shape=2%2", BIN, ONE ONE ONE ONE, 16, 400, "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,2&mode=test", BIN, ONE ONE ONE ONE, 16, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,2&stats_id=abc", BIN, ONE ONE ONE ONE, 16, 400,
     "invalid_argument"},
    {"POST", FWD("bn"), "shape=2,2&bogus=1", BIN, ONE ONE ONE ONE, 16, 400, "unknown_field"},
    {"POST", FWD("bn"), "shape=4", BIN, ONE ONE ONE ONE, 16, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=1,2,1,1,1,2", BIN, ONE ONE ONE ONE, 16, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=-2,-2", BIN, ONE ONE ONE ONE, 16, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=4,1", BIN, ONE ONE ONE ONE, 16, 422, "shape_mismatch"},
    {"POST", FWD("bn"), "shape=4294967296,4294967296", BIN, ONE ONE ONE ONE, 16, 422,
     "shape_mismatch"},
    {"POST", FWD("bn"), "shape=2,2", BIN, ONE ONE ONE NAN32, 16, 422, "non_finite"},
    {"POST", FWD("bn"), "shape=1,2", BIN, ONE ONE, 8, 422, "batch_too_small"},
    {"POST", FWD("multi"), "shape=2,2", BIN, ONE ONE ONE ONE, 16, 422, "stats_id_required"},
    {"POST", FWD("multi"), "shape=2,2&stats_id=-1", BIN, ONE ONE ONE ONE, 16, 422,
     "stats_id_out_of_range"},
    /* precedence in the binary form: query syntax before shapes, shapes before stats_id */
    {"POST", FWD("bn"), "shape=2,2,2,2,2,2&stats_id=x", BIN, ONE, 4, 400, "invalid_argument"},
    {"POST", FWD("multi"), "shape=2,1", BIN, ONE ONE, 8, 422, "shape_mismatch"},
};

/* Expands the LONG_NAME and MAX_NAME markers in S into OUT[CAP]. */
static void expand(const char *s, char *out, size_t cap)
{
    char long_name[130], max_name[129];
    size_t n = 0;

    memset(long_name, 'a', sizeof long_name - 1); /* 129 characters: one too many */
    long_name[sizeof long_name - 1] = '\0';
    memset(max_name, 'b', sizeof max_name - 1); /* 128: the longest valid name */
    max_name[sizeof max_name - 1] = '\0';
    while (*s != '\0' && n + 1 < cap) {
        if (strncmp(s, LONG_NAME, strlen(LONG_NAME)) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", long_name);
            s += strlen(LONG_NAME);
        } else if (strncmp(s, MAX_NAME, strlen(MAX_NAME)) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", max_name);
            s += strlen(MAX_NAME);
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
}

/* The layers every error row runs against. */
static void errors_setup(void)
{
    test_api_setup();
    test_create("bn", "\"num_features\":2");
    test_create("multi", "\"num_features\":2");
    test_expect("POST", "/v1/layers/multi/checkpoints", NULL, 201);
    test_expect("POST", "/v1/layers/multi/checkpoints", NULL, 201);
    test_create("na", "\"num_features\":2,\"affine\":false");
    test_create("frozen", "\"num_features\":2,\"track_running_stats\":false,\"frozen_stats\":true");
    test_create("notrack", "\"num_features\":2,\"track_running_stats\":false");
}

/* Fails unless R is an error reply with STATUS and CODE: JSON {"error": sentence, "code"}. */
static void assert_error(const test_reply *r, int status, const char *code, const char *what)
{
    const cJSON *error, *jcode;

    ck_assert_msg(r->res.http_status == status, "%s: expected %d %s, got %d: %s", what, status,
                  code, r->res.http_status, r->text);
    ck_assert_ptr_nonnull(r->json);
    ck_assert_str_eq(r->res.content_type, "application/json");
    error = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    jcode = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    ck_assert_msg(cJSON_IsString(jcode) && strcmp(jcode->valuestring, code) == 0,
                  "%s: expected code %s: %s", what, code, r->text);
    ck_assert_msg(cJSON_IsString(error) && strlen(error->valuestring) > 10, "%s: %s", what,
                  r->text);
    ck_assert_int_eq(cJSON_GetArraySize(r->json), 2);
    ck_assert_str_eq(r->res.error_code, code);
    ck_assert_uint_eq(r->res.forward_elements, 0);
}

START_TEST(test_bad_request)
{
    const bad_request *b = &bad[_i];
    char path[512], body[512], what[700];
    const char *payload = b->body;
    size_t len = b->len >= 0 ? (size_t)b->len : 0;
    char *before;
    test_reply r;

    expand(b->path, path, sizeof path);
    if (b->body != NULL && b->len < 0) {
        expand(b->body, body, sizeof body);
        payload = body;
        len = strlen(body);
    }
    snprintf(what, sizeof what, "row %d: %s %s?%s", _i, b->method, path,
             b->query != NULL ? b->query : "");
    before = test_snapshot();
    test_call(&r, b->method, path, b->query, b->ctype, payload, len);
    assert_error(&r, b->status, b->code, what);
    if (b->status == 405)
        ck_assert_ptr_nonnull(test_header(&r, "Allow"));
    test_reply_clear(&r);
    test_snapshot_same(before, what);
}
END_TEST

START_TEST(test_allow_header)
{
    test_reply r;

    test_json(&r, "DELETE", "/v1/layers", NULL);
    ck_assert_str_eq(test_header(&r, "Allow"), "GET, POST");
    ck_assert_str_eq(r.res.route, "/v1/layers");
    test_reply_clear(&r);
    test_json(&r, "POST", "/v1/layers/bn/stats/1", "{}");
    ck_assert_str_eq(test_header(&r, "Allow"), "GET, PUT");
    ck_assert_str_eq(r.res.route, "/v1/layers/{name}/stats/{id}");
    test_reply_clear(&r);
    test_json(&r, "PUT", "/v1/layers/bn", "{}");
    ck_assert_str_eq(test_header(&r, "Allow"), "GET, DELETE");
    test_reply_clear(&r);
    test_json(&r, "GET", "/unknown/path", NULL);
    ck_assert_str_eq(r.res.route, "unknown");
    ck_assert_ptr_null(test_header(&r, "Allow"));
    test_reply_clear(&r);
}
END_TEST

START_TEST(test_error_message_names_values)
{
    test_reply r;

    test_json(&r, "POST", FWD("bn"), "{\"inputs\":[[1,2,3],[4,5,6]]}");
    ck_assert_int_eq(r.res.http_status, 422);
    ck_assert_ptr_nonnull(strstr(r.text, "3"));
    ck_assert_ptr_nonnull(strstr(r.text, "2"));
    test_reply_clear(&r);
    test_json(&r, "POST", "/v1/layers", "{\"name\":\"x\",\"num_features\":2,\"colour\":1}");
    ck_assert_ptr_nonnull(strstr(r.text, "colour"));
    test_reply_clear(&r);
    test_json(&r, "GET", "/v1/layers/a%2Fb", NULL);
    ck_assert_ptr_nonnull(strstr(r.text, "a%2Fb"));
    test_reply_clear(&r);
    test_json(&r, "POST", FWD("bn"), "{\"inputs\":[[1,2],[3,4]],\"stats_id\":0.5}");
    ck_assert_ptr_nonnull(strstr(r.text, "stats_id"));
    ck_assert_ptr_nonnull(strstr(r.text, "0.5"));
    test_reply_clear(&r);
}
END_TEST

/* ---- quotas ------------------------------------------------------------------------------- */

START_TEST(test_quota_layers)
{
    test_reply r;
    char *before;

    test_create("q1", "\"num_features\":1");
    test_create("q2", "\"num_features\":1");
    test_create("q3", "\"num_features\":1");
    before = test_snapshot();
    test_json(&r, "POST", "/v1/layers", "{\"name\":\"q4\",\"num_features\":1}");
    assert_error(&r, 429, "quota_exceeded", "fourth layer");
    test_reply_clear(&r);
    test_snapshot_same(before, "a create over the layer quota");
    test_expect("DELETE", "/v1/layers/q1", NULL, 204);
    test_create("q4", "\"num_features\":1");
}
END_TEST

START_TEST(test_quota_slots)
{
    test_reply r;
    char *before;

    test_create("s", "\"num_features\":1");
    test_expect("POST", "/v1/layers/s/checkpoints", NULL, 201);
    before = test_snapshot();
    test_json(&r, "POST", "/v1/layers/s/checkpoints", NULL);
    assert_error(&r, 429, "quota_exceeded", "third slot");
    test_reply_clear(&r);
    test_snapshot_same(before, "a checkpoint over the slot quota");
}
END_TEST

Suite *hbn_api_errors_suite(void)
{
    Suite *s = suite_create("api_errors");
    TCase *table = tcase_create("bad_requests");
    TCase *quota = tcase_create("quota");

    tcase_add_checked_fixture(table, errors_setup, test_api_teardown);
    tcase_add_loop_test(table, test_bad_request, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(table, test_allow_header);
    tcase_add_test(table, test_error_message_names_values);
    suite_add_tcase(s, table);
    tcase_add_checked_fixture(quota, test_api_setup_quota, test_api_teardown);
    tcase_add_test(quota, test_quota_layers);
    tcase_add_test(quota, test_quota_slots);
    suite_add_tcase(s, quota);
    return s;
}
