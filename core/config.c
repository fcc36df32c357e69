/* config.c: a layer's configuration defaults and validation (SEMANTICS 1).
 * Plain data: knows nothing of JSON, HTTP or the layer itself. Validation follows the seed's
 * order and stops at the first failing rule; every message names the option and its value. */
#include "core/config.h"

#include <inttypes.h>
#include <math.h>

void hbn_config_init(hbn_config *cfg, int64_t num_features)
{
    cfg->num_features = num_features;
    cfg->has_momentum = true;
    cfg->momentum = 0.1;
    cfg->eps = 1e-5;
    cfg->affine = true;
    cfg->track_running_stats = true;
    cfg->frozen_stats = false;
    cfg->learnable_stats = false;
}

/* Whether EPS is finite and > 0 once rounded to float32 (IEEE rounding: overflow gives
 * infinity, underflow gives zero). */
static bool eps_valid(double eps)
{
    float f;

    if (!isfinite(eps))
        return false;
    f = (float)eps;
    return isfinite(f) && f > 0.0f;
}

hbn_status hbn_config_validate(const hbn_config *cfg, hbn_err *err)
{
    if (cfg->frozen_stats && cfg->track_running_stats)
        return hbn_err_set(err, HBN_E_INVALID_CONFIG,
                           "track_running_stats must be false when frozen_stats is true, "
                           "got track_running_stats=true");
    if (cfg->learnable_stats && cfg->track_running_stats)
        return hbn_err_set(err, HBN_E_INVALID_CONFIG,
                           "track_running_stats must be false when learnable_stats is true, "
                           "got track_running_stats=true");
    if (cfg->frozen_stats && cfg->learnable_stats)
        return hbn_err_set(err, HBN_E_INVALID_CONFIG,
                           "frozen_stats and learnable_stats cannot both be true");
    if (cfg->num_features < 1 || cfg->num_features > HBN_MAX_FEATURES)
        return hbn_err_set(err, HBN_E_INVALID_CONFIG,
                           "num_features must be in [1, %d], got %" PRId64, HBN_MAX_FEATURES,
                           cfg->num_features);
    if (cfg->has_momentum && !(cfg->momentum >= 0.0 && cfg->momentum <= 1.0))
        return hbn_err_set(err, HBN_E_INVALID_CONFIG, "momentum must be in [0, 1], got %g",
                           cfg->momentum);
    if (!eps_valid(cfg->eps))
        return hbn_err_set(err, HBN_E_INVALID_CONFIG,
                           "eps must be finite and > 0 as a float32, got %g", cfg->eps);
    return HBN_OK;
}

int64_t hbn_config_initial_slots(const hbn_config *cfg)
{
    return (cfg->track_running_stats || cfg->frozen_stats || cfg->learnable_stats) ? 1 : 0;
}
