/* check_config.c: Check suite of core/config.c: defaults, every validation rule of SEMANTICS 1
 * with its message, the rules' precedence (first failing rule wins, in the seed's order), and
 * the initial number of statistics slots. */
#include <math.h>
#include <string.h>

#include "core/config.h"
#include "tests/check_core.h"

/* ---- defaults ----------------------------------------------------------------------------- */

START_TEST(test_init_defaults)
{
    hbn_config cfg;
    hbn_err err;

    memset(&cfg, 0xff, sizeof cfg);
    hbn_config_init(&cfg, 7);
    ck_assert_int_eq(cfg.num_features, 7);
    ck_assert(cfg.has_momentum);
    ck_assert_double_eq_tol(cfg.momentum, 0.1, 1e-15);
    ck_assert_double_eq_tol(cfg.eps, 1e-5, 1e-20);
    ck_assert(cfg.affine);
    ck_assert(cfg.track_running_stats);
    ck_assert(!cfg.frozen_stats);
    ck_assert(!cfg.learnable_stats);
    ck_assert_int_eq(hbn_config_validate(&cfg, &err), HBN_OK);
}
END_TEST

/* ---- validation: one rule at a time ------------------------------------------------------- */

/* A configuration that breaks rules, and the first message expected. */
typedef struct bad_config {
    int64_t c;
    bool has_momentum;
    double momentum;
    double eps;
    bool track, frozen, learnable;
    const char *msg;
} bad_config;

#define MSG_FROZEN_TRACKING \
    "track_running_stats must be false when frozen_stats is true, got track_running_stats=true"
#define MSG_LEARNABLE_TRACKING \
    "track_running_stats must be false when learnable_stats is true, got track_running_stats=true"
#define MSG_FROZEN_LEARNABLE "frozen_stats and learnable_stats cannot both be true"

static const bad_config bad_configs[] = {
    /* one rule each */
    { 4, true, 0.1, 1e-5, true, true, false,
      MSG_FROZEN_TRACKING },
    { 4, true, 0.1, 1e-5, true, false, true,
      MSG_LEARNABLE_TRACKING },
    { 4, true, 0.1, 1e-5, false, true, true,
      MSG_FROZEN_LEARNABLE },
    { 0, true, 0.1, 1e-5, true, false, false, "num_features must be in [1, 1048576], got 0" },
    { -3, true, 0.1, 1e-5, true, false, false, "num_features must be in [1, 1048576], got -3" },
    { 1048577, true, 0.1, 1e-5, true, false, false,
      "num_features must be in [1, 1048576], got 1048577" },
    { 4, true, 1.5, 1e-5, true, false, false, "momentum must be in [0, 1], got 1.5" },
    { 4, true, -0.25, 1e-5, true, false, false, "momentum must be in [0, 1], got -0.25" },
    { 4, true, NAN, 1e-5, true, false, false, "momentum must be in [0, 1], got nan" },
    { 4, true, 0.1, 0.0, true, false, false, "eps must be finite and > 0 as a float32, got 0" },
    { 4, true, 0.1, -1e-5, true, false, false,
      "eps must be finite and > 0 as a float32, got -1e-05" },
    { 4, true, 0.1, 1e39, true, false, false,
      "eps must be finite and > 0 as a float32, got 1e+39" },
    { 4, true, 0.1, 1e-50, true, false, false,
      "eps must be finite and > 0 as a float32, got 1e-50" },
    { 4, true, 0.1, 1e-46, true, false, false,
      "eps must be finite and > 0 as a float32, got 1e-46" },
    { 4, true, 0.1, INFINITY, true, false, false,
      "eps must be finite and > 0 as a float32, got inf" },
    { 4, true, 0.1, NAN, true, false, false, "eps must be finite and > 0 as a float32, got nan" },
    /* precedence: several rules broken, the first in the seed's order wins */
    { 0, true, 2.0, 0.0, true, true, true,
      MSG_FROZEN_TRACKING },
    { 0, true, 2.0, 0.0, true, false, true,
      MSG_LEARNABLE_TRACKING },
    { 0, true, 2.0, 0.0, false, true, true, MSG_FROZEN_LEARNABLE },
    { 0, true, 2.0, 0.0, true, false, false, "num_features must be in [1, 1048576], got 0" },
    { 4, true, 2.0, 0.0, true, false, false, "momentum must be in [0, 1], got 2" },
};

