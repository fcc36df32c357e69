# test_bad_requests.py: table-driven bad requests against the real daemon, each with its exact
# status and error code (API.md's error table), the {"error", "code"} body and X-Request-Id; after
# every one the daemon is alive and no layer's state (layer object, every slot, weights, the list)
# changed. Also the transport-level errors on raw sockets (411, 413 without 100 Continue,
# duplicate Content-Length, Transfer-Encoding with Content-Length), quotas and authentication.
import json
import os
import socket
import struct
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

MAX_BODY = 65536
X = [[1.0, 2.0, 3.0, 4.0], [2.0, 0.5, -1.0, 8.0], [0.0, 1.0, 1.0, 3.0]]   # (3, 4)
X3 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]                                    # 3 channels
NAN = struct.pack("<f", float("nan"))
INF = struct.pack("<f", float("inf"))
OCT = {"Content-Type": "application/octet-stream"}


def J(**doc):
    return json.dumps(doc).encode()


def fwd(**extra):
    """A forward body on bn: X, stats_id 0, explicit train mode, plus EXTRA (None deletes)."""
    doc = {"inputs": X, "stats_id": 0, "mode": "train"}
    doc.update(extra)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def stats(**extra):
    doc = {"running_mean": [0.0] * 4, "running_var": [1.0] * 4}
    doc.update(extra)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def create(**extra):
    doc = {"name": "newlayer", "num_features": 4}
    doc.update(extra)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def binq(query, values=None, raw=None):
    body = raw if raw is not None else hbn.pack_f32(values if values is not None
                                                    else [float(i) for i in range(12)])
    return ("POST", "/v1/layers/bn/forward" + query, body, OCT)


