# test_soak.py: the checking soak client (tests/soak/soak.py) works and checks. A short clean
# run against the built daemon must exit 0 with every operation counted and every invariant
# holding; negative controls prove it detects problems: through a tampering proxy (a wrong
# number in some forward answers, 500 for some statistics reads, a dropped connection, train
# forwards applied twice behind the client's back, a heap gauge that grows by a block per
# reading) it must exit 1 and name each error class,
# and with its hidden --self-test-corrupt=invariant flag only the lost-update invariant fails.
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak", "soak.py")
EVERY = 10   # the proxy tampers with every EVERY-th request of each kind


def run_soak(*args, seconds=4):
    """Runs soak.py with ARGS; returns (exit status, JSON report, stdout)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        p = subprocess.run(["/usr/bin/python3", SOAK, "--seconds", str(seconds), "--json", path]
                           + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        sys.stderr.write(out)
        with open(path) as f:
            return p.returncode, json.load(f), out


class Tamper:
    """Counters of the proxy's tampering (shared by its threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}

    def due(self, kind):
        with self.lock:
            self.n[kind] = self.n.get(kind, 0) + 1
            return self.n[kind] % EVERY == 0


def corrupt_outputs(body):
    doc = json.loads(body)
    t = doc["outputs"]
    if isinstance(t, dict):
        t["data"][0] += 1.0
    else:
        while isinstance(t[0], list):
            t = t[0]
        t[0] += 1.0
    return json.dumps(doc).encode()


class Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the daemon (one upstream connection per client connection),
    tampering as the class docstring of the module says."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    upstream_port = None
    tamper = None

    def log_message(self, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.path == "/v2/health/ready" and self.tamper.due("close"):
            self.close_connection = True     # no answer at all
            return
        hdrs = {k: v for k, v in self.headers.items() if k.lower() == "content-type"}
        train = self.command == "POST" and self.path.split("?")[0].endswith("/forward") and \
            ("mode=train&stats_id" in self.path or b'"mode":"train","stats_id"' in (body or b""))
        if train and self.tamper.due("twice"):
            self.upstream(hdrs, body)        # an update the client never sees acknowledged
        status, rhdrs, rbody = self.upstream(hdrs, body)
        if self.command == "GET" and "/stats" in self.path and self.tamper.due("500"):
            status, rbody = 500, b'{"error":"tampered","code":"internal"}'
        elif status == 200 and rbody.startswith(b'{"outputs"') and self.tamper.due("number"):
            rbody = corrupt_outputs(rbody)
        elif self.path == "/metrics":        # a heap that grows by a block per reading: a leak
            self.tamper.due("metrics")
            rbody = re.sub(rb"(?m)^(hyperbn_heap_live_allocations )(\d+)$", lambda m: m.group(1) +
                           str(int(m.group(2)) + self.tamper.n["metrics"]).encode(), rbody)
        self.send_response(status)
        for k, v in rhdrs:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rbody)))
        self.end_headers()
        self.wfile.write(rbody)

    def upstream(self, hdrs, body):
        if getattr(self, "conn", None) is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        self.conn.request(self.command, self.path, body=body, headers=hdrs)
        r = self.conn.getresponse()
        return r.status, r.getheaders(), r.read()

    def finish(self):
        super().finish()
        if getattr(self, "conn", None) is not None:
            self.conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = relay


class SoakClient(unittest.TestCase):
    def test_clean_run(self):
        rc, rep, out = run_soak("--daemon", hbn.require_binary(), "--connections", "16")
        self.assertEqual(rc, 0, rep["failures"])
        self.assertIn("verdict: PASS", out)
        for op, s in rep["per_op"].items():
            self.assertGreater(s["requests"], 0, op)
        e = rep["errors"]
        self.assertEqual((e["unexpected_status"], e["wrong_answers"], e["connection_errors"]),
                         ({}, 0, {}))
        names = " | ".join(v["name"] for v in rep["invariants"] if v["ok"])
        self.assertEqual([v for v in rep["invariants"] if not v["ok"]], [])
        for what in ("num_stats = 1 +", "acknowledged train forwards", "count = train-mode",
                     "statistics as set", "no churn layer left"):
            self.assertIn(what, names)
        self.assertEqual(rep["daemon_exit"], 0)
        self.assertEqual(rep["resources"]["fds"]["start"], rep["resources"]["fds"]["end"])
        self.assertIsNotNone(rep["resources"]["rss_kib"]["start"])
        heap = rep["resources"]["heap_live_allocations"]
        self.assertIsNotNone(heap["before_setup"])
        self.assertEqual(heap["before_setup"], heap["after_cleanup"])
        self.assertGreater(heap["start"], heap["before_setup"])   # the run's layers

    def test_tampering_proxy_is_caught(self):
        with hbn.Daemon() as d:
            Proxy.upstream_port, Proxy.tamper = d.port, Tamper()
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
            server.daemon_threads = True
            t = threading.Thread(target=server.serve_forever, daemon=True)
            t.start()
            try:
                rc, rep, out = run_soak("--url", "http://127.0.0.1:%d" % server.server_port,
                                        "--request-timeout", "10", seconds=2)
            finally:
                server.shutdown()
                server.server_close()
            self.assertEqual(d.stop(), 0)
        self.assertEqual(rc, 1)
        self.assertIn("verdict: FAIL", out)
        e = rep["errors"]
        self.assertGreater(e["unexpected_status"].get("500", 0), 0)
        self.assertGreater(e["unexpected_status_by_op"].get("stats-read 500", 0), 0)
        forwards = {op for op in e["wrong_answers_by_op"] if "forward" in op}
        self.assertTrue(forwards, e["wrong_answers_by_op"])
        self.assertGreater(e["connection_errors"].get("closed", 0), 0)
        bad = [v["name"] for v in rep["invariants"] if not v["ok"]]
        self.assertTrue([n for n in bad if "acknowledged train forwards" in n], bad)
        self.assertTrue([f for f in rep["failures"] if f.startswith("heap:")], rep["failures"])

    def test_corrupted_invariant_is_caught(self):
        rc, rep, out = run_soak("--daemon", hbn.require_binary(), "--self-test-corrupt",
                                "invariant", seconds=1)
        self.assertEqual(rc, 1)
        e = rep["errors"]
        self.assertEqual((e["unexpected_status"], e["wrong_answers"], e["connection_errors"]),
                         ({}, 0, {}))
        bad = [v for v in rep["invariants"] if not v["ok"]]
        self.assertEqual(len(bad), 1, bad)
        self.assertIn("acknowledged train forwards", bad[0]["name"])
        self.assertIn("slot 0: num_batches_tracked", bad[0]["detail"])


if __name__ == "__main__":
    hbn.main()
