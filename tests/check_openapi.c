/* check_openapi.c: the OpenAPI document (api/openapi.yaml) and the router describe the same API:
 * every (method, path) of hbn_router_table is an operation under the document's `paths:`, and
 * every operation there is a route. Also checks that the document is OpenAPI 3.0 and that each
 * operation lists its responses. Reads the YAML's structure by indentation (two spaces per level,
 * as the document is written), no YAML library. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"

#define MAX_OPS 64

typedef struct doc_op {
    char method[8];   /* upper case */
    char path[128];
    bool responses;   /* the operation has a `responses:` member */
} doc_op;

static doc_op ops[MAX_OPS];
static int op_count;
static char version[32];

/* Number of leading spaces of LINE. */
static int indent(const char *line)
{
    int n = 0;

    while (line[n] == ' ')
        n++;
    return n;
}

/* Copies the mapping key of LINE (after INDENT spaces, quotes removed, up to ':') into OUT. */
static void key_of(const char *line, int ind, char *out, size_t cap)
{
    const char *k = line + ind;
    size_t n = strcspn(k, ":");

    if (n > 0 && (k[0] == '\'' || k[0] == '"')) {
        k++;
        n = strcspn(k, "'\"");
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, k, n);
    out[n] = '\0';
}

static void load_document(void)
{
    static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head",
                                          "options"};
    const char *top = getenv("HBN_TOP_SRCDIR");
    char file[1024], line[512], path[128] = "";
    bool in_paths = false;
    FILE *f;

    snprintf(file, sizeof file, "%s/api/openapi.yaml", top != NULL ? top : ".");
    f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    op_count = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        int ind = indent(line);
        char key[128];
        size_t i;

        line[strcspn(line, "\r\n")] = '\0';
        if (line[ind] == '\0' || line[ind] == '#')
            continue;
        key_of(line, ind, key, sizeof key);
        if (ind == 0) {
            in_paths = strcmp(key, "paths") == 0;
            if (strcmp(key, "openapi") == 0)
                sscanf(line, "openapi: %31s", version);
            continue;
        }
        if (!in_paths)
            continue;
        if (ind == 2) {
            snprintf(path, sizeof path, "%s", key);
        } else if (ind == 4) {
            for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
                if (strcmp(key, methods[i]) == 0)
                    break;
            if (i == sizeof methods / sizeof methods[0])
                continue; /* parameters, summary, ... */
            ck_assert_int_lt(op_count, MAX_OPS);
            for (i = 0; key[i] != '\0'; i++)
                ops[op_count].method[i] = (char)toupper((unsigned char)key[i]);
            ops[op_count].method[i] = '\0';
            snprintf(ops[op_count].path, sizeof ops[op_count].path, "%s", path);
            ops[op_count].responses = false;
            op_count++;
        } else if (ind == 6 && op_count > 0 && strcmp(key, "responses") == 0) {
            ops[op_count - 1].responses = true;
        }
    }
    fclose(f);
}

/* Whether the document has operation METHOD PATH. */
static bool doc_has(const char *method, const char *path)
{
    int i;

    for (i = 0; i < op_count; i++)
        if (strcmp(ops[i].method, method) == 0 && strcmp(ops[i].path, path) == 0)
            return true;
    return false;
}

START_TEST(test_openapi_version)
{
    ck_assert_msg(strncmp(version, "3.0.", 4) == 0, "openapi version '%s'", version);
    ck_assert_int_gt(op_count, 0);
}
END_TEST

START_TEST(test_every_route_documented)
{
    size_t n, i;
    const hbn_route *routes = hbn_router_table(&n);

    for (i = 0; i < n; i++)
        ck_assert_msg(doc_has(routes[i].method, routes[i].template),
                      "route %s %s is missing from api/openapi.yaml", routes[i].method,
                      routes[i].template);
}
END_TEST

START_TEST(test_every_operation_routed)
{
    size_t n, i;
    const hbn_route *routes = hbn_router_table(&n);
    int k;

    ck_assert_int_eq(op_count, (int)n);
    for (k = 0; k < op_count; k++) {
        bool found = false;

        for (i = 0; i < n; i++)
            found = found || (strcmp(routes[i].method, ops[k].method) == 0 &&
                              strcmp(routes[i].template, ops[k].path) == 0);
        ck_assert_msg(found, "operation %s %s of api/openapi.yaml is not a route", ops[k].method,
                      ops[k].path);
        ck_assert_msg(ops[k].responses, "operation %s %s has no responses", ops[k].method,
                      ops[k].path);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("paths");
    SRunner *sr;
    int failed;

    tcase_add_unchecked_fixture(tc, load_document, NULL);
    tcase_add_test(tc, test_openapi_version);
    tcase_add_test(tc, test_every_route_documented);
    tcase_add_test(tc, test_every_operation_routed);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
