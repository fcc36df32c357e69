/* check_registry.c: Check tests of server/registry.c through the api/store.h interface it
 * implements: create, put, remove (with references outliving the removal), read, modify
 * (failures change nothing), apply, list order, quota, and a pthread test in which concurrent
 * train forwards on one slot (read + apply) count every batch while other layers come and go.
 * Expected values are written out or computed by plain loops here, never by the registry. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/registry.h"

/* ---- fixtures --------------------------------------------------------------------------- */

static hbn_registry *reg;
static hbn_store store;

static void setup_with(int64_t max_layers, int64_t max_slots)
{
    hbn_registry_options opts = {.max_layers = max_layers, .max_slots = max_slots};

    ck_assert_int_eq(hbn_registry_create(&opts, &reg, NULL), HBN_OK);
    hbn_registry_store(reg, &store);
}

static void setup(void) { setup_with(0, 7); }
static void setup_quota(void) { setup_with(2, 0); }

static void teardown(void)
{
    hbn_registry_free(reg);
    reg = NULL;
}

/* A NEW tracking layer named NAME with C channels and MOMENTUM (the default, 0.1, when < 0). */
static hbn_layer *make_layer(const char *name, int64_t c, double momentum)
{
    hbn_config cfg;
    hbn_layer *layer = NULL;

    hbn_config_init(&cfg, c);
    if (momentum >= 0)
        cfg.momentum = momentum;
    ck_assert_int_eq(hbn_layer_create(name, &cfg, &layer, NULL), HBN_OK);
    return layer;
}

static void add_layer(const char *name, int64_t c)
{
    hbn_err err;

    ck_assert_int_eq(store.ops->create(store.ctx, make_layer(name, c, -1), &err), HBN_OK);
}

/* What a read callback saw. */
typedef struct seen {
    const hbn_layer *layer;
    char name[HBN_NAME_MAX + 1];
    int64_t channels;
    hbn_mode mode;
    int64_t count; /* slot 0's num_batches_tracked, -1 without slots */
    double mean0;  /* slot 0's channel-0 mean */
    double var0;
} seen;

static hbn_status read_seen(const hbn_layer *layer, void *arg, hbn_err *err)
{
    seen *s = arg;
    int64_t c = hbn_layer_num_features(layer);
    float *mean = calloc((size_t)c, sizeof *mean), *var = calloc((size_t)c, sizeof *var);

    ck_assert(mean != NULL && var != NULL);
    s->layer = layer;
    strcpy(s->name, hbn_layer_name(layer));
    s->channels = c;
    s->mode = hbn_layer_mode(layer);
    s->count = -1;
    if (hbn_layer_num_stats(layer) > 0)
        ck_assert_int_eq(hbn_layer_get_stats(layer, 0, mean, var, &s->count, NULL, err), HBN_OK);
    s->mean0 = (double)mean[0];
    s->var0 = (double)var[0];
    free(mean);
    free(var);
    return HBN_OK;
}

static seen read_layer(const char *name)
{
    seen s;
    hbn_err err;

    memset(&s, 0, sizeof s);
    ck_assert_int_eq(store.ops->read(store.ctx, name, read_seen, &s, &err), HBN_OK);
    return s;
}

/* ---- create, read, remove ----------------------------------------------------------------- */

START_TEST(test_create_and_read)
{
    seen s;

    add_layer("bn1", 4);
    s = read_layer("bn1");
    ck_assert_str_eq(s.name, "bn1");
    ck_assert_int_eq(s.channels, 4);
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
    ck_assert_int_eq(store.max_slots, 7);
}
END_TEST

START_TEST(test_create_duplicate)
{
    hbn_layer *dup = make_layer("bn1", 8, -1);
    hbn_err err;

    add_layer("bn1", 4);
    ck_assert_int_eq(store.ops->create(store.ctx, dup, &err), HBN_E_LAYER_EXISTS);
    ck_assert_int_eq(err.status, HBN_E_LAYER_EXISTS);
    ck_assert_str_eq(err.msg, "layer bn1 already exists");
    ck_assert_int_eq(read_layer("bn1").channels, 4);
    hbn_layer_free(dup); /* not taken on failure */
}
END_TEST

