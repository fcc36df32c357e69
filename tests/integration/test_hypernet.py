# test_hypernet.py: the remote-hypernetwork loop against the real daemon: a non-affine layer gets
# a new gamma/beta in every request (ranks 2-4, train and eval), and a client that owns its
# statistics sends running_mean/var (and their count) and gets the updated ones back in train.
# Expected values come from hbn.py's pure-Python reference.
import random
import sys

sys.dont_write_bytecode = True
import hbn  # noqa: E402

EPS = 1e-5
SHAPES = ([6, 4], [3, 4, 5], [2, 4, 3, 2], [2, 4, 2, 1, 3])


class Hypernet(hbn.DaemonCase):
    def test_new_gamma_beta_every_request(self):
        c, rng = self.c, random.Random(2)
        layer = c.create("hn", 4, affine=False)
        self.assertFalse(layer["affine"])
        self.assertEqual(layer["param_shapes"], [[4], [4]])
        self.assertEqual(layer["hyper_shapes"], [[4], [4]])
        slot = ([0.0] * 4, [1.0] * 4, 0)
        trains = 0
        for i in range(50):
            shape = SHAPES[i % len(SHAPES)]
            x = hbn.rand_tensor(rng, shape, rng.uniform(-3, 3), rng.uniform(0.5, 4))
            gamma = hbn.f32_list(rng.uniform(-2, 2) for _ in range(4))
            beta = hbn.f32_list(rng.uniform(-2, 2) for _ in range(4))
            doc = {"inputs": hbn.nest(x, shape), "weight": gamma, "bias": beta}
            if i % 7 == 3:
                del doc["bias"]          # a missing shift is 0 on a non-affine layer
                beta = None
            mode = "train" if i % 2 == 0 else "eval"
            if i % 4 != 0:
                doc["mode"] = mode       # otherwise the layer's own mode: train
            out = c.forward("hn", doc)
            self.assertEqual((out["mode"], out["stats_id"]), (mode, 0))
            self.assertNotIn("running_mean", out)
            self.assertNotIn("warning", out)
            got, gshape = hbn.tensor_values(out["outputs"])
            self.assertEqual(gshape, shape)
            if mode == "train":
                want, mu, s2, m = hbn.batch_norm_train(x, shape, EPS, gamma, beta)
                slot = hbn.running_update(slot[0], slot[1], slot[2], mu, s2, m, 0.1)
                trains += 1
            else:
                want = hbn.normalize(x, shape, slot[0], slot[1], EPS, gamma, beta)
            hbn.assert_close(got, want, rtol=5e-5, atol=5e-5, what="request %d" % i)
        st = c.stats("hn")
        self.assertEqual((st["stats_id"], st["num_batches_tracked"]), (0, trains))
        hbn.assert_close(st["running_mean"], slot[0], what="running_mean")
        hbn.assert_close(st["running_var"], slot[1], what="running_var")
        r = c.get("/v1/layers/hn/weights")
        self.assertEqual((r.status, r.code), (409, "not_affine"))

    def test_given_stats(self):
        """The client owns the statistics: train returns the updated ones, eval uses them, the
        layer's own slot never moves, a stats_id sent with them draws a warning."""
        c, rng = self.c, random.Random(3)
        c.create("hg", 3, affine=False, momentum=0.2)
        own = c.stats("hg")
        mean, var, count = [0.5, -1.0, 2.0], [1.0, 2.0, 0.25], 3
        for i in range(20):
            shape = SHAPES[i % len(SHAPES)][:1] + [3] + SHAPES[i % len(SHAPES)][2:]
            x = hbn.rand_tensor(rng, shape, 1.0, 2.0)
            gamma = hbn.f32_list(rng.uniform(0.5, 2) for _ in range(3))
            beta = hbn.f32_list(rng.uniform(-1, 1) for _ in range(3))
            doc = {"inputs": hbn.nest(x, shape), "weight": gamma, "bias": beta,
                   "running_mean": mean, "running_var": var, "num_batches_tracked": count,
                   "mode": "train"}
            if i % 5 == 4:
                doc["stats_id"] = 0
            out = c.forward("hg", doc)
            self.assertEqual((out["mode"], out["stats_id"]), ("train", None))
            self.assertEqual("warning" in out, i % 5 == 4, out.keys())
            want, mu, s2, m = hbn.batch_norm_train(x, shape, EPS, gamma, beta)
            hbn.assert_close(hbn.tensor_values(out["outputs"])[0], want, what="outputs %d" % i)
            mean, var, count = hbn.running_update(mean, var, count, mu, s2, m, 0.2)
            self.assertEqual(out["num_batches_tracked"], count)
            hbn.assert_close(out["running_mean"], mean, what="running_mean %d" % i)
            hbn.assert_close(out["running_var"], var, what="running_var %d" % i)
            mean, var = out["running_mean"], out["running_var"]  # the client keeps what it got
            # Eval with the same given statistics: normalized by them, nothing returned.
            ev = c.forward("hg", {"inputs": hbn.nest(x, shape), "running_mean": mean,
                                  "running_var": var, "weight": gamma, "mode": "eval"})
            self.assertEqual((ev["mode"], ev["stats_id"]), ("eval", None))
            self.assertFalse({"running_mean", "running_var", "num_batches_tracked",
                              "warning"} & set(ev))
            want = hbn.normalize(x, shape, mean, var, EPS, gamma, None)
            hbn.assert_close(hbn.tensor_values(ev["outputs"])[0], want, what="eval %d" % i)
        self.assertEqual(c.stats("hg"), own, "given statistics changed the layer's own slot")

    def test_given_stats_cumulative_momentum(self):
        """momentum null with given stats: the count drives the factor 1 / count."""
        c = self.c
        c.create("hcum", 2, momentum=None)
        self.assertIsNone(c.get("/v1/layers/hcum").json()["momentum"])
        x = [1.0, 10.0, 3.0, 20.0, 5.0, 60.0]
        out = c.forward("hcum", {"inputs": hbn.nest(x, [3, 2]), "running_mean": [100.0, 100.0],
                                 "running_var": [9.0, 9.0], "num_batches_tracked": 1})
        # count 1 -> 2, factor 1/2: mean = (100 + mu) / 2, var = (9 + unbiased) / 2.
        self.assertEqual(out["num_batches_tracked"], 2)
        hbn.assert_close(out["running_mean"], [(100 + 3) / 2, (100 + 30) / 2])
        hbn.assert_close(out["running_var"], [(9 + 4) / 2, (9 + 700) / 2])
        # Without a count the given statistics start at 0: the first batch replaces them.
        out = c.forward("hcum", {"inputs": hbn.nest(x, [3, 2]), "running_mean": [100.0, 100.0],
                                 "running_var": [9.0, 9.0]})
        self.assertEqual(out["num_batches_tracked"], 1)
        hbn.assert_close(out["running_mean"], [3.0, 30.0])
        hbn.assert_close(out["running_var"], [4.0, 700.0])


if __name__ == "__main__":
    hbn.main()
