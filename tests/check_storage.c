/* check_storage.c: Check tests of the data directory (server/storage.c, compiled into this
 * program with HBN_STORAGE_FAULTS: a line "OP ERRNO" in the file named by $HBN_STORAGE_FAULTS
 * makes that operation fail) and of the persisting registry over it: files written, replaced and
 * removed; the lock; stale temporary files; start-up verification and quarantine; every fault
 * leaving the old file and the in-memory state as they were; a failed directory fsync; train
 * updates flushed; a reload reproducing every layer byte for byte; concurrent writers leaving
 * disk and memory equal. Files are read back with hbn_state_decode, never through the storage.
 * Directories live under /dev/shm when it exists (fsync is free there; the logic is the same). */
#include "tests/check_storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/state.h"
#include "server/registry.h"
#include "server/storage.h"

/* ---- fixtures --------------------------------------------------------------------------- */

static char base[256];   /* a fresh temporary directory */
static char dir[300];    /* the data directory, BASE/data */
static char faults[300]; /* the fault file, BASE/faults */
static hbn_storage *stor;
static hbn_registry *reg;
static hbn_store store;
static int failures_seen; /* calls of the failure callback */

static void on_failure(void *ctx)
{
    (void)ctx;
    failures_seen++;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    snprintf(base, sizeof base, "%s/hbn-check-storage-XXXXXX", root);
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(dir, sizeof dir, "%s/data", base);
    snprintf(faults, sizeof faults, "%s/faults", base);
    ck_assert_int_eq(setenv("HBN_STORAGE_FAULTS", faults, 1), 0);
    failures_seen = 0;
    stor = NULL;
    reg = NULL;
}

static void teardown(void)
{
    hbn_registry_free(reg);
    hbn_storage_close(stor);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    unsetenv("HBN_STORAGE_FAULTS");
}

static void open_storage(void)
{
    hbn_err err;

    ck_assert_msg(hbn_storage_open(dir, on_failure, NULL, &stor, &err) == HBN_OK, "%s", err.msg);
}

/* A persisting registry over STOR (open first); SYNC as sync_updates; MAX_LAYERS quota. */
static void open_registry(bool sync, int64_t max_layers)
{
    hbn_registry_options ro = {.max_layers = max_layers};

    open_storage();
    hbn_storage_persist(stor, sync, &ro.persist);
    ck_assert_int_eq(hbn_registry_create(&ro, &reg, NULL), HBN_OK);
    hbn_registry_store(reg, &store);
}

/* Makes operation OP fail with errno ERRNAME (NULL: no fault). */
static void arm(const char *op, const char *errname)
{
    FILE *f = fopen(faults, "w");

    ck_assert_ptr_nonnull(f);
    if (op != NULL)
        fprintf(f, "%s %s\n", op, errname);
    ck_assert_int_eq(fclose(f), 0);
}

uint8_t *test_read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static void layer_path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.safetensors", dir, name);
}

/* The NEW bytes of NAME's file, or NULL when absent. */
static uint8_t *read_layer_file(const char *name, size_t *len)
{
    char path[400];

    layer_path(name, path, sizeof path);
    return test_read_path(path, len);
}

