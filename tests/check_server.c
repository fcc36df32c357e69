/* check_server.c: Check tests of the daemon's transport-free pieces: options (flags, environment,
 * ranges), the loopback rule, the API key (file loading, constant-time check), request ids,
 * capped bodies, metrics rendering, the lifecycle (phases, drain wait), compute permits and log
 * lines. The HTTP glue itself is tested over a socket in check_http.c. */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/lifecycle.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/permits.h"
#include "server/request_id.h"

/* ---- options ---------------------------------------------------------------------------- */

static const char *const *test_env; /* NULL-terminated NAME, VALUE pairs */

static const char *fake_env(const char *name)
{
    for (size_t i = 0; test_env != NULL && test_env[i] != NULL; i += 2)
        if (strcmp(test_env[i], name) == 0)
            return test_env[i + 1];
    return NULL;
}

static hbn_status parse(hbn_options *o, hbn_err *err, const char *const *env, int argc, ...)
{
    static char prog[] = "hyperbnd";
    char *argv[16] = {prog};
    va_list ap;

    ck_assert_int_lt(argc, 16);
    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    test_env = env;
    return hbn_options_parse(argc, argv, fake_env, o, err);
}

START_TEST(test_options_defaults)
{
    hbn_options o;
    hbn_err err;

    ck_assert_int_eq(parse(&o, &err, NULL, 1), HBN_OK);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_uint_eq(o.port, 8080);
    ck_assert_uint_ge(o.threads, 1);
    ck_assert_uint_eq(o.max_body_bytes, 64u << 20);
    ck_assert_uint_eq(o.connection_timeout, 30);
    ck_assert_uint_eq(o.drain_timeout, 25);
    ck_assert_ptr_null(o.api_key_file);
    ck_assert_ptr_null(o.api_key);
    ck_assert(!o.insecure_no_auth && !o.show_help && !o.show_version);
    ck_assert_int_eq(o.log_format, HBN_LOG_TEXT);
}
END_TEST

START_TEST(test_options_flags_and_env)
{
    static const char *const env[] = {"HYPERBN_PORT",      "9000", "HYPERBN_THREADS", "3",
                                      "HYPERBN_LOG_FORMAT", "json", "HYPERBN_API_KEY", "k1",
                                      "HYPERBN_INSECURE_NO_AUTH", "true", NULL};
    hbn_options o;
    hbn_err err;

    ck_assert_int_eq(parse(&o, &err, env, 7, "--port", "0", "--max-body-bytes=100",
                           "--host", "::1", "--version"),
                     HBN_OK);
    ck_assert_uint_eq(o.port, 0);          /* the flag wins over HYPERBN_PORT */
    ck_assert_uint_eq(o.threads, 3);       /* from the environment */
    ck_assert_uint_eq(o.max_body_bytes, 100);
    ck_assert_str_eq(o.host, "::1");
    ck_assert_int_eq(o.log_format, HBN_LOG_JSON);
    ck_assert_str_eq(o.api_key, "k1");
    ck_assert(o.insecure_no_auth);
    ck_assert(o.show_version);
}
END_TEST

static const struct bad_case {
    const char *a, *b;
    const char *message_part;
} bad_flags[] = {
    {"--port", "65536", "--port"},      {"--port", "-1", "--port"},
    {"--port", "8o", "--port"},         {"--port", "", "--port"},
    {"--threads", "0", "[1, 4096]"},    {"--max-body-bytes", "0", "--max-body-bytes"},
    {"--log-format", "xml", "xml"},     {"--bogus", "1", "unknown argument '--bogus'"},
    {"--port", NULL, "needs a value"},  {"--insecure-no-auth=1", NULL, "takes no value"},
    {"--host", "", "--host"},           {"8080", NULL, "unknown argument"},
    {"--connection-timeout", "99999999999999999999999", "--connection-timeout"},
    {"--drain-timeout", "3601", "--drain-timeout"}, {"-port", "1", "unknown argument '-port'"},
};

START_TEST(test_options_bad_values)
{
    const struct bad_case *c = &bad_flags[_i];
    hbn_options o;
    hbn_err err;
    hbn_status st = c->b != NULL ? parse(&o, &err, NULL, 3, c->a, c->b)
                                 : parse(&o, &err, NULL, 2, c->a);

    ck_assert_int_eq(st, HBN_E_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.msg, c->message_part) != NULL, "'%s' lacks '%s'", err.msg,
                  c->message_part);
}
END_TEST

