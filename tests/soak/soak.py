#!/usr/bin/python3
# soak.py: the checking load and soak client of hyperbn (Python 3 standard library only).
# Drives N keep-alive HTTP/1.1 connections (asyncio over raw sockets, one thread) with a mixed
# workload against one daemon and verifies every answer against values computed here from
# hbn.py's reference of SEMANTICS 4, never by asking the daemon. At the end it checks the
# lost-update invariants (cumulative-average slots trained by every connection, acknowledged
# checkpoints against existing slots) and reports throughput, latency percentiles, errors by
# class and the daemon's RSS and descriptor counts. Exit: 0 clean, 1 any failure, 2 usage/setup.
# Run: `make soak SOAK_SECONDS=600 SOAK_CONNECTIONS=64` in a build tree, or soak.py --help.
import argparse
import array
import asyncio
import json
import math
import os
import random
import re
import signal
import socket
import sys
import time
import urllib.parse
from collections import deque

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import hbn  # noqa: E402  (the shared reference: f32, batch_stats, normalize, running_update)

C = 8                      # channels of every layer
EPS = 1e-5
RTOL = ATOL = 1e-5         # per-value tolerance of every float comparison (float32 results)
POOL = 24                  # precomputed batches per layer
SHAPES = ([8, C], [4, C, 3], [2, C, 2, 2], [16, C])
LAYER_KEYS = {"name", "num_features", "momentum", "eps", "affine", "track_running_stats",
              "frozen_stats", "learnable_stats", "mode", "num_stats", "param_shapes",
              "hyper_shapes"}
STATS_KEYS = {"stats_id", "running_mean", "running_var", "num_batches_tracked"}
READY_RE = re.compile(r"^hyperbnd: listening on (\S+):(\d+)$")
NET_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


class Wrong(Exception):
    """A verification mismatch: the daemon answered the expected status with a wrong body."""


def require(cond, fmt, *args):
    if not cond:
        raise Wrong(fmt % args if args else fmt)


def close(got, want):
    return abs(got - want) <= ATOL + RTOL * abs(want)