static bool file_exists(const char *rel)
{
    char path[700];
    struct stat sb;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return lstat(path, &sb) == 0;
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char path[700];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Entries of the data directory whose name starts with PREFIX. */
static int count_prefixed(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A NEW tracking layer NAME with C channels whose slot 0 holds mean K + 0.25 i, var 1 + K + i
 * and count K. */
static hbn_layer *make_layer(const char *name, int64_t c, int k)
{
    hbn_config cfg;
    hbn_layer *layer = NULL;
    float mean[16], var[16];
    int64_t count = k;

    ck_assert_int_le(c, 16);
    hbn_config_init(&cfg, c);
    ck_assert_int_eq(hbn_layer_create(name, &cfg, &layer, NULL), HBN_OK);
    for (int64_t i = 0; i < c; i++) {
        mean[i] = (float)k + 0.25f * (float)i;
        var[i] = 1.0f + (float)k + (float)i;
    }
    ck_assert_int_eq(hbn_layer_set_stats(layer, 0, mean, c, var, c, &count, NULL), HBN_OK);
    return layer;
}

/* What a file or a registry layer holds, as far as these tests look. */
typedef struct view {
    int64_t channels, slots, count0;
    float mean0_1; /* slot 0, channel 1 */
    hbn_mode mode;
} view;

static view view_of(const hbn_layer *layer)
{
    view v = {hbn_layer_num_features(layer), hbn_layer_num_stats(layer), -1, 0.0f,
              hbn_layer_mode(layer)};
    float mean[16];

    if (v.slots > 0)
        ck_assert_int_eq(hbn_layer_get_stats(layer, 0, mean, NULL, &v.count0, NULL, NULL),
                         HBN_OK);
    v.mean0_1 = v.slots > 0 && v.channels > 1 ? mean[1] : 0.0f;
    return v;
}

/* The view of NAME's file, decoded independently of the storage; fails when absent or bad. */
static view file_view(const char *name)
{
    size_t len = 0;
    uint8_t *buf = read_layer_file(name, &len);
    hbn_layer *layer = NULL;
    hbn_err err;
    view v;

    ck_assert_msg(buf != NULL, "no file for layer %s", name);
    ck_assert_msg(hbn_state_decode(buf, len, name, NULL, &layer, &err) == HBN_OK, "%s", err.msg);
    v = view_of(layer);
    hbn_layer_free(layer);
    free(buf);
    return v;
}

static hbn_status read_view(const hbn_layer *layer, void *arg, hbn_err *err)
{
    (void)err;
    *(view *)arg = view_of(layer);
    return HBN_OK;
}

/* The view of NAME in the registry; fails when absent. */
static view reg_view(const char *name)
{
    view v;
    hbn_err err;

    ck_assert_msg(store.ops->read(store.ctx, name, read_view, &v, &err) == HBN_OK, "%s", err.msg);
    return v;
}

/* ---- writing, removing, opening --------------------------------------------------------- */

START_TEST(test_write_and_read_back)
{
    hbn_layer *layer = make_layer("bn1", 4, 3);
    hbn_err err;
    view v;

    open_storage();
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    ck_assert_int_eq(hbn_storage_write(stor, layer, &err), HBN_OK);
    v = file_view("bn1");
    ck_assert_int_eq(v.channels, 4);
    ck_assert_int_eq(v.slots, 1);
    ck_assert_int_eq(v.count0, 3);
    ck_assert_double_eq((double)v.mean0_1, 3.25);
    ck_assert_int_eq(v.mode, HBN_MODE_EVAL);
    ck_assert_int_eq(count_prefixed(".tmp."), 0);
    hbn_layer_free(layer);
}
END_TEST

START_TEST(test_write_replaces_and_remove)
{
    hbn_layer *a = make_layer("bn1", 2, 1), *b = make_layer("bn1", 2, 2);
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_OK);
    ck_assert_int_eq(hbn_storage_write(stor, b, &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").count0, 2);
    ck_assert_int_eq(hbn_storage_remove(stor, "bn1", &err), HBN_OK);
    ck_assert(!file_exists("bn1.safetensors"));
    ck_assert_int_eq(hbn_storage_remove(stor, "bn1", &err), HBN_OK); /* absent already */
    ck_assert_int_eq(count_prefixed(".tmp."), 0);
    hbn_layer_free(a);
    hbn_layer_free(b);
}
END_TEST

START_TEST(test_open_creates_directory)
{
    char bad[400];
    hbn_storage *other = NULL;
    struct stat sb;
    hbn_err err;

    open_storage();
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    ck_assert(file_exists("LOCK"));
    snprintf(bad, sizeof bad, "%s/missing/data", base);
    ck_assert_int_eq(hbn_storage_open(bad, NULL, NULL, &other, &err), HBN_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot create the data directory"));
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
}
END_TEST

START_TEST(test_lock_excludes_a_second_owner)
{
    hbn_storage *other = NULL;
    char pid[32];
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_open(dir, NULL, NULL, &other, &err), HBN_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "is in use by another hyperbnd"));
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    ck_assert_msg(strstr(err.msg, pid) != NULL, "%s", err.msg);
    hbn_storage_close(stor);
    stor = NULL;
    ck_assert_int_eq(hbn_storage_open(dir, NULL, NULL, &other, &err), HBN_OK);
    hbn_storage_close(other);
}
END_TEST

START_TEST(test_stale_temporary_files_removed)
{
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    write_file(".tmp.7.bn1.safetensors", "torn", 4);
    write_file(".tmp.8.bn2.safetensors", "", 0);
    write_file("notes.txt", "keep", 4);
    open_storage();
    ck_assert_int_eq(count_prefixed(".tmp."), 0);
    ck_assert(file_exists("notes.txt"));
}
END_TEST

/* ---- faults ------------------------------------------------------------------------------ */

static const struct {
    const char *op, *errname;
    hbn_status status;
} write_faults[] = {
    {"create", "ENOSPC", HBN_E_INSUFFICIENT_STORAGE}, {"write", "ENOSPC", HBN_E_INSUFFICIENT_STORAGE},
    {"write", "EDQUOT", HBN_E_INSUFFICIENT_STORAGE}, {"write", "EIO", HBN_E_IO},
    {"fsync", "EIO", HBN_E_IO}, {"fsync", "ENOSPC", HBN_E_INSUFFICIENT_STORAGE},
    {"rename", "EIO", HBN_E_IO}, {"rename", "EROFS", HBN_E_IO},
};

/* A failing write keeps the old file byte for byte, leaves no temporary file and does not fail
 * the storage; the next write after the fault goes through. */
START_TEST(test_write_fault_keeps_old_file)
{
    hbn_layer *a = make_layer("bn1", 3, 1), *b = make_layer("bn1", 3, 2);
    size_t before_len = 0, after_len = 0;
    uint8_t *before, *after;
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_OK);
    before = read_layer_file("bn1", &before_len);
    arm(write_faults[_i].op, write_faults[_i].errname);
    ck_assert_int_eq(hbn_storage_write(stor, b, &err), write_faults[_i].status);
    ck_assert_ptr_nonnull(strstr(err.msg, "persisting layer bn1"));
    ck_assert_ptr_nonnull(strstr(err.msg, "nothing was changed"));
    after = read_layer_file("bn1", &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_mem_eq(after, before, before_len);
    ck_assert_int_eq(count_prefixed(".tmp."), 0);
    ck_assert(!hbn_storage_failed(stor));
    ck_assert_int_eq(failures_seen, 0);
    arm(NULL, NULL);
    ck_assert_int_eq(hbn_storage_write(stor, b, &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").count0, 2);
    free(before);
    free(after);
    hbn_layer_free(a);
    hbn_layer_free(b);
}
END_TEST

START_TEST(test_directory_fsync_failure_fails_storage)
{
    hbn_layer *a = make_layer("bn1", 2, 1);
    hbn_err err;

    open_storage();
    arm("dirsync", "EIO");
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "could not be synced"));
    ck_assert(hbn_storage_failed(stor));
    ck_assert_int_eq(failures_seen, 1);
    arm(NULL, NULL);
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "failed earlier"));
    ck_assert_int_eq(hbn_storage_remove(stor, "bn1", &err), HBN_E_UNAVAILABLE);
    ck_assert_int_eq(failures_seen, 1); /* told once */
    hbn_layer_free(a);
}
END_TEST

