# test_forms.py: the other tensor forms of forward against the real daemon: the binary float32
# form (application/octet-stream, ?shape=..., ?stats_id=, ?mode=), the {"shape", "data"} JSON
# form (the only one that expresses an empty batch with more dimensions), and that JSON floats
# parse back to exactly the float32 the binary form returns. References from hbn.py.
import random
import sys

sys.dont_write_bytecode = True
import hbn  # noqa: E402

EPS = 1e-5
OCT = {"Content-Type": "application/octet-stream"}


class Forms(hbn.DaemonCase):
    def binary(self, name, shape, x, query=""):
        q = "?shape=" + ",".join(str(n) for n in shape) + query
        r = self.c.request("POST", "/v1/layers/%s/forward%s" % (name, q), body=hbn.pack_f32(x),
                           headers=OCT)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/octet-stream"))
        self.assertEqual(len(r.body), 4 * len(x))
        return hbn.unpack_f32(r.body)

    def test_binary_form(self):
        c, rng = self.c, random.Random(7)
        c.create("bin", 3)
        w, b = [2.0, 0.5, -1.0], [1.0, 0.0, 3.0]
        self.assertEqual(c.put("/v1/layers/bin/weights", {"weight": w, "bias": b}).status, 200)
        slot = ([0.0] * 3, [1.0] * 3, 0)
        for shape in ([4, 3, 2, 2], [5, 3], [2, 3, 2, 2, 2], [3, 3, 7]):
            x = hbn.rand_tensor(rng, shape, 1.5, 2.0)
            got = self.binary("bin", shape, x, "&mode=train&stats_id=0")
            want, mu, s2, m = hbn.batch_norm_train(x, shape, EPS, w, b)
            hbn.assert_close(got, want, what="binary train %r" % shape)
            slot = hbn.running_update(slot[0], slot[1], slot[2], mu, s2, m, 0.1)
            st = c.stats("bin", 0)
            hbn.assert_close(st["running_mean"], slot[0])
            hbn.assert_close(st["running_var"], slot[1])
            self.assertEqual(st["num_batches_tracked"], slot[2])
            got = self.binary("bin", shape, x, "&mode=eval")   # one slot: no stats_id needed
            want = hbn.normalize(x, shape, st["running_mean"], st["running_var"], EPS, w, b)
            hbn.assert_close(got, want, what="binary eval %r" % shape)
        self.assertEqual(c.stats("bin", 0)["num_batches_tracked"], 4)

    def test_json_floats_round_trip_to_binary(self):
        """The same eval request in JSON and binary: every JSON float parses back to exactly the
        float32 the binary form returns (9 significant digits)."""
        c, rng = self.c, random.Random(8)
        c.create("rt", 5)
        assert c.put("/v1/layers/rt/stats/0", {"running_mean": [0.1, -3.3, 7.0, 1e-3, 5.5],
                                              "running_var": [0.7, 11.0, 2.5, 1e-4, 3.3]}
                     ).status == 200
        shape = [40, 5, 3]
        x = hbn.rand_tensor(rng, shape, 0.0, 3.0)
        doc = c.forward("rt", {"inputs": {"shape": shape, "data": x}, "mode": "eval"})
        self.assertEqual(doc["outputs"]["shape"], shape)
        js = doc["outputs"]["data"]
        bn = self.binary("rt", shape, x, "&mode=eval")
        self.assertEqual([hbn.f32(v) for v in js], bn)
        self.assertGreater(len(set(bn)), 100)

    def test_object_form_and_empty_batch(self):
        c = self.c
        c.create("emp", 3)
        x = [float(i) for i in range(12)]
        doc = c.forward("emp", {"inputs": {"shape": [2, 3, 2], "data": x}})
        self.assertEqual(set(doc["outputs"]), {"shape", "data"})
        self.assertEqual(doc["outputs"]["shape"], [2, 3, 2])
        want, _, _, _ = hbn.batch_norm_train(x, [2, 3, 2], EPS)
        hbn.assert_close(doc["outputs"]["data"], want)
        before = c.stats("emp")
        self.assertEqual(before["num_batches_tracked"], 1)
        # m = 0: an empty output of the same shape, nothing changes, not even the count.
        for mode in ("train", "eval"):
            doc = c.forward("emp", {"inputs": {"shape": [0, 3, 4], "data": []}, "mode": mode})
            self.assertEqual(doc["outputs"], {"shape": [0, 3, 4], "data": []})
            self.assertEqual(doc["mode"], mode)
        doc = c.forward("emp", {"inputs": {"shape": [2, 3, 0], "data": []}})
        self.assertEqual(doc["outputs"], {"shape": [2, 3, 0], "data": []})
        self.assertEqual(c.stats("emp"), before)
        # Given statistics and an empty batch in train: they come back unchanged.
        doc = c.forward("emp", {"inputs": {"shape": [0, 3], "data": []},
                                "running_mean": [1.0, 2.0, 3.0], "running_var": [4.0, 5.0, 6.0],
                                "num_batches_tracked": 9})
        self.assertEqual((doc["running_mean"], doc["running_var"], doc["num_batches_tracked"]),
                         ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 9))
        r = c.request("POST", "/v1/layers/emp/forward?shape=0,3,2&mode=train", body=b"",
                      headers=OCT)
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(c.stats("emp"), before)

    def test_json_content_type_with_charset(self):
        self.c.create("cs", 2)
        r = self.c.request("POST", "/v1/layers/cs/forward",
                           body=b'{"inputs": [[1, 2], [3, 5]], "mode": "eval"}',
                           headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 200, r)
        hbn.assert_close(hbn.flatten(r.json()["outputs"])[0],
                         hbn.normalize([1, 2, 3, 5], [2, 2], [0, 0], [1, 1], EPS))

    def test_frozen_layer_batch_of_one(self):
        """Frozen statistics need no batch statistics: m = 1 is fine and nothing is stored."""
        c = self.c
        c.create("frz", 2, track_running_stats=False, frozen_stats=True)
        doc = c.forward("frz", {"inputs": [[3.0, -2.0]], "mode": "train", "stats_id": 5})
        self.assertEqual((doc["stats_id"], doc["mode"]), (0, "train"))
        self.assertNotIn("warning", doc)
        hbn.assert_close(hbn.flatten(doc["outputs"])[0],
                         hbn.normalize([3.0, -2.0], [1, 2], [0, 0], [1, 1], EPS))
        self.assertEqual(c.stats("frz"), {"stats_id": 0, "running_mean": [0.0, 0.0],
                                          "running_var": [1.0, 1.0], "num_batches_tracked": 0})


if __name__ == "__main__":
    hbn.main()
