/* safetensors.h: the safetensors container (8-byte little-endian header length N, N bytes of JSON
 * header, then the data section), read and written without knowing what the tensors mean.
 * Parsing never trusts the file: every size, offset and count is checked against the buffer's
 * length before it is used, so nothing is allocated beyond what the bytes themselves justify.
 * A parsed file BORROWS the caller's buffer (tensor data pointers point into it). */
#ifndef HBN_SAFETENSORS_H
#define HBN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HBN_ST_MAX_RANK 8                /* deepest shape accepted */
#define HBN_ST_HEADER_MAX 100000000u     /* safetensors' own limit on N (100 MB) */

/* The dtypes of the safetensors specification with a whole number of bytes per element. */
typedef enum hbn_st_dtype {
    HBN_ST_BOOL, HBN_ST_U8, HBN_ST_I8, HBN_ST_F8_E5M2, HBN_ST_F8_E4M3,
    HBN_ST_I16, HBN_ST_U16, HBN_ST_F16, HBN_ST_BF16,
    HBN_ST_I32, HBN_ST_U32, HBN_ST_F32,
    HBN_ST_I64, HBN_ST_U64, HBN_ST_F64,
    HBN_ST_DTYPE_COUNT
} hbn_st_dtype;

/* One tensor: its name, dtype, shape and bytes (little-endian, row-major). */
typedef struct hbn_st_tensor {
    const char *name;      /* BORROWED (from the parsed header, or the writer's caller) */
    hbn_st_dtype dtype;
    int rank;              /* 0 (a scalar) .. HBN_ST_MAX_RANK */
    uint64_t shape[HBN_ST_MAX_RANK];
    uint64_t numel;        /* product of the shape (1 for a scalar) */
    const uint8_t *data;   /* BORROWED: NBYTES bytes */
    size_t nbytes;         /* numel * element size */
    size_t begin;          /* data_offsets[0], relative to the data section */
} hbn_st_tensor;

/* One __metadata__ entry. */
typedef struct hbn_st_meta {
    const char *key;       /* BORROWED */
    const char *value;     /* BORROWED */
} hbn_st_meta;

/* A parsed file. Initialise with hbn_safetensors_init, release with hbn_safetensors_clear. */
typedef struct hbn_safetensors {
    struct cJSON *header;   /* NEW: the parsed JSON header that names and values point into */
    hbn_st_tensor *tensors; /* NEW [num_tensors], sorted by name (strcmp) */
    size_t num_tensors;
    hbn_st_meta *meta;      /* NEW [num_meta], sorted by key (strcmp) */
    size_t num_meta;
    const uint8_t *data;    /* BORROWED: the data section */
    size_t data_len;
} hbn_safetensors;

void hbn_safetensors_init(hbn_safetensors *st);
/* Frees what ST owns and re-initialises it. Accepts an initialised, never-parsed ST. */
void hbn_safetensors_clear(hbn_safetensors *st);

/* Parses BUF[LEN] (BORROWED; must outlive ST) into ST (initialised by the caller). Checks, in
 * order: LEN >= 8; N <= HBN_ST_HEADER_MAX and 8 + N <= LEN; the header starts with '{', is one
 * JSON object followed only by space padding, holds no "\u0000" escape; every entry is either
 * __metadata__ (at most once; an object of strings) or a tensor {"dtype", "shape",
 * "data_offsets"} and nothing else, with a known dtype, rank <= HBN_ST_MAX_RANK, non-negative
 * integer dimensions and offsets, begin <= end <= data length, end - begin = numel * element
 * size; no name twice; the tensors tile the data section exactly (no gap, no overlap, nothing
 * left over). Returns HBN_E_INVALID_STATE with a sentence naming the problem, HBN_E_NO_MEMORY;
 * on failure ST holds nothing. */
hbn_status hbn_safetensors_parse(const uint8_t *buf, size_t len, hbn_safetensors *st,
                                 hbn_err *err);

/* The tensor named NAME (BORROWED from ST) or NULL. O(log n). */
const hbn_st_tensor *hbn_safetensors_find(const hbn_safetensors *st, const char *name);

/* The __metadata__ value of KEY (BORROWED from ST) or NULL. O(log n). */
const char *hbn_safetensors_meta(const hbn_safetensors *st, const char *key);

/* Writes a file holding TENSORS[N] (each with name, dtype, rank, shape, numel, data, nbytes set;
 * begin is ignored) laid out in the given order, so the data section is the concatenation of
 * their bytes, and the header {"__metadata__": {META[NMETA]}, then each tensor in that order}
 * (no __metadata__ when NMETA is 0), compact as serde_json prints it, padded with spaces so the
 * data section starts at a multiple of 8. Deterministic: the same arguments give the same bytes.
 * Names and metadata strings are written as JSON strings (escaped as needed). On success *OUT
 * is NEW (free with free()) and *LEN its size. HBN_E_NO_MEMORY. */
hbn_status hbn_safetensors_write(const hbn_st_tensor *tensors, size_t n, const hbn_st_meta *meta,
                                 size_t nmeta, char **out, size_t *len, hbn_err *err);

/* The name ("F32") and the element size in bytes of DTYPE. */
const char *hbn_st_dtype_name(hbn_st_dtype dtype);
size_t hbn_st_dtype_size(hbn_st_dtype dtype);

/* Copies S into OUT[OUT_SIZE >= 4] for an error message: printable ASCII kept, any other byte
 * shown as ?, cut to OUT_SIZE - 4 bytes with "..." appended when longer. Returns OUT. */
const char *hbn_st_printable(const char *s, char *out, size_t out_size);

#endif
