/* status.c: names of the status codes and the error-detail helpers.
 * Knows nothing of HTTP (api/http_status.c maps statuses to HTTP codes). */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const hbn_status_codes[HBN_STATUS_COUNT] = {
    [HBN_OK] = "ok",
    [HBN_E_INVALID_JSON] = "invalid_json",
    [HBN_E_INVALID_ARGUMENT] = "invalid_argument",
    [HBN_E_UNKNOWN_FIELD] = "unknown_field",
    [HBN_E_INVALID_NAME] = "invalid_name",
    [HBN_E_UNAUTHORIZED] = "unauthorized",
    [HBN_E_LAYER_NOT_FOUND] = "layer_not_found",
    [HBN_E_STATS_NOT_FOUND] = "stats_not_found",
    [HBN_E_NOT_FOUND] = "not_found",
    [HBN_E_METHOD_NOT_ALLOWED] = "method_not_allowed",
    [HBN_E_LAYER_EXISTS] = "layer_exists",
    [HBN_E_NOT_TRACKING] = "not_tracking",
    [HBN_E_FROZEN_STATS] = "frozen_stats",
    [HBN_E_NOT_AFFINE] = "not_affine",
    [HBN_E_LENGTH_REQUIRED] = "length_required",
    [HBN_E_PAYLOAD_TOO_LARGE] = "payload_too_large",
    [HBN_E_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
    [HBN_E_SHAPE_MISMATCH] = "shape_mismatch",
    [HBN_E_STATS_ID_REQUIRED] = "stats_id_required",
    [HBN_E_STATS_ID_OUT_OF_RANGE] = "stats_id_out_of_range",
    [HBN_E_NON_FINITE] = "non_finite",
    [HBN_E_INVALID_VALUE] = "invalid_value",
    [HBN_E_BATCH_TOO_SMALL] = "batch_too_small",
    [HBN_E_INVALID_CONFIG] = "invalid_config",
    [HBN_E_INVALID_STATE] = "invalid_state",
    [HBN_E_QUOTA_EXCEEDED] = "quota_exceeded",
    [HBN_E_INTERNAL] = "internal_error",
    [HBN_E_IO] = "io_error",
    [HBN_E_NO_MEMORY] = "unavailable",
    [HBN_E_UNAVAILABLE] = "unavailable",
    [HBN_E_INSUFFICIENT_STORAGE] = "insufficient_storage",
};

const char *hbn_status_code(hbn_status s)
{
    if ((unsigned)s >= HBN_STATUS_COUNT || hbn_status_codes[s] == NULL)
        return "internal_error";
    return hbn_status_codes[s];
}

hbn_status hbn_err_set(hbn_err *err, hbn_status status, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void hbn_err_clear(hbn_err *err)
{
    if (err != NULL) {
        err->status = HBN_OK;
        err->msg[0] = '\0';
    }
}
