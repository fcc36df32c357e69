/* kernels.h: the numeric kernels of batch normalization over a row-major (N, C, S) view of a
 * tensor (S = product of the spatial sizes, 1 for an (N, C) input). Internal to core/.
 * Pure functions on caller buffers: no allocation per element, no state, one thread.
 * Sums accumulate in double (or float partials over short runs combined in double); never a
 * naive float sum-of-squares. Every kernel reports whether all inputs it read were finite. */
#ifndef HBN_KERNELS_H
#define HBN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* Per-channel batch mean MEAN[C] and biased variance VAR[C] = mean((x - mean)^2) of X (N, C, S),
 * with N * S >= 1. Returns false when a value of X is not finite (MEAN and VAR then
 * unspecified). */
bool hbn_kernel_batch_stats(const float *x, int64_t n, int64_t c, int64_t s, double *mean,
                            double *var);

/* Normalizes X (N, C, S) into Y with per-channel statistics MEAN[C], VAR[C]:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, WEIGHT NULL meaning 1 and BIAS NULL meaning 0.
 * Y may equal X (in place). Returns false when a value of X is not finite (Y then unspecified). */
bool hbn_kernel_normalize(const float *x, float *y, int64_t n, int64_t c, int64_t s,
                          const double *mean, const double *var, double eps, const float *weight,
                          const float *bias);

/* Train-mode forward in one sweep: computes MEAN[C] and biased VAR[C] of X as
 * hbn_kernel_batch_stats does and normalizes X into Y with them as hbn_kernel_normalize does,
 * working channel by channel while the channel's data is hot in cache (for S > 1). Y may equal X.
 * Returns false when a value of X is not finite (everything then unspecified). */
bool hbn_kernel_train(const float *x, float *y, int64_t n, int64_t c, int64_t s, double eps,
                      const float *weight, const float *bias, double *mean, double *var);

#endif