START_TEST(test_remove_fault_keeps_file)
{
    hbn_layer *a = make_layer("bn1", 2, 1);
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_OK);
    arm("unlink", "EIO");
    ck_assert_int_eq(hbn_storage_remove(stor, "bn1", &err), HBN_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "removing layer bn1"));
    ck_assert_int_eq(file_view("bn1").count0, 1);
    hbn_layer_free(a);
}
END_TEST

/* ---- loading and quarantine -------------------------------------------------------------- */

typedef struct loaded_set {
    char names[8][HBN_NAME_MAX + 1];
    int n;
} loaded_set;

static hbn_status collect(void *arg, hbn_layer *layer, hbn_err *err)
{
    loaded_set *set = arg;

    (void)err;
    ck_assert_int_lt(set->n, 8);
    strcpy(set->names[set->n++], hbn_layer_name(layer));
    hbn_layer_free(layer);
    return HBN_OK;
}

/* Closes STOR, opens it again and loads it into *SET; returns the ready detail (NEW). */
static char *reload(loaded_set *set, size_t *loaded, size_t *bad)
{
    hbn_strbuf sb;
    hbn_err err;

    hbn_storage_close(stor);
    stor = NULL;
    open_storage();
    memset(set, 0, sizeof *set);
    ck_assert_msg(hbn_storage_load(stor, collect, set, loaded, bad, &err) == HBN_OK, "%s",
                  err.msg);
    hbn_strbuf_init(&sb);
    hbn_storage_ready_detail(stor, &sb);
    ck_assert(!sb.failed);
    return hbn_strbuf_take(&sb, &(size_t){0});
}

