# test_oip.py: the Open Inference Protocol against the real daemon, through two test clients that
# build requests the way the real ones do (their request-building code was read, not imported:
# neither package is installable here): TritonHttpClient mirrors tritonclient.http (binary
# inputs by default, no Content-Type, binary outputs when no outputs are named, the answer read
# through Inference-Header-Content-Length), KServeRestClient mirrors kserve's InferenceRESTClient
# for protocol v2 (id and model_name in every request, Content-Type application/octet-stream with
# binary inputs and none for JSON ones, JSON health bodies). Also: conformance of every route's
# shapes and status codes, id echo, mixed JSON and binary inputs, every malformed framing -> 400,
# the body limit -> 413, authentication. References from hbn.py.
import http.client
import json
import random
import struct
import sys
import unittest
import uuid

sys.dont_write_bytecode = True
import hbn  # noqa: E402

EPS = 1e-5
IHCL = "Inference-Header-Content-Length"


# ---- helpers ----------------------------------------------------------------------------------

def post_raw(port, path, body, headers, key=None):
    """POSTs BODY with exactly HEADERS (http.client adds only Host, Accept-Encoding and
    Content-Length; no Content-Type unless given). Returns an hbn.Response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        hdrs = dict(headers)
        if key is not None:
            hdrs["Authorization"] = "Bearer " + key
        conn.request("POST", path, body=body, headers=hdrs)
        r = conn.getresponse()
        return hbn.Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def split_answer(r):
    """(header document, binary bytes) of an infer answer."""
    h = r.header(IHCL)
    n = int(h) if h is not None else len(r.body)
    return json.loads(r.body[:n].decode("utf-8")), r.body[n:]


def outputs_of(doc, binary):
    """{name: flat values} of an infer answer, reading binary outputs in order like both clients
    do (a running offset over the outputs that carry binary_data_size)."""
    out, at = {}, 0
    for o in doc["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            out[o["name"]] = hbn.unpack_f32(binary[at:at + size])
            at += size
        else:
            out[o["name"]] = list(o["data"])
    if at != len(binary):
        raise AssertionError("binary part has %d bytes, outputs declare %d" % (len(binary), at))
    return out


# ---- the two clients ----------------------------------------------------------------------------

class TritonHttpClient:
    """tritonclient.http's request building (_utils._get_inference_request, InferInput,
    InferRequestedOutput) and answer reading (InferResult)."""

    def __init__(self, port):
        self.port = port

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return hbn.Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def is_server_live(self):
        return self.get("/v2/health/live").status == 200

    def is_server_ready(self):
        return self.get("/v2/health/ready").status == 200

    def is_model_ready(self, model, version=""):
        path = "/v2/models/%s%s/ready" % (model, "/versions/" + version if version else "")
        return self.get(path).status == 200

    @staticmethod
    def request_body(inputs, outputs=None, request_id="", parameters=None):
        """INPUTS: (name, shape, datatype, values, binary); OUTPUTS: (name, binary) or None.
        Returns (body, json_size or None) exactly as _get_inference_request does."""
        req, params, raw = {}, {}, []
        if request_id != "":
            req["id"] = request_id
        tensors = []
        for name, shape, dt, values, binary in inputs:
            t = {"name": name, "shape": shape, "datatype": dt}
            if binary:
                fmt = "<%d%s" % (len(values), "d" if dt == "FP64" else "f")
                data = struct.pack(fmt, *values)
                t["parameters"] = {"binary_data_size": len(data)}
                raw.append(data)
            else:
                t["data"] = list(values)
            tensors.append(t)
        req["inputs"] = tensors
        if outputs:
            req["outputs"] = [{"name": n, "parameters": {"binary_data": b}} for n, b in outputs]
        else:
            params["binary_data_output"] = True
        params.update(parameters or {})
        if params:
            req["parameters"] = params
        text = json.dumps(req)
        if not raw:
            return text.encode(), None
        return text.encode() + b"".join(raw), len(text)

    def infer(self, model, inputs, outputs=None, request_id="", parameters=None):
        body, json_size = self.request_body(inputs, outputs, request_id, parameters)
        headers = {} if json_size is None else {IHCL: json_size}
        r = post_raw(self.port, "/v2/models/%s/infer" % model, body, headers)
        if r.status != 200:
            raise AssertionError("infer: %r" % r)
        doc, binary = split_answer(r)
        return doc, outputs_of(doc, binary), r


class KServeRestClient:
    """kserve's InferenceRESTClient with protocol v2 (InferRequest.to_rest,
    InferResponse.from_bytes, is_server_ready/live, is_model_ready)."""

    def __init__(self, port):
        self.c = hbn.Client(port)

    def close(self):
        self.c.close()

    def is_server_ready(self):
        r = self.c.get("/v2/health/ready")
        return r.json().get("ready") if 200 <= r.status < 300 else None

    def is_server_live(self):
        r = self.c.get("/v2/health/live")
        return r.json().get("live") if 200 <= r.status < 300 else None

    def is_model_ready(self, model):
        return 200 <= self.c.get("/v2/models/%s/ready" % model).status < 300

    def infer(self, model, inputs, outputs=None, parameters=None, request_id=None):
        """INPUTS: (name, shape, datatype, values, binary); OUTPUTS: (name, parameters dict)."""
        res, raw = {"id": request_id or str(uuid.uuid4()), "model_name": model}, []
        tensors = []
        for name, shape, dt, values, binary in inputs:
            t = {"name": name, "shape": shape, "datatype": dt}
            if binary:
                data = struct.pack("<%d%s" % (len(values), "d" if dt == "FP64" else "f"),
                                   *values)
                t["parameters"] = {"binary_data_size": len(data)}
                raw.append(data)
            else:
                t["data"] = list(values)
            tensors.append(t)
        res["inputs"] = tensors
        if outputs:
            res["outputs"] = [dict(name=n, **({"parameters": p} if p else {}))
                              for n, p in outputs]
        if parameters:
            res["parameters"] = parameters
        text = json.dumps(res, separators=(",", ":")).encode()
        if raw:
            headers = {IHCL.lower(): str(len(text)), "content-type": "application/octet-stream"}
            body = text + b"".join(raw)
        else:
            headers, body = {}, text
        r = post_raw(self.c.port, "/v2/models/%s/infer" % model, body, headers)
        if not 200 <= r.status < 300:
            raise AssertionError("infer: %r" % r)
        doc, binary = split_answer(r)
        doc["model_name"]  # from_bytes requires it
        return doc, outputs_of(doc, binary), r


# ---- tests ------------------------------------------------------------------------------------

class OpenInference(hbn.DaemonCase):
    def assert_error(self, r, status, code):
        self.assertEqual((r.status, r.code), (status, code), r)
        self.assertEqual(set(r.json()), {"error", "code"})
        self.assertTrue(r.header("Content-Type").startswith("application/json"))

    def test_server_and_model_routes(self):
        c = self.c
        c.create("meta", 3)
        r = c.get("/v2")
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(set(doc), {"name", "version", "extensions"})
        self.assertEqual(doc["name"], "hyperbn")
        self.assertIn("binary_tensor_data", doc["extensions"])
        for path in ("/v2/models/meta", "/v2/models/meta/versions/1"):
            r = c.get(path)
            self.assertEqual(r.status, 200, r)
            m = r.json()
            self.assertEqual((m["name"], m["versions"]), ("meta", ["1"]))
            self.assertIsInstance(m["platform"], str)
            self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in m["inputs"]],
                             [("inputs", "FP32", [-1, 3]), ("weight", "FP32", [3]),
                              ("bias", "FP32", [3]), ("running_mean", "FP32", [3]),
                              ("running_var", "FP32", [3])])
            self.assertEqual([(t["name"], t["shape"]) for t in m["outputs"]],
                             [("outputs", [-1, 3]), ("running_mean", [3]), ("running_var", [3])])
        for path in ("/v2/models/meta/ready", "/v2/models/meta/versions/1/ready"):
            r = c.get(path)
            self.assertEqual((r.status, r.json()), (200, {"name": "meta", "ready": True}))
        self.assert_error(c.get("/v2/models/ghost"), 404, "layer_not_found")
        self.assert_error(c.get("/v2/models/ghost/ready"), 404, "layer_not_found")
        self.assert_error(c.get("/v2/models/meta/versions/2"), 404, "not_found")
        self.assert_error(c.post("/v2/models/meta/versions/v1/infer", {}), 404, "not_found")
        self.assert_error(c.get("/v2/models/a..b"), 400, "invalid_name")
        r = c.get("/v2/models/meta/infer")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "POST")
        self.assert_error(c.post("/v2/models/meta/infer", {"inputs": []}), 400,
                          "invalid_argument")

    def test_json_infer_conformance(self):
        """The spec's JSON example shape: request id echoed, outputs named and typed."""
        c, rng = self.c, random.Random(1)
        c.create("js", 2)
        x = hbn.rand_tensor(rng, [5, 2], 0.5, 2.0)
        r = c.post("/v2/models/js/infer", {
            "id": "42", "inputs": [{"name": "inputs", "shape": [5, 2], "datatype": "FP32",
                                    "data": x}],
            "outputs": [{"name": "outputs"}]})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header(IHCL))
        doc = r.json()
        self.assertEqual(set(doc), {"model_name", "id", "parameters", "outputs"})
        self.assertEqual((doc["model_name"], doc["id"]), ("js", "42"))
        self.assertEqual(doc["parameters"], {"mode": "train", "stats_id": 0})
        (out,) = doc["outputs"]
        self.assertEqual((out["name"], out["datatype"], out["shape"]), ("outputs", "FP32", [5, 2]))
        want, mu, s2, m = hbn.batch_norm_train(x, [5, 2], EPS)
        hbn.assert_close(out["data"], want)
        slot = hbn.running_update([0.0] * 2, [1.0] * 2, 0, mu, s2, m, 0.1)
        st = c.stats("js", 0)
        hbn.assert_close(st["running_mean"], slot[0])
        hbn.assert_close(st["running_var"], slot[1])

    def test_triton_client(self):
        port, rng = self.d.port, random.Random(2)
        self.c.create("tr", 4)
        triton = TritonHttpClient(port)
        self.assertTrue(triton.is_server_live() and triton.is_server_ready())
        self.assertTrue(triton.is_model_ready("tr") and triton.is_model_ready("tr", "1"))
        self.assertFalse(triton.is_model_ready("nope") or triton.is_model_ready("tr", "2"))
        shape = [6, 4, 3]
        x = hbn.rand_tensor(rng, shape, -1.0, 3.0)
        # defaults: binary inputs, no outputs named -> binary_data_output
        doc, outs, r = triton.infer("tr", [("inputs", shape, "FP32", x, True)],
                                    request_id="tc-1", parameters={"mode": "train"})
        self.assertTrue(r.header("Content-Type").startswith("application/octet-stream"))
        self.assertEqual(doc["id"], "tc-1")
        self.assertEqual(doc["outputs"][0]["parameters"], {"binary_data_size": 4 * len(x)})
        want, _, _, _ = hbn.batch_norm_train(x, shape, EPS)
        hbn.assert_close(outs["outputs"], want)
        # JSON outputs when named with binary_data False; FP64 binary inputs; Triton's reserved
        # parameters ignored
        doc, outs, r = triton.infer("tr", [("inputs", shape, "FP64", x, True)],
                                    outputs=[("outputs", False)],
                                    parameters={"mode": "eval", "priority": 1, "timeout": 5})
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        st = self.c.stats("tr", 0)
        hbn.assert_close(outs["outputs"],
                         hbn.normalize(x, shape, st["running_mean"], st["running_var"], EPS))

    def test_kserve_client(self):
        port, rng = self.d.port, random.Random(3)
        self.c.create("ks", 2, mode="eval")
        ks = KServeRestClient(port)
        try:
            self.assertIs(ks.is_server_live(), True)
            self.assertIs(ks.is_server_ready(), True)
            self.assertTrue(ks.is_model_ready("ks"))
            self.assertFalse(ks.is_model_ready("nope"))
            x = hbn.rand_tensor(rng, [4, 2], 1.0, 1.0)
            want = hbn.normalize(x, [4, 2], [0.0, 0.0], [1.0, 1.0], EPS)
            doc, outs, r = ks.infer("ks", [("inputs", [4, 2], "FP32", x, False)],
                                    request_id="k-1")
            self.assertEqual((doc["id"], doc["model_name"]), ("k-1", "ks"))
            self.assertTrue(r.header("Content-Type").startswith("application/json"))
            hbn.assert_close(outs["outputs"], want)
            doc, outs, r = ks.infer("ks", [("inputs", [4, 2], "FP32", x, True)],
                                    outputs=[("outputs", {"binary_data": True})])
            self.assertTrue(r.header("Content-Type").startswith("application/octet-stream"))
            hbn.assert_close(outs["outputs"], want)
        finally:
            ks.close()

    def test_mixed_inputs_and_stats(self):
        """Binary and JSON inputs in one request, given statistics in train mode, statistics
        outputs in both encodings, the binary bytes in the order the outputs are listed."""
        rng = random.Random(4)
        self.c.create("mx", 3)
        shape = [5, 3, 2]
        x = hbn.rand_tensor(rng, shape, 2.0, 1.5)
        w, b = [2.0, -1.0, 0.5], [0.0, 1.0, -3.0]
        mean, var = [0.5, -1.0, 2.0], [4.0, 0.25, 1.0]
        body, n = TritonHttpClient.request_body(
            [("bias", [3], "FP32", b, True), ("inputs", shape, "FP32", x, True),
             ("weight", [3], "FP32", w, False), ("running_mean", [3], "FP64", mean, True),
             ("running_var", [3], "FP32", var, False)],
            outputs=[("running_var", True), ("outputs", True), ("running_mean", False)],
            request_id="mix", parameters={"num_batches_tracked": 2, "mode": "train"})
        r = post_raw(self.d.port, "/v2/models/mx/infer", body, {IHCL: str(n)})
        self.assertEqual(r.status, 200, r)
        doc, binary = split_answer(r)
        self.assertEqual([o["name"] for o in doc["outputs"]],
                         ["outputs", "running_mean", "running_var"])
        self.assertEqual(doc["parameters"]["num_batches_tracked"], 3)
        outs = outputs_of(doc, binary)
        want, mu, s2, m = hbn.batch_norm_train(x, shape, EPS, w, b)
        hbn.assert_close(outs["outputs"], want)
        upd = hbn.running_update(hbn.f32_list(mean), hbn.f32_list(var), 2, mu, s2, m, 0.1)
        hbn.assert_close(outs["running_mean"], upd[0])
        hbn.assert_close(outs["running_var"], upd[1])

    def test_large_binary_alignment(self):
        """A (16, 64, 4, 4) binary request whose data follows the header at every offset mod 4
        (in place or copied by the server) equals the JSON answer bit for bit."""
        rng = random.Random(5)
        self.c.create("big", 64, mode="eval")
        shape = [16, 64, 4, 4]
        x = hbn.rand_tensor(rng, shape)
        ref = self.c.post("/v2/models/big/infer", {"inputs": [
            {"name": "inputs", "shape": shape, "datatype": "FP32", "data": x}]})
        self.assertEqual(ref.status, 200, ref)
        want = hbn.f32_list(ref.json()["outputs"][0]["data"])
        data = hbn.pack_f32(x)
        for pad in range(4):
            head = json.dumps({"id": "p" * pad, "inputs": [
                {"name": "inputs", "shape": shape, "datatype": "FP32",
                 "parameters": {"binary_data_size": len(data)}}],
                "parameters": {"binary_data_output": True}}).encode()
            r = post_raw(self.d.port, "/v2/models/big/infer", head + data, {IHCL: len(head)})
            self.assertEqual(r.status, 200, r)
            doc, binary = split_answer(r)
            self.assertEqual(hbn.unpack_f32(binary), want, "pad %d" % pad)

    def test_malformed_framing(self):
        self.c.create("fr", 2)
        data = hbn.pack_f32([1.0, 2.0, 3.0, 4.0])

        def head(size=16, shape=(2, 2), dt="FP32"):
            return json.dumps({"inputs": [{"name": "inputs", "shape": list(shape),
                                           "datatype": dt,
                                           "parameters": {"binary_data_size": size}}]}).encode()

        h = head()
        cases = {
            "header beyond body": (h + data, str(len(h) + len(data) + 1)),
            "header not a number": (h + data, "16x"),
            "header negative": (h + data, "-1"),
            "header cut inside the JSON": (h + data, str(len(h) - 3)),
            "size differs from shape": (head(12) + data[:12], str(len(head(12)))),
            "size of FP64 counted as FP32": (head(16, dt="FP64") + data,
                                             str(len(head(16, dt="FP64")))),
            "bytes left over": (h + data + b"\0\0\0\0", str(len(h))),
            "bytes missing": (h + data[:12], str(len(h))),
            "binary without the header": (h, None),
            "huge shape": (head(16, (2 ** 62, 4)) + data, str(len(head(16, (2 ** 62, 4))))),
        }
        for what, (body, ihcl) in cases.items():
            headers = {} if ihcl is None else {IHCL: ihcl}
            r = post_raw(self.d.port, "/v2/models/fr/infer", body, headers)
            code = "invalid_json" if "cut" in what else "invalid_argument"
            self.assertEqual((r.status, r.code), (400, code), "%s: %r" % (what, r))
        self.assertEqual(self.c.stats("fr", 0)["num_batches_tracked"], 0)


