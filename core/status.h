/* status.h: the one status enum every fallible hyperbn function returns, and the error detail.
 * Shared by core/, api/ and server/; core/ produces only the statuses its rules need.
 * Detail text goes into a caller-owned hbn_err, never a heap string. This file knows nothing of
 * HTTP: api/http_status.c is the one place that maps a status to an HTTP code. */
#ifndef HBN_STATUS_H
#define HBN_STATUS_H

typedef enum hbn_status {
    HBN_OK = 0,
    HBN_E_INVALID_JSON,          /* 400 invalid_json */
    HBN_E_INVALID_ARGUMENT,      /* 400 invalid_argument */
    HBN_E_UNKNOWN_FIELD,         /* 400 unknown_field */
    HBN_E_INVALID_NAME,          /* 400 invalid_name */
    HBN_E_UNAUTHORIZED,          /* 401 unauthorized */
    HBN_E_LAYER_NOT_FOUND,       /* 404 layer_not_found */
    HBN_E_STATS_NOT_FOUND,       /* 404 stats_not_found */
    HBN_E_NOT_FOUND,             /* 404 not_found */
    HBN_E_METHOD_NOT_ALLOWED,    /* 405 method_not_allowed */
    HBN_E_LAYER_EXISTS,          /* 409 layer_exists */
    HBN_E_NOT_TRACKING,          /* 409 not_tracking */
    HBN_E_FROZEN_STATS,          /* 409 frozen_stats */
    HBN_E_NOT_AFFINE,            /* 409 not_affine */
    HBN_E_LENGTH_REQUIRED,       /* 411 length_required */
    HBN_E_PAYLOAD_TOO_LARGE,     /* 413 payload_too_large */
    HBN_E_UNSUPPORTED_MEDIA_TYPE,/* 415 unsupported_media_type */
    HBN_E_SHAPE_MISMATCH,        /* 422 shape_mismatch */
    HBN_E_STATS_ID_REQUIRED,     /* 422 stats_id_required */
    HBN_E_STATS_ID_OUT_OF_RANGE, /* 422 stats_id_out_of_range */
    HBN_E_NON_FINITE,            /* 422 non_finite */
    HBN_E_INVALID_VALUE,         /* 422 invalid_value */
    HBN_E_BATCH_TOO_SMALL,       /* 422 batch_too_small */
    HBN_E_INVALID_CONFIG,        /* 422 invalid_config */
    HBN_E_INVALID_STATE,         /* 422 invalid_state */
    HBN_E_QUOTA_EXCEEDED,        /* 429 quota_exceeded */
    HBN_E_INTERNAL,              /* 500 internal_error */
    HBN_E_IO,                    /* 500 io_error */
    HBN_E_NO_MEMORY,             /* 503 unavailable (out of memory) */
    HBN_E_UNAVAILABLE,           /* 503 unavailable */
    HBN_E_INSUFFICIENT_STORAGE,  /* 507 insufficient_storage */
    HBN_STATUS_COUNT
} hbn_status;

#define HBN_ERR_MSG_MAX 256

/* A caller-owned error detail: the status and one human sentence naming the field and values. */
typedef struct hbn_err {
    hbn_status status;
    char msg[HBN_ERR_MSG_MAX];
} hbn_err;

/* The API error code of a status ("shape_mismatch"); "ok" for HBN_OK. Never NULL; BORROWED
 * static storage. */
const char *hbn_status_code(hbn_status s);

/* Records STATUS and a printf-style sentence in ERR (which may be NULL) and returns STATUS, so a
 * caller can write `return hbn_err_set(err, HBN_E_..., "...", ...);`. The message is truncated to
 * HBN_ERR_MSG_MAX - 1 bytes. */
hbn_status hbn_err_set(hbn_err *err, hbn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears ERR to HBN_OK with an empty message. ERR may be NULL. */
void hbn_err_clear(hbn_err *err);

#endif