START_TEST(test_load_good_files)
{
    hbn_layer *a = make_layer("a", 2, 1), *b = make_layer("b.2", 3, 2);
    loaded_set set;
    size_t loaded = 0, bad = 9;
    char *detail;
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_write(stor, a, &err), HBN_OK);
    ck_assert_int_eq(hbn_storage_write(stor, b, &err), HBN_OK);
    write_file("README", "not a layer", 11);
    detail = reload(&set, &loaded, &bad);
    ck_assert_uint_eq(loaded, 2);
    ck_assert_uint_eq(bad, 0);
    ck_assert_int_eq(set.n, 2);
    ck_assert(strcmp(set.names[0], "a") == 0 || strcmp(set.names[1], "a") == 0);
    ck_assert(strcmp(set.names[0], "b.2") == 0 || strcmp(set.names[1], "b.2") == 0);
    ck_assert_str_eq(detail, ",\"quarantined\":[]");
    ck_assert(file_exists("README"));
    free(detail);
    hbn_layer_free(a);
    hbn_layer_free(b);
}
END_TEST

/* Each bad file kind, and the reason the ready detail must give. */
enum { BAD_CHECKSUM, BAD_TRUNCATED, BAD_EMPTY, BAD_TORCH, BAD_TEXT, BAD_NAME, BAD_DIRECTORY };

static const struct {
    const char *file, *reason;
} bad_files[] = {
    [BAD_CHECKSUM] = {"x.safetensors", "checksum mismatch"},
    [BAD_TRUNCATED] = {"x.safetensors", "runs past its end"},
    [BAD_EMPTY] = {"x.safetensors", "the state file is empty"},
    [BAD_TORCH] = {"x.safetensors", "not a hyperbn state file"},
    [BAD_TEXT] = {"x.safetensors", "is absurd"},
    [BAD_NAME] = {"bad name.safetensors", "is not a valid layer name"},
    [BAD_DIRECTORY] = {"x.safetensors", "not a regular file"},
};

/* Writes bad file kind K into the data directory, from the good layer file GOOD[LEN]. */
static void make_bad_file(int k, const uint8_t *good, size_t len)
{
    char path[700];
    uint8_t *copy = malloc(len);
    size_t flen = 0;
    uint8_t *torch;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, good, len);
    if (k == BAD_CHECKSUM) {
        copy[len - 1] ^= 0x40; /* the last byte of the data section */
        write_file(bad_files[k].file, copy, len);
    } else if (k == BAD_TRUNCATED || k == BAD_EMPTY || k == BAD_NAME) {
        write_file(bad_files[k].file, copy, k == BAD_TRUNCATED ? len / 2 : k == BAD_EMPTY ? 0 : len);
    } else if (k == BAD_TORCH) {
        snprintf(path, sizeof path, "%s/tests/fixtures/state/torch_bn2d.safetensors",
                 getenv("HBN_TOP_SRCDIR") != NULL ? getenv("HBN_TOP_SRCDIR") : ".");
        torch = test_read_path(path, &flen);
        ck_assert_msg(torch != NULL, "cannot read %s", path);
        write_file(bad_files[k].file, torch, flen);
        free(torch);
    } else if (k == BAD_TEXT) {
        write_file(bad_files[k].file, "hello, world\n", 13);
    } else {
        snprintf(path, sizeof path, "%s/%s", dir, bad_files[k].file);
        ck_assert_int_eq(mkdir(path, 0700), 0);
    }
    free(copy);
}

