/* check_api.h: the Check suites of api/ (check_api.c, check_api_errors.c, check_api_units.c) and
 * the harness they share: a real store (server/registry.c) behind an hbn_api, literal requests
 * through hbn_api_handle (no socket), replies with their body parsed by cJSON, and an observable
 * state snapshot (GET responses) to prove that failing requests change nothing. Test-only. */
#ifndef HBN_CHECK_API_H
#define HBN_CHECK_API_H

#include <check.h>
#include <cjson/cJSON.h>
#include <stddef.h>

#include "api/api.h"

Suite *hbn_api_routes_suite(void); /* check_api.c: every route's success shape, workflow */
Suite *hbn_api_errors_suite(void); /* check_api_errors.c: the error table, precedence */
Suite *hbn_api_units_suite(void);  /* check_api_units.c: status map, router, name, query, json */

extern hbn_api test_api;         /* set up by test_api_setup */
extern const char *test_not_ready; /* what the readiness callback reports (NULL: ready) */

/* Checked fixtures: a fresh registry (no quota) behind test_api; with quotas. */
void test_api_setup(void);
void test_api_setup_quota(void); /* at most 3 layers and 2 slots per layer */
void test_api_teardown(void);

/* One request's reply: the response, a NUL-terminated copy of its body, the body parsed as JSON
 * (NULL when it is not JSON). */
typedef struct test_reply {
    hbn_response res;
    char *text;
    cJSON *json;
} test_reply;

/* Sends METHOD PATH?QUERY with Content-Type CTYPE (NULL: none) and BODY[LEN] (NULL: none). */
void test_call(test_reply *r, const char *method, const char *path, const char *query,
               const char *ctype, const void *body, size_t len);
/* Sends a JSON BODY (NUL-terminated, may be NULL) with Content-Type application/json. */
void test_json(test_reply *r, const char *method, const char *path, const char *body);
void test_reply_clear(test_reply *r);

/* The value of response header NAME, or NULL. */
const char *test_header(const test_reply *r, const char *name);

/* Sends a JSON request and fails the test unless the status is STATUS (printing the body). */
void test_expect(const char *method, const char *path, const char *body, int status);

/* Creates layer NAME with the JSON members OPTIONS (e.g. "\"num_features\":2"); 201 or fail. */
void test_create(const char *name, const char *options);

/* A NEW string (free) with everything a client can observe of the layers: the layer list and,
 * for each layer, its weights and every statistics slot. */
char *test_snapshot(void);

/* Fails, naming WHAT, unless the snapshot now equals BEFORE (from test_snapshot, TAKEN: freed). */
void test_snapshot_same(char *before, const char *what);

/* Member NAME of object O as a number; fails the test when absent or not a number. */
double test_num(const cJSON *o, const char *name);

/* Reads the N numbers that follow "KEY": in TEXT (brackets, commas and blanks skipped) with
 * strtof, so each is the float32 the client would get; fails unless exactly N numbers precede
 * the end of that member's value. */
void test_text_floats(const char *text, const char *key, float *out, int n);

#endif
