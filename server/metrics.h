/* metrics.h: the daemon's Prometheus figures: requests by route template and status, a latency
 * histogram per route, forward elements, checkpoints, and gauges read at render time (layers,
 * in-flight requests). Recording a request is a handful of atomic adds: no lock, no allocation.
 * Knows nothing of HTTP transport; api/ calls the renderer for GET /metrics. */
#ifndef HBN_METRICS_H
#define HBN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "api/strbuf.h"
#include "core/status.h"

typedef struct hbn_metrics hbn_metrics;

/* Where the gauges come from; either function may be NULL (the gauge is then not rendered). */
typedef struct hbn_metrics_gauges {
    size_t (*layers)(void *ctx);
    void *layers_ctx;
    size_t (*inflight)(void *ctx);
    void *inflight_ctx;
    /* Persistence operations that succeeded and failed (NULL without a data directory). */
    void (*persist)(void *ctx, uint64_t *ok, uint64_t *failed);
    void *persist_ctx;
} hbn_metrics_gauges;

/* Creates the figures in *OUT (NEW, free with hbn_metrics_free). GAUGES is copied. */
hbn_status hbn_metrics_create(const hbn_metrics_gauges *gauges, hbn_metrics **out, hbn_err *err);
/* Frees M. Accepts NULL. */
void hbn_metrics_free(hbn_metrics *m);

/* Records one finished request: ROUTE (a template, static), its HTTP STATUS, its duration and
 * the elements its forward normalized. Thread-safe, lock-free. */
void hbn_metrics_record(hbn_metrics *m, const char *route, int status, uint64_t duration_ns,
                        uint64_t forward_elements);

/* Appends the Prometheus text exposition to SB (the signature of hbn_api.render_metrics, with
 * CTX the hbn_metrics). */
void hbn_metrics_render(void *ctx, hbn_strbuf *sb);

#endif