START_TEST(test_bad_file_quarantined)
{
    hbn_layer *good = make_layer("good", 2, 1), *other = make_layer("x", 2, 5);
    char rel[400];
    loaded_set set;
    size_t loaded = 0, bad = 0, len = 0;
    uint8_t *bytes;
    char *detail;
    hbn_err err;

    open_storage();
    ck_assert_int_eq(hbn_storage_write(stor, good, &err), HBN_OK);
    ck_assert_int_eq(hbn_storage_write(stor, other, &err), HBN_OK);
    bytes = read_layer_file("x", &len);
    ck_assert_int_eq(hbn_storage_remove(stor, "x", &err), HBN_OK);
    make_bad_file(_i, bytes, len);
    detail = reload(&set, &loaded, &bad);
    ck_assert_uint_eq(loaded, 1);
    ck_assert_uint_eq(bad, 1);
    ck_assert_str_eq(set.names[0], "good");
    ck_assert(!file_exists(bad_files[_i].file));
    snprintf(rel, sizeof rel, "quarantine/%s", bad_files[_i].file);
    ck_assert(file_exists(rel));
    ck_assert_msg(strstr(detail, rel) != NULL, "%s", detail);
    ck_assert_msg(strstr(detail, bad_files[_i].reason) != NULL, "%s", detail);
    free(detail);
    free(bytes);
    hbn_layer_free(good);
    hbn_layer_free(other);
}
END_TEST

START_TEST(test_quarantine_numbered_and_listed_later)
{
    loaded_set set;
    size_t loaded = 0, bad = 0;
    char *detail;

    open_storage();
    write_file("x.safetensors", "junk", 4);
    free(reload(&set, &loaded, &bad));
    write_file("x.safetensors", "more junk", 9);
    detail = reload(&set, &loaded, &bad);
    ck_assert_uint_eq(bad, 1);
    ck_assert(file_exists("quarantine/x.safetensors"));
    ck_assert(file_exists("quarantine/x.safetensors.1"));
    ck_assert_msg(strstr(detail, "{\"file\":\"quarantine/x.safetensors\",\"reason\":\"quarantined "
                                 "by an earlier start\"}") != NULL, "%s", detail);
    ck_assert_msg(strstr(detail, "{\"file\":\"quarantine/x.safetensors.1\",\"reason\":") != NULL,
                  "%s", detail);
    free(detail);
}
END_TEST

/* ---- the persisting registry -------------------------------------------------------------- */

static hbn_status do_checkpoint(hbn_layer *layer, void *arg, hbn_err *err)
{
    int64_t id;

    (void)arg;
    return hbn_layer_checkpoint(layer, &id, err);
}

static hbn_status do_eval(hbn_layer *layer, void *arg, hbn_err *err)
{
    (void)arg;
    (void)err;
    hbn_layer_set_mode(layer, HBN_MODE_EVAL);
    return HBN_OK;
}

/* An update of slot 0 of a C-channel layer (batch mean 2, variance 4, m = 8). */
typedef struct test_update {
    double mean[16], var[16];
    hbn_update up;
} test_update;

static void make_update(test_update *t, int64_t c)
{
    for (int i = 0; i < 16; i++) {
        t->mean[i] = 2.0;
        t->var[i] = 4.0;
    }
    t->up = (hbn_update){.pending = true, .slot = 0, .channels = c, .count = 8,
                         .batch_mean = t->mean, .batch_var = t->var};
}

