# test_concurrency.py: K clients x M train-mode forwards of one batch on one slot, all at once.
# Every update must be applied exactly once, one after another: num_batches_tracked == K*M and
# the running mean equals the closed form mu * (1 - (1 - momentum)^(K*M)) from 0 (the variance
# likewise from 1), within float32 tolerance; with momentum null the slot is the plain average.
# momentum 0.01 keeps (1 - momentum)^(K*M) near 0.13, so one lost update moves the mean by ~1e-3.
import random
import sys
import threading
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

K, M = 8, 25
SHAPE = [16, 4]
EPS = 1e-5
MOMENTUM = 0.01


def hammer(port, name, doc, results, errors):
    """One client: M train forwards of DOC on its own keep-alive connection."""
    c = hbn.Client(port)
    try:
        for _ in range(M):
            r = c.post("/v1/layers/%s/forward" % name, doc)
            if r.status != 200:
                errors.append(r)
                return
            results.append(r.json())
    except Exception as e:  # noqa: BLE001 -- reported by the main thread
        errors.append(e)
    finally:
        c.close()


class Concurrency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = hbn.Daemon("--threads", "8").start()
        cls.c = cls.d.client()
        rng = random.Random(4)
        cls.x = hbn.rand_tensor(rng, SHAPE, 3.0, 2.0)
        cls.want, cls.mu, cls.s2, cls.m = hbn.batch_norm_train(cls.x, SHAPE, EPS)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        assert cls.d.stop() == 0

    def run_clients(self, name, doc):
        results, errors = [], []
        threads = [threading.Thread(target=hammer, args=(self.d.port, name, doc, results, errors))
                   for _ in range(K)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a client thread hung")
        self.assertEqual(errors, [])
        self.assertEqual(len(results), K * M)
        for doc_out in results:
            self.assertEqual((doc_out["mode"], doc_out["stats_id"]), ("train", 0))
            hbn.assert_close(hbn.tensor_values(doc_out["outputs"])[0], self.want)
        return self.c.stats(name, 0)

    def test_momentum_closed_form(self):
        self.c.create("conc", SHAPE[1], momentum=MOMENTUM)
        st = self.run_clients("conc", {"inputs": hbn.nest(self.x, SHAPE), "stats_id": 0})
        n = K * M
        self.assertEqual(st["num_batches_tracked"], n)
        decay = (1 - MOMENTUM) ** n
        unbiased = [v * self.m / (self.m - 1) for v in self.s2]
        hbn.assert_close(st["running_mean"], [u * (1 - decay) for u in self.mu],
                         rtol=1e-5, atol=1e-5, what="running_mean")
        hbn.assert_close(st["running_var"], [u + (1 - u) * decay for u in unbiased],
                         rtol=1e-5, atol=1e-5, what="running_var")

    def test_cumulative_average(self):
        self.c.create("conc-cum", SHAPE[1], momentum=None)
        st = self.run_clients("conc-cum", {"inputs": hbn.nest(self.x, SHAPE)})
        self.assertEqual(st["num_batches_tracked"], K * M)
        unbiased = [v * self.m / (self.m - 1) for v in self.s2]
        hbn.assert_close(st["running_mean"], self.mu, rtol=1e-5, atol=1e-5)
        hbn.assert_close(st["running_var"], unbiased, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    hbn.main()
