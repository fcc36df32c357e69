/* http_status.c: the one place that maps an hbn_status to an HTTP status code (API.md's error
 * table). Everything that answers over HTTP, api/ and server/ alike, asks hbn_http_status; no
 * other file spells an HTTP error number for a status. */
#include "api/api.h"

int hbn_http_status(hbn_status status)
{
    switch (status) {
    case HBN_OK:
        return 200;
    case HBN_E_INVALID_JSON:
    case HBN_E_INVALID_ARGUMENT:
    case HBN_E_UNKNOWN_FIELD:
    case HBN_E_INVALID_NAME:
        return 400;
    case HBN_E_UNAUTHORIZED:
        return 401;
    case HBN_E_LAYER_NOT_FOUND:
    case HBN_E_STATS_NOT_FOUND:
    case HBN_E_NOT_FOUND:
        return 404;
    case HBN_E_METHOD_NOT_ALLOWED:
        return 405;
    case HBN_E_LAYER_EXISTS:
    case HBN_E_NOT_TRACKING:
    case HBN_E_FROZEN_STATS:
    case HBN_E_NOT_AFFINE:
        return 409;
    case HBN_E_LENGTH_REQUIRED:
        return 411;
    case HBN_E_PAYLOAD_TOO_LARGE:
        return 413;
    case HBN_E_UNSUPPORTED_MEDIA_TYPE:
        return 415;
    case HBN_E_SHAPE_MISMATCH:
    case HBN_E_STATS_ID_REQUIRED:
    case HBN_E_STATS_ID_OUT_OF_RANGE:
    case HBN_E_NON_FINITE:
    case HBN_E_INVALID_VALUE:
    case HBN_E_BATCH_TOO_SMALL:
    case HBN_E_INVALID_CONFIG:
    case HBN_E_INVALID_STATE:
        return 422;
    case HBN_E_QUOTA_EXCEEDED:
        return 429;
    case HBN_E_NO_MEMORY:
    case HBN_E_UNAVAILABLE:
        return 503;
    case HBN_E_INSUFFICIENT_STORAGE:
        return 507;
    case HBN_E_INTERNAL:
    case HBN_E_IO:
    case HBN_STATUS_COUNT:
        break;
    }
    return 500;
}
