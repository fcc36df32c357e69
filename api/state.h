/* state.h: a layer's durable state as a safetensors file (SEMANTICS 7), and back.
 * The file uses the seed's state_dict key names, so PyTorch loads it into a seed BatchNormLayer;
 * everything the seed does not hold (configuration, mode, counts, a CRC-32C of the data section)
 * is in __metadata__ under "hyperbn." keys. Decoding also imports seed and torch.nn.BatchNorm*
 * state_dicts. Transport-free: bytes in, bytes out. A file is never trusted: every failure is
 * HBN_E_INVALID_STATE with a sentence naming the problem, and no allocation is sized by a header
 * field that was not first checked against the file's length. */
#ifndef HBN_STATE_H
#define HBN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/layer.h"
#include "core/status.h"

#define HBN_STATE_FORMAT "hyperbn-layer-state" /* value of the metadata key hyperbn.format */
#define HBN_STATE_VERSION "1"                  /* value of hyperbn.version */

/* Options for the configuration a file does not carry (the query of PUT .../state). A has_* flag
 * false means "not given": the file's value, else the default of SEMANTICS 1, applies. */
typedef struct hbn_state_options {
    bool has_momentum;
    bool momentum_null;       /* with has_momentum: momentum null (cumulative average) */
    double momentum;          /* with has_momentum && !momentum_null */
    bool has_eps;
    double eps;
    bool has_mode;
    hbn_mode mode;
    bool has_frozen_stats;
    bool frozen_stats;
    bool has_learnable_stats;
    bool learnable_stats;
} hbn_state_options;

/* Sets OPTS to "nothing given". */
void hbn_state_options_init(hbn_state_options *opts);

/* Encodes LAYER (BORROWED; read only: the caller holds at least its shared lock) into *OUT (NEW,
 * free with free()) of *LEN bytes. Tensors: _num_stats (I64, shape []); when affine scale, bias
 * and their duplicates _weights.0, _weights.1 (F32 [C]); mean_k, var_k (F32 [C]) for every slot
 * k. Metadata: format "pt"; hyperbn.format, hyperbn.version; hyperbn.num_features, momentum
 * ("null" or the shortest decimal that reads back as the same double), eps (likewise), affine,
 * track_running_stats, frozen_stats, learnable_stats ("true"/"false"), mode ("train"/"eval"),
 * num_batches_tracked (a JSON array of the slots' counts, "[3,0]"), crc32c (CRC-32C of the data
 * section, 8 lowercase hex digits). Deterministic: tensors in safetensors' own order (by name,
 * which puts the 8-byte _num_stats first), metadata keys sorted, no whitespace but the padding.
 * HBN_E_NO_MEMORY. */
hbn_status hbn_state_encode(const hbn_layer *layer, char **out, size_t *len, hbn_err *err);

/* Decodes BUF[LEN] (BORROWED) into a NEW layer named NAME in *OUT (free with hbn_layer_free).
 * Accepts:
 *  (a) hyperbn's own files (metadata hyperbn.format present): everything restored, CRC-32C
 *      verified; every "hyperbn." key must be known and present, and the tensors must agree
 *      with it. An option given in OPTS must equal the file's (the file carries them all).
 *  (b) a seed BatchNormLayer state: _num_stats, mean_k/var_k for k < _num_stats, scale/bias
 *      (affine exactly when scale is present), _weights.0/_weights.1 optional but equal to
 *      scale/bias when present; C from the shapes; counts 0; momentum, eps, mode, frozen_stats,
 *      learnable_stats from OPTS or the defaults; tracking when _num_stats > 0 unless OPTS says
 *      frozen or learnable (which need _num_stats = 1; frozen also mean 0 / var 1).
 *  (c) a torch.nn.BatchNorm* state: running_mean, running_var, optional num_batches_tracked
 *      (count, default 0), weight/bias (affine exactly when present): a one-slot tracking
 *      layer; momentum, eps, mode from OPTS or the defaults; frozen/learnable OPTS refused.
 * Float tensors may be F32, F64, F16 or BF16 (converted to float32; a value that overflows
 * float32 is non-finite); counts I64 or I32, shape []. OPTS may be NULL (nothing given).
 * HBN_E_INVALID_STATE for anything wrong: the container (see hbn_safetensors_parse), an unknown
 * tensor, a wrong dtype or shape, missing or extra slots, unknown, missing or inconsistent
 * metadata, a checksum mismatch, non-finite values, negative variances or counts, a
 * configuration hbn_config_validate rejects (from the file or OPTS), a frozen layer's statistics
 * other than 0 / 1, OPTS contradicting the file. HBN_E_INVALID_ARGUMENT for a NULL NAME;
 * HBN_E_NO_MEMORY. */
hbn_status hbn_state_decode(const uint8_t *buf, size_t len, const char *name,
                            const hbn_state_options *opts, hbn_layer **out, hbn_err *err);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of DATA[N] continuing from CRC (0 to
 * start): hbn_state_crc32c(0, "123456789", 9) == 0xE3069283. Table-driven, no global state. */
uint32_t hbn_state_crc32c(uint32_t crc, const void *data, size_t n);

#endif
