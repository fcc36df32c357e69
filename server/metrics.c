/* metrics.c: Prometheus figures (metrics.h). A fixed open-addressing table keyed by (route
 * template, status); a slot is claimed once with a compare-and-swap and never freed, so
 * recording is lock-free and render only reads. Histograms are kept per slot and summed per
 * route when rendered; checkpoint figures are derived at render time from the checkpoint
 * route's rows, so the hot path knows no route by name. */
#include "server/metrics.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define METRICS_SLOTS 1024 /* a power of two, well above routes x statuses */
#define METRICS_BUCKETS 16
#define METRICS_CHECKPOINT_ROUTE "/checkpoints" /* suffix of the checkpoint route template */

/* Histogram upper bounds in nanoseconds and as Prometheus prints them. */
static const uint64_t metrics_bound_ns[METRICS_BUCKETS] = {
    100000,    250000,    500000,     1000000,    2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *const metrics_bound_text[METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5",    "10"};

enum { SLOT_EMPTY = 0, SLOT_CLAIMED = 1, SLOT_READY = 2 };

typedef struct metrics_slot {
    atomic_int state;
    const char *route; /* static; written once before state becomes SLOT_READY */
    int status;
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t buckets[METRICS_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
} metrics_slot;

struct hbn_metrics {
    metrics_slot slots[METRICS_SLOTS];
    metrics_slot overflow; /* used only when the table is full: route "other" */
    _Atomic uint64_t forward_elements;
    hbn_metrics_gauges gauges;
};

hbn_status hbn_metrics_create(const hbn_metrics_gauges *gauges, hbn_metrics **out, hbn_err *err)
{
    hbn_metrics *m = hbn_calloc(1, sizeof *m);

    if (m == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory creating the metrics");
    if (gauges != NULL)
        m->gauges = *gauges;
    m->overflow.route = "other";
    atomic_store(&m->overflow.state, SLOT_READY);
    *out = m;
    return HBN_OK;
}

void hbn_metrics_free(hbn_metrics *m)
{
    hbn_free(m);
}

static uint64_t metrics_hash(const char *route, int status)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *route != '\0'; route++)
        h = (h ^ (unsigned char)*route) * 1099511628211ULL;
    return (h ^ (uint64_t)status) * 0x9e3779b97f4a7c15ULL;
}

static bool metrics_slot_is(metrics_slot *s, const char *route, int status)
{
    int st;

    while ((st = atomic_load(&s->state)) == SLOT_CLAIMED)
        sched_yield(); /* another thread is writing the key: a few instructions */
    return st == SLOT_READY && s->status == status &&
           (s->route == route || strcmp(s->route, route) == 0);
}

/* The slot of (ROUTE, STATUS), claiming an empty one on first use. */
static metrics_slot *metrics_slot_get(hbn_metrics *m, const char *route, int status)
{
    size_t i = (size_t)(metrics_hash(route, status) >> 32) & (METRICS_SLOTS - 1);

    for (size_t probe = 0; probe < METRICS_SLOTS; probe++, i = (i + 1) & (METRICS_SLOTS - 1)) {
        metrics_slot *s = &m->slots[i];
        int expected = SLOT_EMPTY;

        if (atomic_load(&s->state) == SLOT_EMPTY &&
            atomic_compare_exchange_strong(&s->state, &expected, SLOT_CLAIMED)) {
            s->route = route;
            s->status = status;
            atomic_store(&s->state, SLOT_READY);
            return s;
        }
        if (metrics_slot_is(s, route, status))
            return s;
    }
    return &m->overflow;
}

void hbn_metrics_record(hbn_metrics *m, const char *route, int status, uint64_t duration_ns,
                        uint64_t forward_elements)
{
    metrics_slot *s = metrics_slot_get(m, route != NULL ? route : "unknown", status);
    size_t b = 0;

    while (b < METRICS_BUCKETS && duration_ns > metrics_bound_ns[b])
        b++;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, duration_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    if (forward_elements > 0)
        atomic_fetch_add_explicit(&m->forward_elements, forward_elements, memory_order_relaxed);
}

/* ---- rendering -------------------------------------------------------------------------- */

static int metrics_slot_cmp(const void *a, const void *b)
{
    const metrics_slot *const *x = a, *const *y = b;
    int c = strcmp((*x)->route, (*y)->route);

    return c != 0 ? c : ((*x)->status > (*y)->status) - ((*x)->status < (*y)->status);
}

/* Every used slot, sorted by route then status, into V (METRICS_SLOTS + 1); returns how many. */
static size_t metrics_collect(hbn_metrics *m, metrics_slot **v)
{
    size_t n = 0;

    for (size_t i = 0; i < METRICS_SLOTS; i++) {
        if (atomic_load(&m->slots[i].state) == SLOT_READY)
            v[n++] = &m->slots[i];
    }
    if (atomic_load(&m->overflow.count) > 0)
        v[n++] = &m->overflow;
    qsort(v, n, sizeof *v, metrics_slot_cmp);
    return n;
}

/* Appends ROUTE as a label value (quotes, backslashes and newlines escaped). */
static void metrics_label(hbn_strbuf *sb, const char *route)
{
    for (; *route != '\0'; route++) {
        if (*route == '"' || *route == '\\')
            hbn_strbuf_append(sb, "\\", 1);
        if (*route == '\n')
            hbn_strbuf_puts(sb, "\\n");
        else
            hbn_strbuf_append(sb, route, 1);
    }
}

static void metrics_render_requests(hbn_strbuf *sb, metrics_slot **v, size_t n)
{
    hbn_strbuf_puts(sb, "# HELP hyperbn_requests_total Requests answered, by route template and "
                        "HTTP status.\n# TYPE hyperbn_requests_total counter\n");
    for (size_t i = 0; i < n; i++) {
        hbn_strbuf_puts(sb, "hyperbn_requests_total{route=\"");
        metrics_label(sb, v[i]->route);
        hbn_strbuf_printf(sb, "\",status=\"%d\"} %llu\n", v[i]->status,
                          (unsigned long long)atomic_load(&v[i]->count));
    }
}

/* One histogram for the route of V[0..N) (consecutive slots of one route). */
static void metrics_render_histogram(hbn_strbuf *sb, metrics_slot **v, size_t n)
{
    uint64_t cum = 0, sum_ns = 0;

    for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
        for (size_t i = 0; i < n; i++)
            cum += atomic_load(&v[i]->buckets[b]);
        hbn_strbuf_puts(sb, "hyperbn_request_duration_seconds_bucket{route=\"");
        metrics_label(sb, v[0]->route);
        hbn_strbuf_printf(sb, "\",le=\"%s\"} %llu\n",
                          b < METRICS_BUCKETS ? metrics_bound_text[b] : "+Inf",
                          (unsigned long long)cum);
    }
    for (size_t i = 0; i < n; i++)
        sum_ns += atomic_load(&v[i]->sum_ns);
    hbn_strbuf_puts(sb, "hyperbn_request_duration_seconds_sum{route=\"");
    metrics_label(sb, v[0]->route);
    hbn_strbuf_printf(sb, "\"} %.9f\n", (double)sum_ns / 1e9);
    hbn_strbuf_puts(sb, "hyperbn_request_duration_seconds_count{route=\"");
    metrics_label(sb, v[0]->route);
    /* the +Inf bucket is the count; reading it again could disagree with concurrent records */
    hbn_strbuf_printf(sb, "\"} %llu\n", (unsigned long long)cum);
}

static void metrics_render_histograms(hbn_strbuf *sb, metrics_slot **v, size_t n)
{
    hbn_strbuf_puts(sb, "# HELP hyperbn_request_duration_seconds Time from the request line to "
                        "the response, by route template.\n"
                        "# TYPE hyperbn_request_duration_seconds histogram\n");
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(v[j]->route, v[i]->route) == 0; j++)
            continue;
        metrics_render_histogram(sb, v + i, j - i);
    }
}