START_TEST(test_unknown_layer)
{
    hbn_update up = {.pending = true, .slot = 0, .channels = 4, .count = 2};
    seen s;
    hbn_err err;

    ck_assert_int_eq(store.ops->read(store.ctx, "nope", read_seen, &s, &err),
                     HBN_E_LAYER_NOT_FOUND);
    ck_assert_str_eq(err.msg, "layer nope does not exist");
    ck_assert_int_eq(store.ops->remove(store.ctx, "nope", &err), HBN_E_LAYER_NOT_FOUND);
    ck_assert_str_eq(err.msg, "layer nope does not exist");
    ck_assert_int_eq(store.ops->apply(store.ctx, "nope", &up, &err), HBN_E_LAYER_NOT_FOUND);
    ck_assert_int_eq(store.ops->modify(store.ctx, "nope", NULL, NULL, &err),
                     HBN_E_LAYER_NOT_FOUND);
}
END_TEST

START_TEST(test_remove)
{
    seen s;
    hbn_err err;

    add_layer("bn1", 4);
    add_layer("bn2", 4);
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_OK);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_seen, &s, &err),
                     HBN_E_LAYER_NOT_FOUND);
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_E_LAYER_NOT_FOUND);
    ck_assert_str_eq(read_layer("bn2").name, "bn2");
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
    add_layer("bn1", 2); /* the name is free again */
    ck_assert_int_eq(read_layer("bn1").channels, 2);
}
END_TEST

/* Removes the layer being read from inside the read: the layer must stay usable until the read
 * ends (ASan reports a use after free otherwise) and be freed afterwards (or leak). */
static hbn_status read_remove_self(const hbn_layer *layer, void *arg, hbn_err *err)
{
    char *name_after = arg;

    ck_assert_int_eq(store.ops->remove(store.ctx, hbn_layer_name(layer), err), HBN_OK);
    ck_assert_uint_eq(hbn_registry_count(reg), 0);
    strcpy(name_after, hbn_layer_name(layer));
    return HBN_E_INTERNAL;
}

START_TEST(test_remove_while_in_use)
{
    char name_after[HBN_NAME_MAX + 1] = "";
    hbn_err err;

    add_layer("bn1", 4);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_remove_self, name_after, &err),
                     HBN_E_INTERNAL); /* FN's status comes back */
    ck_assert_str_eq(name_after, "bn1");
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_seen, &(seen){0}, &err),
                     HBN_E_LAYER_NOT_FOUND);
}
END_TEST

/* ---- put -------------------------------------------------------------------------------- */

START_TEST(test_put)
{
    int replaced = -1;
    hbn_err err;

    ck_assert_int_eq(store.ops->put(store.ctx, make_layer("bn1", 4, -1), &replaced, &err),
                     HBN_OK);
    ck_assert_int_eq(replaced, 0);
    ck_assert_int_eq(store.ops->put(store.ctx, make_layer("bn1", 6, -1), &replaced, &err),
                     HBN_OK);
    ck_assert_int_eq(replaced, 1);
    ck_assert_int_eq(read_layer("bn1").channels, 6);
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
}
END_TEST

/* ---- quota ------------------------------------------------------------------------------ */

START_TEST(test_quota)
{
    hbn_layer *third = make_layer("bn3", 4, -1);
    int replaced = -1;
    hbn_err err;

    add_layer("bn1", 4);
    add_layer("bn2", 4);
    ck_assert_int_eq(store.ops->create(store.ctx, third, &err), HBN_E_QUOTA_EXCEEDED);
    ck_assert_ptr_nonnull(strstr(err.msg, "bn3"));
    ck_assert_int_eq(store.ops->put(store.ctx, third, &replaced, &err), HBN_E_QUOTA_EXCEEDED);
    /* replacing does not add a layer */
    ck_assert_int_eq(store.ops->put(store.ctx, make_layer("bn2", 3, -1), &replaced, &err),
                     HBN_OK);
    ck_assert_int_eq(replaced, 1);
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_OK);
    ck_assert_int_eq(store.ops->create(store.ctx, third, &err), HBN_OK);
    ck_assert_uint_eq(hbn_registry_count(reg), 2);
    ck_assert_int_eq(store.max_slots, 0);
}
END_TEST

