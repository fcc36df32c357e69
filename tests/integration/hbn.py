# hbn.py: the shared harness of the integration tests (Python 3 standard library only).
# Starts the real daemon (server/hyperbnd of $HBN_BUILDDIR) on 127.0.0.1 port 0, reads the port
# from its one readiness line under a deadline, and always kills it at the end; gives a small
# keep-alive HTTP client, a raw-socket client for malformed requests, and the pure-Python
# reference of SEMANTICS 4 (float32 rounding through struct 'f' packing).
# Invariants: no fixed ports, no sleep used as synchronisation, every loop bounded by a deadline.
import atexit
import http.client
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True

READY_RE = re.compile(r"^hyperbnd: listening on (\S+):(\d+)$")
START_DEADLINE = 15.0
STOP_DEADLINE = 15.0
_LIVE = []  # every daemon started and not yet reaped; killed at exit whatever happens


def binary():
    """Path of the daemon under test: $HBN_HYPERBND, else $HBN_BUILDDIR/server/hyperbnd,
    else the build tree the working directory is (make check runs tests from the build dir)."""
    if os.environ.get("HBN_HYPERBND"):
        return os.environ["HBN_HYPERBND"]
    return os.path.join(os.environ.get("HBN_BUILDDIR", os.getcwd()), "server", "hyperbnd")


def require_binary():
    path = binary()
    if not os.access(path, os.X_OK):
        sys.stderr.write("hbn: no daemon at %s (set HBN_BUILDDIR)\n" % path)
        sys.exit(99)  # automake: hard error, never a silent skip
    return path


@atexit.register
def _kill_all():
    for d in list(_LIVE):
        d.kill()


class Daemon:
    """One hyperbnd process. Use as a context manager, or call start() / stop()."""

    def __init__(self, *flags, env=None, host="127.0.0.1"):
        self.flags = list(flags)
        self.host = host
        self.env = dict(os.environ)
        self.env.pop("HYPERBN_API_KEY", None)
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None
        self.lines = []          # every stderr line, for diagnostics and log tests
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None

    def start(self):
        argv = [require_binary(), "--host", self.host, "--port", "0"] + self.flags
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=self.env)
        _LIVE.append(self)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_DEADLINE
        with self._cond:
            while self.port is None and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        if self.port is None:
            self.kill()
            raise AssertionError("hyperbnd did not become ready: %r" % self.lines[-20:])
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                m = READY_RE.match(line)
                if m and self.port is None:
                    self.port = int(m.group(2))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_line(self, predicate, timeout=5.0):
        """Waits until some stderr line satisfies PREDICATE; returns it or None at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(left)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_DEADLINE):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("hyperbnd did not exit within %.0f s" % timeout)
        self._finish()
        return rc

    def stop(self):
        """SIGTERM, then the exit status (0 expected). Kills it after the deadline. Raises when
        the daemon reported a sanitizer error."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait()
        report = self.sanitizer_report()
        if report:
            raise AssertionError("hyperbnd reported:\n" + report)
        return rc

    def sanitizer_report(self):
        """The ASan/UBSan/LSan lines the daemon printed (empty when clean)."""
        keys = ("Sanitizer", "runtime error:")
        bad = [i for i, line in enumerate(self.lines) if any(k in line for k in keys)]
        if not bad:
            return ""
        return "\n".join(self.lines[bad[0]:bad[0] + 60])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._finish()

    def _finish(self):
        if self._reader is not None:
            self._reader.join(5)
            if not self._reader.is_alive():
                self.proc.stderr.close()
            self._reader = None
            report = self.sanitizer_report()
            if report:
                sys.stderr.write("hbn: hyperbnd reported:\n%s\n" % report)
        if self in _LIVE:
            _LIVE.remove(self)

    def client(self, key=None):
        return Client(self.port, key=key)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False