static bool metrics_is_checkpoint_route(const char *route)
{
    size_t n = strlen(route), k = strlen(METRICS_CHECKPOINT_ROUTE);

    return n >= k && strcmp(route + n - k, METRICS_CHECKPOINT_ROUTE) == 0;
}

static void metrics_render_counters(hbn_metrics *m, hbn_strbuf *sb, metrics_slot **v, size_t n)
{
    uint64_t ok = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        if (!metrics_is_checkpoint_route(v[i]->route))
            continue;
        if (v[i]->status >= 200 && v[i]->status < 300)
            ok += atomic_load(&v[i]->count);
        else if (v[i]->status >= 500)
            failed += atomic_load(&v[i]->count);
    }
    hbn_strbuf_printf(sb,
                      "# HELP hyperbn_forward_elements_total Elements normalized by forward "
                      "requests.\n# TYPE hyperbn_forward_elements_total counter\n"
                      "hyperbn_forward_elements_total %llu\n"
                      "# HELP hyperbn_checkpoints_total Statistics slots created.\n"
                      "# TYPE hyperbn_checkpoints_total counter\nhyperbn_checkpoints_total %llu\n"
                      "# HELP hyperbn_checkpoint_failures_total Checkpoint requests that failed "
                      "on the server's side (5xx).\n"
                      "# TYPE hyperbn_checkpoint_failures_total counter\n"
                      "hyperbn_checkpoint_failures_total %llu\n",
                      (unsigned long long)atomic_load(&m->forward_elements),
                      (unsigned long long)ok, (unsigned long long)failed);
}

