# test_durability.py: durable layers (--data-dir) against the real daemon. State moves between
# daemons through GET/PUT .../state byte for byte; a torch-made BatchNorm2d state imports over
# HTTP with the values PyTorch wrote (tests/fixtures/state/expected.json); every acknowledged
# change survives kill -9; train updates reach the disk within --flush-interval, at SIGTERM, or
# before the reply with interval 0; start-up removes stale temporary files, quarantines a corrupt
# file and lists it in the ready body; a second daemon on the same directory is refused. With
# the test build tests/hyperbnd-faults a file operation fails on demand: 507 for ENOSPC, 500
# otherwise, the old file and the served state unchanged; a failed directory fsync (after a write
# or after a delete's unlink) makes the daemon not ready and refuses writes with 503; a failing
# background flush is logged once when it starts and once when it ends, not at every tick.
import array
import contextlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

SRCDIR = os.environ.get("HBN_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures", "state")
OCTETS = {"Content-Type": "application/octet-stream"}


def parse_state(blob):
    """(tensors {name: list of floats or int}, metadata dict) of a safetensors file."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        if t["dtype"] == "F32":
            tensors[name] = array.array("f", data[lo:hi]).tolist()
        elif t["dtype"] == "I64":
            tensors[name] = struct.unpack("<q", data[lo:hi])[0]
    return tensors, meta


def file_count(path, slot=0):
    """num_batches_tracked of SLOT in the layer file PATH (None when absent or unreadable)."""
    try:
        with open(path, "rb") as f:
            _, meta = parse_state(f.read())
        return json.loads(meta["hyperbn.num_batches_tracked"])[slot]
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return None


def snapshot(c):
    """Everything a client observes: the layer list and, per layer, weights and every slot."""
    r = c.get("/v1/layers")
    assert r.status == 200, r
    out = {"layers": r.json()["layers"]}
    for layer in out["layers"]:
        name = layer["name"]
        if layer["affine"]:
            out[name + "/weights"] = c.get("/v1/layers/%s/weights" % name).json()
        for k in range(layer["num_stats"]):
            out["%s/stats/%d" % (name, k)] = c.stats(name, k)
    return out


def train(c, name, rng, sid=None, shape=(6, 3)):
    x = hbn.rand_tensor(rng, list(shape), loc=rng.uniform(-2, 2), scale=rng.uniform(0.5, 3))
    doc = {"inputs": {"shape": list(shape), "data": x}, "mode": "train"}
    if sid is not None:
        doc["stats_id"] = sid
    return c.forward(name, doc)


@contextlib.contextmanager
def daemon_binary(path):
    """Makes hbn.Daemon start PATH instead of server/hyperbnd inside the block."""
    old = os.environ.get("HBN_HYPERBND")
    os.environ["HBN_HYPERBND"] = path
    try:
        yield
    finally:
        if old is None:
            del os.environ["HBN_HYPERBND"]
        else:
            os.environ["HBN_HYPERBND"] = old


class DataDirCase(unittest.TestCase):
    """A fresh data directory per test, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hbn-durability-")
        self.dir = os.path.join(self.tmp, "data")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *flags, env=None):
        d = hbn.Daemon("--data-dir", self.dir, *flags, env=env).start()
        self.daemons.append(d)
        return d

    def path(self, name):
        return os.path.join(self.dir, name + ".safetensors")

    def file_bytes(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()


class StateMoves(unittest.TestCase):
    def test_export_import_into_a_fresh_daemon(self):
        rng = random.Random(4)
        with hbn.Daemon() as a, hbn.Daemon() as b:
            ca, cb = a.client(), b.client()
            ca.create("bn1", 3, momentum=0.2, eps=1e-3)
            for _ in range(3):
                train(ca, "bn1", rng)
            self.assertEqual(ca.post("/v1/layers/bn1/checkpoints").status, 201)
            train(ca, "bn1", rng, sid=1)
            r = ca.put("/v1/layers/bn1/weights", {"weight": [1.5, -0.5, 2], "bias": [0, 1, -1]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(ca.put("/v1/layers/bn1/mode", {"mode": "eval"}).status, 200)
            blob = ca.get("/v1/layers/bn1/state").body
            r = cb.request("PUT", "/v1/layers/bn1/state", body=blob, headers=OCTETS)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.header("Location"), "/v1/layers/bn1")
            self.assertEqual(snapshot(cb), snapshot(ca))
            self.assertEqual(cb.get("/v1/layers/bn1/state").body, blob)  # byte for byte
            x = hbn.rand_tensor(rng, [4, 3, 2])
            for sid in (0, 1):
                doc = {"inputs": {"shape": [4, 3, 2], "data": x}, "stats_id": sid}
                self.assertEqual(cb.forward("bn1", doc), ca.forward("bn1", doc))
            ca.close()
            cb.close()

    def test_torch_batchnorm2d_file_over_http(self):
        with open(os.path.join(FIXTURES, "expected.json")) as f:
            want = json.load(f)["torch_bn2d"]
        with open(os.path.join(FIXTURES, "torch_bn2d.safetensors"), "rb") as f:
            blob = f.read()
        with hbn.Daemon() as d:
            c = d.client()
            r = c.request("PUT", "/v1/layers/tb/state?momentum=0.25", body=blob,
                          headers=OCTETS)
            self.assertEqual(r.status, 201, r)
            layer = r.json()
            self.assertEqual((layer["num_features"], layer["num_stats"], layer["momentum"]),
                             (5, 1, 0.25))
            st = c.stats("tb")
            self.assertEqual(hbn.f32_list(st["running_mean"]), hbn.f32_list(want["running_mean"]))
            self.assertEqual(hbn.f32_list(st["running_var"]), hbn.f32_list(want["running_var"]))
            self.assertEqual(st["num_batches_tracked"], want["num_batches_tracked"])
            w = c.get("/v1/layers/tb/weights").json()
            self.assertEqual(hbn.f32_list(w["weight"]), hbn.f32_list(want["weight"]))
            self.assertEqual(hbn.f32_list(w["bias"]), hbn.f32_list(want["bias"]))
            r = c.request("PUT", "/v1/layers/tb/state", body=b"", headers=OCTETS)
            self.assertEqual((r.status, r.code), (422, "invalid_state"))
            r = c.request("PUT", "/v1/layers/tb/state?eps=zero", body=blob, headers=OCTETS)
            self.assertEqual((r.status, r.code), (400, "invalid_argument"))
            self.assertEqual(c.stats("tb"), st)
            c.close()


class Persistence(DataDirCase):
    def build(self, c, rng):
        """One of every acknowledged change."""
        c.create("a", 3)
        c.create("b", 2, affine=False, momentum=None)
        c.create("f", 2, track_running_stats=False, frozen_stats=True)
        c.create("gone", 2)
        self.assertEqual(c.post("/v1/layers/a/checkpoints").status, 201)
        r = c.put("/v1/layers/a/stats/1", {"running_mean": [1, 2, 3],
                                           "running_var": [0.5, 0.25, 4],
                                           "num_batches_tracked": 9})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(c.put("/v1/layers/a/weights",
                               {"weight": [2, 3, 4], "bias": [-1, 0, 1]}).status, 200)
        self.assertEqual(c.put("/v1/layers/b/mode", {"mode": "eval"}).status, 200)
        with open(os.path.join(FIXTURES, "torch_bn2d.safetensors"), "rb") as f:
            r = c.request("PUT", "/v1/layers/t/state", body=f.read(), headers=OCTETS)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(c.delete("/v1/layers/gone").status, 204)

    def test_acknowledged_changes_survive_kill_9(self):
        rng = random.Random(7)
        d = self.start()
        c = d.client()
        self.build(c, rng)
        before = snapshot(c)
        d.kill()  # SIGKILL: no shutdown code runs
        d = self.start()
        c = d.client()
        self.assertEqual(snapshot(c), before)
        files = sorted(os.listdir(self.dir))
        self.assertEqual(files, ["LOCK", "a.safetensors", "b.safetensors", "f.safetensors",
                                 "t.safetensors"])
        r = c.get("/v2/health/ready")
        self.assertEqual((r.status, r.json()), (200, {"ready": True, "quarantined": []}))
        c.close()

    def test_train_updates_written_at_sigterm(self):
        rng = random.Random(8)
        d = self.start("--flush-interval", "3600")
        c = d.client()
        c.create("bn1", 3)
        train(c, "bn1", rng)
        train(c, "bn1", rng)
        after = c.stats("bn1")
        self.assertEqual(after["num_batches_tracked"], 2)
        self.assertEqual(file_count(self.path("bn1")), 0)  # not yet: the interval is an hour
        c.close()
        self.assertEqual(d.stop(), 0)
        self.assertIsNotNone(d.wait_line(lambda l: "final flush: wrote the train updates of 1 "
                                                   "layer" in l, 1))
        c = self.start().client()
        self.assertEqual(c.stats("bn1"), after)
        c.close()

    def test_train_updates_written_within_the_interval(self):
        rng = random.Random(9)
        d = self.start("--flush-interval", "1")
        c = d.client()
        c.create("bn1", 3)
        train(c, "bn1", rng)
        t0 = time.monotonic()
        after = c.stats("bn1")
        deadline = t0 + 10
        while file_count(self.path("bn1")) != 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a file under a deadline, not synchronising on time
        waited = time.monotonic() - t0
        self.assertEqual(file_count(self.path("bn1")), 1)
        self.assertLess(waited, 3.0, "the flush took %.2f s with --flush-interval 1" % waited)
        d.kill()
        c = self.start().client()
        self.assertEqual(c.stats("bn1"), after)
        c.close()

    def test_flush_interval_zero_writes_before_the_reply(self):
        rng = random.Random(10)
        d = self.start(env={"HYPERBN_FLUSH_INTERVAL": "0"})
        c = d.client()
        c.create("bn1", 3)
        train(c, "bn1", rng)
        self.assertEqual(file_count(self.path("bn1")), 1)  # already, before any interval
        after = c.stats("bn1")
        d.kill()
        c = self.start().client()
        self.assertEqual(c.stats("bn1"), after)
        c.close()

    def test_data_dir_from_the_environment(self):
        with hbn.Daemon(env={"HYPERBN_DATA_DIR": self.dir}) as d:
            c = d.client()
            c.create("env1", 2)
            c.close()
        self.assertTrue(os.path.exists(self.path("env1")))

    def test_stale_temporary_files_removed_others_kept(self):
        os.makedirs(self.dir)
        for name, data in ((".tmp.3.x.safetensors", b"torn"), ("notes.txt", b"mine")):
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        d = self.start()
        self.assertEqual(sorted(os.listdir(self.dir)), ["LOCK", "notes.txt"])
        self.assertIsNotNone(d.wait_line(lambda l: "removed 1 stale temporary file" in l, 1))

    def test_corrupt_file_quarantined_at_start(self):
        d = self.start()
        c = d.client()
        c.create("good", 2)
        c.create("bad", 2)
        c.close()
        self.assertEqual(d.stop(), 0)
        blob = bytearray(self.file_bytes("bad"))
        blob[-1] ^= 0x10  # one bit of the last statistic
        with open(self.path("bad"), "wb") as f:
            f.write(blob)
        d = self.start()
        c = d.client()
        r = c.get("/v2/health/ready")
        self.assertEqual(r.status, 200, r)
        q = r.json()["quarantined"]
        self.assertEqual(len(q), 1, q)
        self.assertEqual(q[0]["file"], "quarantine/bad.safetensors")
        self.assertIn("checksum mismatch", q[0]["reason"])
        self.assertEqual(c.get("/v1/layers/bad").status, 404)
        self.assertEqual(c.get("/v1/layers/good").status, 200)
        with open(os.path.join(self.dir, "quarantine", "bad.safetensors"), "rb") as f:
            self.assertEqual(f.read(), bytes(blob))  # kept as it was, for a human to look at
        self.assertIsNotNone(d.wait_line(
            lambda l: "quarantined" in l and "bad.safetensors" in l and "checksum" in l, 1))
        c.close()

    def test_second_daemon_on_the_same_directory_is_refused(self):
        first = self.start()
        argv = [hbn.require_binary(), "--port", "0", "--data-dir", self.dir]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        self.assertEqual(p.returncode, 1, p)
        err = p.stderr.decode()
        self.assertIn("is in use by another hyperbnd (pid %d)" % first.proc.pid, err)
        self.assertNotIn("listening", err)
        c = first.client()
        self.assertEqual(c.get("/v2/health/ready").status, 200)
        c.close()

    def test_unusable_data_dir_fails_start(self):
        argv = [hbn.require_binary(), "--port", "0", "--data-dir",
                os.path.join(self.tmp, "no", "such", "dir")]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("cannot create the data directory", p.stderr.decode())
        p = subprocess.run([hbn.require_binary(), "--flush-interval", "-1"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        self.assertEqual(p.returncode, 2, p)


FAULTS_BINARY = os.path.join(os.environ.get("HBN_BUILDDIR", os.getcwd()), "tests",
                             "hyperbnd-faults")


class Faults(DataDirCase):
    """The daemon built with HBN_STORAGE_FAULTS: a line "OP ERRNO" in $HBN_STORAGE_FAULTS makes
    that file operation fail until the line is removed."""

    def setUp(self):
        super().setUp()
        if not os.access(FAULTS_BINARY, os.X_OK):
            raise AssertionError("no %s (make builds it)" % FAULTS_BINARY)
        self.faults = os.path.join(self.tmp, "faults")
        self.arm(None)
        self.start_faulty("0")
        self.c = self.d.client()
        self.c.create("bn1", 2)
        r = self.c.put("/v1/layers/bn1/stats/0", {"running_mean": [1, 2],
                                                  "running_var": [3, 4],
                                                  "num_batches_tracked": 5})
        self.assertEqual(r.status, 200, r)

    def start_faulty(self, interval):
        """Starts the fault-injecting daemon as self.d, flushing every INTERVAL seconds."""
        with daemon_binary(FAULTS_BINARY):
            self.d = self.start("--flush-interval", interval,
                                env={"HBN_STORAGE_FAULTS": self.faults})

    def tearDown(self):
        self.c.close()
        super().tearDown()

    def arm(self, op, errname=None):
        with open(self.faults, "w") as f:
            if op is not None:
                f.write("%s %s\n" % (op, errname))

    def assert_unchanged(self, before_file, before_state):
        self.assertEqual(self.file_bytes("bn1"), before_file)
        self.assertEqual(snapshot(self.c), before_state)
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith(".tmp.")], [])

    def test_each_fault_status_and_nothing_changed(self):
        cases = [("write", "ENOSPC", 507, "insufficient_storage"),
                 ("write", "EDQUOT", 507, "insufficient_storage"),
                 ("create", "ENOSPC", 507, "insufficient_storage"),
                 ("fsync", "EIO", 500, "io_error"),
                 ("rename", "EIO", 500, "io_error"),
                 ("write", "EIO", 500, "io_error")]
        rng = random.Random(11)
        with open(os.path.join(FIXTURES, "torch_bn2d.safetensors"), "rb") as f:
            torch_blob = f.read()
        requests = [
            ("PUT stats", lambda: self.c.put("/v1/layers/bn1/stats/0",
                                             {"running_mean": [9, 9], "running_var": [9, 9]})),
            ("checkpoint", lambda: self.c.post("/v1/layers/bn1/checkpoints")),
            ("mode", lambda: self.c.put("/v1/layers/bn1/mode", {"mode": "eval"})),
            ("weights", lambda: self.c.put("/v1/layers/bn1/weights",
                                           {"weight": [5, 5], "bias": [5, 5]})),
            ("PUT state", lambda: self.c.request("PUT", "/v1/layers/bn1/state",
                                                 body=torch_blob, headers=OCTETS)),
            ("create", lambda: self.c.post("/v1/layers", {"name": "bn2", "num_features": 2})),
            ("train forward", lambda: self.c.post("/v1/layers/bn1/forward", {
                "inputs": {"shape": [4, 2], "data": hbn.rand_tensor(rng, [4, 2])}})),
        ]
        before_file, before_state = self.file_bytes("bn1"), snapshot(self.c)
        for op, errname, status, code in cases:
            for what, send in requests:
                with self.subTest(op=op, errno=errname, request=what):
                    self.arm(op, errname)
                    r = send()
                    self.assertEqual((r.status, r.code), (status, code), r)
                    self.assertFalse(os.path.exists(self.path("bn2")))
                    self.arm(None)
                    self.assert_unchanged(before_file, before_state)
        r = self.c.put("/v1/layers/bn1/stats/0", {"running_mean": [9, 9], "running_var": [9, 9]})
        self.assertEqual(r.status, 200, r)  # the fault is gone: writes work again
        self.assertEqual(self.c.get("/v2/health/ready").status, 200)

    def persist_counts(self):
        r = self.c.get("/metrics")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode()
        found = {}
        for line in text.splitlines():
            for name in ("hyperbn_persist_operations_total", "hyperbn_persist_failures_total"):
                if line.startswith(name + " "):
                    found[name] = int(line.split()[1])
        self.assertEqual(len(found), 2, text)
        return found["hyperbn_persist_operations_total"], found["hyperbn_persist_failures_total"]

    def test_metrics_count_persist_operations_and_failures(self):
        ok0, failed0 = self.persist_counts()
        self.assertGreaterEqual(ok0, 2)  # the create and the PUT stats of setUp
        self.assertEqual(failed0, 0)
        self.arm("write", "ENOSPC")
        r = self.c.post("/v1/layers/bn1/checkpoints")
        self.assertEqual((r.status, r.code), (507, "insufficient_storage"), r)
        self.arm(None)
        self.assertEqual(self.persist_counts(), (ok0, failed0 + 1))
        self.assertEqual(self.c.post("/v1/layers/bn1/checkpoints").status, 201)
        self.assertEqual(self.persist_counts(), (ok0 + 1, failed0 + 1))

    def test_delete_fault_keeps_the_layer(self):
        before_file, before_state = self.file_bytes("bn1"), snapshot(self.c)
        self.arm("unlink", "EIO")
        r = self.c.delete("/v1/layers/bn1")
        self.assertEqual((r.status, r.code), (500, "io_error"), r)
        self.arm(None)
        self.assert_unchanged(before_file, before_state)
        self.assertEqual(self.c.delete("/v1/layers/bn1").status, 204)
        self.assertFalse(os.path.exists(self.path("bn1")))

    def dirsync_fails(self, request):
        """Runs REQUEST (a callable returning a reply) with the data directory's fsync failing:
        it must answer 500 io_error, and the daemon must then be not ready because its storage
        failed. Returns the readiness reply."""
        self.arm("dirsync", "EIO")
        r = request()
        self.assertEqual((r.status, r.code), (500, "io_error"), r)
        self.arm(None)
        r = self.c.get("/v2/health/ready")
        self.assertEqual(r.status, 503, r)
        self.assertIn("storage failed", r.json()["error"])
        return r

    def test_directory_fsync_failure_makes_the_daemon_not_ready(self):
        before = self.c.stats("bn1")
        r = self.dirsync_fails(lambda: self.c.post("/v1/layers/bn1/checkpoints"))
        self.assertEqual(r.json()["quarantined"], [])
        r = self.c.put("/v1/layers/bn1/mode", {"mode": "eval"})
        self.assertEqual((r.status, r.code), (503, "unavailable"), r)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(self.c.get("/v1/layers/bn1").json()["num_stats"], 1)
        self.assertEqual(self.c.stats("bn1"), before)  # reads still work
        doc = {"inputs": [[1.0, 2.0], [3.0, 5.0]], "mode": "eval"}
        self.c.forward("bn1", doc)
        self.assertIsNotNone(self.d.wait_line(lambda l: "fsync of the data directory" in l, 1))

    def test_directory_fsync_failure_on_delete_makes_the_daemon_not_ready(self):
        """A delete unlinks and fsyncs the directory: when that fsync fails the delete is an
        io_error and the daemon is not ready, as after a write."""
        self.dirsync_fails(lambda: self.c.delete("/v1/layers/bn1"))
        r = self.c.delete("/v1/layers/bn1")
        self.assertEqual((r.status, r.code), (503, "unavailable"), r)
        r = self.c.post("/v1/layers", {"name": "bn2", "num_features": 2})
        self.assertEqual((r.status, r.code), (503, "unavailable"), r)
        self.assertFalse(os.path.exists(self.path("bn2")))
        self.assertEqual(self.c.get("/v1/layers/bn1").status, 200)  # the served layer stays
        self.assertIsNotNone(self.d.wait_line(
            lambda l: "fsync of the data directory" in l and "removing layer bn1" in l, 1))

    def test_failing_flush_logged_when_it_starts_and_ends(self):
        """Background flushes failing for three ticks and more: one "failed" line, one "works
        again" line, whatever the number of failed ticks."""
        self.c.close()
        self.assertEqual(self.d.stop(), 0)
        self.start_faulty("1")  # the shortest interval the daemon accepts
        self.c = self.d.client()
        _, failed0 = self.persist_counts()
        self.arm("write", "EIO")
        train(self.c, "bn1", random.Random(12), shape=(4, 2))  # dirty: every tick writes it
        deadline = time.monotonic() + 15
        failed = failed0
        while failed < failed0 + 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the metrics under a deadline, not synchronising on time
            failed = self.persist_counts()[1]
        self.assertGreaterEqual(failed, failed0 + 3, "fewer than three failed flush ticks")
        self.arm(None)
        again = self.d.wait_line(lambda l: "flush of train updates works again" in l, 10)
        self.assertIsNotNone(again, self.d.lines[-20:])
        self.assertEqual(file_count(self.path("bn1")), 6)  # the 5 of setUp and the train step
        lines = list(self.d.lines)  # the flusher logs in order: every failed tick's line is in
        flush_lines = [l for l in lines if "flush of train updates" in l]
        self.assertEqual(len([l for l in flush_lines if "failed" in l]), 1, flush_lines)
        self.assertEqual(len([l for l in flush_lines if "works again" in l]), 1, flush_lines)
        self.assertEqual(len(flush_lines), 2, flush_lines)
        self.assertLess(lines.index(flush_lines[0]), lines.index(again))
        self.assertIn("failed", flush_lines[0])


if __name__ == "__main__":
    hbn.main()
