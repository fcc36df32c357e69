# test_crash.py: the crash test of durable layers. Each cycle starts the daemon on one data
# directory that lives across cycles, checks that every change acknowledged so far is there and no
# file is corrupt, then lets client threads create layers, checkpoint, write statistics and
# weights, import states and delete, recording every 2xx, and kills the daemon with SIGKILL at a
# random moment. Each client owns its layer names, so at most one of its requests (the one in
# flight at the kill) has an unknown outcome: that layer must then be in its state before or
# after that request, every other layer exactly in its acknowledged state. Layers are small (8
# channels) or large (16384, a file of up to ~1 MB, so that a kill lands mid-write often).
#   make check:                  50 cycles (the default)
#   make crash-test CYCLES=1000: the long run
#   make crash-test-unsafe:      the daemon built to overwrite files in place; --expect-loss
#                                turns the verdict around: success means a violation was caught.
# Exit status 0 on success, 1 on failure, 99 when the daemon is missing (automake: hard error).
import argparse
import array
import http.client
import json
import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
import hbn  # noqa: E402

CLIENTS = 3
NAMES_PER_CLIENT = 4
SMALL_C, BIG_C = 8, 16384
MAX_SLOTS = 6
KILL_AFTER = (0.03, 0.4)  # seconds of client traffic before the kill, uniform
NET_ERRORS = (ConnectionError, http.client.HTTPException, socket.timeout, OSError)


# ---- the patterns layers hold: a tag (1..999) names every value exactly in float32 ---------

