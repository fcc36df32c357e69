/* storage.c: the data directory (storage.h). Every file operation goes through the directory's
 * descriptor (openat, renameat, unlinkat), so the path is resolved once, at open. A write is
 * temporary file (O_EXCL, unique name) -> write -> fsync -> close -> rename -> fsync(DIR); any
 * failure before the rename unlinks the temporary file and leaves the old file as it was.
 * Messages returned to clients name the layer and the system's reason, never the path; the log
 * line names the path. Two compile-time switches exist for tests only: HBN_STORAGE_FAULTS (an
 * operation fails on demand, see storage_fault) and HBN_UNSAFE_INPLACE_WRITES (the negative
 * control of the crash test: overwrite in place, no fsync; never for real use). */
#include "server/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/name.h"
#include "api/safetensors.h"
#include "api/state.h"
#include "core/alloc.h"
#include "server/log.h"

#define STORAGE_PATH_MAX 320 /* a file name in DIR: layer name, suffix, prefixes, counters */

typedef struct storage_quarantined {
    char file[STORAGE_PATH_MAX + 32]; /* relative to DIR: "quarantine/F" */
    char reason[HBN_ERR_MSG_MAX];
} storage_quarantined;

struct hbn_storage {
    char *dir;   /* NEW: the path as given, for log lines */
    int dirfd;   /* DIR, O_DIRECTORY */
    int lockfd;  /* DIR/LOCK, holding the flock */
    atomic_bool failed;
    atomic_uint_fast64_t seq; /* temporary file names */
    atomic_uint_fast64_t persisted;      /* writes and removes that succeeded */
    atomic_uint_fast64_t persist_failed; /* writes and removes that failed */
    hbn_storage_failure_fn on_failure;
    void *failure_ctx;
    storage_quarantined *quarantined; /* NEW [nquarantined]; written only by hbn_storage_load */
    size_t nquarantined;
};

/* ---- system calls, with the test builds' fault injection ---------------------------------- */

#ifdef HBN_STORAGE_FAULTS
/* TEST BUILDS ONLY. The errno that operation OP ("create", "write", "fsync", "rename",
 * "dirsync", "unlink") must fail with, or 0: the file named by $HBN_STORAGE_FAULTS holds lines
 * "OP ERRNO" (ENOSPC, EDQUOT, EIO or EROFS), or "OP +USEC" to delay OP by USEC microseconds
 * (which widens a race window), and is read again at every operation, so a test arms and
 * disarms faults while a daemon runs. */
