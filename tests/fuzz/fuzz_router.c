/* fuzz_router.c: fuzz target of request classification: api/router.c (hbn_router_match,
 * hbn_api_route), api/name.c (hbn_name_check, hbn_name_excerpt) and api/query.c. The input is
 * "METHOD\nPATH\nQUERY" (any bytes; the raw input is also checked as a layer name). Differential:
 * a plain segment-by-segment matcher over hbn_router_table and a plain reading of API.md's name
 * pattern; plus the match's own invariants (captured segments inside the path, the Allow list). */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <string.h>

#include "api/api.h"
#include "api/name.h"
#include "api/query.h"
#include "api/router.h"

/* API.md: ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without "..", written out plainly. */
static bool reference_name(const char *s, size_t len)
{
    if (len < 1 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
        if (i > 0 && c == '.' && s[i - 1] == '.')
            return false;
    }
    return true;
}

static void check_name(const char *s, size_t len, size_t cap)
{
    char out[96];
    hbn_err err;
    hbn_status st = hbn_name_check(s, len, &err);

    HBN_FUZZ_CHECK((st == HBN_OK) == reference_name(s, len), "name check says %s for %zu bytes",
                   hbn_status_code(st), len);
    HBN_FUZZ_CHECK(st == HBN_OK || (st == HBN_E_INVALID_NAME && err.msg[0] != '\0'),
                   "name check status %s", hbn_status_code(st));
    memset(out, 'Z', sizeof out);
    hbn_name_excerpt(s, len, out, cap);
    HBN_FUZZ_CHECK(memchr(out, '\0', cap) != NULL, "excerpt not terminated within %zu", cap);
    for (size_t i = cap; i < sizeof out; i++)
        HBN_FUZZ_CHECK(out[i] == 'Z', "excerpt wrote byte %zu of a %zu-byte buffer", i, cap);
    for (const char *p = out; *p != '\0'; p++)
        HBN_FUZZ_CHECK(*p >= 0x20 && *p <= 0x7e, "excerpt holds byte 0x%02x",
                       (unsigned)(unsigned char)*p);
}

/* Does the raw PATH match TEMPLATE (same segment count, "{...}" any segment, else literal)? */
static bool reference_match(const char *template, const char *path)
{
    const char *t = template, *p = path;

    for (;;) {
        size_t tl = strcspn(t, "/"), pl = strcspn(p, "/");
        bool param = tl > 1 && t[0] == '{' && t[tl - 1] == '}';

        if (!param && (tl != pl || strncmp(t, p, tl) != 0))
            return false;
        t += tl;
        p += pl;
        if (*t == '\0' || *p == '\0')
            return *t == '\0' && *p == '\0';
        t++;
        p++;
    }
}

static void check_route(const char *method, const char *path)
{
    size_t count, i;
    const hbn_route *table = hbn_router_table(&count);
    hbn_route_match m;
    hbn_route_info info;
    const hbn_route *want = NULL;
    const char *known = NULL;

    hbn_router_match(method, path, &m);
    for (i = 0; i < count; i++) {
        if (!reference_match(table[i].template, path) ||
            (known != NULL && strcmp(known, table[i].template) != 0))
            continue;
        known = known != NULL ? known : table[i].template;
        HBN_FUZZ_CHECK(strstr(m.allow, table[i].method) != NULL, "Allow '%s' lacks %s", m.allow,
                       table[i].method);
        if (want == NULL && strcmp(table[i].method, method) == 0)
            want = &table[i];
    }
    HBN_FUZZ_CHECK(m.known_path == (known != NULL), "known_path %d, reference %s", m.known_path,
                   known != NULL ? known : "none");
    HBN_FUZZ_CHECK(m.route == want, "matched %s, reference %s",
                   m.route != NULL ? m.route->template : "nothing",
                   want != NULL ? want->template : "nothing");
    HBN_FUZZ_CHECK(strcmp(m.template, known != NULL ? known : "unknown") == 0, "template %s",
                   m.template);
    HBN_FUZZ_CHECK(m.param_count >= 0 && m.param_count <= HBN_ROUTE_MAX_PARAMS, "%d params",
                   m.param_count);
    for (int k = 0; k < m.param_count; k++)
        HBN_FUZZ_CHECK(m.params[k].start > path && m.params[k].start + m.params[k].len <=
                           path + strlen(path) && memchr(m.params[k].start, '/',
                                                         m.params[k].len) == NULL,
                       "param %d is not one segment of the path", k);
    hbn_api_route(method, path, &info);
    HBN_FUZZ_CHECK(info.known_path == m.known_path && info.method_allowed == (m.route != NULL) &&
                       strcmp(info.route, m.template) == 0,
                   "hbn_api_route disagrees with hbn_router_match");
    HBN_FUZZ_CHECK(!info.length_optional || info.takes_body, "optional body on a bodiless route");
}

/* The query parser and its typed readers on QUERY: outputs within their documented ranges. */
static void check_query(const char *query)
{
    static const char *const names[] = {"shape", "stats_id", "mode", "momentum", "eps"};
    hbn_query_value v[5];
    hbn_err err;
    hbn_status st = hbn_query_parse(query, names, 5, v, &err);
    int64_t shape[HBN_MAX_RANK], id;
    int rank = -1;
    hbn_mode mode;

    HBN_FUZZ_CHECK(st == HBN_OK || st == HBN_E_UNKNOWN_FIELD || st == HBN_E_INVALID_ARGUMENT,
                   "query status %s", hbn_status_code(st));
    if (st != HBN_OK)
        return;
    for (int i = 0; i < 5; i++)
        HBN_FUZZ_CHECK(!v[i].present || strlen(v[i].text) < HBN_QUERY_VALUE_MAX, "value %d", i);
    if (v[0].present && hbn_query_shape(&v[0], "shape", &rank, shape, &err) == HBN_OK) {
        HBN_FUZZ_CHECK(rank >= 2 && rank <= HBN_MAX_RANK, "shape of rank %d", rank);
        for (int d = 0; d < rank; d++)
            HBN_FUZZ_CHECK(shape[d] >= 0, "negative dimension accepted");
    }
    if (v[1].present && hbn_query_int(&v[1], "stats_id", &id, &err) == HBN_OK) {
        char *end;
        long long ref;

        errno = 0;
        ref = strtoll(v[1].text, &end, 10);
        HBN_FUZZ_CHECK(*end == '\0' && end != v[1].text && v[1].text[0] != '+' &&
                           v[1].text[0] != ' ' && ref == id,
                       "stats_id '%s' read as %lld", v[1].text, (long long)id);
    }
    if (v[2].present && hbn_query_mode(&v[2], "mode", &mode, &err) == HBN_OK)
        HBN_FUZZ_CHECK(strcmp(v[2].text, mode == HBN_MODE_TRAIN ? "train" : "eval") == 0,
                       "mode '%s'", v[2].text);
}

int hbn_fuzz_router(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *method, *path, *query, *nl;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    check_name((const char *)data, size, 8 + (size > 0 ? data[0] % 88u : 0u));
    method = buf;
    nl = strchr(buf, '\n');
    path = nl != NULL ? (*nl = '\0', nl + 1) : buf + size;
    nl = strchr(path, '\n');
    query = nl != NULL ? (*nl = '\0', nl + 1) : NULL;
    check_route(method, path);
    if (path[0] == '/')
        check_name(path + 1, strlen(path + 1), 80);
    check_query(query);
    free(buf);
    return 0;
}

HBN_FUZZ_ENTRY(hbn_fuzz_router)