START_TEST(test_validate_rejects)
{
    const bad_config *b = &bad_configs[_i];
    hbn_config cfg;
    hbn_err err;

    hbn_config_init(&cfg, b->c);
    cfg.has_momentum = b->has_momentum;
    cfg.momentum = b->momentum;
    cfg.eps = b->eps;
    cfg.track_running_stats = b->track;
    cfg.frozen_stats = b->frozen;
    cfg.learnable_stats = b->learnable;
    hbn_err_clear(&err);
    ck_assert_int_eq(hbn_config_validate(&cfg, &err), HBN_E_INVALID_CONFIG);
    ck_assert_int_eq(err.status, HBN_E_INVALID_CONFIG);
    ck_assert_str_eq(err.msg, b->msg);
}
END_TEST

/* Boundary values that are valid. */
typedef struct good_config {
    int64_t c;
    bool has_momentum;
    double momentum;
    double eps;
    bool affine, track, frozen, learnable;
} good_config;

static const good_config good_configs[] = {
    { 1, true, 0.0, 1e-5, true, true, false, false },
    { 1048576, true, 1.0, 1e-5, true, true, false, false },
    { 3, false, NAN, 1e-5, true, true, false, false }, /* momentum null: its value is unused */
    { 3, true, 0.5, 1e-45, true, true, false, false }, /* rounds to the smallest subnormal */
    { 3, true, 0.5, 3.4e38, true, true, false, false },
    { 3, true, 0.1, 1e-3, false, false, false, false },
    { 3, true, 0.1, 1e-3, true, false, true, false },
    { 3, true, 0.1, 1e-3, false, false, false, true },
};

START_TEST(test_validate_accepts)
{
    const good_config *g = &good_configs[_i];
    hbn_config cfg;
    hbn_err err;

    hbn_config_init(&cfg, g->c);
    cfg.has_momentum = g->has_momentum;
    cfg.momentum = g->momentum;
    cfg.eps = g->eps;
    cfg.affine = g->affine;
    cfg.track_running_stats = g->track;
    cfg.frozen_stats = g->frozen;
    cfg.learnable_stats = g->learnable;
    hbn_err_clear(&err);
    ck_assert_msg(hbn_config_validate(&cfg, &err) == HBN_OK, "rejected: %s", err.msg);
}
END_TEST

START_TEST(test_validate_null_err)
{
    hbn_config cfg;

    hbn_config_init(&cfg, 0);
    ck_assert_int_eq(hbn_config_validate(&cfg, NULL), HBN_E_INVALID_CONFIG);
}
END_TEST

/* ---- initial slots ------------------------------------------------------------------------ */

START_TEST(test_initial_slots)
{
    hbn_config cfg;

    hbn_config_init(&cfg, 2);
    ck_assert_int_eq(hbn_config_initial_slots(&cfg), 1);
    cfg.track_running_stats = false;
    ck_assert_int_eq(hbn_config_initial_slots(&cfg), 0);
    cfg.frozen_stats = true;
    ck_assert_int_eq(hbn_config_initial_slots(&cfg), 1);
    cfg.frozen_stats = false;
    cfg.learnable_stats = true;
    ck_assert_int_eq(hbn_config_initial_slots(&cfg), 1);
}
END_TEST

Suite *hbn_config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("init");

    tcase_add_test(tc, test_init_defaults);
    suite_add_tcase(s, tc);
    tc = tcase_create("validate");
    tcase_add_loop_test(tc, test_validate_rejects, 0,
                        (int)(sizeof bad_configs / sizeof bad_configs[0]));
    tcase_add_loop_test(tc, test_validate_accepts, 0,
                        (int)(sizeof good_configs / sizeof good_configs[0]));
    tcase_add_test(tc, test_validate_null_err);
    suite_add_tcase(s, tc);
    tc = tcase_create("initial_slots");
    tcase_add_test(tc, test_initial_slots);
    suite_add_tcase(s, tc);
    return s;
}
