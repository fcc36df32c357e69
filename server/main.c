/* main.c: hyperbnd, the daemon. Reads the options; with --data-dir opens (and locks) the data
 * directory and loads its layers before anything serves; builds the registry, metrics,
 * lifecycle, compute permits and the flusher of train updates, starts the HTTP server and prints
 * exactly one line, `hyperbnd: listening on HOST:PORT`. SIGTERM / SIGINT are blocked in every
 * thread and taken by sigwait here (no signal handler runs at all), then: readiness 503, no new
 * connections, in-flight requests get --drain-timeout seconds, the last train updates are
 * written, everything is stopped and freed, exit 0.
 * Exit codes: 0 clean stop (or --help, --version), 1 cannot start, 2 bad configuration. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "config.h"
#include "server/auth.h"
#include "server/healthcheck.h"
#include "server/flusher.h"
#include "server/http.h"
#include "server/lifecycle.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/permits.h"
#include "server/registry.h"
#include "server/request_id.h"
#include "server/storage.h"

#define MAIN_EXIT_START 1
#define MAIN_EXIT_USAGE 2

typedef struct daemon_parts {
    hbn_options opts;
    char *api_key; /* NEW or NULL */
    hbn_storage *storage; /* NULL without --data-dir */
    hbn_registry *registry;
    hbn_flusher *flusher; /* NULL without --data-dir */
    hbn_metrics *metrics;
    hbn_lifecycle *life;
    hbn_permits *permits;
    hbn_api api;
    hbn_http *http;
} daemon_parts;

static const char *main_getenv(const char *name)
{
    return getenv(name);
}

static size_t main_layer_count(void *registry)
{
    return hbn_registry_count(registry);
}