F = "/v1/layers/bn/forward"
LONG = "a" * 129
# (label, method, path, body bytes or None, extra headers, status, code)
CASES = [
    # ---- forward: structure (400) ----
    ("truncated json", "POST", F, b'{"inputs": [[1,2', None, 400, "invalid_json"),
    ("empty body", "POST", F, b"", None, 400, "invalid_json"),
    ("bad utf-8", "POST", F, b'{"inputs": "\xff\xfe"}', None, 400, "invalid_json"),
    ("trailing garbage", "POST", F, fwd() + b" x", None, 400, "invalid_json"),
    ("not an object", "POST", F, b"[1, 2]", None, 400, "invalid_argument"),
    ("missing inputs", "POST", F, J(stats_id=0), None, 400, "invalid_argument"),
    ("inputs string", "POST", F, fwd(inputs="abc"), None, 400, "invalid_argument"),
    ("inputs bare number", "POST", F, fwd(inputs=3), None, 400, "invalid_argument"),
    ("bad mode", "POST", F, fwd(mode="test"), None, 400, "invalid_argument"),
    ("mode wrong type", "POST", F, fwd(mode=1), None, 400, "invalid_argument"),
    ("only running_mean", "POST", F, fwd(running_mean=[0.0] * 4), None, 400,
     "invalid_argument"),
    ("only running_var", "POST", F, fwd(running_var=[1.0] * 4), None, 400, "invalid_argument"),
    ("stats_id not integer", "POST", F, fwd(stats_id=1.5), None, 400, "invalid_argument"),
    ("stats_id string", "POST", F, fwd(stats_id="0"), None, 400, "invalid_argument"),
    ("count without given stats", "POST", F, fwd(num_batches_tracked=3), None, 400,
     "invalid_argument"),
    ("negative count", "POST", F, fwd(running_mean=[0.0] * 4, running_var=[1.0] * 4,
                                      num_batches_tracked=-1), None, 400, "invalid_argument"),
    ("weight not array", "POST", F, fwd(weight="w"), None, 400, "invalid_argument"),
    ("unknown field", "POST", F, fwd(momentum=0.5), None, 400, "unknown_field"),
    ("unknown field typo", "POST", F, fwd(stat_id=0), None, 400, "unknown_field"),
    # ---- forward: shapes (422) ----
    ("channel mismatch", "POST", F, fwd(inputs=X3), None, 422, "shape_mismatch"),
    ("weight length", "POST", F, fwd(weight=[1.0] * 5), None, 422, "shape_mismatch"),
    ("bias length", "POST", F, fwd(bias=[1.0] * 3), None, 422, "shape_mismatch"),
    ("given stats length", "POST", F, fwd(running_mean=[0.0] * 3, running_var=[1.0] * 3), None,
     422, "shape_mismatch"),
    ("rank 1", "POST", F, fwd(inputs=[1.0, 2.0, 3.0, 4.0]), None, 422, "shape_mismatch"),
    ("rank 6", "POST", F, fwd(inputs=[[[[[[1.0, 2.0]]]] for _ in range(4)]]), None, 422,
     "shape_mismatch"),
    ("rank 6 object", "POST", F, fwd(inputs={"shape": [1, 4, 1, 1, 1, 1], "data": [1.0] * 4}),
     None, 422, "shape_mismatch"),
    ("ragged", "POST", F, fwd(inputs=[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]]), None, 422,
     "shape_mismatch"),
    ("data length", "POST", F, fwd(inputs={"shape": [2, 4], "data": [1.0] * 7}), None, 422,
     "shape_mismatch"),
    ("negative dimension", "POST", F, fwd(inputs={"shape": [-1, 4], "data": []}), None, 422,
     "shape_mismatch"),
    ("shape before stats_id", "POST", F, fwd(inputs=X3, stats_id=9), None, 422,
     "shape_mismatch"),
    # ---- forward: stats_id (422) ----
    ("stats_id required", "POST", F, fwd(stats_id=None), None, 422, "stats_id_required"),
    ("stats_id too large", "POST", F, fwd(stats_id=2), None, 422, "stats_id_out_of_range"),
    ("stats_id negative", "POST", F, fwd(stats_id=-1), None, 422, "stats_id_out_of_range"),
    ("stats_id before values", "POST", F, fwd(stats_id=5, weight=[1e39] * 4), None, 422,
     "stats_id_out_of_range"),
    # ---- forward: values and batch size (422) ----
    ("1e39 in inputs", "POST", F, fwd(inputs=[[1e39, 0.0, 0.0, 0.0], [1.0] * 4]), None, 422,
     "non_finite"),
    ("1e39 in weight", "POST", F, fwd(weight=[1.0, 1e39, 1.0, 1.0]), None, 422, "non_finite"),
    ("1e39 in bias", "POST", F, fwd(bias=[1.0, 1.0, -1e39, 1.0]), None, 422, "non_finite"),
    ("1e39 in given var", "POST", F, fwd(running_mean=[0.0] * 4,
                                         running_var=[1.0, 1.0, 1.0, 1e39]), None, 422,
     "non_finite"),
    ("values before batch size", "POST", F, fwd(inputs=[[1e39, 0.0, 0.0, 0.0]]), None, 422,
     "non_finite"),
    ("negative given variance", "POST", F, fwd(running_mean=[0.0] * 4,
                                               running_var=[1.0, -0.5, 1.0, 1.0]), None, 422,
     "invalid_value"),
    ("m=1 train", "POST", F, fwd(inputs=[[1.0, 2.0, 3.0, 4.0]]), None, 422, "batch_too_small"),
    ("m=1 rank 3 train", "POST", F, fwd(inputs=[[[1.0], [2.0], [3.0], [4.0]]]), None, 422,
     "batch_too_small"),
    ("m=1 given stats train", "POST", F, fwd(inputs=[[1.0, 2.0, 3.0, 4.0]], stats_id=None,
                                             running_mean=[0.0] * 4, running_var=[1.0] * 4),
     None, 422, "batch_too_small"),
    ("m=1 non-tracking eval", "POST", "/v1/layers/nt/forward",
     J(inputs=[[1.0, 2.0, 3.0, 4.0]], mode="eval"), None, 422, "batch_too_small"),
    # ---- forward: binary form ----
    ("binary no shape",) + binq("?stats_id=0") + (400, "invalid_argument"),
    ("binary shape=x",) + binq("?shape=x&stats_id=0") + (400, "invalid_argument"),
    ("binary bad mode",) + binq("?shape=3,4&stats_id=0&mode=x") + (400, "invalid_argument"),
    ("binary short body",) + binq("?shape=3,4&stats_id=0", [1.0] * 10) + (422,
                                                                          "shape_mismatch"),
    ("binary odd bytes",) + binq("?shape=3,4&stats_id=0", raw=b"\0" * 47) + (422,
                                                                             "shape_mismatch"),
    ("binary channels",) + binq("?shape=4,3&stats_id=0") + (422, "shape_mismatch"),
    ("binary rank 1",) + binq("?shape=12&stats_id=0") + (422, "shape_mismatch"),
    ("binary stats_id required",) + binq("?shape=3,4") + (422, "stats_id_required"),
    ("binary stats_id range",) + binq("?shape=3,4&stats_id=7") + (422, "stats_id_out_of_range"),
    ("binary NaN",) + binq("?shape=3,4&stats_id=0", raw=NAN + b"\0" * 44) + (422, "non_finite"),
    ("binary Inf",) + binq("?shape=3,4&stats_id=0", raw=b"\0" * 44 + INF) + (422, "non_finite"),
    ("binary m=1",) + binq("?shape=1,4&stats_id=0&mode=train", [1.0] * 4) + (422,
                                                                             "batch_too_small"),
    # ---- names ----
    ("name ..", "GET", "/v1/layers/..", None, None, 400, "invalid_name"),
    ("name a..b", "GET", "/v1/layers/a..b", None, None, 400, "invalid_name"),
    ("name %2F", "GET", "/v1/layers/bn%2Fforward", None, None, 400, "invalid_name"),
    ("name %00", "GET", "/v1/layers/bn%00", None, None, 400, "invalid_name"),
    ("name %62n", "GET", "/v1/layers/%62n", None, None, 400, "invalid_name"),
    ("name leading dash", "GET", "/v1/layers/-bn", None, None, 400, "invalid_name"),
    ("name 129 chars", "GET", "/v1/layers/" + LONG, None, None, 400, "invalid_name"),
    ("name %2F forward", "POST", "/v1/layers/bn%2F..%2Fbn/forward", fwd(), None, 400,
     "invalid_name"),
    ("body name ..", "POST", "/v1/layers", create(name=".."), None, 400, "invalid_name"),
    ("body name slash", "POST", "/v1/layers", create(name="a/b"), None, 400, "invalid_name"),
    ("body name empty", "POST", "/v1/layers", create(name=""), None, 400, "invalid_name"),
    ("body name 129", "POST", "/v1/layers", create(name=LONG), None, 400, "invalid_name"),
    ("body name NUL", "POST", "/v1/layers", create(name="ab\u0000c"), None, 400,
     "invalid_name"),
    # ---- create ----
    ("duplicate create", "POST", "/v1/layers", create(name="bn"), None, 409, "layer_exists"),
    ("num_features float", "POST", "/v1/layers", create(num_features=4.5), None, 400,
     "invalid_argument"),
    ("num_features string", "POST", "/v1/layers", create(num_features="4"), None, 400,
     "invalid_argument"),
    ("num_features missing", "POST", "/v1/layers", create(num_features=None), None, 400,
     "invalid_argument"),
    ("name missing", "POST", "/v1/layers", create(name=None), None, 400, "invalid_argument"),
    ("affine not bool", "POST", "/v1/layers", create(affine="yes"), None, 400,
     "invalid_argument"),
    ("create bad mode", "POST", "/v1/layers", create(mode="test"), None, 400,
     "invalid_argument"),
    ("create unknown field", "POST", "/v1/layers", create(colour=1), None, 400,
     "unknown_field"),
    ("num_features 0", "POST", "/v1/layers", create(num_features=0), None, 422,
     "invalid_config"),
    ("num_features 2^20+1", "POST", "/v1/layers", create(num_features=1048577), None, 422,
     "invalid_config"),
    ("momentum 1.5", "POST", "/v1/layers", create(momentum=1.5), None, 422, "invalid_config"),
    ("momentum negative", "POST", "/v1/layers", create(momentum=-0.1), None, 422,
     "invalid_config"),
    ("eps 0", "POST", "/v1/layers", create(eps=0), None, 422, "invalid_config"),
    ("eps 1e39", "POST", "/v1/layers", create(eps=1e39), None, 422, "invalid_config"),
    ("eps 1e-50", "POST", "/v1/layers", create(eps=1e-50), None, 422, "invalid_config"),
    ("frozen and tracking", "POST", "/v1/layers", create(frozen_stats=True), None, 422,
     "invalid_config"),
    ("learnable and tracking", "POST", "/v1/layers", create(learnable_stats=True), None, 422,
     "invalid_config"),
    ("frozen and learnable", "POST", "/v1/layers",
     create(frozen_stats=True, learnable_stats=True, track_running_stats=False), None, 422,
     "invalid_config"),
    ("create empty body", "POST", "/v1/layers", b"", None, 400, "invalid_json"),
    # ---- routes, methods, media types ----
    ("unknown route", "GET", "/v1/nothing", None, None, 404, "not_found"),
    ("unknown layer", "GET", "/v1/layers/nope", None, None, 404, "layer_not_found"),
    ("path before body", "POST", "/v1/layers/nope/forward", b"{bad", None, 404,
     "layer_not_found"),
    ("DELETE collection", "DELETE", "/v1/layers", None, None, 405, "method_not_allowed"),
    ("PATCH layer", "PATCH", "/v1/layers/bn", b"{}", None, 405, "method_not_allowed"),
    ("GET forward", "GET", F, None, None, 405, "method_not_allowed"),
    ("POST stats", "POST", "/v1/layers/bn/stats", stats(), None, 405, "method_not_allowed"),
    ("text/plain forward", "POST", F, fwd(), {"Content-Type": "text/plain"}, 415,
     "unsupported_media_type"),
    ("octet-stream create", "POST", "/v1/layers", create(), OCT, 415, "unsupported_media_type"),
    ("json state", "PUT", "/v1/layers/bn/state", b"{}", None, 415, "unsupported_media_type"),
    # ---- stats, mode, weights, checkpoints ----
    ("stats slot 2", "GET", "/v1/layers/bn/stats/2", None, None, 404, "stats_not_found"),
    ("stats huge id", "GET", "/v1/layers/bn/stats/" + "9" * 40, None, None, 404,
     "stats_not_found"),
    ("stats -1", "GET", "/v1/layers/bn/stats/-1", None, None, 400, "invalid_argument"),
    ("stats abc", "GET", "/v1/layers/bn/stats/abc", None, None, 400, "invalid_argument"),
    ("stats 1.0", "GET", "/v1/layers/bn/stats/1.0", None, None, 400, "invalid_argument"),
    ("no slots latest", "GET", "/v1/layers/nt/stats", None, None, 404, "stats_not_found"),
    ("no slots id", "GET", "/v1/layers/nt/stats/0", None, None, 404, "stats_not_found"),
    ("PUT stats negative var", "PUT", "/v1/layers/bn/stats/0",
     stats(running_var=[1.0, 1.0, -2.0, 1.0]), None, 422, "invalid_value"),
    ("PUT stats 1e39", "PUT", "/v1/layers/bn/stats/0", stats(running_mean=[1e39] * 4), None,
     422, "non_finite"),
    ("PUT stats length", "PUT", "/v1/layers/bn/stats/0", stats(running_mean=[0.0] * 3), None,
     422, "shape_mismatch"),
    ("PUT stats negative count", "PUT", "/v1/layers/bn/stats/0", stats(num_batches_tracked=-1),
     None, 400, "invalid_argument"),
    ("PUT stats one of two", "PUT", "/v1/layers/bn/stats/0", stats(running_var=None), None,
     400, "invalid_argument"),
    ("PUT stats slot 5", "PUT", "/v1/layers/bn/stats/5", stats(), None, 404, "stats_not_found"),
    ("PUT stats no slots", "PUT", "/v1/layers/nt/stats/0", stats(), None, 404,
     "stats_not_found"),
    ("PUT stats frozen", "PUT", "/v1/layers/fr/stats/0", stats(), None, 409, "frozen_stats"),
    ("frozen before body", "PUT", "/v1/layers/fr/stats/0", b"{bad", None, 409, "frozen_stats"),
    ("mode x", "PUT", "/v1/layers/bn/mode", J(mode="x"), None, 400, "invalid_argument"),
    ("mode missing", "PUT", "/v1/layers/bn/mode", b"{}", None, 400, "invalid_argument"),
    ("mode unknown field", "PUT", "/v1/layers/bn/mode", J(mode="eval", x=1), None, 400,
     "unknown_field"),
    ("PUT weights 1e39", "PUT", "/v1/layers/bn/weights", J(weight=[1e39] * 4, bias=[0.0] * 4),
     None, 422, "non_finite"),
    ("PUT weights length", "PUT", "/v1/layers/bn/weights", J(weight=[1.0] * 3, bias=[0.0] * 3),
     None, 422, "shape_mismatch"),
    ("GET weights non-affine", "GET", "/v1/layers/na/weights", None, None, 409, "not_affine"),
    ("PUT weights non-affine", "PUT", "/v1/layers/na/weights",
     J(weight=[1.0] * 4, bias=[0.0] * 4), None, 409, "not_affine"),
    ("checkpoint non-tracking", "POST", "/v1/layers/nt/checkpoints", None, None, 409,
     "not_tracking"),
    ("checkpoint frozen", "POST", "/v1/layers/fr/checkpoints", None, None, 409, "not_tracking"),
    ("checkpoint unknown field", "POST", "/v1/layers/bn/checkpoints", J(x=1), None, 400,
     "unknown_field"),
    ("state not safetensors", "PUT", "/v1/layers/bn/state", b"not a safetensors file", OCT,
     422, "invalid_state"),
    ("state empty", "PUT", "/v1/layers/bn/state", b"", OCT, 422, "invalid_state"),
]