/* ---- modify ----------------------------------------------------------------------------- */

typedef struct modify_arg {
    const hbn_layer *before; /* the layer read before the modify */
    bool copy_seen;          /* FN ran on another object */
    hbn_status result;
} modify_arg;

static hbn_status modify_to_eval(hbn_layer *layer, void *arg, hbn_err *err)
{
    modify_arg *m = arg;
    int64_t id;

    m->copy_seen = layer != m->before;
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    ck_assert_int_eq(hbn_layer_checkpoint(layer, &id, err), HBN_OK);
    if (m->result != HBN_OK)
        return hbn_err_set(err, m->result, "refused");
    return HBN_OK;
}

static hbn_status read_num_stats(const hbn_layer *layer, void *arg, hbn_err *err)
{
    (void)err;
    *(int64_t *)arg = hbn_layer_num_stats(layer);
    return HBN_OK;
}

START_TEST(test_modify_failure_changes_nothing)
{
    modify_arg m = {.result = HBN_E_FROZEN_STATS};
    int64_t t = 0;
    hbn_err err;

    add_layer("bn1", 4);
    m.before = read_layer("bn1").layer;
    ck_assert_int_eq(store.ops->modify(store.ctx, "bn1", modify_to_eval, &m, &err),
                     HBN_E_FROZEN_STATS);
    ck_assert_str_eq(err.msg, "refused");
    ck_assert(m.copy_seen);
    ck_assert_int_eq(read_layer("bn1").mode, HBN_MODE_TRAIN);
    ck_assert_ptr_eq(read_layer("bn1").layer, m.before);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_num_stats, &t, &err), HBN_OK);
    ck_assert_int_eq(t, 1);
}
END_TEST

START_TEST(test_modify_success_swaps)
{
    modify_arg m = {.result = HBN_OK};
    int64_t t = 0;
    hbn_err err;

    add_layer("bn1", 4);
    m.before = read_layer("bn1").layer;
    ck_assert_int_eq(store.ops->modify(store.ctx, "bn1", modify_to_eval, &m, &err), HBN_OK);
    ck_assert(m.copy_seen);
    ck_assert_int_eq(read_layer("bn1").mode, HBN_MODE_EVAL);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_num_stats, &t, &err), HBN_OK);
    ck_assert_int_eq(t, 2);
}
END_TEST

/* ---- apply ------------------------------------------------------------------------------ */

START_TEST(test_apply)
{
    double bmean[4] = {2, 2, 2, 2}, bvar[4] = {1, 1, 1, 1};
    hbn_update up = {.pending = true, .slot = 0, .channels = 4, .count = 2,
                     .batch_mean = bmean, .batch_var = bvar};
    seen s;
    hbn_err err;

    add_layer("bn1", 4); /* momentum 0.1 */
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_OK);
    s = read_layer("bn1");
    ck_assert_int_eq(s.count, 1);
    ck_assert_double_eq_tol(s.mean0, 0.2, 1e-6);             /* 0.9 * 0 + 0.1 * 2 */
    ck_assert_double_eq_tol(s.var0, 0.9 + 0.1 * 2.0, 1e-6); /* unbiased: 1 * 2 / 1 */

    up.pending = false; /* nothing to do */
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_OK);
    ck_assert_int_eq(read_layer("bn1").count, 1);
}
END_TEST