/* Options and key; returns -1 to go on, else the exit code (after printing what it says). */
static int main_configure(daemon_parts *d, int argc, char **argv)
{
    hbn_err err;
    hbn_status st = hbn_options_parse(argc, argv, main_getenv, &d->opts, &err);

    if (st == HBN_OK && d->opts.show_help) {
        hbn_options_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (st == HBN_OK && d->opts.show_version) {
        printf("hyperbnd %s\n", PACKAGE_VERSION);
        return EXIT_SUCCESS;
    }
    if (st == HBN_OK && d->opts.healthcheck_url != NULL) /* before the key: probes need none */
        return hbn_healthcheck_run(d->opts.healthcheck_url, HBN_HEALTHCHECK_TIMEOUT_MS);
    if (st == HBN_OK && d->opts.api_key_file != NULL)
        st = hbn_auth_key_load(d->opts.api_key_file, &d->api_key, &err);
    else if (st == HBN_OK && d->opts.api_key != NULL)
        st = hbn_auth_key_dup(d->opts.api_key, &d->api_key, &err);
    if (st == HBN_OK && d->api_key == NULL && !d->opts.insecure_no_auth &&
        !hbn_options_host_is_loopback(d->opts.host))
        st = hbn_err_set(&err, HBN_E_INVALID_ARGUMENT,
                         "refusing to serve %s without an API key (--api-key-file, "
                         "HYPERBN_API_KEY) unless --insecure-no-auth is given",
                         d->opts.host);
    if (st != HBN_OK) {
        fprintf(stderr, "hyperbnd: %s\n", err.msg);
        if (st == HBN_E_INVALID_ARGUMENT)
            fputs("Try 'hyperbnd --help'.\n", stderr);
        return MAIN_EXIT_USAGE;
    }
    return -1;
}

static uint64_t main_seed(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
           ((uint64_t)getpid() << 32);
}

static hbn_status main_adopt(void *registry, hbn_layer *layer, hbn_err *err)
{
    return hbn_registry_adopt(registry, layer, err);
}

/* The registry, persisting into the data directory when one is configured: opened (locked),
 * loaded, and its flusher started. */
static hbn_status main_build_registry(daemon_parts *d, hbn_err *err)
{
    hbn_registry_options ro = {.max_layers = d->opts.max_layers, .max_slots = d->opts.max_slots};
    size_t loaded = 0, quarantined = 0;
    hbn_status st;

    if (d->opts.data_dir == NULL)
        return hbn_registry_create(&ro, &d->registry, err);
    st = hbn_storage_open(d->opts.data_dir, hbn_lifecycle_storage_failed, d->life, &d->storage,
                          err);
    if (st != HBN_OK)
        return st;
    hbn_storage_persist(d->storage, d->opts.flush_interval == 0, &ro.persist);
    st = hbn_registry_create(&ro, &d->registry, err);
    if (st == HBN_OK)
        st = hbn_storage_load(d->storage, main_adopt, d->registry, &loaded, &quarantined, err);
    if (st == HBN_OK)
        st = hbn_flusher_start(d->registry, d->opts.flush_interval, &d->flusher, err);
    if (st == HBN_OK)
        hbn_log_message("info", "data directory %s: %zu layer%s loaded, %zu file%s quarantined; "
                        "train updates written %s", d->opts.data_dir, loaded,
                        loaded == 1 ? "" : "s", quarantined, quarantined == 1 ? "" : "s",
                        d->opts.flush_interval == 0 ? "before each reply" : "in the background");
    return st;
}

static hbn_status main_build(daemon_parts *d, hbn_err *err)
{
    hbn_metrics_gauges gauges;
    hbn_status st;

    hbn_log_set_format(d->opts.log_format);
    hbn_request_id_seed(main_seed());
    st = hbn_lifecycle_create(&d->life, err);
    if (st == HBN_OK)
        st = main_build_registry(d, err);
    if (st == HBN_OK)
        st = hbn_permits_create(d->opts.threads, &d->permits, err);
    if (st != HBN_OK)
        return st;
    gauges = (hbn_metrics_gauges){
        .layers = main_layer_count,
        .layers_ctx = d->registry,
        .inflight = hbn_lifecycle_inflight,
        .inflight_ctx = d->life,
        .persist = d->storage != NULL ? hbn_storage_counts : NULL,
        .persist_ctx = d->storage,
    };
    st = hbn_metrics_create(&gauges, &d->metrics, err);
    if (st != HBN_OK)
        return st;
    hbn_registry_store(d->registry, &d->api.store);
    d->api.version = PACKAGE_VERSION;
    d->api.not_ready_reason = hbn_lifecycle_not_ready_reason;
    d->api.ready_ctx = d->life;
    if (d->storage != NULL) {
        d->api.ready_detail = hbn_storage_ready_detail;
        d->api.ready_detail_ctx = d->storage;
    }
    d->api.render_metrics = hbn_metrics_render;
    d->api.metrics_ctx = d->metrics;
    return HBN_OK;
}

static hbn_status main_serve(daemon_parts *d, hbn_err *err)
{
    hbn_http_config cfg = {
        .opts = &d->opts,
        .api = &d->api,
        .api_key = d->api_key,
        .metrics = d->metrics,
        .life = d->life,
        .permits = d->permits,
    };
    const char *host = d->opts.host;
    hbn_status st = hbn_http_start(&cfg, &d->http, err);

    if (st != HBN_OK)
        return st;
    hbn_lifecycle_set_ready(d->life); /* before the line: the line means ready */
    fprintf(stderr, strchr(host, ':') != NULL && host[0] != '[' ? "hyperbnd: listening on [%s]:%u\n"
                                                                : "hyperbnd: listening on %s:%u\n",
            host, hbn_http_port(d->http));
    fflush(stderr);
    return HBN_OK;
}

/* Waits for SIGTERM or SIGINT (blocked in SET), then drains and stops the server. */
static void main_wait_and_drain(daemon_parts *d, const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        continue;
    hbn_lifecycle_begin_drain(d->life);
    hbn_http_quiesce(d->http);
    hbn_log_message("info", "%s: draining (up to %u s for %zu requests in flight)",
                    sig == SIGINT ? "SIGINT" : "SIGTERM", d->opts.drain_timeout,
                    hbn_lifecycle_inflight(d->life));
    if (!hbn_lifecycle_wait_idle(d->life, d->opts.drain_timeout))
        hbn_log_message("warn", "drain timeout: %zu requests still in flight are cut off",
                        hbn_lifecycle_inflight(d->life));
    hbn_http_stop(d->http);
    d->http = NULL;
    hbn_flusher_stop(d->flusher, NULL); /* the last train updates; logs its own outcome */
    d->flusher = NULL;
}

static void main_free(daemon_parts *d)
{
    hbn_http_stop(d->http);
    hbn_flusher_stop(d->flusher, NULL);
    hbn_metrics_free(d->metrics);
    hbn_permits_free(d->permits);
    hbn_registry_free(d->registry);
    hbn_storage_close(d->storage); /* releases the data directory's lock */
    hbn_lifecycle_free(d->life);
    hbn_auth_key_free(d->api_key);
}

int main(int argc, char **argv)
{
    daemon_parts d;
    sigset_t set;
    hbn_err err;
    int code;

    memset(&d, 0, sizeof d);
    code = main_configure(&d, argc, argv);
    if (code >= 0) {
        main_free(&d);
        return code;
    }
    /* before any thread exists, so that every thread inherits the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (main_build(&d, &err) != HBN_OK || main_serve(&d, &err) != HBN_OK) {
        fprintf(stderr, "hyperbnd: %s\n", err.msg);
        main_free(&d);
        return MAIN_EXIT_START;
    }
    main_wait_and_drain(&d, &set);
    main_free(&d);
    return EXIT_SUCCESS;
}