def snapshot(c):
    """Everything observable about the layers: path -> (status, parsed body)."""
    out = {}
    paths = ["/v1/layers"]
    for name in ("bn", "nt", "fr", "na"):
        base = "/v1/layers/" + name
        paths += [base, base + "/stats", base + "/stats/0", base + "/stats/1", base + "/weights"]
    for p in paths:
        r = c.get(p)
        out[p] = (r.status, r.json())
    return out


class BadRequests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = hbn.Daemon("--max-body-bytes", str(MAX_BODY)).start()
        c = cls.c = cls.d.client()
        c.create("bn", 4)
        c.create("nt", 4, track_running_stats=False)
        c.create("fr", 4, track_running_stats=False, frozen_stats=True)
        c.create("na", 4, affine=False)
        c.forward("bn", {"inputs": X})
        assert c.post("/v1/layers/bn/checkpoints").status == 201
        c.forward("bn", {"inputs": X, "stats_id": 1})
        assert c.put("/v1/layers/bn/weights", {"weight": [2.0, 1.0, 0.5, 3.0],
                                               "bias": [0.0, 1.0, -1.0, 2.0]}).status == 200
        cls.before = snapshot(c)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        assert cls.d.stop() == 0

    def assert_unchanged(self, label):
        self.assertTrue(self.d.alive(), "daemon died after %s" % label)
        self.assertEqual(snapshot(self.c), self.before, "state changed after %s" % label)

    def check_error(self, r, status, code, label):
        self.assertEqual((r.status, r.code), (status, code), "%s: %r" % (label, r))
        self.assertTrue(r.header("Content-Type").startswith("application/json"), label)
        doc = r.json()
        self.assertEqual(set(doc), {"error", "code"}, label)
        self.assertTrue(isinstance(doc["error"], str) and doc["error"], label)
        self.assertTrue(r.header("X-Request-Id"), "%s: no X-Request-Id" % label)

    def test_table(self):
        self.assertGreaterEqual(len(CASES), 30)
        for label, method, path, body, headers, status, code in CASES:
            with self.subTest(label):
                r = self.c.request(method, path, body=body, headers=headers)
                self.check_error(r, status, code, label)
                self.assert_unchanged(label)

    def test_method_not_allowed_lists_allow(self):
        for method, path, allowed in (("DELETE", "/v1/layers", {"GET", "POST"}),
                                      ("POST", "/v1/layers/bn", {"GET", "DELETE"}),
                                      ("GET", F, {"POST"}),
                                      ("DELETE", "/v1/layers/bn/weights", {"GET", "PUT"}),
                                      ("POST", "/v2/health/live", {"GET"})):
            r = self.c.request(method, path, body=b"{}" if method == "POST" else None)
            self.check_error(r, 405, "method_not_allowed", path)
            got = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
            self.assertTrue(allowed <= got, "%s %s: Allow %r" % (method, path, got))
            self.assertFalse(method in got, "%s %s: Allow %r" % (method, path, got))

    def test_channel_mismatch_names_both_numbers(self):
        r = self.c.request("POST", F, body=fwd(inputs=X3))
        self.check_error(r, 422, "shape_mismatch", "channels")
        msg = r.json()["error"]
        self.assertIn("3", msg)
        self.assertIn("4", msg)
        self.assertIn("bn", msg)

    def test_huge_count(self):
        """A count of 1e39 overflows every integer type: rejected (API.md lists a count both as
        a non-integer, 400 invalid_argument, and as overflowing, 422 non_finite), never cast."""
        for path, body in (("/v1/layers/bn/stats/0", b'{"running_mean": [0,0,0,0], '
                            b'"running_var": [1,1,1,1], "num_batches_tracked": 1e39}'),
                           (F, b'{"inputs": [[1,2,3,4],[2,3,4,5]], "running_mean": [0,0,0,0], '
                            b'"running_var": [1,1,1,1], "num_batches_tracked": 1e39}')):
            r = self.c.request("PUT" if "stats" in path else "POST", path, body=body)
            self.assertIn((r.status, r.code), ((400, "invalid_argument"), (422, "non_finite")),
                          r)
            self.assert_unchanged("count 1e39")

    def test_128_char_name_is_valid(self):
        r = self.c.get("/v1/layers/" + "b" * 128)
        self.check_error(r, 404, "layer_not_found", "128 chars")

    # ---- transport level, raw sockets ----

    def raw(self, head, body=b""):
        resp, _ = hbn.raw_request(self.d.port, head.replace(b"\n", b"\r\n") + body)
        return resp

    def test_payload_too_large(self):
        body = fwd(inputs=[[1.0, 2.0, 3.0, 4.0]] * 4000)
        self.assertGreater(len(body), MAX_BODY)
        head = (b"POST /v1/layers/bn/forward HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        resp = hbn.send_until_answer(self.d.port, head, body)
        self.check_error(resp, 413, "payload_too_large", "413")
        self.assert_unchanged("413")
        # Exactly at the limit is fine (a valid body padded with JSON whitespace).
        ok = fwd(inputs=X)
        ok = ok + b" " * (MAX_BODY - len(ok))
        r = self.c.request("POST", "/v1/layers/nt/forward", body=ok)
        self.assertEqual(r.status, 200, r)

    def test_expect_100_continue_too_large(self):
        """A too-large Content-Length with Expect: 100-continue gets 413 and never 100."""
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            s.sendall(b"POST /v1/layers/bn/forward HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1000000\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            resp, _ = hbn.read_response(s)
        finally:
            s.close()
        self.assertEqual((resp.status, resp.code), (413, "payload_too_large"), resp)
        self.assert_unchanged("expect 413")

    def test_expect_100_continue_accepted(self):
        """Control: an acceptable body gets 100 Continue, then the answer."""
        body = fwd(mode="eval")
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            s.sendall(b"POST /v1/layers/bn/forward HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(body))
            interim, _ = hbn.read_response(s)
            self.assertEqual(interim.status, 100)
            s.sendall(body)
            resp, _ = hbn.read_response(s)
        finally:
            s.close()
        self.assertEqual(resp.status, 200, resp)

    def test_length_required(self):
        r = self.raw(b"POST /v1/layers/bn/forward HTTP/1.1\nHost: x\n"
                     b"Content-Type: application/json\nConnection: close\n\n")
        self.assertEqual((r.status, r.code), (411, "length_required"), r)
        r = self.raw(b"PUT /v1/layers/bn/stats/0 HTTP/1.1\nHost: x\n"
                     b"Content-Type: application/json\nConnection: close\n\n")
        self.assertEqual((r.status, r.code), (411, "length_required"), r)
        self.assert_unchanged("411")

    def test_duplicate_content_length(self):
        body = fwd()
        r = self.raw(b"POST /v1/layers/bn/forward HTTP/1.1\nHost: x\n"
                     b"Content-Type: application/json\nContent-Length: %d\n"
                     b"Content-Length: %d\nConnection: close\n\n" % (len(body), len(body) + 5),
                     body)
        self.assertEqual(r.status, 400, r)
        self.assert_unchanged("duplicate Content-Length")

    def test_transfer_encoding_with_content_length(self):
        body = fwd()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        r = self.raw(b"POST /v1/layers/bn/forward HTTP/1.1\nHost: x\n"
                     b"Content-Type: application/json\nContent-Length: %d\n"
                     b"Transfer-Encoding: chunked\nConnection: close\n\n" % len(body), chunked)
        self.assertEqual(r.status, 400, r)
        self.assert_unchanged("TE + CL")

    def test_checkpoint_needs_no_length(self):
        """Control for 411: the checkpoint route takes no body and needs no Content-Length."""
        self.c.create("ck-nolen", 2)
        r = self.raw(b"POST /v1/layers/ck-nolen/checkpoints HTTP/1.1\nHost: x\n"
                     b"Connection: close\n\n")
        self.assertEqual((r.status, r.json()), (201, {"stats_id": 1, "num_stats": 2}))
        r = self.c.post("/v1/layers/ck-nolen/checkpoints", {})
        self.assertEqual((r.status, r.json()), (201, {"stats_id": 2, "num_stats": 3}))
        self.assertEqual(self.c.delete("/v1/layers/ck-nolen").status, 204)


class Quotas(unittest.TestCase):
    def test_layers_and_slots(self):
        with hbn.Daemon("--max-layers", "2", "--max-slots", "2") as d:
            c = d.client()
            c.create("q1", 2)
            c.create("q2", 2)
            r = c.post("/v1/layers", {"name": "q3", "num_features": 2})
            self.assertEqual((r.status, r.code), (429, "quota_exceeded"), r)
            self.assertEqual(c.get("/v1/layers/q3").status, 404)
            self.assertEqual(c.delete("/v1/layers/q1").status, 204)
            c.create("q3", 2)
            self.assertEqual(c.post("/v1/layers/q2/checkpoints").status, 201)
            r = c.post("/v1/layers/q2/checkpoints")
            self.assertEqual((r.status, r.code), (429, "quota_exceeded"), r)
            self.assertEqual(c.get("/v1/layers/q2").json()["num_stats"], 2)
            c.close()
            self.assertEqual(d.stop(), 0)


class Auth(unittest.TestCase):
    KEY = "s3cret-key-for-tests"

    def check(self, d):
        anon = d.client()
        for path in ("/v1/layers", "/metrics", "/v2", "/v1/layers/a1"):
            r = anon.get(path)
            self.assertEqual((r.status, r.code), (401, "unauthorized"), path)
        for path in ("/v2/health/live", "/v2/health/ready"):
            self.assertEqual(anon.get(path).status, 200, path)
        for bad in ("Bearer wrong", "Bearer " + self.KEY + "x", "Basic " + self.KEY,
                    "Bearer " + self.KEY[:-1], "bearer"):
            r = anon.get("/v1/layers", headers={"Authorization": bad})
            self.assertEqual((r.status, r.code), (401, "unauthorized"), bad)
        r = anon.post("/v1/layers", {"name": "a1", "num_features": 2})
        self.assertEqual((r.status, r.code), (401, "unauthorized"))
        good = d.client(key=self.KEY)
        self.assertEqual(good.get("/v1/layers").json(), {"layers": []})
        self.assertEqual(good.post("/v1/layers", {"name": "a1", "num_features": 2}).status, 201)
        # 401 before the body is read: a huge announced body that never comes.
        resp, _ = hbn.raw_request(d.port, b"POST /v1/layers/a1/forward HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Type: application/json\r\n"
                                  b"Content-Length: 50000000\r\n\r\n")
        self.assertEqual((resp.status, resp.code), (401, "unauthorized"), resp)
        anon.close()
        good.close()
        self.assertEqual(d.stop(), 0)

    def test_key_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
            f.write(self.KEY)
            f.flush()
            with hbn.Daemon("--api-key-file", f.name) as d:
                self.check(d)

    def test_key_env(self):
        with hbn.Daemon(env={"HYPERBN_API_KEY": self.KEY}) as d:
            self.check(d)

    def test_missing_key_file_refuses_to_start(self):
        p = os.path.join(tempfile.gettempdir(), "hbn-no-such-key-%d" % os.getpid())
        proc = hbn.subprocess.run([hbn.require_binary(), "--port", "0", "--api-key-file", p],
                                  capture_output=True, timeout=15)
        self.assertNotEqual(proc.returncode, 0)
        self.assertNotIn(b"listening on", proc.stderr)


if __name__ == "__main__":
    hbn.main()