START_TEST(test_apply_mismatch_changes_nothing)
{
    double bmean[4] = {2, 2, 2, 2}, bvar[4] = {1, 1, 1, 1};
    hbn_update up = {.pending = true, .slot = 1, .channels = 4, .count = 2,
                     .batch_mean = bmean, .batch_var = bvar};
    hbn_config cfg;
    hbn_layer *untracked = NULL;
    int replaced;
    hbn_err err;

    add_layer("bn1", 4);
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_E_STATS_NOT_FOUND);
    ck_assert_str_eq(err.msg, "layer bn1 has no statistics slot 1");
    up.slot = 0;
    up.channels = 3;
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_E_SHAPE_MISMATCH);
    ck_assert_str_eq(err.msg, "the update has 3 channels, layer bn1 has 4");
    ck_assert_int_eq(read_layer("bn1").count, 0);

    hbn_config_init(&cfg, 4);
    cfg.track_running_stats = false;
    cfg.frozen_stats = true;
    ck_assert_int_eq(hbn_layer_create("bn1", &cfg, &untracked, NULL), HBN_OK);
    ck_assert_int_eq(store.ops->put(store.ctx, untracked, &replaced, &err), HBN_OK);
    up.channels = 4;
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_E_NOT_TRACKING);
    ck_assert_double_eq(read_layer("bn1").mean0, 0.0); /* frozen slot untouched */
}
END_TEST

/* ---- list ------------------------------------------------------------------------------- */

typedef struct list_arg {
    char names[8][HBN_NAME_MAX + 1];
    int n;
    int stop_after; /* return an error after this many calls; 0: never */
} list_arg;

static hbn_status list_collect(const hbn_layer *layer, void *arg, hbn_err *err)
{
    list_arg *l = arg;

    ck_assert_int_lt(l->n, 8);
    strcpy(l->names[l->n++], hbn_layer_name(layer));
    if (l->stop_after > 0 && l->n == l->stop_after)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "stop");
    return HBN_OK;
}

START_TEST(test_list_name_order)
{
    static const char *const expected[] = {"B", "a.1", "a10", "a2", "b", "c-1"};
    list_arg l = {.n = 0};
    hbn_err err;

    ck_assert_int_eq(store.ops->list(store.ctx, list_collect, &l, &err), HBN_OK);
    ck_assert_int_eq(l.n, 0);
    add_layer("b", 1);
    add_layer("a2", 1);
    add_layer("c-1", 1);
    add_layer("a10", 1);
    add_layer("B", 1);
    add_layer("a.1", 1);
    ck_assert_int_eq(store.ops->list(store.ctx, list_collect, &l, &err), HBN_OK);
    ck_assert_int_eq(l.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(l.names[i], expected[i]);
}
END_TEST

START_TEST(test_list_stops_at_error)
{
    list_arg l = {.n = 0, .stop_after = 2};
    hbn_err err;

    add_layer("x", 1);
    add_layer("y", 1);
    add_layer("z", 1);
    ck_assert_int_eq(store.ops->list(store.ctx, list_collect, &l, &err), HBN_E_NO_MEMORY);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.names[1], "y");
}
END_TEST

/* Many layers: the map grows past its initial buckets and still finds every name. */
START_TEST(test_many_layers)
{
    char name[32];

    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "layer%03d", i);
        add_layer(name, 1);
    }
    ck_assert_uint_eq(hbn_registry_count(reg), 500);
    for (int i = 0; i < 500; i += 37) {
        snprintf(name, sizeof name, "layer%03d", i);
        ck_assert_str_eq(read_layer(name).name, name);
    }
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------------ */

#define CONC_THREADS 4
#define CONC_ITERS 2000
#define CONC_C 256
#define CONC_MOMENTUM 1e-4 /* 1 / n scale: one lost update moves the mean by ~4e-5 */

static pthread_barrier_t conc_start;

typedef struct forward_arg {
    const float *inputs;
    float *outputs;
    hbn_forward_result *res;
} forward_arg;

/* The read half of a train forward: outputs and a pending update under the shared lock. The
 * update's arrays are NEW and survive the lock, as in the api's forward route. */