START_TEST(test_options_bad_env)
{
    static const char *const env[] = {"HYPERBN_MAX_CONNECTIONS", "0", NULL};
    static const char *const env2[] = {"HYPERBN_INSECURE_NO_AUTH", "maybe", NULL};
    hbn_options o;
    hbn_err err;

    ck_assert_int_eq(parse(&o, &err, env, 1), HBN_E_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "HYPERBN_MAX_CONNECTIONS"));
    ck_assert_int_eq(parse(&o, &err, env2, 1), HBN_E_INVALID_ARGUMENT);
    /* a good flag does not excuse a bad variable */
    ck_assert_int_eq(parse(&o, &err, env, 3, "--max-connections", "5"), HBN_E_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_options_loopback)
{
    static const char *const yes[] = {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"};
    static const char *const no[] = {"0.0.0.0", "10.0.0.1", "::", "127.0.0", "127.0.0.256",
                                     "127.0.0.1.5", "127.a.0.1", "localhost.example.com", ""};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(hbn_options_host_is_loopback(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!hbn_options_host_is_loopback(no[i]), "%s", no[i]);
}
END_TEST

/* ---- auth ------------------------------------------------------------------------------- */

static char *write_temp(const char *content, size_t n)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/hbn_check_key_XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

START_TEST(test_auth_key_file)
{
    char *key = NULL, *path = write_temp("s3cret\r\n", 8);
    hbn_err err;

    ck_assert_int_eq(hbn_auth_key_load(path, &key, &err), HBN_OK);
    ck_assert_str_eq(key, "s3cret");
    hbn_auth_key_free(key);
    unlink(path);

    path = write_temp(" \n", 2);
    ck_assert_int_eq(hbn_auth_key_load(path, &key, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    unlink(path);
    path = write_temp("a b", 3);
    ck_assert_int_eq(hbn_auth_key_load(path, &key, &err), HBN_E_INVALID_ARGUMENT);
    unlink(path);
    ck_assert_int_eq(hbn_auth_key_load("/nonexistent/key", &key, &err), HBN_E_IO);
    ck_assert_int_eq(hbn_auth_key_dup("", &key, &err), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_auth_key_dup("k\n", &key, &err), HBN_OK);
    ck_assert_str_eq(key, "k");
    hbn_auth_key_free(key);
}
END_TEST

START_TEST(test_auth_key_too_long)
{
    size_t n = HBN_AUTH_KEY_MAX + 1;
    char *big = malloc(n), *key = NULL, *path;
    hbn_err err;

    ck_assert_ptr_nonnull(big);
    memset(big, 'k', n);
    path = write_temp(big, n);
    ck_assert_int_eq(hbn_auth_key_load(path, &key, &err), HBN_E_INVALID_ARGUMENT);
    unlink(path);
    path = write_temp(big, n - 1); /* exactly the maximum */
    ck_assert_int_eq(hbn_auth_key_load(path, &key, &err), HBN_OK);
    ck_assert_uint_eq(strlen(key), HBN_AUTH_KEY_MAX);
    hbn_auth_key_free(key);
    unlink(path);
    free(big);
}
END_TEST

START_TEST(test_auth_check)
{
    ck_assert(hbn_auth_check("s3cret", "Bearer s3cret"));
    ck_assert(hbn_auth_check("s3cret", "bearer s3cret"));
    ck_assert(hbn_auth_check("s3cret", "BEARER  s3cret "));
    ck_assert(!hbn_auth_check("s3cret", NULL));
    ck_assert(!hbn_auth_check("s3cret", ""));
    ck_assert(!hbn_auth_check("s3cret", "s3cret"));
    ck_assert(!hbn_auth_check("s3cret", "Basic s3cret"));
    ck_assert(!hbn_auth_check("s3cret", "Bearer "));
    ck_assert(!hbn_auth_check("s3cret", "Bearer s3cre"));
    ck_assert(!hbn_auth_check("s3cret", "Bearer s3crett"));
    ck_assert(!hbn_auth_check("s3cret", "Bearer S3cret"));
    ck_assert(!hbn_auth_check("s3cret", "Bearer s3cre\x01"));
}
END_TEST

/* ---- request ids ------------------------------------------------------------------------ */

START_TEST(test_request_id)
{
    char id[HBN_REQUEST_ID_MAX + 1], other[HBN_REQUEST_ID_MAX + 1], max[HBN_REQUEST_ID_MAX + 2];

    hbn_request_id_make("abc-1.2_Z", id);
    ck_assert_str_eq(id, "abc-1.2_Z");
    memset(max, 'a', HBN_REQUEST_ID_MAX);
    max[HBN_REQUEST_ID_MAX] = '\0';
    hbn_request_id_make(max, id);
    ck_assert_str_eq(id, max);
    max[HBN_REQUEST_ID_MAX] = 'a'; /* 65 characters: replaced */
    max[HBN_REQUEST_ID_MAX + 1] = '\0';
    ck_assert(!hbn_request_id_is_sane(max));
    hbn_request_id_make(max, id);
    ck_assert_uint_eq(strlen(id), 16);
    ck_assert(hbn_request_id_is_sane(id));
    hbn_request_id_make(max, other); /* generated ids differ */
    ck_assert_str_ne(id, other);
}
END_TEST

START_TEST(test_request_id_rejects)
{
    static const char *const bad[] = {"", "a b", "a\"b", "a\nb", "a/b", "a%20", "é"};
    char id[HBN_REQUEST_ID_MAX + 1], other[HBN_REQUEST_ID_MAX + 1];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!hbn_request_id_is_sane(bad[i]), "%s", bad[i]);
    ck_assert(!hbn_request_id_is_sane(NULL));
    hbn_request_id_make(NULL, id);
    hbn_request_id_make("a b", other);
    ck_assert(hbn_request_id_is_sane(id) && hbn_request_id_is_sane(other));
    ck_assert_str_ne(id, other);
}
END_TEST

/* ---- body ------------------------------------------------------------------------------- */

START_TEST(test_body_cap)
{
    hbn_body b;
    char chunk[1000];

    memset(chunk, 'x', sizeof chunk);
    hbn_body_init(&b, 10000);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(hbn_body_append(&b, chunk, sizeof chunk), HBN_OK);
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_uint_le(b.cap, 10000); /* never beyond the limit */
    ck_assert_int_eq(hbn_body_append(&b, chunk, 1), HBN_E_PAYLOAD_TOO_LARGE);
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_int_eq(hbn_body_append(&b, chunk, 0), HBN_E_PAYLOAD_TOO_LARGE); /* sticky */
    ck_assert_mem_eq(b.data + 9000, chunk, 1000);
    hbn_body_clear(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.limit, 10000);
    ck_assert_int_eq(b.status, HBN_OK);
    hbn_body_clear(&b);
}
END_TEST

START_TEST(test_body_growth_and_reserve)
{
    hbn_body b;
    uint8_t byte = 7;
    int reallocs = 0;
    size_t last_cap = 0;

    hbn_body_init(&b, (size_t)1 << 20);
    for (int i = 0; i < 1 << 20; i++) {
        ck_assert_int_eq(hbn_body_append(&b, &byte, 1), HBN_OK);
        if (b.cap != last_cap) {
            reallocs++;
            last_cap = b.cap;
        }
    }
    ck_assert_int_le(reallocs, 10); /* 4 KiB doubling to 1 MiB: geometric, not linear */
    hbn_body_clear(&b);

    ck_assert_int_eq(hbn_body_reserve(&b, 5000), HBN_OK);
    ck_assert_uint_eq(b.cap, 5000);
    ck_assert_int_eq(hbn_body_reserve(&b, ((size_t)1 << 20) + 1), HBN_E_PAYLOAD_TOO_LARGE);
    hbn_body_clear(&b);
}
END_TEST

/* ---- metrics ---------------------------------------------------------------------------- */

static size_t gauge_three(void *ctx)
{
    (void)ctx;
    return 3;
}

static char *render(hbn_metrics *m)
{
    hbn_strbuf sb;
    size_t n;
    char *text;

    hbn_strbuf_init(&sb);
    hbn_metrics_render(m, &sb);
    text = hbn_strbuf_take(&sb, &n);
    ck_assert_ptr_nonnull(text);
    return text;
}

START_TEST(test_metrics_render)
{
    hbn_metrics_gauges g = {.layers = gauge_three, .inflight = gauge_three};
    hbn_metrics *m = NULL;
    char route[] = "/v1/layers/{name}/forward"; /* a different pointer, same template */
    char *text;

    ck_assert_int_eq(hbn_metrics_create(&g, &m, NULL), HBN_OK);
    hbn_metrics_record(m, "/v1/layers/{name}/forward", 200, 50000, 2048);      /* 50 us */
    hbn_metrics_record(m, route, 200, 2000000, 2048);                          /* 2 ms */
    hbn_metrics_record(m, "/v1/layers/{name}/forward", 422, 20000000000, 0);   /* 20 s */
    hbn_metrics_record(m, "/v1/layers/{name}/checkpoints", 201, 1000, 0);
    hbn_metrics_record(m, "/v1/layers/{name}/checkpoints", 201, 1000, 0);
    hbn_metrics_record(m, "/v1/layers/{name}/checkpoints", 404, 1000, 0);
    hbn_metrics_record(m, "/v1/layers/{name}/checkpoints", 507, 1000, 0);
    hbn_metrics_record(m, "/v1/layers/{name}/checkpoints", 500, 1000, 0);
    text = render(m);
#define HAS(s) ck_assert_msg(strstr(text, s) != NULL, "missing: %s", s)
    HAS("# TYPE hyperbn_requests_total counter\n");
    HAS("hyperbn_requests_total{route=\"/v1/layers/{name}/forward\",status=\"200\"} 2\n");
    HAS("hyperbn_requests_total{route=\"/v1/layers/{name}/forward\",status=\"422\"} 1\n");
    HAS("# TYPE hyperbn_request_duration_seconds histogram\n");
    HAS("hyperbn_request_duration_seconds_bucket{route=\"/v1/layers/{name}/forward\","
        "le=\"0.0001\"} 1\n");
    HAS("hyperbn_request_duration_seconds_bucket{route=\"/v1/layers/{name}/forward\","
        "le=\"0.0025\"} 2\n");
    HAS("hyperbn_request_duration_seconds_bucket{route=\"/v1/layers/{name}/forward\","
        "le=\"10\"} 2\n");
    HAS("hyperbn_request_duration_seconds_bucket{route=\"/v1/layers/{name}/forward\","
        "le=\"+Inf\"} 3\n");
    HAS("hyperbn_request_duration_seconds_sum{route=\"/v1/layers/{name}/forward\"} "
        "20.002050000\n");
    HAS("hyperbn_request_duration_seconds_count{route=\"/v1/layers/{name}/forward\"} 3\n");
    HAS("hyperbn_forward_elements_total 4096\n");
    HAS("hyperbn_checkpoints_total 2\n");
    HAS("hyperbn_checkpoint_failures_total 2\n"); /* 507 and 500, not 404 */
    HAS("hyperbn_layers 3\n");
    HAS("hyperbn_inflight_requests 3\n");
#undef HAS
    free(text);
    hbn_metrics_free(m);
}
END_TEST

/* The live-allocation gauge follows hbn_alloc_live(): three blocks more, three more shown. */
START_TEST(test_metrics_heap_live)
{
    hbn_metrics *m = NULL;
    void *p[3];
    long before, during;
    char *text, *at;

    ck_assert_int_eq(hbn_metrics_create(NULL, &m, NULL), HBN_OK);
    text = render(m);
    at = strstr(text, "\nhyperbn_heap_live_allocations ");
    ck_assert_ptr_nonnull(at);
    before = strtol(at + 31, NULL, 10);
    hbn_free(text);
    for (int i = 0; i < 3; i++)
        p[i] = hbn_malloc(16);
    text = render(m);
    at = strstr(text, "\nhyperbn_heap_live_allocations ");
    ck_assert_ptr_nonnull(at);
    during = strtol(at + 31, NULL, 10);
    hbn_free(text);
    ck_assert_int_eq(during - before, 3);
    ck_assert_int_eq(before, hbn_alloc_live() - 3);
    for (int i = 0; i < 3; i++)
        hbn_free(p[i]);
    hbn_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_escape_and_no_gauges)
{
    hbn_metrics *m = NULL;
    char *text;

    ck_assert_int_eq(hbn_metrics_create(NULL, &m, NULL), HBN_OK);
    hbn_metrics_record(m, "a\"b\\c", 500, 1, 0);
    text = render(m);
    ck_assert_ptr_nonnull(strstr(text, "route=\"a\\\"b\\\\c\",status=\"500\"} 1\n"));
    ck_assert_ptr_null(strstr(text, "hyperbn_layers"));
    ck_assert_ptr_nonnull(strstr(text, "hyperbn_checkpoints_total 0\n"));
    free(text);
    hbn_metrics_free(m);
}
END_TEST

#define METRICS_THREADS 4
#define METRICS_PER_THREAD 20000

static hbn_metrics *metrics_shared;

static void *metrics_recorder(void *arg)
{
    static const char *const routes[] = {"/a", "/b", "/c"};
    intptr_t t = (intptr_t)arg;

    for (int i = 0; i < METRICS_PER_THREAD; i++)
        hbn_metrics_record(metrics_shared, routes[(i + t) % 3], 200 + (i % 2), 1000, 1);
    return NULL;
}

START_TEST(test_metrics_concurrent)
{
    pthread_t th[METRICS_THREADS];
    char *text;
    unsigned long long total = 0, v;
    const char *p;

    ck_assert_int_eq(hbn_metrics_create(NULL, &metrics_shared, NULL), HBN_OK);
    for (intptr_t t = 0; t < METRICS_THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, metrics_recorder, (void *)t), 0);
    for (int t = 0; t < METRICS_THREADS; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    text = render(metrics_shared);
    /* six rows, each claimed once, summing to every record */
    p = text;
    for (int rows = 0; rows < 6; rows++) {
        p = strstr(p, "hyperbn_requests_total{");
        ck_assert_ptr_nonnull(p);
        p = strchr(p, '}');
        ck_assert_int_eq(sscanf(p, "} %llu", &v), 1);
        total += v;
    }
    ck_assert_ptr_null(strstr(p, "hyperbn_requests_total{"));
    ck_assert_uint_eq(total, METRICS_THREADS * METRICS_PER_THREAD);
    ck_assert_ptr_nonnull(strstr(text, "hyperbn_forward_elements_total 80000\n"));
    free(text);
    hbn_metrics_free(metrics_shared);
}
END_TEST

/* ---- lifecycle -------------------------------------------------------------------------- */

START_TEST(test_lifecycle_phases)
{
    hbn_lifecycle *life = NULL;

    ck_assert_int_eq(hbn_lifecycle_create(&life, NULL), HBN_OK);
    ck_assert_str_eq(hbn_lifecycle_not_ready_reason(life), "starting");
    hbn_lifecycle_set_ready(life);
    ck_assert_ptr_null(hbn_lifecycle_not_ready_reason(life));
    ck_assert(!hbn_lifecycle_is_draining(life));
    hbn_lifecycle_begin_drain(life);
    ck_assert_str_eq(hbn_lifecycle_not_ready_reason(life), "draining");
    hbn_lifecycle_set_ready(life); /* draining is for good */
    ck_assert_str_eq(hbn_lifecycle_not_ready_reason(life), "draining");
    ck_assert(hbn_lifecycle_wait_idle(life, 0));
    hbn_lifecycle_free(life);
}
END_TEST

START_TEST(test_lifecycle_wait_timeout)
{
    hbn_lifecycle *life = NULL;
    struct timespec a, b;

    ck_assert_int_eq(hbn_lifecycle_create(&life, NULL), HBN_OK);
    hbn_lifecycle_request_begin(life);
    hbn_lifecycle_request_begin(life);
    ck_assert_uint_eq(hbn_lifecycle_inflight(life), 2);
    hbn_lifecycle_request_end(life);
    hbn_lifecycle_begin_drain(life);
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert(!hbn_lifecycle_wait_idle(life, 1));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_ge((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 900);
    hbn_lifecycle_request_end(life);
    ck_assert(hbn_lifecycle_wait_idle(life, 0));
    hbn_lifecycle_free(life);
}
END_TEST

static void *end_request_later(void *arg)
{
    struct timespec pause = {0, 50 * 1000000};

    nanosleep(&pause, NULL);
    hbn_lifecycle_request_end(arg);
    return NULL;
}

START_TEST(test_lifecycle_wakes_drain)
{
    hbn_lifecycle *life = NULL;
    pthread_t th;
    struct timespec a, b;

    ck_assert_int_eq(hbn_lifecycle_create(&life, NULL), HBN_OK);
    hbn_lifecycle_request_begin(life);
    hbn_lifecycle_begin_drain(life);
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(pthread_create(&th, NULL, end_request_later, life), 0);
    ck_assert(hbn_lifecycle_wait_idle(life, 30)); /* woken long before the timeout */
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_lt(b.tv_sec - a.tv_sec, 10);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    hbn_lifecycle_free(life);
}
END_TEST

/* ---- permits ---------------------------------------------------------------------------- */

typedef struct permit_arg {
    hbn_permits *p;
    atomic_int got;
} permit_arg;

static void *take_permit(void *arg)
{
    permit_arg *a = arg;

    hbn_permits_acquire(a->p);
    atomic_store(&a->got, 1);
    hbn_permits_release(a->p);
    return NULL;
}

START_TEST(test_permits_cap)
{
    permit_arg a = {NULL};
    pthread_t th;
    struct timespec pause = {0, 1000000};
    int got;

    ck_assert_int_eq(hbn_permits_create(0, &a.p, NULL), HBN_E_INVALID_ARGUMENT);
    ck_assert_int_eq(hbn_permits_create(2, &a.p, NULL), HBN_OK);
    atomic_init(&a.got, 0);
    hbn_permits_acquire(a.p);
    hbn_permits_acquire(a.p); /* both permits taken */
    ck_assert_int_eq(pthread_create(&th, NULL, take_permit, &a), 0);
    for (int i = 0; i < 30; i++) { /* the third taker must wait, however long we look */
        got = atomic_load(&a.got);
        ck_assert_int_eq(got, 0);
        nanosleep(&pause, NULL);
    }
    hbn_permits_release(a.p);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    got = atomic_load(&a.got);
    ck_assert_int_eq(got, 1);
    hbn_permits_release(a.p);
    hbn_permits_free(a.p);
}
END_TEST

/* ---- log lines -------------------------------------------------------------------------- */

START_TEST(test_log_lines)
{
    hbn_log_request r = {.request_id = "abc", .method = "PO\"ST\n", .route = "/v1/layers",
                         .status = 201, .bytes = 218, .duration_s = 0.0012345};
    char buf[512], small[40];
    size_t n;

    hbn_log_set_format(HBN_LOG_TEXT);
    n = hbn_log_format_request(&r, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, " request id=abc method=PO?ST? route=/v1/layers status=201 "
                                      "bytes=218 duration_ms=1.234\n"));
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1); /* one line */
    hbn_log_set_format(HBN_LOG_JSON);
    hbn_log_format_request(&r, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"request_id\":\"abc\",\"method\":\"PO?ST?\","
                                      "\"route\":\"/v1/layers\",\"status\":201,\"bytes\":218,"
                                      "\"duration_ms\":1.234}\n"));
    ck_assert_int_eq(buf[0], '{');
    n = hbn_log_format_request(&r, small, sizeof small); /* cut, still one line */
    ck_assert_uint_eq(n, sizeof small - 1);
    ck_assert_int_eq(small[n - 1], '\n');
    hbn_log_set_format(HBN_LOG_TEXT);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------- */

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *opt = tcase_create("options");
    TCase *auth = tcase_create("auth");
    TCase *ids = tcase_create("request_id");
    TCase *body = tcase_create("body");
    TCase *met = tcase_create("metrics");
    TCase *life = tcase_create("lifecycle");
    TCase *perm = tcase_create("permits");
    TCase *log = tcase_create("log");

    tcase_add_test(opt, test_options_defaults);
    tcase_add_test(opt, test_options_flags_and_env);
    tcase_add_loop_test(opt, test_options_bad_values, 0,
                        (int)(sizeof bad_flags / sizeof bad_flags[0]));
    tcase_add_test(opt, test_options_bad_env);
    tcase_add_test(opt, test_options_loopback);
    suite_add_tcase(s, opt);
    tcase_add_test(auth, test_auth_key_file);
    tcase_add_test(auth, test_auth_key_too_long);
    tcase_add_test(auth, test_auth_check);
    suite_add_tcase(s, auth);
    tcase_add_test(ids, test_request_id);
    tcase_add_test(ids, test_request_id_rejects);
    suite_add_tcase(s, ids);
    tcase_add_test(body, test_body_cap);
    tcase_add_test(body, test_body_growth_and_reserve);
    suite_add_tcase(s, body);
    tcase_add_test(met, test_metrics_render);
    tcase_add_test(met, test_metrics_escape_and_no_gauges);
    tcase_add_test(met, test_metrics_heap_live);
    tcase_add_test(met, test_metrics_concurrent);
    suite_add_tcase(s, met);
    tcase_add_test(life, test_lifecycle_phases);
    tcase_add_test(life, test_lifecycle_wait_timeout);
    tcase_add_test(life, test_lifecycle_wakes_drain);
    suite_add_tcase(s, life);
    tcase_add_test(perm, test_permits_cap);
    suite_add_tcase(s, perm);
    tcase_add_test(log, test_log_lines);
    suite_add_tcase(s, log);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(server_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
