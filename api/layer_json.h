/* layer_json.h: the layer object of API.md, printed as JSON:
 * {"name", "num_features", "momentum" (number or null), "eps", "affine", "track_running_stats",
 *  "frozen_stats", "learnable_stats", "mode", "num_stats", "param_shapes", "hyper_shapes"},
 * in that order. Reads the layer through core/layer.h's getters only (caller holds its lock). */
#ifndef HBN_LAYER_JSON_H
#define HBN_LAYER_JSON_H

#include "api/strbuf.h"
#include "core/layer.h"

/* Appends LAYER's object to SB (failures are recorded in SB). LAYER is BORROWED under at least
 * the shared lock. */
void hbn_layer_json_print(hbn_strbuf *sb, const hbn_layer *layer);

/* Appends V (finite) as the shortest JSON number that parses back to the same double. */
void hbn_layer_json_double(hbn_strbuf *sb, double v);

#endif