static int storage_fault(const char *op)
{
    static const struct { const char *name; int value; } codes[] = {
        {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EIO", EIO}, {"EROFS", EROFS}};
    const char *path = getenv("HBN_STORAGE_FAULTS");
    char line[64], o[16], e[16];
    int found = 0;
    FILE *f;

    if (path == NULL || (f = fopen(path, "re")) == NULL)
        return 0;
    while (found == 0 && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%15s %15s", o, e) != 2 || strcmp(o, op) != 0)
            continue;
        if (e[0] == '+')
            usleep((useconds_t)strtoul(e + 1, NULL, 10));
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(e, codes[i].name) == 0)
                found = codes[i].value;
    }
    fclose(f);
    return found;
}
#else
static int storage_fault(const char *op)
{
    (void)op;
    return 0;
}
#endif

/* True (with errno set) when a test asked operation OP to fail. */
static bool storage_injected(const char *op)
{
    int e = storage_fault(op);

    if (e != 0)
        errno = e;
    return e != 0;
}

/* Writes DATA[LEN] to FD, retrying short writes and EINTR; 0, or -1 with errno. An injected
 * fault writes half the bytes first, as a disk that fills up does. */
static int storage_write_all(int fd, const char *data, size_t len)
{
    bool fail = storage_injected("write");
    int saved = errno;

    if (fail)
        len /= 2;
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    errno = saved;
    return fail ? -1 : 0;
}

static int storage_fsync(int fd, const char *op)
{
    return storage_injected(op) ? -1 : fsync(fd);
}

static const char *storage_strerror(int e, char *buf, size_t size)
{
    return strerror_r(e, buf, size); /* the GNU variant: returns the message */
}

/* The status of a failed operation: no space (ENOSPC, EDQUOT) or any other I/O error. Logs
 * OP on DIR/FILE with the system's reason and puts "WHAT: OP failed (reason)" in ERR. */
static hbn_status storage_error(const hbn_storage *s, int e, const char *op, const char *file,
                                const char *what, hbn_err *err)
{
    char buf[128];
    const char *reason = storage_strerror(e, buf, sizeof buf);
    bool full = e == ENOSPC || e == EDQUOT;

    hbn_log_message("error", "storage: %s of %s/%s failed: %s", op, s->dir, file, reason);
    if (full)
        return hbn_err_set(err, HBN_E_INSUFFICIENT_STORAGE,
                           "%s: no space left in the data directory (%s); nothing was changed",
                           what, reason);
    return hbn_err_set(err, HBN_E_IO, "%s: %s failed (%s); nothing was changed", what, op,
                       reason);
}

/* Puts S in its failed state (once) and tells the owner. */
static void storage_fail(hbn_storage *s)
{
    if (!atomic_exchange(&s->failed, true) && s->on_failure != NULL)
        s->on_failure(s->failure_ctx);
}

/* fsyncs DIR after WHAT; a failure is the failed state. */
static hbn_status storage_sync_dir(hbn_storage *s, const char *what, hbn_err *err)
{
    char buf[128];
    const char *reason;

    if (storage_fsync(s->dirfd, "dirsync") == 0)
        return HBN_OK;
    reason = storage_strerror(errno, buf, sizeof buf);
    storage_fail(s);
    hbn_log_message("error", "storage: fsync of the data directory %s failed (%s) after %s: "
                    "its state is unknown; writes are refused until the daemon restarts",
                    s->dir, reason, what);
    return hbn_err_set(err, HBN_E_IO, "%s: the data directory could not be synced (%s); the "
                       "server refuses writes until it is restarted", what, reason);
}

/* HBN_E_UNAVAILABLE when S failed earlier. */
static hbn_status storage_check_usable(hbn_storage *s, const char *what, hbn_err *err)
{
    if (!atomic_load(&s->failed))
        return HBN_OK;
    return hbn_err_set(err, HBN_E_UNAVAILABLE, "%s: the data directory failed earlier; the "
                       "server refuses writes until it is restarted", what);
}

/* ---- directory listing -------------------------------------------------------------------- */

static void storage_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hbn_free(names[i]);
    hbn_free(names);
}

/* The names in directory FD (".", ".." left out) as a NEW array of NEW strings in *OUT, *N of
 * them. -1 with errno on failure. */
static int storage_list(int fd, char ***out, size_t *n)
{
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = own >= 0 ? fdopendir(own) : NULL;
    char **names = NULL, **grown;
    size_t k = 0, cap = 0;
    struct dirent *de;
    int saved = 0;

    if (d == NULL) {
        saved = errno;
        if (own >= 0)
            close(own);
        errno = saved;
        return -1;
    }
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (k == cap) {
            cap = cap > 0 ? cap * 2 : 16;
            grown = hbn_realloc(names, cap * sizeof *names);
            if (grown == NULL)
                break;
            names = grown;
        }
        names[k] = hbn_strdup(de->d_name);
        if (names[k] == NULL)
            break;
        k++;
        errno = 0;
    }
    saved = de != NULL ? ENOMEM : errno;
    closedir(d);
    if (saved != 0) {
        storage_names_free(names, k);
        errno = saved;
        return -1;
    }
    *out = names;
    *n = k;
    return 0;
}

static bool storage_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- open and close ----------------------------------------------------------------------- */

