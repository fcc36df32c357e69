# test_operations.py: the daemon as an operator sees it: health and readiness, /v2, /metrics
# (counters move by exactly what was sent), X-Request-Id echoed or generated, SIGTERM draining an
# in-flight request (readiness 503 while draining, new connections refused, exit 0), the command
# line (--version, --help, a bad flag exits 2) and the refusal to serve a non-loopback address
# without a key.
import json
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> ({(name, frozenset(labels)): value}, {name: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types


def deltas(before, after):
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def run(*args, env=None, timeout=15):
    return subprocess.run([hbn.require_binary()] + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


class Operations(hbn.DaemonCase):
    def test_health_and_v2(self):
        r = self.c.get("/v2/health/live")
        self.assertEqual((r.status, r.json()), (200, {"live": True}))
        r = self.c.get("/v2/health/ready")
        self.assertEqual((r.status, r.json()), (200, {"ready": True}))
        r = self.c.get("/v2")
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["name"], "hyperbn")
        self.assertIsInstance(doc["version"], str)
        self.assertIn("binary_tensor_data", doc["extensions"])

    def test_request_id(self):
        r = self.c.get("/v2/health/live", headers={"X-Request-Id": "client-id-42"})
        self.assertEqual(r.header("X-Request-Id"), "client-id-42")
        r = self.c.get("/v1/layers/nope", headers={"X-Request-Id": "err-id.7_x"})
        self.assertEqual((r.status, r.header("X-Request-Id")), (404, "err-id.7_x"))
        ids = set()
        for _ in range(3):
            rid = self.c.get("/v2/health/live").header("X-Request-Id")
            self.assertTrue(rid)
            ids.add(rid)
        self.assertEqual(len(ids), 3, "generated request ids repeat: %r" % ids)
        for insane in ("a" * 400, "bad id with spaces", 'quote"d', "semi;colon\\"):
            rid = self.c.get("/v2/health/live", headers={"X-Request-Id": insane})
            rid = rid.header("X-Request-Id")
            self.assertTrue(rid)
            self.assertNotEqual(rid, insane)

    def test_metrics_move(self):
        c = self.c
        c.create("met", 4)
        r = c.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.header("Content-Type"))
        before, types = parse_metrics(r.body.decode())
        x = [[float(i + j) for j in range(4)] for i in range(5)]      # 20 elements
        for _ in range(7):
            c.forward("met", {"inputs": x})
        for _ in range(3):
            self.assertEqual(c.get("/v1/layers/nope").status, 404)
        after, types = parse_metrics(c.get("/metrics").body.decode())
        moved = deltas(before, after)

        def moved_by(value, *label_values):
            return [k for k, v in moved.items()
                    if v == value and all(lv in dict(k[1]).values() for lv in label_values)]

        self.assertTrue(moved_by(7, "/v1/layers/{name}/forward", "200"),
                        "no counter of forward/200 moved by 7: %r" % moved)
        self.assertTrue(moved_by(3, "/v1/layers/{name}", "404"),
                        "no counter of GET layer/404 moved by 3: %r" % moved)
        self.assertTrue([k for k, v in moved.items() if v == 140 and "element" in k[0]],
                        "no forward-elements counter moved by 140: %r" % moved)
        self.assertTrue(any(k.endswith("_bucket") or t == "histogram"
                            for k, t in types.items()), "no latency histogram: %r" % types)
        layers = [v for (n, lab), v in after.items()
                  if "layer" in n and types.get(n) == "gauge" and not lab]
        self.assertIn(float(len(c.get("/v1/layers").json()["layers"])), layers,
                      "no layer-count gauge: %r" % sorted(types))


class Draining(unittest.TestCase):
    HELD_BODY = json.dumps({"inputs": [[1.0, 2.0], [3.0, 6.0]]}).encode()

    def hold_forward(self, d):
        """A forward on layer "slow" of D held in flight: its head sent and answered with 100
        Continue, its body not yet sent. Returns the socket; finish_forward completes it."""
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        # The request is in flight once the server has read its head and asked for the body.
        s.sendall(b"POST /v1/layers/slow/forward HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(self.HELD_BODY))
        interim, _ = hbn.read_response(s)
        self.assertEqual(interim.status, 100)
        return s

    def finish_forward(self, s):
        """Sends the held request's body on S and checks its answer: 200 and the right values."""
        s.sendall(self.HELD_BODY)
        resp, _ = hbn.read_response(s)
        s.close()
        self.assertEqual(resp.status, 200, resp)
        hbn.assert_close(hbn.flatten(resp.json()["outputs"])[0],
                         hbn.normalize([1, 2, 3, 6], [2, 2], [2, 4], [1, 4], 1e-5))

    def test_sigterm_drains_in_flight_request(self):
        with hbn.Daemon("--drain-timeout", "20") as d:
            c = d.client()
            c.create("slow", 2)
            prober = hbn.Client(d.port, timeout=5, reopen=False)
            # Ready first (bounded; test_ready_once_listening checks the first probe itself).
            deadline = time.monotonic() + 5
            while prober.get("/v2/health/ready").status != 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(prober.get("/v2/health/ready").status, 200)
            s = self.hold_forward(d)
            d.signal(signal.SIGTERM)
            ready = self.poll_not_ready(prober)
            prober.close()
            c.close()
            self.finish_forward(s)
            self.assertEqual(d.wait(), 0)
            sys.stderr.write("readiness while draining: %s\n" % ready)
            self.assertIn(ready, ("503", "closed"))

    def test_draining_refuses_new_connections(self):
        """After SIGTERM, while a request is still in flight, a new connection gets no answer
        (the listening socket is quiesced), and the held request still completes."""
        with hbn.Daemon("--drain-timeout", "20") as d:
            c = d.client()
            c.create("slow", 2)
            c.close()
            s = self.hold_forward(d)
            self.assertEqual(self.new_connection(d.port), "200")  # the control: served before
            d.signal(signal.SIGTERM)
            # Until the drain has begun, a new connection is still served: poll, bounded.
            deadline = time.monotonic() + 5
            seen = []
            while time.monotonic() < deadline:
                seen.append(self.new_connection(d.port))
                if seen[-1] in ("refused", "closed"):
                    break
                time.sleep(0.02)  # polling interval, not synchronisation
            self.assertIn(seen[-1], ("refused", "closed"),
                          "a new connection was still served while draining: %r" % seen[-5:])
            self.assertTrue(d.alive(), "the daemon exited with a request in flight")
            self.finish_forward(s)
            self.assertEqual(d.wait(), 0)
            sys.stderr.write("new connection while draining: %s after %d tries\n"
                             % (seen[-1], len(seen)))

    @staticmethod
    def new_connection(port):
        """GET /v2/health/live on a new connection to PORT: "refused" when the connection is
        refused (or reset while connecting: it reached the listening socket as it was shut down),
        "closed" when the server drops it without an answer, else the answer's status."""
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except (ConnectionRefusedError, ConnectionResetError):
            return "refused"
        try:
            s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            return str(hbn.read_response(s)[0].status)
        except (OSError, AssertionError):  # reset, or closed before a response head
            return "closed"
        finally:
            s.close()

    @staticmethod
    def poll_not_ready(prober):
        """Readiness on an already-open connection until it says 503 or the server closes the
        connection (then draining is not observable there). Bounded."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                r = prober.get("/v2/health/ready")
            except (OSError, hbn.http.client.HTTPException):
                return "closed"
            if r.status == 503:
                doc = r.json()
                assert doc["ready"] is False, doc
                return "503"
            if prober.conn is None:
                return "closed"
            time.sleep(0.01)  # polling interval, not synchronisation
        return "still 200 after SIGTERM"

    def test_sigterm_idle_exits_zero(self):
        with hbn.Daemon() as d:
            c = d.client()
            self.assertEqual(c.get("/v2/health/live").status, 200)
            c.close()
            self.assertEqual(d.stop(), 0)

    def test_ready_once_listening(self):
        """The readiness line means ready: the first probe after it answers 200."""
        for _ in range(5):
            with hbn.Daemon() as d:
                c = d.client()
                r = c.get("/v2/health/ready")
                c.close()
                self.assertEqual((r.status, r.json()), (200, {"ready": True}))


class CommandLine(unittest.TestCase):
    def test_version(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0, p)
        self.assertIn(b"0.1.0", p.stdout + p.stderr)

    def test_help(self):
        p = run("--help")
        self.assertEqual(p.returncode, 0, p)
        text = (p.stdout + p.stderr).decode()
        for flag in ("--host", "--port", "--threads", "--max-body-bytes", "--max-layers",
                     "--max-slots", "--connection-timeout", "--api-key-file",
                     "--insecure-no-auth", "--log-format", "--drain-timeout", "--version"):
            self.assertIn(flag, text)

    def test_bad_flags_exit_2(self):
        for args in (["--no-such-flag"], ["--port"], ["--threads"], ["extra-argument"]):
            p = run(*args)
            self.assertEqual(p.returncode, 2, (args, p))
            self.assertNotIn(b"listening on", p.stderr)

    def test_non_loopback_without_key_refuses(self):
        env = {k: v for k, v in hbn.os.environ.items() if k != "HYPERBN_API_KEY"}
        p = run("--host", "0.0.0.0", "--port", "0", env=env)
        self.assertNotEqual(p.returncode, 0, p)
        self.assertNotIn(b"listening on", p.stderr)
        self.assertTrue(p.stderr.strip(), "refusal without a message")

    def test_non_loopback_with_key_or_override_starts(self):
        """Controls for the refusal: a key, or --insecure-no-auth, lets it start (nothing
        connects to the non-loopback address)."""
        for flags, env in ((["--insecure-no-auth"], None),
                           ([], {"HYPERBN_API_KEY": "k3y-for-the-test"})):
            with hbn.Daemon(*flags, env=env, host="0.0.0.0") as d:
                self.assertTrue(d.alive())
                self.assertEqual(d.stop(), 0)

    def test_json_logs(self):
        with hbn.Daemon("--log-format", "json") as d:
            c = d.client()
            self.assertEqual(c.get("/v1/layers", headers={"X-Request-Id": "log-me-1"}).status,
                             200)
            c.close()
            self.assertEqual(d.stop(), 0)
        other = [ln for ln in d.lines if not hbn.READY_RE.match(ln)]
        self.assertTrue(other, "no log line at all")
        for line in other:
            self.assertIsInstance(json.loads(line), dict, line)


if __name__ == "__main__":
    hbn.main()