class Limits(unittest.TestCase):
    def test_body_limit_and_auth(self):
        key = "oip-secret"
        with hbn.Daemon("--max-body-bytes", "4096", env={"HYPERBN_API_KEY": key}) as d:
            good = d.client(key=key)
            good.create("lim", 2)
            x = [0.5] * 1024  # 4 KiB of data plus a header: over the limit
            body, n = TritonHttpClient.request_body([("inputs", [512, 2], "FP32", x, True)])
            r = post_raw(d.port, "/v2/models/lim/infer", body, {IHCL: str(n)}, key=key)
            self.assertEqual((r.status, r.code), (413, "payload_too_large"), r)
            body, n = TritonHttpClient.request_body([("inputs", [256, 2], "FP32", x[:512], True)])
            r = post_raw(d.port, "/v2/models/lim/infer", body, {IHCL: str(n)}, key=key)
            self.assertEqual(r.status, 200, r)
            anon = d.client()
            for path in ("/v2", "/v2/models/lim", "/v2/models/lim/ready"):
                self.assertEqual((anon.get(path).status, anon.get(path).code),
                                 (401, "unauthorized"), path)
            r = post_raw(d.port, "/v2/models/lim/infer", body, {IHCL: str(n)})
            self.assertEqual((r.status, r.code), (401, "unauthorized"), r)
            self.assertEqual(anon.get("/v2/health/ready").status, 200)
            good.close()
            anon.close()
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    hbn.main()
