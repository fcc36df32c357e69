# test_workflow.py: the continual-learning workflow of SEMANTICS 2 over HTTP against the real
# daemon: train task 0 on slot 0, checkpoint, train task 1 on slot 1, evaluate task 0 again
# (bit-identical to before), with the stats, mode, weights and state endpoints along the way.
# Every expected number comes from hbn.py's pure-Python reference, never from the daemon.
import json
import random
import struct
import sys

sys.dont_write_bytecode = True
import hbn  # noqa: E402

LAYER_KEYS = {"name", "num_features", "momentum", "eps", "affine", "track_running_stats",
              "frozen_stats", "learnable_stats", "mode", "num_stats", "param_shapes",
              "hyper_shapes"}
STATS_KEYS = {"stats_id", "running_mean", "running_var", "num_batches_tracked"}
EPS = 1e-5


def parse_safetensors(blob):
    """(header dict, data section bytes) of a safetensors file."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    return header, blob[8 + n:]


def tensor_f32(header, data, key):
    lo, hi = header[key]["data_offsets"]
    return hbn.unpack_f32(data[lo:hi])


class Workflow(hbn.DaemonCase):
    DAEMON_ARGS = ("--threads", "4")


    def train(self, name, x, shape, sid, ref_slot):
        """One train forward on slot SID; checks outputs and returns the reference slot after."""
        doc = self.c.forward(name, {"inputs": hbn.nest(x, shape), "stats_id": sid})
        self.assertEqual(doc["mode"], "train")
        self.assertEqual(doc["stats_id"], sid)
        self.assertEqual(set(doc), {"outputs", "mode", "stats_id"})
        y, mu, s2, m = hbn.batch_norm_train(x, shape, EPS)
        got, gshape = hbn.tensor_values(doc["outputs"])
        self.assertEqual(gshape, shape)
        hbn.assert_close(got, y, what="train outputs")
        mean, var, count = ref_slot
        return hbn.running_update(mean, var, count, mu, s2, m, 0.1)

    def eval_bytes(self, name, x, shape, sid):
        doc = self.c.forward(name, {"inputs": hbn.nest(x, shape), "stats_id": sid,
                                    "mode": "eval"})
        self.assertEqual((doc["mode"], doc["stats_id"]), ("eval", sid))
        got, gshape = hbn.tensor_values(doc["outputs"])
        self.assertEqual(gshape, shape)
        return hbn.pack_f32(got), got

    def check_slot(self, name, sid, ref_slot, latest=False):
        doc = self.c.stats(name, None if latest else sid)
        self.assertEqual(set(doc), STATS_KEYS)
        self.assertEqual(doc["stats_id"], sid)
        self.assertEqual(doc["num_batches_tracked"], ref_slot[2])
        hbn.assert_close(doc["running_mean"], ref_slot[0], what="running_mean")
        hbn.assert_close(doc["running_var"], ref_slot[1], what="running_var")
        return doc

    def test_continual_learning(self):
        rng = random.Random(1)
        c = self.c
        r = c.post("/v1/layers", {"name": "cl", "num_features": 3, "momentum": 0.1})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Location"), "/v1/layers/cl")
        layer = r.json()
        self.assertEqual(set(layer), LAYER_KEYS)
        self.assertEqual((layer["name"], layer["num_features"], layer["affine"],
                          layer["track_running_stats"], layer["frozen_stats"],
                          layer["learnable_stats"], layer["mode"], layer["num_stats"]),
                         ("cl", 3, True, True, False, False, "train", 1))
        self.assertAlmostEqual(layer["momentum"], 0.1, places=7)
        self.assertAlmostEqual(layer["eps"], 1e-5, places=10)
        self.assertEqual(layer["param_shapes"], [[3], [3]])
        self.assertIsNone(layer["hyper_shapes"])
        fresh = ([0.0] * 3, [1.0] * 3, 0)
        self.check_slot("cl", 0, fresh, latest=True)

        # Task 0 on slot 0.
        shape = [8, 3]
        slot0 = fresh
        for _ in range(4):
            slot0 = self.train("cl", hbn.rand_tensor(rng, shape, 2.0, 3.0), shape, 0, slot0)
        snap0 = self.check_slot("cl", 0, slot0)
        ex0 = hbn.rand_tensor(rng, [5, 3], 2.0, 3.0)
        before, got = self.eval_bytes("cl", ex0, [5, 3], 0)
        want = hbn.normalize(ex0, [5, 3], snap0["running_mean"], snap0["running_var"], EPS)
        hbn.assert_close(got, want, what="eval task 0")
        self.assertEqual(c.stats("cl", 0), snap0, "an eval forward changed slot 0")

        # Checkpoint: a fresh slot 1 (not a copy of slot 0), now the latest.
        r = c.post("/v1/layers/cl/checkpoints")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json(), {"stats_id": 1, "num_stats": 2})
        self.assertEqual(c.get("/v1/layers/cl").json()["num_stats"], 2)
        slot1 = fresh
        self.check_slot("cl", 1, slot1, latest=True)
        r = c.post("/v1/layers/cl/forward", {"inputs": hbn.nest(ex0, [5, 3])})
        self.assertEqual((r.status, r.code), (422, "stats_id_required"), r)

        # Task 1 on slot 1, a different distribution; slot 0 must not move at all.
        for _ in range(5):
            slot1 = self.train("cl", hbn.rand_tensor(rng, shape, -5.0, 0.5), shape, 1, slot1)
        self.check_slot("cl", 1, slot1, latest=True)
        self.assertEqual(c.stats("cl", 0), snap0, "training task 1 changed slot 0")
        after, _ = self.eval_bytes("cl", ex0, [5, 3], 0)
        self.assertEqual(after, before, "eval of task 0 changed after training task 1")
        snap1 = c.stats("cl", 1)
        ex1 = hbn.rand_tensor(rng, [4, 3], -5.0, 0.5)
        _, got = self.eval_bytes("cl", ex1, [4, 3], 1)
        want = hbn.normalize(ex1, [4, 3], snap1["running_mean"], snap1["running_var"], EPS)
        hbn.assert_close(got, want, what="eval task 1")

        # The layer's own mode applies when a request has none.
        r = c.put("/v1/layers/cl/mode", {"mode": "eval"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json()), LAYER_KEYS)
        self.assertEqual(r.json()["mode"], "eval")
        doc = c.forward("cl", {"inputs": hbn.nest(ex0, [5, 3]), "stats_id": 0})
        self.assertEqual(doc["mode"], "eval")
        self.assertEqual(hbn.pack_f32(hbn.tensor_values(doc["outputs"])[0]), before)
        self.assertEqual(c.stats("cl", 0), snap0)
        r = c.put("/v1/layers/cl/mode", {"mode": "train"})
        self.assertEqual((r.status, r.json()["mode"]), (200, "train"))
        self.state_roundtrip(before, ex0)

    def state_roundtrip(self, eval0_bytes, ex0):
        """GET state is a seed-compatible safetensors file; PUT state restores everything."""
        c = self.c
        r = c.get("/v1/layers/cl/state")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/octet-stream"))
        header, data = parse_safetensors(r.body)
        for key in ("scale", "bias", "_weights.0", "_weights.1", "_num_stats", "mean_0",
                    "var_0", "mean_1", "var_1"):
            self.assertIn(key, header)
        self.assertEqual(header["_num_stats"]["dtype"], "I64")
        lo, hi = header["_num_stats"]["data_offsets"]
        self.assertEqual(struct.unpack("<q", data[lo:hi])[0], 2)
        for sid in (0, 1):
            st = c.stats("cl", sid)
            self.assertEqual(header["mean_%d" % sid]["dtype"], "F32")
            self.assertEqual(header["mean_%d" % sid]["shape"], [3])
            # JSON carries 9 significant digits: they round to exactly the stored float32.
            self.assertEqual(tensor_f32(header, data, "mean_%d" % sid),
                             hbn.f32_list(st["running_mean"]))
            self.assertEqual(tensor_f32(header, data, "var_%d" % sid),
                             hbn.f32_list(st["running_var"]))
        self.assertEqual(tensor_f32(header, data, "scale"), [1.0] * 3)
        self.assertEqual(tensor_f32(header, data, "bias"), [0.0] * 3)
        self.assertEqual(tensor_f32(header, data, "_weights.0"), [1.0] * 3)
        blob = r.body
        hdr = {"Content-Type": "application/octet-stream"}
        r = c.request("PUT", "/v1/layers/cl2/state", body=blob, headers=hdr)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["name"], "cl2")
        r = c.request("PUT", "/v1/layers/cl2/state", body=blob, headers=hdr)
        self.assertEqual(r.status, 200, r)
        a, b = c.get("/v1/layers/cl").json(), c.get("/v1/layers/cl2").json()
        a.pop("name"), b.pop("name")
        self.assertEqual(a, b)
        for sid in (0, 1):
            self.assertEqual(c.stats("cl2", sid), c.stats("cl", sid))
        got, _ = self.eval_bytes("cl2", ex0, [5, 3], 0)
        self.assertEqual(got, eval0_bytes)
        self.assertEqual(c.delete("/v1/layers/cl2").status, 204)
        r = c.get("/v1/layers/cl2")
        self.assertEqual((r.status, r.code), (404, "layer_not_found"))

    def test_put_stats_and_weights(self):
        c = self.c
        c.create("pw", 2)
        c.post("/v1/layers/pw/checkpoints")
        r = c.put("/v1/layers/pw/stats/1", {"running_mean": [1.5, -2.25],
                                            "running_var": [4.0, 0.5],
                                            "num_batches_tracked": 7})
        self.assertEqual(r.status, 200, r)
        want = {"stats_id": 1, "running_mean": [1.5, -2.25], "running_var": [4.0, 0.5],
                "num_batches_tracked": 7}
        self.assertEqual(r.json(), want)
        self.assertEqual(c.stats("pw", 1), want)
        # A write without a count keeps the slot's count.
        r = c.put("/v1/layers/pw/stats/1", {"running_mean": [0.25, 3.0],
                                            "running_var": [2.0, 8.0]})
        want = {"stats_id": 1, "running_mean": [0.25, 3.0], "running_var": [2.0, 8.0],
                "num_batches_tracked": 7}
        self.assertEqual((r.status, r.json()), (200, want))
        self.assertEqual(c.stats("pw"), want)
        self.assertEqual(c.stats("pw", 0), {"stats_id": 0, "running_mean": [0.0, 0.0],
                                            "running_var": [1.0, 1.0],
                                            "num_batches_tracked": 0})
        r = c.put("/v1/layers/pw/weights", {"weight": [2.0, -1.0], "bias": [0.5, 10.0]})
        self.assertEqual((r.status, r.json()), (200, {"weight": [2.0, -1.0], "bias": [0.5, 10.0]}))
        self.assertEqual(c.get("/v1/layers/pw/weights").json(),
                         {"weight": [2.0, -1.0], "bias": [0.5, 10.0]})
        x = [1.0, 2.0, -3.0, 7.0, 0.5, 3.0]
        doc = c.forward("pw", {"inputs": hbn.nest(x, [3, 2]), "stats_id": 1, "mode": "eval"})
        want = hbn.normalize(x, [3, 2], [0.25, 3.0], [2.0, 8.0], EPS, [2.0, -1.0], [0.5, 10.0])
        hbn.assert_close(hbn.flatten(doc["outputs"])[0], want)
        # Per-request weight/bias take priority; a missing one falls back to the layer's own.
        doc = c.forward("pw", {"inputs": hbn.nest(x, [3, 2]), "stats_id": 1, "mode": "eval",
                               "weight": [3.0, 3.0]})
        want = hbn.normalize(x, [3, 2], [0.25, 3.0], [2.0, 8.0], EPS, [3.0, 3.0], [0.5, 10.0])
        hbn.assert_close(hbn.flatten(doc["outputs"])[0], want)
        self.assertEqual(c.get("/v1/layers/pw/weights").json()["weight"], [2.0, -1.0])

    def test_list_and_delete(self):
        c = self.c
        for name in ("zz-list", "aa-list", "mm.list"):
            c.create(name, 1)
        r = c.get("/v1/layers")
        self.assertEqual(r.status, 200)
        names = [layer["name"] for layer in r.json()["layers"]]
        self.assertEqual(names, sorted(names))
        for name in ("zz-list", "aa-list", "mm.list"):
            self.assertIn(name, names)
            r = c.delete("/v1/layers/" + name)
            self.assertEqual((r.status, r.body), (204, b""))
            r = c.delete("/v1/layers/" + name)
            self.assertEqual((r.status, r.code), (404, "layer_not_found"))
        names = [layer["name"] for layer in c.get("/v1/layers").json()["layers"]]
        self.assertFalse({"zz-list", "aa-list", "mm.list"} & set(names))


if __name__ == "__main__":
    hbn.main()
