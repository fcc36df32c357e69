/* routes.h: the route handlers, one per endpoint of router.h, grouped by file:
 * routes_layers.c (layers, mode, weights), routes_stats.c (checkpoints, statistics),
 * routes_forward.c (forward, JSON and binary), routes_state.c (safetensors state export and
 * import), routes_health.c (probes, metrics), routes_oip.c (the Open Inference Protocol: server
 * and model metadata, model readiness, infer).
 * Each takes a call whose path parameters api.c has validated, and returns a status; on
 * success it has filled the call's response. Internal to api/. */
#ifndef HBN_ROUTES_H
#define HBN_ROUTES_H

#include "api/call.h"

hbn_status hbn_routes_layers_list(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_layers_create(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_layer_get(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_layer_delete(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_mode_put(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_weights_get(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_weights_put(hbn_call *call, hbn_err *err);

hbn_status hbn_routes_checkpoint(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_stats_latest(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_stats_get(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_stats_put(hbn_call *call, hbn_err *err);

hbn_status hbn_routes_forward(hbn_call *call, hbn_err *err);

hbn_status hbn_routes_state_get(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_state_put(hbn_call *call, hbn_err *err);

hbn_status hbn_routes_health_live(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_health_ready(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_metrics(hbn_call *call, hbn_err *err);

hbn_status hbn_routes_oip_server(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_oip_model(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_oip_ready(hbn_call *call, hbn_err *err);
hbn_status hbn_routes_oip_infer(hbn_call *call, hbn_err *err);

#endif