class DaemonCase(unittest.TestCase):
    """A test class sharing one daemon (started with DAEMON_ARGS) and one client as cls.d and
    cls.c; the daemon must exit 0 on SIGTERM when the class is done."""
    DAEMON_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(*cls.DAEMON_ARGS).start()
        cls.c = cls.d.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        rc = cls.d.stop()
        assert rc == 0, "hyperbnd exited with %r" % rc


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def code(self):
        """The error code of a JSON error body, else None."""
        try:
            doc = self.json()
        except ValueError:
            return None
        return doc.get("code") if isinstance(doc, dict) else None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Client:
    """A keep-alive HTTP/1.1 client on 127.0.0.1:PORT. A stale keep-alive connection (closed by
    the server while idle) is reopened once; nothing else is retried."""

    def __init__(self, port, key=None, timeout=20.0, reopen=True):
        self.port = port
        self.reopen = reopen  # False: never open a second connection (drain probes)
        self._opened = False
        self.key = key
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, json_body=None):
        hdrs = {}
        if self.key is not None:
            hdrs["Authorization"] = "Bearer " + self.key
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if body is not None and "Content-Type" not in (headers or {}):
            hdrs.setdefault("Content-Type", "application/json")
        hdrs.update(headers or {})
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                if self._opened and not self.reopen:
                    raise ConnectionResetError("the connection was closed (reopen=False)")
                self._opened = True
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if reused and attempt == 0 and self.reopen:
                    continue
                raise
            if r.will_close:
                self.close()
            return Response(r.status, r.getheaders(), data)
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, doc=None, **kw):
        return self.request("POST", path, json_body=doc, **kw)

    def put(self, path, doc=None, **kw):
        return self.request("PUT", path, json_body=doc, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- v1 conveniences: each asserts its success status and returns the JSON document ----
    def create(self, name, num_features, **opts):
        doc = dict(name=name, num_features=num_features, **opts)
        r = self.post("/v1/layers", doc)
        if r.status != 201:
            raise AssertionError("create %s: %r" % (name, r))
        return r.json()

    def forward(self, name, doc, expect=200):
        r = self.post("/v1/layers/%s/forward" % name, doc)
        if r.status != expect:
            raise AssertionError("forward %s: expected %d, got %r" % (name, expect, r))
        return r.json()

    def stats(self, name, sid=None):
        path = "/v1/layers/%s/stats" % name + ("" if sid is None else "/%d" % sid)
        r = self.get(path)
        if r.status != 200:
            raise AssertionError("GET %s: %r" % (path, r))
        return r.json()


def raw_request(port, data, timeout=10.0, read_all=False, first_only=False):
    """Sends DATA (bytes) on a fresh connection and parses one response (or, with READ_ALL,
    reads until the server closes). Returns (Response, socket-closed-by-server?)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_response(s, read_all=read_all)
    finally:
        s.close()


def send_until_answer(port, head, body, timeout=10.0):
    """Sends HEAD, then BODY in pieces while watching for an early answer (a server may reject a
    request from its headers alone and close): returns the Response, whenever it came."""
    import select
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        off = 0
        deadline = time.monotonic() + timeout
        while off < len(body) and time.monotonic() < deadline:
            readable, _, _ = select.select([s], [], [], 0.05)
            if readable:
                break
            try:
                off += s.send(body[off:off + 16384])
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_response(s)[0]
    finally:
        s.close()


def read_response(sock, read_all=False):
    """Reads one HTTP response from SOCK: (Response, closed) where CLOSED says the server closed
    the connection after it. Handles Content-Length and chunked bodies."""
    buf = b""
    deadline = time.monotonic() + sock.gettimeout()
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise AssertionError("no response head: %r" % buf)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    resp = Response(status, headers, b"")
    closed = False
    if 100 <= status < 200:
        resp.body, resp.rest = b"", rest
        return resp, False
    length = resp.header("Content-Length")
    if status in (204, 304):
        length = "0"
    if read_all or (length is None and resp.header("Transfer-Encoding") is None):
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            rest += chunk
        resp.body = rest
        return resp, closed
    if length is not None:
        n = int(length)
        while len(rest) < n and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        resp.body = rest[:n]
    else:  # chunked
        body = b""
        while time.monotonic() < deadline:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    raise AssertionError("closed inside a chunked body")
                rest += chunk
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise AssertionError("closed inside a chunk")
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                break
        resp.body = body
    # Did the server close after this response? (a short peek; the answer is only advisory)
    sock.settimeout(0.2)
    try:
        closed = sock.recv(1) == b""
    except (socket.timeout, BlockingIOError):
        closed = False
    except ConnectionResetError:
        closed = True
    return resp, closed


# ---- the reference (SEMANTICS 4), pure Python ---------------------------------------------

_F = struct.Struct("<f")


def f32(x):
    """X rounded to the nearest float32 (as a Python float)."""
    return _F.unpack(_F.pack(x))[0]


def f32_list(xs):
    return [f32(x) for x in xs]


def pack_f32(xs):
    return struct.pack("<%df" % len(xs), *xs)


def unpack_f32(b):
    return list(struct.unpack("<%df" % (len(b) // 4), b))


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def channel_values(x, shape, c):
    """The values of channel C of the row-major tensor X of SHAPE (N, C, *)."""
    C = shape[1]
    inner = numel(shape[2:])
    out = []
    for n in range(shape[0]):
        base = (n * C + c) * inner
        out.extend(x[base:base + inner])
    return out


def batch_stats(x, shape):
    """Per-channel batch mean and biased variance, in double, and m."""
    C = shape[1]
    means, vars_ = [], []
    m = numel(shape) // C if C else 0
    for c in range(C):
        v = channel_values(x, shape, c)
        mu = math.fsum(v) / len(v)
        means.append(mu)
        vars_.append(math.fsum((t - mu) ** 2 for t in v) / len(v))
    return means, vars_, m


def normalize(x, shape, mean, var, eps, weight=None, bias=None):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (row-major X of SHAPE)."""
    C = shape[1]
    inner = numel(shape[2:])
    y = [0.0] * len(x)
    for i, t in enumerate(x):
        c = (i // inner) % C
        g = 1.0 if weight is None else weight[c]
        b = 0.0 if bias is None else bias[c]
        y[i] = (t - mean[c]) / math.sqrt(var[c] + eps) * g + b
    return y


def batch_norm_train(x, shape, eps, weight=None, bias=None):
    mu, s2, m = batch_stats(x, shape)
    return normalize(x, shape, mu, s2, eps, weight, bias), mu, s2, m


def running_update(mean, var, count, mu, s2, m, momentum):
    """One train step's update of a slot (float32 storage): returns (mean, var, count)."""
    count += 1
    f = (1.0 / count) if momentum is None else momentum
    mean = [f32((1 - f) * a + f * b) for a, b in zip(mean, mu)]
    var = [f32((1 - f) * a + f * b * m / (m - 1)) for a, b in zip(var, s2)]
    return mean, var, count


def assert_close(got, want, rtol=2e-5, atol=2e-5, what="values"):
    if len(got) != len(want):
        raise AssertionError("%s: %d values, expected %d" % (what, len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        if not (abs(g - w) <= atol + rtol * abs(w)):
            raise AssertionError("%s[%d]: got %r, expected %r" % (what, i, g, w))


def flatten(t):
    """Flattens a nested-array tensor; returns (flat values, shape)."""
    if not isinstance(t, list):
        return [t], []
    if not t:
        return [], [0]
    parts = [flatten(e) for e in t]
    shape = [len(t)] + parts[0][1]
    return [v for p in parts for v in p[0]], shape


def nest(flat, shape):
    """The nested-array form of row-major FLAT of SHAPE."""
    if len(shape) == 1:
        return list(flat)
    step = numel(shape[1:])
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def tensor_values(t):
    """Flat values and shape of a response tensor, nested or {"shape", "data"}."""
    if isinstance(t, dict):
        return list(t["data"]), list(t["shape"])
    return flatten(t)


def rand_tensor(rng, shape, loc=0.0, scale=1.0):
    """Random float32 values (row-major) of SHAPE."""
    return [f32(rng.gauss(loc, scale)) for _ in range(numel(shape))]


def main():
    """Runs the calling module's unittest cases, prints "NAME: N passed, M failed" (the line CI
    counts) and exits with the status automake's harness reads."""
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print("%s: %d passed, %d failed" % (name, r.testsRun - failed - len(r.skipped), failed))
    sys.exit(0 if r.wasSuccessful() else 1)