/* Takes DIR/LOCK and records this process's pid in it. */
static hbn_status storage_lock(hbn_storage *s, hbn_err *err)
{
    char buf[128], pid[24] = "";
    ssize_t n;
    int len;

    s->lockfd = openat(s->dirfd, HBN_STORAGE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lockfd < 0)
        return hbn_err_set(err, HBN_E_IO, "cannot open %s/" HBN_STORAGE_LOCK ": %s", s->dir,
                           storage_strerror(errno, buf, sizeof buf));
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            return hbn_err_set(err, HBN_E_IO, "cannot lock %s/" HBN_STORAGE_LOCK ": %s", s->dir,
                               storage_strerror(errno, buf, sizeof buf));
        n = pread(s->lockfd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
        return hbn_err_set(err, HBN_E_UNAVAILABLE,
                           "data directory %s is in use by another hyperbnd%s%s%s, which holds %s/"
                           HBN_STORAGE_LOCK, s->dir, pid[0] != '\0' ? " (pid " : "", pid,
                           pid[0] != '\0' ? ")" : "", s->dir);
    }
    len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lockfd, 0) != 0 || pwrite(s->lockfd, pid, (size_t)len, 0) != len)
        hbn_log_message("warn", "storage: cannot record the pid in %s/" HBN_STORAGE_LOCK,
                        s->dir);
    return HBN_OK;
}

/* Removes the temporary files a crash left behind. */
static hbn_status storage_remove_stale(hbn_storage *s, hbn_err *err)
{
    char **names = NULL, buf[128];
    size_t n = 0, removed = 0;
    hbn_status st = HBN_OK;

    if (storage_list(s->dirfd, &names, &n) != 0)
        return hbn_err_set(err, HBN_E_IO, "cannot list %s: %s", s->dir,
                           storage_strerror(errno, buf, sizeof buf));
    for (size_t i = 0; i < n && st == HBN_OK; i++) {
        if (!storage_has_prefix(names[i], HBN_STORAGE_TEMP_PREFIX))
            continue;
        if (unlinkat(s->dirfd, names[i], 0) != 0 && errno != ENOENT)
            st = hbn_err_set(err, HBN_E_IO, "cannot remove the stale temporary file %s/%s: %s",
                             s->dir, names[i], storage_strerror(errno, buf, sizeof buf));
        else
            removed++;
    }
    storage_names_free(names, n);
    if (st == HBN_OK && removed > 0) {
        if (fsync(s->dirfd) != 0)
            return hbn_err_set(err, HBN_E_IO, "cannot sync %s: %s", s->dir,
                               storage_strerror(errno, buf, sizeof buf));
        hbn_log_message("info", "storage: removed %zu stale temporary file%s from %s", removed,
                        removed == 1 ? "" : "s", s->dir);
    }
    return st;
}