static hbn_status read_forward(const hbn_layer *layer, void *arg, hbn_err *err)
{
    forward_arg *f = arg;
    hbn_forward_args args;

    hbn_forward_args_init(&args);
    args.inputs = f->inputs;
    args.rank = 2;
    args.shape[0] = 2;
    args.shape[1] = CONC_C;
    return hbn_layer_forward(layer, &args, f->outputs, f->res, err);
}

/* Every batch has rows 0 and 2 in every channel: batch mean 1, unbiased batch variance 2. */
static void *conc_forwarder(void *unused)
{
    float x[2 * CONC_C] = {0}; /* per thread: the threads must not share it */
    float *y = malloc(sizeof x);

    (void)unused;
    ck_assert_ptr_nonnull(y);
    for (int c = 0; c < CONC_C; c++)
        x[CONC_C + c] = 2.0f;
    pthread_barrier_wait(&conc_start);
    for (int i = 0; i < CONC_ITERS; i++) {
        hbn_forward_result res;
        forward_arg f = {x, y, &res};
        hbn_err err;

        hbn_forward_result_init(&res);
        ck_assert_int_eq(store.ops->read(store.ctx, "shared", read_forward, &f, &err), HBN_OK);
        ck_assert(res.update.pending);
        ck_assert_int_eq(store.ops->apply(store.ctx, "shared", &res.update, &err), HBN_OK);
        hbn_forward_result_clear(&res);
    }
    free(y);
    return NULL;
}

/* Creates, lists and removes other layers while the forwards run; ends with none of them. */
static void *conc_churner(void *unused)
{
    char name[32];
    hbn_err err;

    (void)unused;
    for (int i = 0; i < 320; i++) { /* 16 passes over 20 names: create, remove, ... */
        snprintf(name, sizeof name, "churn%d", i % 20);
        if ((i / 20) % 2 == 0)
            ck_assert_int_eq(store.ops->create(store.ctx, make_layer(name, 3, -1), &err),
                             HBN_OK);
        else
            ck_assert_int_eq(store.ops->remove(store.ctx, name, &err), HBN_OK);
        if (i % 50 == 0) {
            list_arg l = {.n = 0, .stop_after = 8};
            hbn_status st = store.ops->list(store.ctx, list_collect, &l, &err);
            ck_assert(st == HBN_OK || st == HBN_E_NO_MEMORY);
        }
    }
    return NULL;
}

START_TEST(test_concurrent_train_forwards)
{
    pthread_t fw[CONC_THREADS], churn;
    hbn_layer *shared = make_layer("shared", CONC_C, CONC_MOMENTUM);
    double keep = pow(1.0 - CONC_MOMENTUM, CONC_THREADS * CONC_ITERS);
    hbn_err err;
    seen s;

    ck_assert_int_eq(store.ops->create(store.ctx, shared, &err), HBN_OK);
    ck_assert_int_eq(pthread_barrier_init(&conc_start, NULL, CONC_THREADS), 0);
    ck_assert_int_eq(pthread_create(&churn, NULL, conc_churner, NULL), 0);
    for (int t = 0; t < CONC_THREADS; t++)
        ck_assert_int_eq(pthread_create(&fw[t], NULL, conc_forwarder, NULL), 0);
    for (int t = 0; t < CONC_THREADS; t++)
        ck_assert_int_eq(pthread_join(fw[t], NULL), 0);
    ck_assert_int_eq(pthread_join(churn, NULL), 0);
    pthread_barrier_destroy(&conc_start);

    s = read_layer("shared");
    ck_assert_int_eq(s.count, CONC_THREADS * CONC_ITERS);
    /* n identical updates from mean 0 / var 1 towards 1 / 2 with factor m: the start keeps a
     * weight (1-m)^n */
    ck_assert_double_eq_tol(s.mean0, 1.0 - keep, 2e-5);
    ck_assert_double_eq_tol(s.var0, keep + 2.0 * (1.0 - keep), 2e-5);
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
}
END_TEST