START_TEST(test_registry_writes_every_change)
{
    hbn_layer *put = make_layer("bn1", 2, 7);
    int replaced = -1;
    hbn_err err;

    open_registry(false, 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").count0, 1);
    ck_assert_int_eq(store.ops->modify(store.ctx, "bn1", do_checkpoint, NULL, &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").slots, 2);
    ck_assert_int_eq(store.ops->modify(store.ctx, "bn1", do_eval, NULL, &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").mode, HBN_MODE_EVAL);
    ck_assert_int_eq(store.ops->put(store.ctx, put, &replaced, &err), HBN_OK);
    ck_assert_int_eq(replaced, 1);
    ck_assert_int_eq(file_view("bn1").count0, 7);
    ck_assert_int_eq(file_view("bn1").slots, 1);
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_OK);
    ck_assert(!file_exists("bn1.safetensors"));
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_E_LAYER_NOT_FOUND);
}
END_TEST

START_TEST(test_registry_create_existing_writes_nothing)
{
    hbn_layer *dup = make_layer("bn1", 2, 9);
    hbn_err err;

    open_registry(false, 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    ck_assert_int_eq(store.ops->create(store.ctx, dup, &err), HBN_E_LAYER_EXISTS);
    ck_assert_int_eq(file_view("bn1").count0, 1);
    hbn_layer_free(dup);
}
END_TEST

/* Each registry operation under a storage fault: its status, and nothing changed in memory or on
 * disk. Operations: 0 create (quota 1: the reservation must come back), 1 modify, 2 put over an
 * existing layer, 3 remove, 4 synchronous apply. */
START_TEST(test_registry_fault_changes_nothing)
{
    hbn_layer *extra = make_layer(_i == 0 ? "bn2" : "bn1", 2, 9);
    test_update tu;
    size_t before_len = 0, after_len = 0;
    uint8_t *before, *after;
    int replaced = -1;
    hbn_status st = HBN_OK;
    hbn_err err;

    open_registry(_i == 4, _i == 0 ? 2 : 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    before = read_layer_file("bn1", &before_len);
    arm(_i == 3 ? "unlink" : "write", _i == 3 ? "EIO" : "ENOSPC");
    make_update(&tu, 2);
    if (_i == 0)
        st = store.ops->create(store.ctx, extra, &err);
    else if (_i == 1)
        st = store.ops->modify(store.ctx, "bn1", do_checkpoint, NULL, &err);
    else if (_i == 2)
        st = store.ops->put(store.ctx, extra, &replaced, &err);
    else if (_i == 3)
        st = store.ops->remove(store.ctx, "bn1", &err);
    else
        st = store.ops->apply(store.ctx, "bn1", &tu.up, &err);
    ck_assert_int_eq(st, _i == 3 ? HBN_E_IO : HBN_E_INSUFFICIENT_STORAGE);
    ck_assert_int_eq(reg_view("bn1").slots, 1);
    ck_assert_int_eq(reg_view("bn1").count0, 1);
    after = read_layer_file("bn1", &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_mem_eq(after, before, before_len);
    ck_assert_uint_eq(hbn_registry_count(reg), 1);
    arm(NULL, NULL);
    if (_i == 0) /* the quota's reservation was given back: one more layer fits */
        ck_assert_int_eq(store.ops->create(store.ctx, extra, &err), HBN_OK);
    else
        hbn_layer_free(extra); /* not taken by the failed put, unused otherwise */
    free(before);
    free(after);
}
END_TEST

START_TEST(test_registry_flush_writes_train_updates)
{
    test_update tu;
    size_t written = 9;
    hbn_err err;

    open_registry(false, 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn2", 2, 1), &err), HBN_OK);
    make_update(&tu, 2);
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &tu.up, &err), HBN_OK);
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &tu.up, &err), HBN_OK);
    ck_assert_int_eq(reg_view("bn1").count0, 3);
    ck_assert_int_eq(file_view("bn1").count0, 1); /* not yet */
    arm("fsync", "EIO");
    ck_assert_int_eq(hbn_registry_flush(reg, &written, &err), HBN_E_IO);
    ck_assert_uint_eq(written, 0);
    ck_assert_int_eq(file_view("bn1").count0, 1);
    arm(NULL, NULL);
    ck_assert_int_eq(hbn_registry_flush(reg, &written, &err), HBN_OK);
    ck_assert_uint_eq(written, 1); /* bn1 only, and again after the failure */
    ck_assert_int_eq(file_view("bn1").count0, 3);
    ck_assert_int_eq(hbn_registry_flush(reg, &written, &err), HBN_OK);
    ck_assert_uint_eq(written, 0);
}
END_TEST

START_TEST(test_registry_sync_apply_writes_before_return)
{
    test_update tu;
    size_t written = 9;
    hbn_err err;

    open_registry(true, 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    make_update(&tu, 2);
    ck_assert_int_eq(store.ops->apply(store.ctx, "bn1", &tu.up, &err), HBN_OK);
    ck_assert_int_eq(file_view("bn1").count0, 2);
    ck_assert_int_eq(hbn_registry_flush(reg, &written, &err), HBN_OK);
    ck_assert_uint_eq(written, 0); /* nothing was left dirty */
}
END_TEST

START_TEST(test_registry_adopt_writes_nothing)
{
    hbn_layer *dup = make_layer("bn1", 2, 2);
    hbn_err err;

    open_registry(false, 0);
    ck_assert_int_eq(hbn_registry_adopt(reg, make_layer("bn1", 2, 1), &err), HBN_OK);
    ck_assert(!file_exists("bn1.safetensors"));
    ck_assert_int_eq(hbn_registry_adopt(reg, dup, &err), HBN_E_LAYER_EXISTS);
    ck_assert_int_eq(reg_view("bn1").count0, 1);
    hbn_layer_free(dup);
}
END_TEST

/* The state file of NAME in the registry, encoded now (NEW). */
static hbn_status encode_read(const hbn_layer *layer, void *arg, hbn_err *err)
{
    void **out = arg;

    return hbn_state_encode(layer, (char **)&out[0], (size_t *)out[1], err);
}

static char *reg_encode(hbn_registry *r, const char *name, size_t *len)
{
    hbn_store s;
    void *out[2] = {NULL, len};
    hbn_err err;

    hbn_registry_store(r, &s);
    ck_assert_int_eq(s.ops->read(s.ctx, name, encode_read, out, &err), HBN_OK);
    return out[0];
}

static hbn_status adopt(void *arg, hbn_layer *layer, hbn_err *err)
{
    return hbn_registry_adopt(arg, layer, err);
}

/* After any mix of operations and a flush, a fresh registry loaded from the directory holds every
 * layer with exactly the bytes the first one would write. */
START_TEST(test_registry_reload_reproduces_every_layer)
{
    static const char *const names[] = {"a", "b", "c"};
    hbn_registry *again = NULL;
    test_update tu;
    size_t loaded = 0, bad = 0, n1, n2;
    char *b1, *b2;
    hbn_err err;

    open_registry(false, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(store.ops->create(store.ctx, make_layer(names[i], 3, i), &err), HBN_OK);
    ck_assert_int_eq(store.ops->modify(store.ctx, "a", do_checkpoint, NULL, &err), HBN_OK);
    ck_assert_int_eq(store.ops->modify(store.ctx, "b", do_eval, NULL, &err), HBN_OK);
    make_update(&tu, 3);
    ck_assert_int_eq(store.ops->apply(store.ctx, "c", &tu.up, &err), HBN_OK);
    ck_assert_int_eq(hbn_registry_flush(reg, NULL, &err), HBN_OK);
    hbn_storage_close(stor);
    stor = NULL;
    open_storage();
    ck_assert_int_eq(hbn_registry_create(NULL, &again, &err), HBN_OK);
    ck_assert_int_eq(hbn_storage_load(stor, adopt, again, &loaded, &bad, &err), HBN_OK);
    ck_assert_uint_eq(loaded, 3);
    for (int i = 0; i < 3; i++) {
        b1 = reg_encode(reg, names[i], &n1);
        b2 = reg_encode(again, names[i], &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert_mem_eq(b1, b2, n1);
        free(b1);
        free(b2);
    }
    hbn_registry_free(again);
}
END_TEST

/* Threads creating, replacing, modifying, training and removing the same few names: afterwards,
 * for every name, memory and disk agree (present in both or neither, and the same bytes). */
typedef struct churn_arg {
    unsigned seed;
    int ops;
} churn_arg;

static void *churn(void *p)
{
    static const char *const names[] = {"n0", "n1", "n2"};
    churn_arg *a = p;
    test_update tu;
    int replaced;
    hbn_err err;

    make_update(&tu, 2);
    for (int i = 0; i < a->ops; i++) {
        const char *name = names[rand_r(&a->seed) % 3];
        hbn_layer *layer = NULL;

        switch (rand_r(&a->seed) % 5) {
        case 0:
            layer = make_layer(name, 2, i);
            if (store.ops->create(store.ctx, layer, &err) == HBN_OK)
                layer = NULL;
            break;
        case 1:
            layer = make_layer(name, 2, i + 100);
            if (store.ops->put(store.ctx, layer, &replaced, &err) == HBN_OK)
                layer = NULL;
            break;
        case 2:
            store.ops->modify(store.ctx, name, do_checkpoint, NULL, &err);
            break;
        case 3:
            store.ops->apply(store.ctx, name, &tu.up, &err);
            break;
        default:
            store.ops->remove(store.ctx, name, &err);
        }
        hbn_layer_free(layer);
    }
    return NULL;
}

START_TEST(test_registry_concurrent_writers_agree_with_disk)
{
    static const char *const names[] = {"n0", "n1", "n2"};
    churn_arg args[4];
    pthread_t t[4];
    size_t n1, n2;
    char *b1;
    uint8_t *b2;
    view v;
    hbn_err err;

    open_registry(false, 0);
    for (int i = 0; i < 4; i++) {
        args[i] = (churn_arg){.seed = 1234u + (unsigned)i, .ops = 300};
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(hbn_registry_flush(reg, NULL, &err), HBN_OK);
    for (int i = 0; i < 3; i++) {
        b2 = read_layer_file(names[i], &n2);
        if (store.ops->read(store.ctx, names[i], read_view, &v, &err) != HBN_OK) {
            ck_assert_msg(b2 == NULL, "layer %s was removed but its file remains", names[i]);
            continue;
        }
        ck_assert_msg(b2 != NULL, "layer %s exists but has no file", names[i]);
        b1 = reg_encode(reg, names[i], &n1);
        ck_assert_uint_eq(n1, n2);
        ck_assert_mem_eq(b1, b2, n1);
        free(b1);
        free(b2);
    }
    ck_assert_int_eq(count_prefixed(".tmp."), 0);
}
END_TEST

/* A modify whose rename is held back (a 300 ms delay) while a remove of the same name runs: the
 * name's persistence lock makes the remove wait, so the layer ends up absent in memory and on
 * disk. Without it the remove would unlink the file first and the late rename bring it back. */
static void *slow_checkpoint(void *arg)
{
    hbn_err err;

    (void)arg;
    store.ops->modify(store.ctx, "bn1", do_checkpoint, NULL, &err);
    return NULL;
}

START_TEST(test_registry_remove_waits_for_a_write_in_progress)
{
    pthread_t t;
    hbn_err err;
    int polls = 0;

    open_registry(false, 0);
    ck_assert_int_eq(store.ops->create(store.ctx, make_layer("bn1", 2, 1), &err), HBN_OK);
    arm("rename", "+300000");
    ck_assert_int_eq(pthread_create(&t, NULL, slow_checkpoint, NULL), 0);
    while (count_prefixed(".tmp.") == 0 && polls++ < 20000) /* the write is in progress */
        usleep(100);
    ck_assert_int_eq(count_prefixed(".tmp."), 1);
    ck_assert_int_eq(store.ops->remove(store.ctx, "bn1", &err), HBN_OK); /* renames nothing */
    pthread_join(t, NULL);
    ck_assert_int_eq(store.ops->read(store.ctx, "bn1", read_view, &(view){0}, &err),
                     HBN_E_LAYER_NOT_FOUND);
    ck_assert_msg(!file_exists("bn1.safetensors"), "a removed layer's file came back");
}
END_TEST

Suite *hbn_storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *files = tcase_create("files");
    TCase *faultc = tcase_create("faults");
    TCase *load = tcase_create("load");
    TCase *regc = tcase_create("registry");

    tcase_add_checked_fixture(files, setup, teardown);
    tcase_add_test(files, test_write_and_read_back);
    tcase_add_test(files, test_write_replaces_and_remove);
    tcase_add_test(files, test_open_creates_directory);
    tcase_add_test(files, test_lock_excludes_a_second_owner);
    tcase_add_test(files, test_stale_temporary_files_removed);
    suite_add_tcase(s, files);

    tcase_add_checked_fixture(faultc, setup, teardown);
    tcase_add_loop_test(faultc, test_write_fault_keeps_old_file, 0,
                        (int)(sizeof write_faults / sizeof write_faults[0]));
    tcase_add_test(faultc, test_directory_fsync_failure_fails_storage);
    tcase_add_test(faultc, test_remove_fault_keeps_file);
    suite_add_tcase(s, faultc);

    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, test_load_good_files);
    tcase_add_loop_test(load, test_bad_file_quarantined, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(load, test_quarantine_numbered_and_listed_later);
    suite_add_tcase(s, load);

    tcase_add_checked_fixture(regc, setup, teardown);
    tcase_add_test(regc, test_registry_writes_every_change);
    tcase_add_test(regc, test_registry_create_existing_writes_nothing);
    tcase_add_loop_test(regc, test_registry_fault_changes_nothing, 0, 5);
    tcase_add_test(regc, test_registry_flush_writes_train_updates);
    tcase_add_test(regc, test_registry_sync_apply_writes_before_return);
    tcase_add_test(regc, test_registry_adopt_writes_nothing);
    tcase_add_test(regc, test_registry_reload_reproduces_every_layer);
    tcase_add_test(regc, test_registry_concurrent_writers_agree_with_disk);
    tcase_add_test(regc, test_registry_remove_waits_for_a_write_in_progress);
    suite_add_tcase(s, regc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hbn_storage_suite());
    int failed;

    srunner_add_suite(sr, hbn_routes_state_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