/* fsyncs the directory holding DIR, so that a DIR just created survives a crash. */
static hbn_status storage_sync_parent(const char *dir, hbn_err *err)
{
    char *copy = hbn_strdup(dir), buf[128];
    int fd, e = 0;

    if (copy == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory opening the data directory");
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    hbn_free(copy);
    if (e == 0)
        return HBN_OK;
    return hbn_err_set(err, HBN_E_IO, "cannot sync the directory holding %s: %s", dir,
                       storage_strerror(e, buf, sizeof buf));
}

hbn_status hbn_storage_open(const char *dir, hbn_storage_failure_fn on_failure, void *ctx,
                            hbn_storage **out, hbn_err *err)
{
    hbn_storage *s = hbn_calloc(1, sizeof *s);
    char buf[128];
    hbn_status st;

    if (s == NULL || (s->dir = hbn_strdup(dir)) == NULL) {
        hbn_free(s);
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory opening the data directory");
    }
    s->dirfd = s->lockfd = -1;
    atomic_init(&s->failed, false);
    atomic_init(&s->seq, 0);
    s->on_failure = on_failure;
    s->failure_ctx = ctx;
    if (mkdir(dir, 0700) == 0) {
        st = storage_sync_parent(dir, err);
        if (st != HBN_OK)
            goto fail;
    } else if (errno != EEXIST) {
        st = hbn_err_set(err, HBN_E_IO, "cannot create the data directory %s: %s", dir,
                         storage_strerror(errno, buf, sizeof buf));
        goto fail;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        st = hbn_err_set(err, HBN_E_IO, "cannot open the data directory %s: %s", dir,
                         storage_strerror(errno, buf, sizeof buf));
        goto fail;
    }
    st = storage_lock(s, err);
    if (st == HBN_OK)
        st = storage_remove_stale(s, err);
    if (st != HBN_OK)
        goto fail;
    *out = s;
    return HBN_OK;
fail:
    hbn_storage_close(s);
    return st;
}

void hbn_storage_close(hbn_storage *s)
{
    if (s == NULL)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    hbn_free(s->quarantined);
    hbn_free(s->dir);
    hbn_free(s);
}

bool hbn_storage_failed(hbn_storage *s)
{
    return atomic_load(&s->failed);
}

/* ---- writing ------------------------------------------------------------------------------ */

#ifndef HBN_UNSAFE_INPLACE_WRITES
/* Writes DATA[LEN] as FINAL through a temporary file; see the file comment. */
static hbn_status storage_replace(hbn_storage *s, const char *final, const char *data,
                                  size_t len, const char *what, hbn_err *err)
{
    char tmp[STORAGE_PATH_MAX + 32];
    const char *op = "create";
    int fd, e;

    snprintf(tmp, sizeof tmp, HBN_STORAGE_TEMP_PREFIX "%llu.%s",
             (unsigned long long)atomic_fetch_add(&s->seq, 1), final);
    fd = storage_injected(op) ? -1
                              : openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                       0644);
    if (fd < 0)
        return storage_error(s, errno, op, tmp, what, err);
    if (storage_write_all(fd, data, len) != 0)
        op = "write";
    else if (storage_fsync(fd, "fsync") != 0)
        op = "fsync";
    else
        op = NULL;
    e = errno;
    if (close(fd) != 0 && op == NULL) {
        op = "close";
        e = errno;
    }
    if (op == NULL && (storage_injected("rename") || renameat(s->dirfd, tmp, s->dirfd, final) != 0)) {
        op = "rename";
        e = errno;
    }
    if (op != NULL) {
        unlinkat(s->dirfd, tmp, 0);
        return storage_error(s, e, op, tmp, what, err);
    }
    return storage_sync_dir(s, what, err);
}
#else
/* NEGATIVE CONTROL (the test build tests/hyperbnd-unsafe only): overwrites FINAL in place, 4 KiB
 * per write call as a buffered writer would, without a temporary file, rename or fsync. The
 * crash test must catch the torn files this leaves when the process dies mid-write. Never for
 * real use. */