/* LIVE: hbn_alloc_live() when the rendering began (before it allocated anything itself). */
static void metrics_render_gauges(hbn_metrics *m, hbn_strbuf *sb, long live)
{
    hbn_strbuf_printf(sb,
                      "# HELP hyperbn_heap_live_allocations Heap blocks hyperbn allocated and "
                      "has not freed (a leak makes it grow under a steady load).\n"
                      "# TYPE hyperbn_heap_live_allocations gauge\n"
                      "hyperbn_heap_live_allocations %ld\n", live);
    if (m->gauges.layers != NULL)
        hbn_strbuf_printf(sb,
                          "# HELP hyperbn_layers Layers held.\n# TYPE hyperbn_layers gauge\n"
                          "hyperbn_layers %zu\n",
                          m->gauges.layers(m->gauges.layers_ctx));
    if (m->gauges.inflight != NULL)
        hbn_strbuf_printf(sb,
                          "# HELP hyperbn_inflight_requests Requests being served.\n"
                          "# TYPE hyperbn_inflight_requests gauge\n"
                          "hyperbn_inflight_requests %zu\n",
                          m->gauges.inflight(m->gauges.inflight_ctx));
    if (m->gauges.persist != NULL) {
        uint64_t ok = 0, failed = 0;

        m->gauges.persist(m->gauges.persist_ctx, &ok, &failed);
        hbn_strbuf_printf(sb,
                          "# HELP hyperbn_persist_operations_total Layer files written or removed "
                          "durably.\n# TYPE hyperbn_persist_operations_total counter\n"
                          "hyperbn_persist_operations_total %llu\n"
                          "# HELP hyperbn_persist_failures_total Layer file writes or removes that "
                          "failed.\n# TYPE hyperbn_persist_failures_total counter\n"
                          "hyperbn_persist_failures_total %llu\n",
                          (unsigned long long)ok, (unsigned long long)failed);
    }
}

void hbn_metrics_render(void *ctx, hbn_strbuf *sb)
{
    hbn_metrics *m = ctx;
    long live = hbn_alloc_live();
    metrics_slot **v = hbn_malloc((METRICS_SLOTS + 1) * sizeof *v);
    size_t n;

    if (v == NULL) {
        sb->failed = true; /* the api answers 503 for a failed buffer */
        return;
    }
    n = metrics_collect(m, v);
    metrics_render_requests(sb, v, n);
    metrics_render_histograms(sb, v, n);
    metrics_render_counters(m, sb, v, n);
    metrics_render_gauges(m, sb, live);
    hbn_free(v);
}