def _tile(values, c):
    return (array.array("f", values) * (c // 8)).tobytes()


def mean_bytes(tag, c):
    return _tile([tag + 0.25 * k for k in range(8)], c)


def var_bytes(tag, c):
    return _tile([1.0 + tag + 0.5 * k for k in range(8)], c)


def weight_bytes(wtag, c):
    return _tile([0.5 + wtag + 0.125 * k for k in range(8)], c)


def bias_bytes(wtag, c):
    return _tile([wtag - 0.25 * k for k in range(8)], c)


def floats(b):
    return array.array("f", b).tolist()


def torch_state(c, tag, wtag):
    """A torch.nn.BatchNorm1d state_dict as safetensors: one slot (TAG, count TAG), WTAG weights."""
    parts = [("bias", "F32", [c], bias_bytes(wtag, c)),
             ("num_batches_tracked", "I64", [], struct.pack("<q", tag)),
             ("running_mean", "F32", [c], mean_bytes(tag, c)),
             ("running_var", "F32", [c], var_bytes(tag, c)),
             ("weight", "F32", [c], weight_bytes(wtag, c))]
    header, off = {}, 0
    for name, dtype, shape, raw in parts:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(p[3] for p in parts)


# ---- a layer as the test sees it: (C, weight tag or None, ((slot tag or None, count), ...)) --

def new_layer(c):
    return (c, None, ((None, 0),))


def decode_layer(blob):
    """The tuple form of a hyperbn state file, or raises ValueError naming what is unexpected."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode())
    data = blob[8 + n:]
    meta = header.pop("__metadata__")
    counts = json.loads(meta["hyperbn.num_batches_tracked"])

    def raw(name):
        lo, hi = header[name]["data_offsets"]
        return data[lo:hi]

    c = header["scale"]["shape"][0]
    scale = raw("scale")
    wtag = None if scale == _tile([1.0] * 8, c) else int(floats(scale[:4])[0] - 0.5)
    if wtag is not None and (scale != weight_bytes(wtag, c) or raw("bias") != bias_bytes(wtag, c)):
        raise ValueError("weights hold no pattern")
    slots = []
    for k, count in enumerate(counts):
        mean, var = raw("mean_%d" % k), raw("var_%d" % k)
        if mean == bytes(4 * c) and var == _tile([1.0] * 8, c):
            slots.append((None, count))
            continue
        tag = int(floats(mean[:4])[0])
        if mean != mean_bytes(tag, c) or var != var_bytes(tag, c):
            raise ValueError("slot %d holds no pattern" % k)
        slots.append((tag, count))
    return (c, wtag, tuple(slots))


# ---- clients -------------------------------------------------------------------------------

class Conn:
    """One keep-alive connection; never retries (a retried request could apply twice)."""

    def __init__(self, port):
        self.h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method, path, body=None, ctype="application/json"):
        headers = {"Content-Type": ctype} if body is not None else {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.h.request(method, path, body=body, headers=headers)
        r = self.h.getresponse()
        return r.status, r.read()

    def close(self):
        self.h.close()


class Client(threading.Thread):
    """Owns NAMES; applies random requests until the daemon dies. MODEL maps each name to its
    acknowledged layer (None: absent); PENDING is (name, before, after) of the request in flight
    when the connection broke, or None."""

    def __init__(self, port, names, model, rng):
        super().__init__(daemon=True)
        self.port, self.names, self.model, self.rng = port, names, model, rng
        self.pending = None
        self.acked = 0
        self.error = None

    def choose(self, name):
        """(method, path, body, content type, expected status, layer after) for NAME."""
        rng, cur = self.rng, self.model[name]
        base = "/v1/layers/" + name
        tag, wtag = rng.randrange(1, 1000), rng.randrange(1, 1000)
        if cur is None or rng.random() < 0.12:
            if cur is None and rng.random() < 0.7:
                c = rng.choice((SMALL_C, BIG_C))
                return ("POST", "/v1/layers", {"name": name, "num_features": c},
                        "application/json", 201, new_layer(c))
            c = rng.choice((SMALL_C, BIG_C))
            return ("PUT", base + "/state", torch_state(c, tag, wtag), "application/octet-stream",
                    201 if cur is None else 200, (c, wtag, ((tag, tag),)))
        c, w, slots = cur
        roll = rng.random()
        if roll < 0.08:
            return ("POST", "/v1/layers", {"name": name, "num_features": 8},
                    "application/json", 409, cur)
        if roll < 0.2:
            return ("DELETE", base, None, None, 204, None)
        if roll < 0.45 and len(slots) < MAX_SLOTS:
            return ("POST", base + "/checkpoints", None, None, 201, (c, w, slots + ((None, 0),)))
        if c == SMALL_C and roll < 0.85:
            k = rng.randrange(len(slots))
            body = {"running_mean": floats(mean_bytes(tag, c)),
                    "running_var": floats(var_bytes(tag, c)), "num_batches_tracked": tag}
            after = slots[:k] + ((tag, tag),) + slots[k + 1:]
            return ("PUT", "%s/stats/%d" % (base, k), body, "application/json", 200,
                    (c, w, after))
        if c == SMALL_C:
            body = {"weight": floats(weight_bytes(wtag, c)), "bias": floats(bias_bytes(wtag, c))}
            return ("PUT", base + "/weights", body, "application/json", 200, (c, wtag, slots))
        return ("PUT", base + "/state", torch_state(c, tag, wtag), "application/octet-stream",
                200, (c, wtag, ((tag, tag),)))

    def run(self):
        conn = Conn(self.port)
        try:
            while True:
                name = self.rng.choice(self.names)
                method, path, body, ctype, want, after = self.choose(name)
                before = self.model[name]
                try:
                    status, text = conn.send(method, path, body, ctype)
                except NET_ERRORS:
                    self.pending = (name, before, after)
                    return
                if status != want:
                    self.error = "%s %s: expected %d, got %d %r" % (method, path, want, status,
                                                                    text[:200])
                    return
                self.model[name] = after
                self.acked += 1
        finally:
            conn.close()


# ---- one cycle ------------------------------------------------------------------------------

def verify(port, datadir, model, pendings):
    """Checks the restarted daemon against MODEL and the PENDINGS of the last cycle; resolves
    each pending request into MODEL. Returns a list of violations (empty when all is well)."""
    bad = []
    conn = Conn(port)
    try:
        status, text = conn.send("GET", "/v2/health/ready")
        ready = json.loads(text)
        if status != 200 or ready.get("quarantined"):
            bad.append("ready: %d %s" % (status, text[:300]))
        status, text = conn.send("GET", "/v1/layers")
        listed = {layer["name"] for layer in json.loads(text)["layers"]}
        by_name = {p[0]: p for p in pendings}
        for name in model:
            options = [model[name]]
            if name in by_name:
                options.append(by_name[name][2])
            status, blob = conn.send("GET", "/v1/layers/%s/state" % name)
            try:
                got = decode_layer(blob) if status == 200 else None
            except (ValueError, KeyError, IndexError, struct.error) as e:
                bad.append("layer %s: unexpected content (%s)" % (name, e))
                continue
            if status not in (200, 404):
                bad.append("layer %s: GET state answered %d" % (name, status))
            elif got not in options:
                bad.append("layer %s: on disk %s, acknowledged %s%s" % (
                    name, summary(got), summary(model[name]),
                    " or %s" % summary(options[1]) if len(options) > 1 else ""))
            else:
                model[name] = got
        extra = listed - set(model)
        if extra:
            bad.append("unknown layers served: %s" % sorted(extra))
    finally:
        conn.close()
    files = sorted(os.listdir(datadir))
    want = sorted(["LOCK"] + [n + ".safetensors" for n, v in model.items() if v is not None])
    if files != want:
        bad.append("data directory holds %s, expected %s" % (files, want))
    return bad


def summary(layer):
    if layer is None:
        return "absent"
    c, w, slots = layer
    return "C=%d w=%s slots=%s" % (c, w, list(slots))


def run(cycles, seed, expect_loss, keep):
    rng = random.Random(seed)
    root = tempfile.mkdtemp(prefix="hbn-crash-")
    datadir = os.path.join(root, "data")
    names = [["c%d-l%d" % (i, j) for j in range(NAMES_PER_CLIENT)] for i in range(CLIENTS)]
    model = {n: None for group in names for n in group}
    pendings, acked, in_flight, t0 = [], 0, 0, time.monotonic()
    violations = []
    try:
        for cycle in range(1, cycles + 1):
            d = hbn.Daemon("--data-dir", datadir, "--threads", "2").start()
            try:
                violations = verify(d.port, datadir, model, pendings)
                if violations:
                    break
                clients = [Client(d.port, names[i], model, random.Random(rng.random()))
                           for i in range(CLIENTS)]
                for cl in clients:
                    cl.start()
                time.sleep(rng.uniform(*KILL_AFTER))  # the random instant of the crash
            finally:
                d.kill()
            for cl in clients:
                cl.join(30)
            errors = [cl.error for cl in clients if cl.error]
            if errors:
                violations = ["cycle %d: %s" % (cycle, e) for e in errors]
                break
            pendings = [cl.pending for cl in clients if cl.pending is not None]
            acked += sum(cl.acked for cl in clients)
            in_flight += len(pendings)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - t0
    print("crash test: %d cycle%s in %.1f s, %d acknowledged changes, %d requests cut by the "
          "kill, %d layers at the end" % (cycle, "" if cycle == 1 else "s", elapsed, acked,
                                          in_flight, sum(v is not None for v in model.values())))
    for v in violations:
        print("VIOLATION at cycle %d: %s" % (cycle, v))
    if keep:
        print("data directory kept: %s" % datadir)
    if expect_loss:
        ok = bool(violations)
        print("negative control: the crash test %s the unsafe build's damage" %
              ("caught" if ok else "did NOT catch"))
    else:
        ok = not violations
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cycles", type=int, default=int(os.environ.get("HBN_CRASH_CYCLES", "50")))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--expect-loss", action="store_true",
                    help="negative control: succeed only when a violation is caught")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("crash test: seed %d (rerun with --seed %d)" % (seed, seed))
    hbn.require_binary()
    sys.exit(run(args.cycles, seed, args.expect_loss, args.keep))


if __name__ == "__main__":
    main()