def compare(got, want, what):
    require(len(got) == len(want), "%s: %d values, expected %d", what, len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        if not (isinstance(g, (int, float)) and close(g, w)):
            raise Wrong("%s[%d]: got %r, expected %r" % (what, i, g, w))


def exact_f32(got, want, what):
    """GOT (parsed JSON numbers) must be exactly the float32 values WANT."""
    require(isinstance(got, list) and len(got) == len(want), "%s: %r", what, got)
    for i, (g, w) in enumerate(zip(got, want)):
        require(isinstance(g, (int, float)) and hbn.f32(g) == w,
                "%s[%d]: got %r, expected exactly %r", what, i, g, w)


if hasattr(asyncio, "timeout"):
    async def bounded(aw, seconds):
        async with asyncio.timeout(seconds):
            return await aw
else:  # Python < 3.11
    async def bounded(aw, seconds):
        return await asyncio.wait_for(aw, seconds)


# ---- requests: bytes built once --------------------------------------------------------------

class Http:
    """Builds complete HTTP/1.1 request bytes for one server (Host and Authorization fixed)."""

    def __init__(self, host, port, key):
        self.host, self.port = host, port
        self.fixed = "Host: %s:%d\r\n" % (host, port)
        if key is not None:
            self.fixed += "Authorization: Bearer %s\r\n" % key

    def req(self, method, path, body=None, ctype="application/json", close_conn=False):
        head = "%s %s HTTP/1.1\r\n%s" % (method, path, self.fixed)
        if close_conn:
            head += "Connection: close\r\n"
        if body is None:
            return (head + "\r\n").encode()
        if isinstance(body, str):
            body = body.encode()
        head += "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (ctype, len(body))
        return head.encode() + body


class Conn:
    """One keep-alive connection; reopened lazily after a close or an error."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, data):
        """Sends DATA, reads one response: (status, {lower-case header: value}, body)."""
        await self.open()
        self.writer.write(data)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status in (204, 304) or status < 200:
            body = b""
        elif "content-length" in hdrs:
            body = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            hdrs["connection"] = "close"
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, body

    async def _chunked(self):
        body = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await self.reader.readexactly(size + 2))[:size]
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return body


# ---- the expected world: layers, their precomputed batches and what was acknowledged --------

def tensor_text(x, shape, obj):
    """The JSON text of tensor X of SHAPE: nested arrays, or {"shape", "data"} when OBJ."""
    if obj:
        return '{"shape":[%s],"data":[%s]}' % (",".join(map(str, shape)),
                                             ",".join("%.9g" % v for v in x))
    if len(shape) == 1:
        return "[" + ",".join("%.9g" % v for v in x) + "]"
    step = hbn.numel(shape[1:])
    return "[" + ",".join(tensor_text(x[i * step:(i + 1) * step], shape[1:], False)
                          for i in range(shape[0])) + "]"


def floats_text(v):
    return "[" + ",".join("%.9g" % t for t in v) + "]"


class Batch:
    """One input batch with everything the reference says about it."""

    def __init__(self, rng, k, layer_w, layer_b):
        self.shape = SHAPES[k % len(SHAPES)]
        self.obj = k % 3 == 0
        loc = [1.5 + 0.5 * c for c in range(C)]
        inner = hbn.numel(self.shape[2:])
        self.x = [hbn.f32(rng.gauss(loc[(i // inner) % C], 1.0 + 0.1 * ((i // inner) % C)))
                  for i in range(hbn.numel(self.shape))]
        self.text = tensor_text(self.x, self.shape, self.obj)
        self.shape_q = ",".join(map(str, self.shape))
        self.raw = hbn.pack_f32(self.x)
        self.train_out, self.mu, s2, m = hbn.batch_norm_train(self.x, self.shape, EPS,
                                                             layer_w, layer_b)
        self.s2, self.m = s2, m
        self.uvar = [v * m / (m - 1) for v in s2]


def rand_vec(rng, lo, hi):
    return [hbn.f32(rng.uniform(lo, hi)) for _ in range(C)]


class Layer:
    """A fixed layer of the run: configuration, set values and precomputed requests."""

    def __init__(self, http, rng, name, kind, momentum):
        self.name, self.kind, self.momentum = name, kind, momentum
        self.path = "/v1/layers/" + name
        self.w, self.b = rand_vec(rng, 0.5, 2.0), rand_vec(rng, -1.0, 1.0)
        self.rm, self.rv = rand_vec(rng, 1.0, 5.0), rand_vec(rng, 0.5, 3.0)
        self.count0 = {"stable": 7, "flip": 0, "cma": 0}[kind]
        self.pool = [Batch(rng, k, self.w, self.b) for k in range(POOL)]
        for k, e in enumerate(self.pool):
            e.eval_out = hbn.normalize(e.x, e.shape, self.rm, self.rv, EPS, self.w, self.b)
            self._requests(http, rng, k, e)
        # bookkeeping of the run
        self.sent = self.acked = self.unknown = 0       # flip forwards (any mode) / train ones
        self.slots, self.slot_set = [0], {0}            # cma: acknowledged slot ids
        self.s_sent, self.s_acked, self.s_unknown = {0: 0}, {0: 0}, {0: 0}
        self.hits = {0: {}}                             # cma: slot -> {pool index: acked}
        self.ck_sent = self.ck_acked = self.ck_unknown = 0
        self.expect_rm = list(self.rm)                  # what stats reads must return

    def _requests(self, http, rng, k, e):
        p = self.path
        sid = ',"stats_id":0' if k % 2 else ""
        e.eval_req = http.req("POST", p + "/forward", '{"inputs":%s%s}' % (e.text, sid))
        e.eval_bin = http.req("POST", "%s/forward?shape=%s%s" % (
            p, e.shape_q, "&stats_id=0" if k % 2 else ""), e.raw, "application/octet-stream")
        e.infer_id = "soak-%d" % k
        e.infer_req = http.req("POST", "/v2/models/%s/infer" % self.name, json.dumps({
            "id": e.infer_id, "parameters": {"stats_id": 0},
            "inputs": [{"name": "inputs", "datatype": "FP32", "shape": e.shape,
                        "data": e.x}]}))
        e.flip_req = http.req("POST", p + "/forward", '{"inputs":%s}' % e.text)
        # train mode with given stats and hypernetwork weights: a pure function of the request
        gm, gv, gn = rand_vec(rng, -1.0, 1.0), rand_vec(rng, 0.5, 2.0), rng.randrange(0, 50)
        gw, gb = rand_vec(rng, 0.5, 2.0), rand_vec(rng, -1.0, 1.0)
        e.given_req = http.req("POST", p + "/forward", (
            '{"inputs":%s,"mode":"train","running_mean":%s,"running_var":%s,'
            '"num_batches_tracked":%d,"weight":%s,"bias":%s}') % (
            e.text, floats_text(gm), floats_text(gv), gn, floats_text(gw), floats_text(gb)))
        e.given_out = hbn.normalize(e.x, e.shape, e.mu, e.s2, EPS, gw, gb)
        e.given_rm, e.given_rv, e.given_n = hbn.running_update(
            gm, gv, gn, e.mu, e.s2, e.m, self.momentum)
        e.train_head = '{"inputs":%s,"mode":"train","stats_id":' % e.text
        e.train_bin = "%s/forward?shape=%s&mode=train&stats_id=" % (p, e.shape_q)

    def add_slot(self, k):
        self.slots.append(k)
        self.slot_set.add(k)
        self.s_sent[k] = self.s_acked[k] = self.s_unknown[k] = 0
        self.hits[k] = {}

    def average(self, sid):
        """The plain average of the acknowledged batches' means and unbiased variances of SID,
        and the largest magnitude among the averaged values (for the rounding allowance)."""
        hits = self.hits[sid]
        n = sum(hits.values())
        mean = [math.fsum(self.pool[i].mu[c] * k for i, k in hits.items()) / n for c in range(C)]
        var = [math.fsum(self.pool[i].uvar[c] * k for i, k in hits.items()) / n
               for c in range(C)]
        scale = max(max(abs(v) for i in hits for v in self.pool[i].mu + self.pool[i].uvar), 1.0)
        return mean, var, scale


def cma_tolerance(n, scale):
    """Allowance for N float32 incremental-average steps (rounding error ~2^-24 of SCALE each,
    weighted k/N, random signs: sd ~ 2^-24 * SCALE * sqrt(N) / 3); 6 sd on top of ATOL."""
    return 6.0 * math.sqrt(max(n, 1)) * 2.0 ** -24 * scale


class Model:
    """Every layer of the run and the expected answers (built before the load starts)."""

    def __init__(self, http, seed, runid, pairs):
        rng = random.Random(seed)
        self.http, self.prefix = http, "soak%s" % runid
        mk = lambda kind, i, mom: Layer(http, rng, "%s-%s-%d" % (self.prefix, kind, i), kind, mom)
        self.stable = [mk("stable", i, 0.1) for i in range(pairs)]
        self.flip = [mk("flip", i, 0.0) for i in range(pairs)]
        self.cma = [mk("cma", i, None) for i in range(pairs)]
        self.layers = self.stable + self.flip + self.cma
        self.churn_pool = [Batch(rng, k, None, None) for k in range(POOL)]
        self.churn_unknown = 0   # churn sequences cut by a connection error


# ---- accounting -------------------------------------------------------------------------------

class Recorder:
    """Counts, latencies and errors of one phase (warm-up or measured)."""
    SAMPLES = 40

    def __init__(self):
        self.count, self.lat = {}, {}
        self.unexpected = {}     # (op, status) -> n
        self.wrong = {}          # op -> n
        self.conn = {}           # error class -> n
        self.samples = []        # the first few error descriptions

    def request(self, op):
        self.count[op] = self.count.get(op, 0) + 1

    def latency(self, op, seconds):
        a = self.lat.get(op)
        if a is None:
            a = self.lat[op] = array.array("d")
        a.append(seconds * 1000.0)

    def _sample(self, text):
        if len(self.samples) < self.SAMPLES:
            self.samples.append(text)

    def bad_status(self, op, status, data, body):
        key = (op, status)
        self.unexpected[key] = self.unexpected.get(key, 0) + 1
        self._sample("unexpected status %d on %s (%s): %r" % (
            status, op, data.split(b"\r\n", 1)[0].decode("latin-1"), body[:200]))

    def wrong_answer(self, op, text):
        self.wrong[op] = self.wrong.get(op, 0) + 1
        self._sample("wrong answer on %s: %s" % (op, text[:300]))

    def conn_error(self, op, exc):
        cls = error_class(exc)
        self.conn[cls] = self.conn.get(cls, 0) + 1
        self._sample("connection error (%s) on %s: %r" % (cls, op, exc))


def error_class(exc):
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, (asyncio.IncompleteReadError, EOFError)):
        return "closed"
    if isinstance(exc, (ValueError, IndexError, asyncio.LimitOverrunError)):
        return "protocol"
    return type(exc).__name__


def percentile(sorted_values, q):
    """Nearest-rank percentile Q (0..1) of a sorted sequence (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


# ---- the client: one worker per connection ----------------------------------------------------

class Control:
    """What the workers share: the phase's recorder, pausing and stopping, the deadline."""

    def __init__(self, n, budget, total):
        self.rec = Recorder()
        self.go = asyncio.Event()
        self.go.set()
        self.parked, self.n = 0, n
        self.all_parked = asyncio.Event()
        self.stopping = False
        self.client_errors = []
        self.t0 = time.monotonic()
        self.budget, self.total = budget, total

    def checkpoints_allowed(self):
        """Checkpoints per layer allowed so far: spread over the run, BUDGET in all."""
        elapsed = time.monotonic() - self.t0
        return 1 + int(self.budget * min(1.0, elapsed / self.total))


class Worker:
    def __init__(self, ident, ctl, model, http, timeout, seed):
        self.id, self.ctl, self.m, self.http = ident, ctl, model, http
        self.conn = Conn(http.host, http.port)
        self.rng = random.Random("%s-%d" % (seed, ident))
        self.timeout = timeout
        self.indeterminate = False   # the last call failed on the connection: outcome unknown
        self.churn_i = 0

    async def call(self, op, data, expect):
        """One exchange: (headers, body) when the status is EXPECT, else None (recorded)."""
        rec = self.ctl.rec
        rec.request(op)
        self.indeterminate = False
        t0 = time.perf_counter()
        try:
            status, hdrs, body = await bounded(self.conn.exchange(data), self.timeout)
        except NET_ERRORS + (ValueError, IndexError) as e:
            self.conn.close()
            self.indeterminate = True
            rec.conn_error(op, e)
            await asyncio.sleep(0.05)   # no hot loop against a dead daemon
            return None
        rec.latency(op, time.perf_counter() - t0)
        if status != expect:
            rec.bad_status(op, status, data, body)
            return None
        if "x-request-id" not in hdrs:
            rec.wrong_answer(op, "no X-Request-Id header")
        return hdrs, body

    def check(self, op, fn, *args):
        """Runs the verification FN(*ARGS); a mismatch or a malformed body is a wrong answer."""
        try:
            fn(*args)
            return True
        except Wrong as e:
            self.ctl.rec.wrong_answer(op, str(e))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            self.ctl.rec.wrong_answer(op, "malformed answer: %r" % e)
        return False

    async def run(self, ops):
        while not self.ctl.stopping:
            if not self.ctl.go.is_set():
                await self.park()
                continue
            try:
                await self.rng.choice(ops)(self)
            except Exception as e:  # noqa: BLE001 -- a bug of this client: reported, fails the run
                self.conn.close()
                self.ctl.client_errors.append(repr(e))

    async def park(self):
        """Waits while the load is paused, with the connection open (so descriptor counts
        taken meanwhile are comparable)."""
        try:
            await bounded(self.conn.open(), self.timeout)
        except NET_ERRORS as e:
            self.conn.close()
            self.ctl.rec.conn_error("reconnect", e)
        self.ctl.parked += 1
        if self.ctl.parked == self.ctl.n:
            self.ctl.all_parked.set()
        await self.ctl.go.wait()
        self.ctl.parked -= 1


# ---- verification of answers ------------------------------------------------------------------

def out_values(t, e):
    """The flat values of response tensor T, which must have batch E's shape and form."""
    if e.obj:
        require(isinstance(t, dict) and t.get("shape") == e.shape and set(t) == {"shape", "data"},
                "outputs: expected the {shape, data} form of shape %r", e.shape)
        return t["data"]
    require(isinstance(t, list), "outputs: expected nested arrays")
    flat, shape = hbn.flatten(t)
    require(shape == e.shape, "outputs: shape %r, expected %r", shape, e.shape)
    return flat


def json_doc(hdrs, body):
    require(hdrs.get("content-type", "").startswith("application/json"),
            "Content-Type %r, expected application/json", hdrs.get("content-type"))
    doc = json.loads(body.decode("utf-8"))
    require(isinstance(doc, dict), "not a JSON object: %r", body[:100])
    return doc


def check_forward(hdrs, body, e, want, mode, sid, given=False):
    doc = json_doc(hdrs, body)
    keys = {"outputs", "mode", "stats_id"}
    if given:
        keys |= {"running_mean", "running_var", "num_batches_tracked"}
    require(set(doc) == keys, "fields %r, expected %r", sorted(doc), sorted(keys))
    require(doc["mode"] == mode, "mode %r, expected %r", doc["mode"], mode)
    require(doc["stats_id"] == sid and type(doc["stats_id"]) is type(sid),
            "stats_id %r, expected %r", doc["stats_id"], sid)
    compare(out_values(doc["outputs"], e), want, "outputs")
    if given:
        compare(doc["running_mean"], e.given_rm, "running_mean")
        compare(doc["running_var"], e.given_rv, "running_var")
        require(doc["num_batches_tracked"] == e.given_n, "num_batches_tracked %r, expected %d",
                doc["num_batches_tracked"], e.given_n)


def check_binary(hdrs, body, e, want):
    require(hdrs.get("content-type") == "application/octet-stream",
            "Content-Type %r, expected application/octet-stream", hdrs.get("content-type"))
    require(len(body) == 4 * len(want), "%d bytes, expected %d", len(body), 4 * len(want))
    compare(hbn.unpack_f32(body), want, "outputs")


def check_infer(hdrs, body, lay, e):
    doc = json_doc(hdrs, body)
    require(doc.get("model_name") == lay.name, "model_name %r", doc.get("model_name"))
    require(doc.get("id") == e.infer_id, "id %r, expected %r", doc.get("id"), e.infer_id)
    params = doc.get("parameters") or {}
    require(params.get("mode", "eval") == "eval", "parameters.mode %r", params.get("mode"))
    require(params.get("stats_id", 0) == 0, "parameters.stats_id %r", params.get("stats_id"))
    outs = doc["outputs"]
    require(len(outs) == 1 and outs[0]["name"] == "outputs" and outs[0]["datatype"] == "FP32",
            "outputs %r", [(o.get("name"), o.get("datatype")) for o in outs])
    require(outs[0]["shape"] == e.shape, "shape %r, expected %r", outs[0]["shape"], e.shape)
    compare(hbn.flatten(outs[0]["data"])[0], e.eval_out, "outputs")


def check_layer(hdrs, body, name, momentum, mode, num_stats):
    doc = json_doc(hdrs, body)
    require(set(doc) == LAYER_KEYS, "layer fields %r", sorted(doc))
    want = {"name": name, "num_features": C, "momentum": momentum, "affine": True,
            "track_running_stats": True, "frozen_stats": False, "learnable_stats": False,
            "mode": mode, "num_stats": num_stats, "param_shapes": [[C], [C]],
            "hyper_shapes": None}
    for k, v in want.items():
        require(doc[k] == v and type(doc[k]) is type(v), "%s %r, expected %r", k, doc[k], v)
    require(hbn.f32(doc["eps"]) == hbn.f32(EPS), "eps %r", doc["eps"])


def check_stats(hdrs, body, lay, sid, lo, hi, exact=True, avg=None):
    """A statistics slot: id SID, count in [LO, HI]; mean/var exactly the set ones (EXACT), the
    initial 0/1 (count 0 of a cumulative slot) or the average AVG = (mean, var, scale)."""
    doc = json_doc(hdrs, body)
    require(set(doc) == STATS_KEYS, "fields %r", sorted(doc))
    require(doc["stats_id"] == sid, "stats_id %r, expected %r", doc["stats_id"], sid)
    n = doc["num_batches_tracked"]
    require(type(n) is int and lo <= n <= hi, "num_batches_tracked %r, expected %s", n,
            lo if lo == hi else "in [%d, %d]" % (lo, hi))
    if exact:
        exact_f32(doc["running_mean"], lay.expect_rm, "running_mean")
        exact_f32(doc["running_var"], lay.rv, "running_var")
    elif n == 0:
        exact_f32(doc["running_mean"], [0.0] * C, "running_mean")
        exact_f32(doc["running_var"], [1.0] * C, "running_var")
    elif avg is not None:
        mean, var, scale = avg
        slack = cma_tolerance(n, scale)
        for what, got, want in (("running_mean", doc["running_mean"], mean),
                                ("running_var", doc["running_var"], var)):
            require(len(got) == C, "%s has %d values", what, len(got))
            for c in range(C):
                require(abs(got[c] - want[c]) <= ATOL + RTOL * abs(want[c]) + slack,
                        "%s[%d] = %r, the average of the %d acknowledged batches is %r",
                        what, c, got[c], n, want[c])
    else:
        require(min(doc["running_var"]) >= 0, "negative running_var %r", doc["running_var"])
    return n


# ---- the operations (each picks its target, sends, verifies, books) ---------------------------

async def op_eval_forward(w):
    lay = w.rng.choice(w.m.stable)
    e = w.rng.choice(lay.pool)
    r = await w.call("eval-forward", e.eval_req, 200)
    if r:
        w.check("eval-forward", check_forward, *r, e, e.eval_out, "eval", 0)


async def op_eval_forward_bin(w):
    e = w.rng.choice(w.rng.choice(w.m.stable).pool)
    r = await w.call("eval-forward-bin", e.eval_bin, 200)
    if r:
        w.check("eval-forward-bin", check_binary, *r, e, e.eval_out)


async def op_infer(w):
    lay = w.rng.choice(w.m.stable)
    e = w.rng.choice(lay.pool)
    r = await w.call("infer", e.infer_req, 200)
    if r:
        w.check("infer", check_infer, *r, lay, e)


async def op_given_forward(w):
    e = w.rng.choice(w.rng.choice(w.m.stable).pool)
    r = await w.call("given-forward", e.given_req, 200)
    if r:
        w.check("given-forward", check_forward, *r, e, e.given_out, "train", None, True)


async def train_forward(w, binary):
    op = "train-forward-bin" if binary else "train-forward"
    lay = w.rng.choice(w.m.cma)
    sid = w.rng.choice(lay.slots)
    i = w.rng.randrange(POOL)
    e = lay.pool[i]
    if binary:
        data = w.http.req("POST", e.train_bin + str(sid), e.raw, "application/octet-stream")
    else:
        data = w.http.req("POST", lay.path + "/forward", "%s%d}" % (e.train_head, sid))
    lay.s_sent[sid] += 1
    r = await w.call(op, data, 200)
    if r is None:
        lay.s_unknown[sid] += w.indeterminate
        return
    lay.s_acked[sid] += 1     # a 200 is an acknowledged update, whatever the body says
    lay.hits[sid][i] = lay.hits[sid].get(i, 0) + 1
    if binary:
        w.check(op, check_binary, *r, e, e.train_out)
    else:
        w.check(op, check_forward, *r, e, e.train_out, "train", sid)


async def op_train_forward(w):
    await train_forward(w, False)


async def op_train_forward_bin(w):
    await train_forward(w, True)


def check_flip_forward(hdrs, body, e, lay):
    lay.unknown += 1      # until the answer says which mode ran
    doc = json_doc(hdrs, body)
    mode = doc.get("mode")
    if mode in ("train", "eval"):
        lay.unknown -= 1
        lay.acked += mode == "train"
    want = e.train_out if mode == "train" else e.eval_out
    check_forward(hdrs, body, e, want, mode, 0)


async def op_flip_forward(w):
    """A forward in the layer's own mode, which other connections flip: the answer says which
    mode was used and must match it; train answers are counted for the end invariant."""
    lay = w.rng.choice(w.m.flip)
    e = w.rng.choice(lay.pool)
    lay.sent += 1
    r = await w.call("flip-forward", e.flip_req, 200)
    if r is None:
        lay.unknown += w.indeterminate
        return
    w.check("flip-forward", check_flip_forward, *r, e, lay)


async def op_mode_flip(w):
    lay = w.rng.choice(w.m.flip)
    mode = w.rng.choice(("train", "eval"))
    data = w.http.req("PUT", lay.path + "/mode", '{"mode":"%s"}' % mode)
    r = await w.call("mode-flip", data, 200)
    if r:
        w.check("mode-flip", check_layer, *r, lay.name, 0, mode, 1)


async def op_stats_read(w):
    kind = w.rng.randrange(3)
    if kind == 0:
        lay = w.rng.choice(w.m.stable)
        path = lay.path + w.rng.choice(("/stats", "/stats/0"))
        r = await w.call("stats-read", w.http.req("GET", path), 200)
        if r:
            w.check("stats-read", check_stats, *r, lay, 0, lay.count0, lay.count0)
    elif kind == 1:
        lay = w.rng.choice(w.m.flip)
        lo = lay.acked
        r = await w.call("stats-read", w.http.req("GET", lay.path + "/stats/0"), 200)
        if r:
            w.check("stats-read", check_stats, *r, lay, 0, lo, lay.sent)
    else:
        await stats_read_cma(w, w.rng.choice(w.m.cma))


async def stats_read_cma(w, lay):
    """A slot of a layer under concurrent training: its count lies between the updates
    acknowledged before the read was sent and those sent before its answer; when both are
    equal, the values are the average of exactly those batches."""
    latest = w.rng.random() < 0.3
    sid = max(lay.slots) if latest else w.rng.choice(lay.slots)
    lo = lay.s_acked[sid]
    path = lay.path + ("/stats" if latest else "/stats/%d" % sid)
    r = await w.call("stats-read", w.http.req("GET", path), 200)
    if r is None:
        return
    if latest:   # the latest slot may be one whose checkpoint is not acknowledged yet
        try:
            got = json.loads(r[1])["stats_id"]
        except (ValueError, KeyError, TypeError):
            got = sid  # check_stats reports the malformed answer
        if got != sid:
            if not (type(got) is int and sid < got <= lay.ck_sent):
                w.ctl.rec.wrong_answer("stats-read", "latest stats_id %r, expected %d..%d" % (
                    got, sid, lay.ck_sent))
                return
            lo, sid = 0, got
    hi = lay.s_sent.get(sid, 0)
    avg = lay.average(sid) if lo == hi and lo > 0 else None
    w.check("stats-read", check_stats, *r, lay, sid, lo, hi, False, avg)


def check_checkpoint(hdrs, body, lay):
    doc = json_doc(hdrs, body)
    require(set(doc) == {"stats_id", "num_stats"}, "fields %r", sorted(doc))
    k = doc["stats_id"]
    require(type(k) is int and 1 <= k <= lay.ck_sent, "stats_id %r, expected 1..%d", k,
            lay.ck_sent)
    require(k not in lay.slot_set, "stats_id %d was acknowledged before", k)
    require(doc["num_stats"] == k + 1, "num_stats %r for stats_id %d", doc["num_stats"], k)
    where = "%s/stats/%d" % (lay.path, k)
    require(hdrs.get("location") == where, "Location %r, expected %r", hdrs.get("location"),
            where)
    lay.add_slot(k)


async def op_checkpoint(w):
    lay = w.rng.choice(w.m.cma)
    if lay.ck_sent >= w.ctl.checkpoints_allowed():
        return await op_stats_read(w)
    lay.ck_sent += 1
    # both documented forms: no body at all, or an empty JSON object
    if w.rng.random() < 0.5:
        data = w.http.req("POST", lay.path + "/checkpoints")
    else:
        data = w.http.req("POST", lay.path + "/checkpoints", "{}")
    r = await w.call("checkpoint", data, 201)
    if r is None:
        lay.ck_unknown += w.indeterminate
        return
    lay.ck_acked += 1
    w.check("checkpoint", check_checkpoint, *r, lay)


def check_gone(hdrs, body):
    require(json_doc(hdrs, body).get("code") == "layer_not_found", "code %r, expected "
            "layer_not_found", json_doc(hdrs, body).get("code"))


async def op_churn(w):
    """create -> forward -> delete -> get: 201, 200, 204, 404 on a private name."""
    name = "%s-churn-%d-%d" % (w.m.prefix, w.id, w.churn_i)
    w.churn_i += 1
    path = "/v1/layers/" + name
    body = '{"name":"%s","num_features":%d}' % (name, C)
    r = await w.call("churn-create", w.http.req("POST", "/v1/layers", body), 201)
    if r is None:
        if w.indeterminate:
            w.m.churn_unknown += 1
        return
    w.check("churn-create", check_layer, *r, name, 0.1, "train", 1)
    w.check("churn-create", lambda h: require(h.get("location") == path, "Location %r",
                                              h.get("location")), r[0])
    e = w.rng.choice(w.m.churn_pool)
    r = await w.call("churn-forward", w.http.req("POST", path + "/forward",
                                                 '{"inputs":%s}' % e.text), 200)
    if r:
        w.check("churn-forward", check_forward, *r, e, e.train_out, "train", 0)
    r = await w.call("churn-delete", w.http.req("DELETE", path), 204)
    if r is None:
        w.m.churn_unknown += w.indeterminate
        return
    w.check("churn-delete", lambda h, b: require(b == b"", "body %r", b[:100]), *r)
    r = await w.call("churn-gone", w.http.req("GET", path), 404)
    if r:
        w.check("churn-gone", check_gone, *r)


async def op_health_close(w):
    """A readiness probe that closes its connection; the next request opens a new one."""
    r = await w.call("health-close", w.http.req("GET", "/v2/health/ready", close_conn=True), 200)
    if r:
        w.check("health-close", lambda h, b: require(json_doc(h, b).get("ready") is True,
                                                      "ready %r", b[:100]), *r)
    w.conn.close()


OPS = ((op_eval_forward, 20), (op_eval_forward_bin, 8), (op_infer, 6), (op_given_forward, 5),
       (op_train_forward, 20), (op_train_forward_bin, 8), (op_flip_forward, 8),
       (op_stats_read, 12), (op_mode_flip, 4), (op_checkpoint, 3), (op_churn, 3),
       (op_health_close, 1))
OP_NAMES = ("eval-forward", "eval-forward-bin", "infer", "given-forward", "train-forward",
            "train-forward-bin", "flip-forward", "stats-read", "mode-flip", "checkpoint",
            "churn-create", "churn-forward", "churn-delete", "churn-gone", "health-close")


# ---- setup and end-of-run checks (one sequential connection) -----------------------------------

class SetupError(Exception):
    pass


async def fetch(conn, data, timeout):
    try:
        return await bounded(conn.exchange(data), timeout)
    except NET_ERRORS + (ValueError, IndexError) as e:
        conn.close()
        raise SetupError("%s: connection error %r" % (data.split(b"\r\n", 1)[0].decode(), e))


async def expect(conn, data, status, timeout):
    st, hdrs, body = await fetch(conn, data, timeout)
    if st != status:
        raise SetupError("%s: status %d, expected %d: %r" % (
            data.split(b"\r\n", 1)[0].decode(), st, status, body[:300]))
    return hdrs, body


HEAP_RE = re.compile(rb"^hyperbn_heap_live_allocations (-?\d+)$", re.M)


async def heap_live(http, conn, timeout):
    """The daemon's hyperbn_heap_live_allocations gauge (GET /metrics), or None without one."""
    _, body = await expect(conn, http.req("GET", "/metrics"), 200, timeout)
    found = HEAP_RE.search(body)
    return int(found.group(1)) if found else None


async def setup(m, conn, timeout):
    """Creates the run's layers and sets their weights, statistics and modes."""
    h = m.http
    for lay in m.layers:
        mom = "null" if lay.momentum is None else repr(lay.momentum)
        await expect(conn, h.req("POST", "/v1/layers", '{"name":"%s","num_features":%d,'
                                 '"momentum":%s}' % (lay.name, C, mom)), 201, timeout)
        await expect(conn, h.req("PUT", lay.path + "/weights", '{"weight":%s,"bias":%s}' % (
            floats_text(lay.w), floats_text(lay.b))), 200, timeout)
        if lay.kind != "cma":
            await expect(conn, h.req("PUT", lay.path + "/stats/0", (
                '{"running_mean":%s,"running_var":%s,"num_batches_tracked":%d}') % (
                floats_text(lay.rm), floats_text(lay.rv), lay.count0)), 200, timeout)
        if lay.kind == "stable":
            await expect(conn, h.req("PUT", lay.path + "/mode", '{"mode":"eval"}'), 200, timeout)


class Verdicts:
    """The end-of-run invariants: every check, its outcome and a detail line."""

    def __init__(self):
        self.items = []

    def add(self, name, ok, detail=""):
        self.items.append({"name": name, "ok": bool(ok), "detail": detail})

    async def check(self, name, conn, data, status, timeout, fn, *args):
        """GET-like check: status STATUS, then FN(hdrs, body, *ARGS) must not raise Wrong."""
        try:
            hdrs, body = await expect(conn, data, status, timeout)
            out = fn(hdrs, body, *args)
            self.add(name, True, "" if out is None else "num_batches_tracked %s" % out)
        except (SetupError, Wrong, ValueError, KeyError, TypeError, IndexError) as e:
            self.add(name, False, str(e) if isinstance(e, (SetupError, Wrong)) else repr(e))

    def failed(self):
        return [v for v in self.items if not v["ok"]]


async def end_checks(m, conn, timeout):
    v = Verdicts()
    h = m.http
    for lay in m.stable:
        await v.check("stable %s: statistics as set" % lay.name, conn,
                      h.req("GET", lay.path + "/stats/0"), 200, timeout, check_stats, lay, 0,
                      lay.count0, lay.count0)
        await v.check("stable %s: weights as set" % lay.name, conn,
                      h.req("GET", lay.path + "/weights"), 200, timeout, check_weights, lay)
        await v.check("stable %s: layer object" % lay.name, conn, h.req("GET", lay.path), 200,
                      timeout, check_layer, lay.name, 0.1, "eval", 1)
    for lay in m.flip:
        await v.check("flip %s: count = train-mode answers (%d), stats unchanged" % (
            lay.name, lay.acked), conn, h.req("GET", lay.path + "/stats/0"), 200, timeout,
            check_stats, lay, 0, lay.acked, lay.acked + lay.unknown)
    for lay in m.cma:
        await cma_checks(v, lay, conn, h, timeout)
    await v.check("churn: no churn layer left", conn, h.req("GET", "/v1/layers"), 200, timeout,
                  check_no_churn, m)
    return v


async def cma_checks(v, lay, conn, h, timeout):
    """Checkpoints acknowledged = slots that exist; per slot, count = train forwards
    acknowledged and values = the plain average of their batches (no lost update)."""
    want = 1 + lay.ck_acked
    ids = sorted(lay.slots)
    await v.check("cma %s: num_stats = 1 + %d acknowledged checkpoints" % (lay.name, lay.ck_acked),
                  conn, h.req("GET", lay.path), 200, timeout, lambda hd, b: require(
                      want <= json_doc(hd, b)["num_stats"] <= want + lay.ck_unknown,
                      "num_stats %r", json_doc(hd, b)["num_stats"]))
    v.add("cma %s: acknowledged checkpoint ids are 1..%d" % (lay.name, lay.ck_acked),
          lay.ck_unknown > 0 or ids == list(range(want)), "" if ids == list(range(want))
          else "ids %r" % ids[:20])
    bad, trained, worst = [], 0, 0.0
    for sid in ids:
        lo, unk = lay.s_acked[sid], lay.s_unknown[sid]
        trained += lo
        avg = lay.average(sid) if lo > 0 and unk == 0 else None
        try:
            hdrs, body = await expect(conn, h.req("GET", "%s/stats/%d" % (lay.path, sid)), 200,
                                      timeout)
            check_stats(hdrs, body, lay, sid, lo, lo + unk, False, avg)
            if avg is not None:
                worst = max(worst, avg_error(json_doc(hdrs, body), avg, lo))
        except (SetupError, Wrong, ValueError, KeyError, TypeError) as e:
            bad.append("slot %d: %s" % (sid, e))
    v.add("cma %s: %d slots, %d acknowledged train forwards: every count and average right" % (
        lay.name, len(ids), trained), not bad, "; ".join(bad[:10]) or
        "largest deviation %.3g of the allowance" % worst)


def avg_error(doc, avg, n):
    """The largest |got - average| over the allowance of check_stats (for the report)."""
    mean, var, scale = avg
    worst = 0.0
    for got, want in ((doc["running_mean"], mean), (doc["running_var"], var)):
        for g, w in zip(got, want):
            worst = max(worst, abs(g - w) / (ATOL + RTOL * abs(w) + cma_tolerance(n, scale)))
    return worst


def check_weights(hdrs, body, lay):
    doc = json_doc(hdrs, body)
    require(set(doc) == {"weight", "bias"}, "fields %r", sorted(doc))
    exact_f32(doc["weight"], lay.w, "weight")
    exact_f32(doc["bias"], lay.b, "bias")


def check_no_churn(hdrs, body, m):
    names = [x["name"] for x in json_doc(hdrs, body)["layers"]]
    left = [n for n in names if n.startswith(m.prefix + "-churn-")]
    require(len(left) <= m.churn_unknown, "%d churn layers left: %r", len(left), left[:5])
    fixed = {lay.name for lay in m.layers}
    require(fixed <= set(names), "layers missing: %r", sorted(fixed - set(names)))


# ---- the daemon: our own child, or a running one given by --url/--pid ------------------------

class Proc:
    """Resource readings of a local process from /proc (None when unreadable)."""

    def __init__(self, pid):
        self.pid = pid

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return None

    def cpu_s(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def sanitizer(self):
        """The sanitizer runtime mapped into the process (its RSS is then meaningless: ASan keeps
        freed memory in quarantine, TSan shadows it), else None."""
        try:
            with open("/proc/%d/maps" % self.pid) as f:
                maps = f.read()
        except OSError:
            return None
        for name in ("asan", "tsan", "msan"):
            if "lib%s." % name in maps or "clang_rt.%s" % name in maps:
                return name
        return None

    async def settle(self, want=None, limit=3.0):
        """(RSS, fds) once the descriptor count is WANT, or (WANT None) unchanged over three
        readings 0.1 s apart; the last reading after LIMIT seconds otherwise."""
        seen = deque(maxlen=3)
        deadline = time.monotonic() + limit
        while True:
            fds = self.fds()
            seen.append(fds)
            done = fds == want if want is not None else len(seen) == 3 and len(set(seen)) == 1
            if done or time.monotonic() > deadline:
                return self.rss_kib(), fds
            await asyncio.sleep(0.1)


class OwnDaemon:
    """hyperbnd started by this client on 127.0.0.1 port 0; stderr is drained continuously
    (only a tail and any sanitizer report are kept)."""

    def __init__(self, path, flags, key):
        self.argv = [path, "--host", "127.0.0.1", "--port", "0"] + flags
        self.env = dict(os.environ)
        self.env.pop("HYPERBN_API_KEY", None)
        if key is not None:
            self.env["HYPERBN_API_KEY"] = key
        self.proc = self.port = self.reader = None
        self.tail, self.sanitizer = deque(maxlen=40), []
        self.ready = asyncio.Event()

    async def start(self, deadline=15.0):
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=self.env)
        self.reader = asyncio.ensure_future(self._drain())
        try:
            await bounded(self.ready.wait(), deadline)
        except asyncio.TimeoutError:
            pass
        if self.port is None:
            raise SetupError("hyperbnd did not become ready: %s" % " | ".join(self.tail))

    async def _drain(self):
        buf = b""
        while True:
            chunk = await self.proc.stderr.read(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._line(line.decode("utf-8", "replace"))
        if buf:
            self._line(buf.decode("utf-8", "replace"))
        self.ready.set()

    def _line(self, line):
        self.tail.append(line)
        if self.port is None:
            m = READY_RE.match(line)
            if m:
                self.port = int(m.group(2))
                self.ready.set()
        if (self.sanitizer or "Sanitizer" in line or "runtime error:" in line) and \
                len(self.sanitizer) < 60:
            self.sanitizer.append(line)

    async def stop(self, deadline=60.0):
        """SIGTERM, then the exit status (None when it had to be killed)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = await bounded(self.proc.wait(), deadline)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            rc = None
        await bounded(self.reader, 10.0)
        return rc

    def kill(self):
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


# ---- the run -------------------------------------------------------------------------------------

async def pause(ctl, timeout):
    """Stops the workers between two requests, each with its connection open."""
    ctl.all_parked.clear()
    ctl.go.clear()
    if ctl.parked != ctl.n:
        await bounded(ctl.all_parked.wait(), timeout + 10.0)


async def sample_resources(proc, samples, interval):
    t0 = time.monotonic()
    while True:
        samples.append((proc.rss_kib(), proc.fds(), round(time.monotonic() - t0, 1)))
        await asyncio.sleep(interval)


async def load(args, m, proc, res):
    """Warm-up, a paused resource reading, the measured phase, a paused reading again; fills
    RES with the recorders, timings and readings. Returns the workers (connections open)."""
    warmup = min(args.warmup, args.seconds / 4.0)
    ctl = Control(args.connections, args.checkpoints, warmup + args.seconds)
    workers = [Worker(i, ctl, m, m.http, args.request_timeout, args.seed)
               for i in range(args.connections)]
    ops = [fn for fn, weight in OPS for _ in range(weight)]
    tasks = [asyncio.ensure_future(w.run(ops)) for w in workers]
    ctl_conn = Conn(m.http.host, m.http.port)   # the paused readings of the heap gauge
    await asyncio.sleep(warmup)
    await pause(ctl, args.request_timeout)
    res["warmup_s"], res["warm"] = warmup, ctl.rec
    res["start"] = await proc.settle() if proc else (None, None)
    res["heap_start"] = await heap_live(m.http, ctl_conn, args.request_timeout)
    ctl_conn.close()   # reopened for the end reading: idle, the daemon would time it out
    ctl.rec = Recorder()
    cpu0 = (os.times(), proc.cpu_s() if proc else None)
    sampler = asyncio.ensure_future(sample_resources(proc, res["samples"], args.sample_interval)) \
        if proc else None
    t0 = time.monotonic()
    ctl.go.set()
    await asyncio.sleep(args.seconds)
    await pause(ctl, args.request_timeout)
    res["measured_s"] = time.monotonic() - t0
    res["rec"] = ctl.rec
    t1 = os.times()
    res["client_cpu_s"] = (t1.user + t1.system) - (cpu0[0].user + cpu0[0].system)
    if proc:
        sampler.cancel()
        cpu1 = proc.cpu_s()
        if cpu0[1] is not None and cpu1 is not None:
            res["daemon_cpu_s"] = cpu1 - cpu0[1]
        res["end"] = await proc.settle(want=res["start"][1])
    res["heap_end"] = await heap_live(m.http, ctl_conn, args.request_timeout)
    ctl_conn.close()
    ctl.stopping = True
    ctl.go.set()
    await asyncio.gather(*tasks)
    res["client_errors"] = ctl.client_errors
    return workers


async def soak(args, host, port, pid, res):
    http = Http(host, port, args.key)
    runid = "%06x" % random.Random().randrange(1 << 24)
    m = Model(http, args.seed, runid, 2)
    conn = Conn(host, port)
    res["heap_before_setup"] = await heap_live(http, conn, args.request_timeout)
    await setup(m, conn, args.request_timeout)
    conn.close()   # idle during the load: the daemon would time it out
    if args.self_test_corrupt == "answer":   # the checker must then report wrong answers
        m.stable[0].expect_rm[0] = hbn.f32(m.stable[0].expect_rm[0] + 0.25)
    proc = Proc(pid) if pid else None
    res["sanitizer_runtime"] = proc.sanitizer() if proc else None
    workers = await load(args, m, proc, res)
    if args.self_test_corrupt == "invariant":   # ... and a failed lost-update invariant
        m.cma[0].s_acked[0] += 1
    res["verdicts"] = v = await end_checks(m, conn, args.request_timeout)
    for lay in m.layers:   # leave a running daemon as it was
        await v.check("cleanup: DELETE %s -> 204" % lay.name, conn, http.req("DELETE", lay.path),
                      204, args.request_timeout, lambda hdrs, body: None)
    conn.close()
    for w in workers:
        w.conn.close()
    if proc:
        res["after_close"] = await proc.settle(want=res["start"][1] - args.connections)
    # every layer of the run is gone and every worker connection closed: what the daemon holds
    # now must be what it held before the setup, block for block (a leak makes it more)
    # (read again for up to 2 s: the transport may still be releasing the last answers; a leak
    # never comes back down)
    for _ in range(20):
        res["heap_after_cleanup"] = await heap_live(http, conn, args.request_timeout)
        if res["heap_after_cleanup"] in (None, res["heap_before_setup"]):
            break
        await asyncio.sleep(0.1)
    conn.close()


async def run(args):
    """Starts or finds the daemon, runs the soak, stops the daemon; returns the raw results."""
    res = {"samples": [], "daemon_exit": None, "sanitizer": [], "setup_error": None}
    daemon = None
    try:
        if args.url:
            u = urllib.parse.urlsplit(args.url)
            host, port, pid = u.hostname, u.port or 80, args.pid
        else:
            flags = list(args.daemon_arg)
            if args.data_dir:
                flags += ["--data-dir", args.data_dir]
            daemon = OwnDaemon(args.daemon, flags, args.key)
            await daemon.start()
            host, port, pid = "127.0.0.1", daemon.port, daemon.proc.pid
        res["pid"] = pid
        await soak(args, host, port, pid, res)
    except SetupError as e:
        res["setup_error"] = str(e)
    except asyncio.TimeoutError:
        res["setup_error"] = "the workers did not pause within the request timeout"
    finally:
        if daemon is not None and daemon.proc is not None:
            res["daemon_exit"] = await daemon.stop()
            res["sanitizer"] = daemon.sanitizer
            res["daemon_tail"] = list(daemon.tail)
    return res


# ---- the report --------------------------------------------------------------------------------

def latency_summary(values):
    s = sorted(values)
    return {"p50_ms": percentile(s, 0.5), "p99_ms": percentile(s, 0.99),
            "p999_ms": percentile(s, 0.999), "max_ms": s[-1] if s else None}


def error_summary(recs):
    by_code, by_op, wrong, conn, samples = {}, {}, {}, {}, []
    for r in recs:
        for (op, st), n in r.unexpected.items():
            by_code[str(st)] = by_code.get(str(st), 0) + n
            by_op["%s %d" % (op, st)] = by_op.get("%s %d" % (op, st), 0) + n
        for op, n in r.wrong.items():
            wrong[op] = wrong.get(op, 0) + n
        for cls, n in r.conn.items():
            conn[cls] = conn.get(cls, 0) + n
        samples += r.samples
    return {"unexpected_status": by_code, "unexpected_status_by_op": by_op,
            "wrong_answers": sum(wrong.values()), "wrong_answers_by_op": wrong,
            "connection_errors": conn, "samples": samples[:Recorder.SAMPLES]}


def resources(res):
    start, end = res.get("start", (None, None)), res.get("end", (None, None))
    every = res["samples"] + [start, end]
    rss = [s[0] for s in every if s[0] is not None]
    fds = [s[1] for s in every if s[1] is not None]
    out = {"rss_kib": {"start": start[0], "end": end[0], "min": min(rss, default=None),
                       "max": max(rss, default=None), "readings": len(rss)},
           "fds": {"start": start[1], "end": end[1], "min": min(fds, default=None),
                   "max": max(fds, default=None),
                   "after_client_close": res.get("after_close", (None, None))[1]},
           "series": [{"t_s": t, "rss_kib": r, "fds": f} for r, f, t in res["samples"]]}
    if start[0] is not None and end[0] is not None:
        out["rss_kib"]["growth"] = end[0] - start[0]
    out["heap_live_allocations"] = {k: res.get("heap_" + k) for k in (
        "before_setup", "start", "end", "after_cleanup")}
    out["rss_kib"]["sanitizer_runtime"] = res.get("sanitizer_runtime")
    return out


def build_report(args, res):
    rep = {"config": {"connections": args.connections, "seconds": args.seconds,
                      "daemon": None if args.url else args.daemon, "url": args.url,
                      "data_dir": args.data_dir, "daemon_args": args.daemon_arg,
                      "seed": args.seed}, "pid": res.get("pid"),
           "loadavg": res.get("loadavg"), "daemon_tail": res.get("daemon_tail", [])[-10:]}
    if "rec" not in res:
        rep.update(ok=False, exit=2, failures=["setup: %s" % res["setup_error"]])
        return rep
    rec, dur = res["rec"], res["measured_s"]
    total = sum(rec.count.values())
    ops = list(OP_NAMES) + sorted(set(rec.count) - set(OP_NAMES))
    all_lat = array.array("d")
    for a in rec.lat.values():
        all_lat.extend(a)
    rep.update(warmup_s=res["warmup_s"], duration_s=dur, requests=total,
               req_per_s=total / dur, warmup_requests=sum(res["warm"].count.values()),
               latency=latency_summary(all_lat),
               per_op={op: dict(requests=rec.count.get(op, 0),
                                req_per_s=rec.count.get(op, 0) / dur,
                                **latency_summary(rec.lat.get(op, ()))) for op in ops},
               errors=error_summary([res["warm"], rec]),
               client_errors=res["client_errors"], resources=resources(res),
               cpu={"client_s": res["client_cpu_s"], "daemon_s": res.get("daemon_cpu_s")},
               invariants=res["verdicts"].items if "verdicts" in res else [],
               daemon_exit=res["daemon_exit"], sanitizer=res["sanitizer"])
    rep["failures"] = failures(args, res, rep)
    rep["ok"] = not rep["failures"]
    rep["exit"] = 0 if rep["ok"] else 1
    return rep


def failures(args, res, rep):
    out = []
    e = rep["errors"]
    if e["unexpected_status"]:
        out.append("unexpected statuses: %r" % e["unexpected_status_by_op"])
    if e["wrong_answers"]:
        out.append("wrong answers: %r" % e["wrong_answers_by_op"])
    if e["connection_errors"]:
        out.append("connection errors: %r" % e["connection_errors"])
    if rep["client_errors"]:
        out.append("client errors (bugs of soak.py): %r" % rep["client_errors"][:5])
    if res["setup_error"]:
        out.append("after the load: %s" % res["setup_error"])
    bad = [v["name"] for v in rep["invariants"] if not v["ok"]]
    if bad or "verdicts" not in res:
        out.append("invariants failed: %r" % (bad or "not checked"))
    r = rep["resources"]
    growth = r["rss_kib"].get("growth")
    if args.max_rss_growth_kib > 0 and growth is not None and growth > args.max_rss_growth_kib \
            and not res.get("sanitizer_runtime"):
        out.append("RSS grew by %d KiB (limit %d)" % (growth, args.max_rss_growth_kib))
    heap = r["heap_live_allocations"]
    if None not in (heap["before_setup"], heap["after_cleanup"]) and \
            heap["after_cleanup"] != heap["before_setup"]:
        out.append("heap: %d allocations live before the setup, %d after the cleanup (a leak)" % (
            heap["before_setup"], heap["after_cleanup"]))
    if r["fds"]["start"] is not None and r["fds"]["end"] != r["fds"]["start"]:
        out.append("descriptors: %r at the start, %r at the end" % (r["fds"]["start"],
                                                                   r["fds"]["end"]))
    if not args.url and rep["daemon_exit"] != 0:
        out.append("the daemon exited with %r after SIGTERM (0 expected)" % rep["daemon_exit"])
    if rep["sanitizer"]:
        out.append("the daemon printed a sanitizer report")
    return out


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def print_report(rep, out=None):
    p = lambda *a: print(*a, file=out or sys.stdout)
    c = rep["config"]
    where = c["url"] or "%s (own daemon, %s)" % (c["daemon"], c["data_dir"] or "in memory")
    p("hyperbn soak: %d connections against %s, pid %s" % (c["connections"], where, rep["pid"]))
    if "requests" not in rep:
        p("FAILED before the load: %s" % "; ".join(rep["failures"]))
        print_tail(rep, p)
        return
    p("load average (1/5/15 min) at start / end: %s / %s" % tuple(rep["loadavg"]))
    p("measured %.1f s after a %.1f s warm-up: %d requests, %.0f req/s (warm-up: %d more)" % (
        rep["duration_s"], rep["warmup_s"], rep["requests"], rep["req_per_s"],
        rep["warmup_requests"]))
    lat = rep["latency"]
    p("latency ms: p50 %s  p99 %s  p99.9 %s  max %s" % (
        fmt(lat["p50_ms"]), fmt(lat["p99_ms"]), fmt(lat["p999_ms"]), fmt(lat["max_ms"])))
    p("  %-18s %9s %8s %8s %8s %8s" % ("operation", "requests", "req/s", "p50", "p99", "p99.9"))
    for op, s in rep["per_op"].items():
        p("  %-18s %9d %8.0f %8s %8s %8s" % (op, s["requests"], s["req_per_s"],
                                             fmt(s["p50_ms"]), fmt(s["p99_ms"]),
                                             fmt(s["p999_ms"])))
    e = rep["errors"]
    p("errors: unexpected statuses %d %r, wrong answers %d %r, connection errors %d %r, "
      "client errors %d" % (sum(e["unexpected_status"].values()), e["unexpected_status"],
                            e["wrong_answers"], e["wrong_answers_by_op"],
                            sum(e["connection_errors"].values()), e["connection_errors"],
                            len(rep["client_errors"])))
    for s in e["samples"][:10]:
        p("  " + s)
    print_resources(rep, p)
    p("invariants at the end:")
    for v in rep["invariants"]:
        p("  %s %s%s" % ("ok  " if v["ok"] else "FAIL", v["name"],
                         (": " + v["detail"]) if v["detail"] else ""))
    p("daemon exit status after SIGTERM: %s" % ("- (not ours)" if c["url"] else rep["daemon_exit"]))
    for line in rep["sanitizer"][:20]:
        p("  " + line)
    if rep["daemon_exit"] not in (0, None):
        print_tail(rep, p)
    p("verdict: %s" % ("PASS" if rep["ok"] else "FAIL: " + "; ".join(rep["failures"])))


def print_tail(rep, p):
    if rep["daemon_tail"]:
        p("the daemon's last lines:")
        for line in rep["daemon_tail"]:
            p("  " + line)


def print_resources(rep, p):
    r, cpu = rep["resources"], rep["cpu"]
    rss, fds = r["rss_kib"], r["fds"]
    p("daemon RSS KiB: start %s end %s (growth %s); all readings: min %s max %s (%d)" % (
        fmt(rss["start"], "%d"), fmt(rss["end"], "%d"), fmt(rss.get("growth"), "%+d"),
        fmt(rss["min"], "%d"), fmt(rss["max"], "%d"), rss["readings"]))
    if rss["sanitizer_runtime"]:
        p("  (the daemon runs with lib%s: its RSS is not judged)" % rss["sanitizer_runtime"])
    p("daemon fds: start %s end %s; all readings: min %s max %s; after the client closed its "
      "connections: %s (expected %s)" % (
          fmt(fds["start"], "%d"), fmt(fds["end"], "%d"), fmt(fds["min"], "%d"),
          fmt(fds["max"], "%d"), fmt(fds["after_client_close"], "%d"),
          fmt(None if fds["start"] is None else fds["start"] - rep["config"]["connections"],
              "%d")))
    heap = r["heap_live_allocations"]
    p("daemon heap blocks live (hyperbn_heap_live_allocations): before setup %s, start %s, "
      "end %s, after cleanup %s" % tuple(fmt(heap[k], "%d") for k in (
          "before_setup", "start", "end", "after_cleanup")))
    series = r["series"]
    if len(series) >= 4:   # is it flat? RSS at each quarter of the measured phase
        q = [series[min(len(series) - 1, i * len(series) // 4)] for i in range(4)] + [series[-1]]
        p("daemon RSS KiB over the run: %s" % ", ".join(
            "%s s: %s" % (x["t_s"], fmt(x["rss_kib"], "%d")) for x in q))
    d = rep["duration_s"]
    p("CPU over the measured phase: client %.1f s (%.0f%% of a core), daemon %s s (%s%%)" % (
        cpu["client_s"], 100 * cpu["client_s"] / d, fmt(cpu["daemon_s"], "%.1f"),
        fmt(None if cpu["daemon_s"] is None else 100 * cpu["daemon_s"] / d, "%.0f")))


# ---- command line ------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description="Checking load and soak client for hyperbnd.")
    ap.add_argument("--connections", type=int, default=16, help="16..64 (default 16)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured duration (default 30)")
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="seconds of load before the start readings, at most seconds/4")
    ap.add_argument("--daemon", default=os.environ.get("HBN_HYPERBND", "server/hyperbnd"),
                    help="hyperbnd binary to start (default server/hyperbnd)")
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="extra flag for the daemon (repeatable)")
    ap.add_argument("--data-dir", help="run the daemon durable on DIR (default in memory)")
    ap.add_argument("--url", help="attack a running daemon, e.g. http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, help="its process id (RSS and descriptor readings)")
    ap.add_argument("--key", help="API key sent as Authorization: Bearer KEY")
    ap.add_argument("--json", help="also write the report as JSON to this file")
    ap.add_argument("--max-rss-growth-kib", type=int, default=4096,
                    help="fail when RSS grows more between warm-up and end (0: no limit)")
    ap.add_argument("--checkpoints", type=int, default=200,
                    help="checkpoints per cumulative layer over the run (default 200)")
    ap.add_argument("--sample-interval", type=float, default=2.0)
    ap.add_argument("--request-timeout", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--self-test-corrupt", choices=("answer", "invariant"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 16 <= args.connections <= 64:
        ap.error("--connections must be in 16..64")
    if args.seconds <= 0 or args.warmup < 0:
        ap.error("--seconds must be > 0 and --warmup >= 0")
    if args.url and (args.data_dir or args.daemon_arg):
        ap.error("--data-dir and --daemon-arg need a daemon of our own (no --url)")
    if not args.url and not os.access(args.daemon, os.X_OK):
        ap.error("no daemon at %s (use --daemon or --url)" % args.daemon)
    return args


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "-"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    la0 = loadavg()
    res = asyncio.run(run(args))
    res["loadavg"] = (la0, loadavg())
    rep = build_report(args, res)
    print_report(rep)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=1, sort_keys=True)
            f.write("\n")
    return rep["exit"]


if __name__ == "__main__":
    sys.exit(main())