static hbn_status storage_replace(hbn_storage *s, const char *final, const char *data,
                                  size_t len, const char *what, hbn_err *err)
{
    int fd = openat(s->dirfd, final, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t off = 0;
    int e;

    if (fd < 0)
        return storage_error(s, errno, "open", final, what, err);
    while (off < len) {
        size_t n = len - off < 4096 ? len - off : 4096;

        if (storage_write_all(fd, data + off, n) != 0)
            break;
        off += n;
    }
    e = errno;
    close(fd);
    return off == len ? HBN_OK : storage_error(s, e, "write", final, what, err);
}
#endif

/* Counts one persistence operation that ended with ST, and returns ST. */
static hbn_status storage_count(hbn_storage *s, hbn_status st)
{
    atomic_fetch_add(st == HBN_OK ? &s->persisted : &s->persist_failed, 1);
    return st;
}

hbn_status hbn_storage_write(hbn_storage *s, const hbn_layer *layer, hbn_err *err)
{
    const char *name = hbn_layer_name(layer);
    char final[STORAGE_PATH_MAX], what[HBN_NAME_MAX + 32];
    char *data = NULL;
    size_t len = 0;
    hbn_status st;

    snprintf(what, sizeof what, "persisting layer %s", name);
    snprintf(final, sizeof final, "%s" HBN_STORAGE_SUFFIX, name);
    st = storage_check_usable(s, what, err);
    if (st == HBN_OK)
        st = hbn_state_encode(layer, &data, &len, err);
    if (st == HBN_OK)
        st = storage_replace(s, final, data, len, what, err);
    hbn_free(data);
    return storage_count(s, st);
}

hbn_status hbn_storage_remove(hbn_storage *s, const char *name, hbn_err *err)
{
    char final[STORAGE_PATH_MAX], what[HBN_NAME_MAX + 32];
    hbn_status st;

    snprintf(what, sizeof what, "removing layer %s", name);
    snprintf(final, sizeof final, "%s" HBN_STORAGE_SUFFIX, name);
    st = storage_check_usable(s, what, err);
    if (st != HBN_OK)
        return storage_count(s, st);
    if ((storage_injected("unlink") || unlinkat(s->dirfd, final, 0) != 0) && errno != ENOENT)
        return storage_count(s, storage_error(s, errno, "unlink", final, what, err));
    return storage_count(s, storage_sync_dir(s, what, err));
}

void hbn_storage_counts(void *ctx, uint64_t *ok, uint64_t *failed)
{
    hbn_storage *s = ctx;

    *ok = atomic_load(&s->persisted);
    *failed = atomic_load(&s->persist_failed);
}

static hbn_status storage_persist_write(void *ctx, const hbn_layer *layer, hbn_err *err)
{
    return hbn_storage_write(ctx, layer, err);
}

static hbn_status storage_persist_remove(void *ctx, const char *name, hbn_err *err)
{
    return hbn_storage_remove(ctx, name, err);
}

void hbn_storage_persist(hbn_storage *s, bool sync_updates, hbn_registry_persist *p)
{
    p->write = storage_persist_write;
    p->remove = storage_persist_remove;
    p->ctx = s;
    p->sync_updates = sync_updates;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* Reads FILE whole into *BUF (NEW) and *LEN. HBN_E_INVALID_STATE (with the reason) when it
 * cannot be read or is not a regular file; HBN_E_NO_MEMORY. */
static hbn_status storage_read(hbn_storage *s, const char *file, uint8_t **buf, size_t *len,
                               hbn_err *err)
{
    int fd = openat(s->dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    hbn_status st = HBN_OK;
    struct stat sb;
    size_t got = 0;
    char msg[128];

    *buf = NULL;
    if (fd < 0)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "cannot open it: %s",
                           storage_strerror(errno, msg, sizeof msg));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = hbn_err_set(err, HBN_E_INVALID_STATE, "not a regular file");
        goto out;
    }
    *buf = hbn_malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
    if (*buf == NULL) {
        st = hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading %s/%s (%lld bytes)",
                         s->dir, file, (long long)sb.st_size);
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = pread(fd, *buf + got, (size_t)sb.st_size - got, (off_t)got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st = hbn_err_set(err, HBN_E_INVALID_STATE, "cannot read it: %s",
                             n == 0 ? "it shrank while being read"
                                    : storage_strerror(errno, msg, sizeof msg));
            goto out;
        }
        got += (size_t)n;
    }
    *len = got;
out:
    close(fd);
    if (st != HBN_OK) {
        hbn_free(*buf);
        *buf = NULL;
    }
    return st;
}

/* Reads and verifies layer file FILE of layer NAME into *OUT (NEW). HBN_E_INVALID_STATE with
 * the reason for a bad file; HBN_E_NO_MEMORY. */