/* Apply and modify need the exclusive lock: started while a read holds the shared lock, they
 * must not finish before the read does. The read waits (bounded) for a finish that must not come;
 * correct code passes whatever the timing. */
typedef struct writer_arg {
    bool use_modify;
    atomic_int done;
} writer_arg;

static hbn_status modify_nothing(hbn_layer *layer, void *arg, hbn_err *err)
{
    (void)layer;
    (void)arg;
    (void)err;
    return HBN_OK;
}

static void *writer_thread(void *arg)
{
    writer_arg *w = arg;
    double bmean[4] = {1, 1, 1, 1}, bvar[4] = {1, 1, 1, 1};
    hbn_update up = {.pending = true, .slot = 0, .channels = 4, .count = 2,
                     .batch_mean = bmean, .batch_var = bvar};
    hbn_err err;

    if (w->use_modify)
        ck_assert_int_eq(store.ops->modify(store.ctx, "bn1", modify_nothing, NULL, &err), HBN_OK);
    else
        ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &up, &err), HBN_OK);
    atomic_store(&w->done, 1);
    return NULL;
}

static hbn_status read_while_writer(const hbn_layer *layer, void *arg, hbn_err *err)
{
    writer_arg *w = arg;
    pthread_t th;
    struct timespec pause = {0, 1000000};

    (void)layer;
    (void)err;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_thread, w), 0);
    ck_assert_int_eq(pthread_detach(th), 0);
    for (int i = 0; i < 50; i++) {
        int writer_done = atomic_load(&w->done);

        ck_assert_int_eq(writer_done, 0);
        nanosleep(&pause, NULL);
    }
    return HBN_OK;
}

START_TEST(test_writers_wait_for_readers)
{
    writer_arg w = {.use_modify = _i == 1};
    struct timespec pause = {0, 1000000};
    int i_done;
    hbn_err err;

    atomic_init(&w.done, 0);
    add_layer("bn1", 4);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_while_writer, &w, &err), HBN_OK);
    for (int i = 0; i < 5000 && atomic_load(&w.done) == 0; i++)
        nanosleep(&pause, NULL);
    i_done = atomic_load(&w.done);
    ck_assert_int_eq(i_done, 1);
    ck_assert_int_eq(read_layer("bn1").count, _i == 1 ? 0 : 1);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------- */

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *basic = tcase_create("create_read_remove");
    TCase *quota = tcase_create("quota");
    TCase *change = tcase_create("modify_apply");
    TCase *list = tcase_create("list");
    TCase *conc = tcase_create("concurrency");

    tcase_add_checked_fixture(basic, setup, teardown);
    tcase_add_test(basic, test_create_and_read);
    tcase_add_test(basic, test_create_duplicate);
    tcase_add_test(basic, test_unknown_layer);
    tcase_add_test(basic, test_remove);
    tcase_add_test(basic, test_remove_while_in_use);
    tcase_add_test(basic, test_put);
    tcase_add_test(basic, test_many_layers);
    suite_add_tcase(s, basic);

    tcase_add_checked_fixture(quota, setup_quota, teardown);
    tcase_add_test(quota, test_quota);
    suite_add_tcase(s, quota);

    tcase_add_checked_fixture(change, setup, teardown);
    tcase_add_test(change, test_modify_failure_changes_nothing);
    tcase_add_test(change, test_modify_success_swaps);
    tcase_add_test(change, test_apply);
    tcase_add_test(change, test_apply_mismatch_changes_nothing);
    suite_add_tcase(s, change);

    tcase_add_checked_fixture(list, setup, teardown);
    tcase_add_test(list, test_list_name_order);
    tcase_add_test(list, test_list_stops_at_error);
    suite_add_tcase(s, list);

    tcase_add_checked_fixture(conc, setup, teardown);
    tcase_add_test(conc, test_concurrent_train_forwards);
    tcase_add_loop_test(conc, test_writers_wait_for_readers, 0, 2);
    suite_add_tcase(s, conc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
