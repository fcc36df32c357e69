/* check_fuzz_regress.c: replays the fuzz targets' committed inputs under `make check`: for every
 * target of tests/fuzz/fuzz.h, each file of tests/fuzz/corpus/<target>/ (the seeds) and of
 * tests/fuzz/regress/<target>/ (every crasher ever found, kept so that it stays fixed) goes
 * through the same entry function libFuzzer calls, compiled normally (and with ASan/UBSan under
 * --enable-sanitizers). A broken invariant aborts, which Check reports with the input's path
 * (printed before each replay). Files are read from $HBN_TOP_SRCDIR (or the current directory). */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

typedef struct fuzz_target {
    const char *name;
    int (*entry)(const uint8_t *data, size_t size);
} fuzz_target;

#define HBN_FUZZ_ROW(n) {#n, hbn_fuzz_##n},
static const fuzz_target targets[] = {HBN_FUZZ_TARGETS(HBN_FUZZ_ROW)};
#define TARGET_COUNT ((int)(sizeof targets / sizeof targets[0]))

/* The whole file PATH into *DATA (NEW) and *SIZE; false when it cannot be read. */
static bool read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;
    bool ok = false;

    *data = NULL;
    if (f == NULL)
        return false;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        *size = (size_t)n;
        *data = malloc(*size > 0 ? *size : 1);
        ok = *data != NULL && fread(*data, 1, *size, f) == *size;
    }
    fclose(f);
    return ok;
}

/* Replays every regular file of DIR (under the source tree) through T; returns how many.
 * A missing directory counts 0. */
static int replay_dir(const fuzz_target *t, const char *dir)
{
    const char *top = getenv("HBN_TOP_SRCDIR");
    char path[4096];
    struct dirent *ent;
    DIR *d;
    int count = 0;

    snprintf(path, sizeof path, "%s/tests/fuzz/%s/%s", top != NULL ? top : ".", dir, t->name);
    d = opendir(path);
    if (d == NULL)
        return 0;
    while ((ent = readdir(d)) != NULL) {
        uint8_t *data;
        size_t size = 0;

        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/tests/fuzz/%s/%s/%s", top != NULL ? top : ".", dir,
                 t->name, ent->d_name);
        ck_assert_msg(read_file(path, &data, &size), "cannot read %s", path);
        fprintf(stderr, "fuzz_%s: %s\n", t->name, path);
        ck_assert_int_eq(t->entry(data, size), 0);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

START_TEST(test_replay)
{
    const fuzz_target *t = &targets[_i];
    int seeds = replay_dir(t, "corpus");

    replay_dir(t, "regress");
    ck_assert_msg(seeds > 0, "no seed corpus for fuzz_%s (HBN_TOP_SRCDIR unset?)", t->name);
}
END_TEST

/* The entries must also cope with what libFuzzer always tries first: no bytes, and one byte. */
START_TEST(test_tiny_inputs)
{
    const fuzz_target *t = &targets[_i];
    uint8_t one[1] = {0};

    for (int b = 0; b < 256; b++) {
        one[0] = (uint8_t)b;
        ck_assert_int_eq(t->entry(one, 1), 0);
    }
    ck_assert_int_eq(t->entry(one, 0), 0);
}
END_TEST

static Suite *fuzz_regress_suite(void)
{
    Suite *s = suite_create("fuzz_regress");
    TCase *tc = tcase_create("replay");

    tcase_add_loop_test(tc, test_replay, 0, TARGET_COUNT);
    tcase_add_loop_test(tc, test_tiny_inputs, 0, TARGET_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fuzz_regress_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