static hbn_status storage_verify(hbn_storage *s, const char *file, const char *name,
                                 hbn_layer **out, hbn_err *err)
{
    hbn_safetensors st;
    uint8_t *buf = NULL;
    size_t len = 0;
    hbn_status rc = hbn_name_check(name, strlen(name), err);

    if (rc != HBN_OK)
        return hbn_err_set(err, HBN_E_INVALID_STATE, "'%s' is not a valid layer name", name);
    rc = storage_read(s, file, &buf, &len, err);
    if (rc != HBN_OK)
        return rc;
    hbn_safetensors_init(&st);
    rc = hbn_safetensors_parse(buf, len, &st, err);
    if (rc == HBN_OK && hbn_safetensors_meta(&st, "hyperbn.format") == NULL)
        rc = hbn_err_set(err, HBN_E_INVALID_STATE,
                         "not a hyperbn state file (no hyperbn.format in __metadata__)");
    hbn_safetensors_clear(&st);
    if (rc == HBN_OK)
        rc = hbn_state_decode(buf, len, name, NULL, out, err);
    hbn_free(buf);
    if (rc != HBN_OK && rc != HBN_E_NO_MEMORY)
        rc = HBN_E_INVALID_STATE;
    return rc;
}

/* Records FILE (relative to DIR) as quarantined for REASON. */
static hbn_status storage_note(hbn_storage *s, const char *file, const char *reason,
                               hbn_err *err)
{
    storage_quarantined *grown = hbn_realloc(s->quarantined,
                                         (s->nquarantined + 1) * sizeof *s->quarantined);

    if (grown == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory listing quarantined files");
    s->quarantined = grown;
    snprintf(grown[s->nquarantined].file, sizeof grown->file, "%s", file);
    snprintf(grown[s->nquarantined].reason, sizeof grown->reason, "%s", reason);
    s->nquarantined++;
    return HBN_OK;
}

/* Lists what earlier start-ups left in DIR/quarantine/ (absent is fine). */
static hbn_status storage_note_earlier(hbn_storage *s, hbn_err *err)
{
    int qfd = openat(s->dirfd, HBN_STORAGE_QUARANTINE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char **names = NULL, file[STORAGE_PATH_MAX + 32];
    size_t n = 0;
    hbn_status st = HBN_OK;

    if (qfd < 0)
        return HBN_OK;
    if (storage_list(qfd, &names, &n) != 0)
        hbn_log_message("warn", "storage: cannot list %s/" HBN_STORAGE_QUARANTINE, s->dir);
    for (size_t i = 0; i < n && st == HBN_OK; i++) {
        snprintf(file, sizeof file, HBN_STORAGE_QUARANTINE "/%s", names[i]);
        st = storage_note(s, file, "quarantined by an earlier start", err);
    }
    if (n > 0)
        hbn_log_message("warn", "storage: %s/" HBN_STORAGE_QUARANTINE " holds %zu file%s "
                        "quarantined by an earlier start", s->dir, n, n == 1 ? "" : "s");
    storage_names_free(names, n);
    close(qfd);
    return st;
}

/* Moves FILE into DIR/quarantine/ (under a numbered name when FILE is taken there), syncs both
 * directories, logs and records it with REASON. HBN_E_IO when it cannot be moved. */
static hbn_status storage_quarantine(hbn_storage *s, const char *file, const char *reason,
                                     hbn_err *err)
{
    char target[STORAGE_PATH_MAX + 16], rel[STORAGE_PATH_MAX + 32], buf[128];
    struct stat sb;
    int qfd = -1;
    hbn_status st = HBN_OK;

    if (mkdirat(s->dirfd, HBN_STORAGE_QUARANTINE, 0700) != 0 && errno != EEXIST)
        goto fail;
    qfd = openat(s->dirfd, HBN_STORAGE_QUARANTINE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qfd < 0)
        goto fail;
    snprintf(target, sizeof target, "%s", file);
    for (int k = 1; fstatat(qfd, target, &sb, AT_SYMLINK_NOFOLLOW) == 0 && k < 1000; k++)
        snprintf(target, sizeof target, "%s.%d", file, k);
    if (renameat(s->dirfd, file, qfd, target) != 0 || fsync(qfd) != 0 || fsync(s->dirfd) != 0)
        goto fail;
    close(qfd);
    snprintf(rel, sizeof rel, HBN_STORAGE_QUARANTINE "/%s", target);
    hbn_log_message("warn", "storage: quarantined %s/%s as %s/%s: %s", s->dir, file, s->dir, rel,
                    reason);
    return storage_note(s, rel, reason, err);
fail:
    st = hbn_err_set(err, HBN_E_IO, "cannot move the bad file %s/%s to %s/"
                     HBN_STORAGE_QUARANTINE "/ (%s); it is bad because: %s", s->dir, file,
                     s->dir, storage_strerror(errno, buf, sizeof buf), reason);
    if (qfd >= 0)
        close(qfd);
    return st;
}

/* Loads directory entry FILE: a layer handed to FN, a bad layer file quarantined, anything
 * else left alone. *LOADED / *BAD count what happened. */
static hbn_status storage_load_one(hbn_storage *s, const char *file, hbn_storage_load_fn fn,
                                   void *arg, size_t *loaded, size_t *bad, hbn_err *err)
{
    size_t n = strlen(file), k = strlen(HBN_STORAGE_SUFFIX);
    char name[STORAGE_PATH_MAX];
    hbn_layer *layer = NULL;
    hbn_err why;
    hbn_status st;

    if (strcmp(file, HBN_STORAGE_LOCK) == 0 || strcmp(file, HBN_STORAGE_QUARANTINE) == 0 ||
        storage_has_prefix(file, HBN_STORAGE_TEMP_PREFIX))
        return HBN_OK;
    if (n <= k || strcmp(file + n - k, HBN_STORAGE_SUFFIX) != 0 || n - k >= sizeof name) {
        hbn_log_message("warn", "storage: ignoring %s/%s: not a layer file", s->dir, file);
        return HBN_OK;
    }
    memcpy(name, file, n - k);
    name[n - k] = '\0';
    hbn_err_clear(&why);
    st = storage_verify(s, file, name, &layer, &why);
    if (st == HBN_OK) {
        st = fn(arg, layer, err);
        if (st != HBN_OK)
            hbn_layer_free(layer);
        *loaded += st == HBN_OK;
        return st;
    }
    if (st == HBN_E_NO_MEMORY) {
        *err = why;
        return st;
    }
    (*bad)++;
    return storage_quarantine(s, file, why.msg, err);
}

hbn_status hbn_storage_load(hbn_storage *s, hbn_storage_load_fn fn, void *arg, size_t *loaded,
                            size_t *quarantined, hbn_err *err)
{
    char **names = NULL, buf[128];
    size_t n = 0, good = 0, bad = 0;
    hbn_status st = storage_note_earlier(s, err);

    if (st == HBN_OK && storage_list(s->dirfd, &names, &n) != 0)
        return hbn_err_set(err, HBN_E_IO, "cannot list %s: %s", s->dir,
                           storage_strerror(errno, buf, sizeof buf));
    for (size_t i = 0; i < n && st == HBN_OK; i++)
        st = storage_load_one(s, names[i], fn, arg, &good, &bad, err);
    storage_names_free(names, n);
    if (loaded != NULL)
        *loaded = good;
    if (quarantined != NULL)
        *quarantined = bad;
    return st;
}

void hbn_storage_ready_detail(void *ctx, hbn_strbuf *sb)
{
    const hbn_storage *s = ctx;

    hbn_strbuf_puts(sb, ",\"quarantined\":[");
    for (size_t i = 0; i < s->nquarantined; i++) {
        hbn_strbuf_puts(sb, i > 0 ? ",{\"file\":" : "{\"file\":");
        hbn_strbuf_json_string(sb, s->quarantined[i].file);
        hbn_strbuf_puts(sb, ",\"reason\":");
        hbn_strbuf_json_string(sb, s->quarantined[i].reason);
        hbn_strbuf_puts(sb, "}");
    }
    hbn_strbuf_puts(sb, "]");
}
