# test_mixed_load.py: several client threads for a bounded time (HBN_MIXED_SECONDS, default 4):
# eval/train forwards, mode flips, stats and list reads, checkpoints, create/delete churn on
# private names and races on one shared name. Each operation has its own set of allowed statuses;
# anything else is a failure. Afterwards the daemon is alive, the train forwards that succeeded
# are exactly the slot's count, the checkpoints that succeeded exactly its slots, and SIGTERM
# exits 0.
import os
import random
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
import hbn  # noqa: E402

SECONDS = float(os.environ.get("HBN_MIXED_SECONDS", "4"))
C = 8


class Worker(threading.Thread):
    """Runs STEP(self) until the shared deadline; records every unexpected status."""

    def __init__(self, test, name, step):
        super().__init__(name=name, daemon=True)
        self.test, self.step = test, step
        self.client = hbn.Client(test.d.port)
        self.rng = random.Random(name)
        self.unexpected, self.counts = [], {}

    def call(self, op, allowed, method, path, doc=None):
        """One request; STATUS -> allowed codes (None: any code). Returns the response."""
        r = self.client.request(method, path, json_body=doc)
        codes = allowed.get(r.status, ())
        if r.status not in allowed or (codes is not None and r.code not in codes):
            self.unexpected.append((op, method, path, r.status, r.body[:200]))
        key = (op, r.status)
        self.counts[key] = self.counts.get(key, 0) + 1
        return r

    def run(self):
        try:
            while time.monotonic() < self.test.deadline:
                self.step(self)
        except Exception as e:  # noqa: BLE001 -- reported by the main thread
            self.unexpected.append(("exception", repr(e)))
        finally:
            self.client.close()


OK = {200: None}


def batch(w, n=6):
    return hbn.nest([w.rng.gauss(0, 1) for _ in range(n * C)], [n, C])


def step_forward(w):
    mode = w.rng.choice(("train", "eval", None))
    doc = {"inputs": batch(w), "stats_id": 0}
    if mode:
        doc["mode"] = mode
    r = w.call("forward", OK, "POST", "/v1/layers/stable/forward", doc)
    if r.status == 200 and r.json()["mode"] == "train":
        w.counts["trained"] = w.counts.get("trained", 0) + 1


def step_mode(w):
    w.call("mode", OK, "PUT", "/v1/layers/stable/mode", {"mode": w.rng.choice(("train", "eval"))})


def step_read(w):
    path = w.rng.choice(("/v1/layers/stable/stats", "/v1/layers/stable/stats/0",
                         "/v1/layers/stable", "/v1/layers", "/metrics", "/v2/health/ready",
                         "/v1/layers/ck/stats", "/v1/layers/stable/weights"))
    w.call("read", OK, "GET", path)


def step_checkpoint(w):
    r = w.call("checkpoint", {201: None}, "POST", "/v1/layers/ck/checkpoints")
    if r.status == 201:
        w.counts["checkpoints"] = w.counts.get("checkpoints", 0) + 1
        sid = r.json()["stats_id"]
        w.call("ck-forward", OK, "POST", "/v1/layers/ck/forward",
               {"inputs": batch(w), "stats_id": sid, "mode": w.rng.choice(("train", "eval"))})
    w.call("ck-forward0", OK, "POST", "/v1/layers/ck/forward",
           {"inputs": batch(w), "stats_id": 0})


def step_churn(w):
    i = w.counts.get("churn", 0)
    w.counts["churn"] = i + 1
    name = "churn-%s-%d" % (w.name, i)
    path = "/v1/layers/" + name
    w.call("create", {201: None}, "POST", "/v1/layers", {"name": name, "num_features": C})
    w.call("churn-forward", OK, "POST", path + "/forward", {"inputs": batch(w)})
    w.call("churn-checkpoint", {201: None}, "POST", path + "/checkpoints")
    w.call("delete", {204: None}, "DELETE", path)
    w.call("gone", {404: ("layer_not_found",)}, "GET", path)


GONE = {404: ("layer_not_found",)}


def step_shared(w):
    path = "/v1/layers/shared"
    op = w.rng.randrange(6)
    if op == 0:
        w.call("s-create", {201: None, 409: ("layer_exists",)}, "POST", "/v1/layers",
               {"name": "shared", "num_features": C})
    elif op == 1:
        w.call("s-delete", {**GONE, 204: None}, "DELETE", path)
    elif op == 2:
        w.call("s-forward", {**GONE, **OK}, "POST", path + "/forward",
               {"inputs": batch(w), "stats_id": 0})
    elif op == 3:
        w.call("s-checkpoint", {**GONE, 201: None}, "POST", path + "/checkpoints")
    elif op == 4:
        w.call("s-stats", {**GONE, **OK}, "GET", path + "/stats/0")
    else:
        w.call("s-mode", {**GONE, **OK}, "PUT", path + "/mode", {"mode": "eval"})


class MixedLoad(unittest.TestCase):
    def setUp(self):
        self.d = hbn.Daemon("--threads", "8", "--max-slots", "1000000").start()
        self.c = self.d.client()

    def tearDown(self):
        self.c.close()
        self.d.kill()

    def test_mixed_load(self):
        self.c.create("stable", C)
        self.c.create("ck", C)
        plan = [("fwd1", step_forward), ("fwd2", step_forward), ("mode", step_mode),
                ("read", step_read), ("ckpt", step_checkpoint), ("churn1", step_churn),
                ("churn2", step_churn), ("shared1", step_shared), ("shared2", step_shared)]
        self.deadline = time.monotonic() + SECONDS
        workers = [Worker(self, name, step) for name, step in plan]
        for w in workers:
            w.start()
        for w in workers:
            w.join(SECONDS + 30)
            self.assertFalse(w.is_alive(), "worker %s hung" % w.name)
        unexpected = [u for w in workers for u in w.unexpected]
        self.assertEqual(unexpected, [])
        total = {}
        for w in workers:
            for k, v in w.counts.items():
                total[k] = total.get(k, 0) + v
        sys.stderr.write("mixed load: %r\n" % sorted(total.items(), key=str))
        self.assertTrue(self.d.alive())
        self.assertEqual(self.c.get("/v2/health/live").status, 200)
        self.assertGreater(total.get("trained", 0), 0)
        self.assertGreater(total.get(("delete", 204), 0), 0)
        self.assertEqual(self.c.stats("stable", 0)["num_batches_tracked"], total["trained"])
        self.assertEqual(self.c.get("/v1/layers/ck").json()["num_stats"],
                         1 + total.get("checkpoints", 0))
        names = [x["name"] for x in self.c.get("/v1/layers").json()["layers"]]
        self.assertFalse([n for n in names if n.startswith("churn-")])
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    hbn.main()
