/* kernels.h: the numeric kernels of batch normalization over a row-major (N, C, S) view of a
 * tensor (S = product of the spatial sizes, 1 for an (N, C) input). Internal to core/.
 * Pure functions on caller buffers: no allocation per element, no state, one thread.
 * Sums accumulate in double (or float partials over short runs combined in double); never a
 * naive float sum-of-squares. Every kernel reports whether all inputs it read were finite; the two
 * that write outputs also report whether every output is finite (float32 can overflow on finite
 * inputs: a huge gain, shift or 1 / sqrt(var + eps)). */
#ifndef HBN_KERNELS_H
#define HBN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* What a kernel that writes outputs found, in increasing order of precedence: when both kinds of
 * value occur, the non-finite input is reported. */
typedef enum hbn_kernel_check {
    HBN_KERNEL_FINITE = 0,        /* every input and every output is finite */
    HBN_KERNEL_OUTPUT_NON_FINITE, /* the inputs are finite, an output is not (float32 overflow) */
    HBN_KERNEL_INPUT_NON_FINITE   /* a value of X is not finite */
} hbn_kernel_check;

/* Per-channel batch mean MEAN[C] and biased variance VAR[C] = mean((x - mean)^2) of X (N, C, S),
 * with N * S >= 1. Returns false when a value of X is not finite (MEAN and VAR then
 * unspecified). */
bool hbn_kernel_batch_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                            double *var);

/* Normalizes X (N, C, S) into Y with per-channel statistics MEAN[C], VAR[C]:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, WEIGHT NULL meaning 1 and BIAS NULL meaning 0,
 * computed in float32 like PyTorch's (a gain * 1 / sqrt(var + eps) beyond float32 overflows even
 * where the exact y would not). Y may equal X (in place); every value of Y is written whatever
 * the result. Returns HBN_KERNEL_INPUT_NON_FINITE when a value of X is not finite, else
 * HBN_KERNEL_OUTPUT_NON_FINITE when a value of Y is not, else HBN_KERNEL_FINITE. */
hbn_kernel_check hbn_kernel_normalize(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                      const double *mean, const double *var, double eps,
                                      const float *weight, const float *bias);

/* Train-mode forward: computes MEAN[C] and biased VAR[C] of X as hbn_kernel_batch_stats does and
 * normalizes X into Y with them as hbn_kernel_normalize does, for planes of S >= 32 values (or
 * N < S) in one sweep, working on groups of channels while their data is hot in cache. Y may
 * equal X.
 * Returns HBN_KERNEL_INPUT_NON_FINITE when a value of X is not finite (everything then
 * unspecified), else HBN_KERNEL_OUTPUT_NON_FINITE when a value of Y is not (MEAN, VAR and every
 * value of Y are then written: the caller can find which), else HBN_KERNEL_FINITE. */
hbn_kernel_check hbn_kernel_train(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                                  double eps, const float *weight, const float *bias,
                                  double *mean, double *var);

/* Instruction sets of the hand-written non-temporal store loops (outputs in planes of at least
 * 16 values: from 16 MiB, in train from 3 MiB; see core/kernels.c). */
typedef enum hbn_kernel_isa {
    HBN_KERNEL_ISA_BASELINE, /* ordinary stores, as for smaller outputs */
    HBN_KERNEL_ISA_AVX2,
    HBN_KERNEL_ISA_AVX512    /* the default: the widest this CPU runs */
} hbn_kernel_isa;

/* Caps the streaming stores at ISA, so that tests on a wide CPU also run the narrower loops that
 * other CPUs take (the results are the same). Not thread-safe: call while no kernel runs. */
void hbn_kernel_cap_streams(hbn_kernel_isa isa);

#endif
