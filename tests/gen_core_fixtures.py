#!/usr/bin/python3
# gen_core_fixtures.py: writes tests/fixtures/core_forward.txt, the PyTorch reference cases that
# tests/check_fixtures.c replays through core/layer.h. Needs PyTorch (Debian's python3-torch):
#   /usr/bin/python3 tests/gen_core_fixtures.py > tests/fixtures/core_forward.txt
# Deterministic: float32, fixed seeds, one thread; the same torch version prints the same file.
# The reference is torch.nn.functional.batch_norm; a layer's statistics slots, checkpoints and
# num_batches_tracked are emulated as torch.nn.BatchNorm*d does (momentum None: factor
# 1 / num_batches_tracked), following SEMANTICS.md section 3's table for which statistics a call
# normalizes with and which it updates.
import sys

import torch
import torch.nn.functional as F

FORMAT_DOC = """\
# Line format (tokens separated by single spaces; floats printed with %.9g, which round-trips
# float32; an array is its length then its values):
#   hbn-fixtures 1 <number of cases>
#   case <name>
#   config <C> <momentum|null> <eps> <affine> <track_running_stats> <frozen_stats> <learnable_stats>
#   weights <C> <weight...> <C> <bias...>      optional: hbn_layer_set_weights before any step
#   step <train|eval> <call|layer> <rank> <dim...>
#        call: the mode is a per-call override; layer: hbn_layer_set_mode, no override
#   checkpoint <expected new id>               hbn_layer_checkpoint between steps
#   input <numel> <values...>
#   weight <C> <values...> / bias <C> <values...>          optional, given with the call
#   given <has_count> <count> <C> <mean...> <C> <var...>   optional given statistics
#   stats_id <id>                                          optional
#   output <numel> <values...>                             expected outputs
#   returned <count> <C> <mean...> <C> <var...>            expected returned statistics
#   slot <id> <count> <C> <mean...> <C> <var...>           expected slot after the step's update
#   end                                                    runs the step and checks it
#   end_case
"""


def fmt(v):
    return "%.9g" % v


def arr(t):
    vals = t.reshape(-1).tolist()
    return str(len(vals)) + "".join(" " + fmt(v) for v in vals)


class Case:
    """One layer and a sequence of forward calls, emulated in PyTorch."""

    def __init__(self, name, c, kind, momentum=0.1, eps=1e-5, affine=True, seed=0):
        self.name, self.c, self.kind = name, c, kind
        self.momentum, self.eps, self.affine = momentum, eps, affine
        self.gen = torch.Generator().manual_seed(seed)
        self.lines = ["case " + name]
        track = kind == "tracking"
        frozen = kind == "frozen"
        learnable = kind == "learnable"
        self.lines.append("config %d %s %s %d %d %d %d" % (
            c, "null" if momentum is None else fmt(momentum), fmt(eps), affine, track, frozen,
            learnable))
        self.weight = torch.ones(c) if affine else None
        self.bias = torch.zeros(c) if affine else None
        self.slots = []  # [mean, var, count]
        if track or frozen or learnable:
            self.slots.append([torch.zeros(c), torch.ones(c), 0])
        self.mode = "train"

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.gen, dtype=torch.float32)

    def set_weights(self):
        self.weight = (1.0 + 0.5 * self.randn(self.c)).float()
        self.bias = (0.5 * self.randn(self.c)).float()
        self.lines.append("weights %s %s" % (arr(self.weight), arr(self.bias)))

    def checkpoint(self):
        self.slots.append([torch.zeros(self.c), torch.ones(self.c), 0])
        self.lines.append("checkpoint %d" % (len(self.slots) - 1))

    def data(self, shape, centre=0.0, spread=1.0):
        """Inputs of SHAPE whose channels differ in mean and scale."""
        c = shape[1]
        view = [1, c] + [1] * (len(shape) - 2)
        mu = centre + 2.0 * self.randn(c).reshape(view)
        sd = spread * (0.5 + self.randn(c).abs()).reshape(view)
        return (mu + sd * self.randn(*shape)).float()

    def factor(self, count):
        return 1.0 / count if self.momentum is None else self.momentum

    def step(self, mode, x, via="call", weight=None, bias=None, given=None, stats_id=None):
        """One forward call. GIVEN: [mean, var, count, has_count] (fed back by the caller)."""
        if via == "layer":
            self.mode = mode
        self.lines.append("step %s %s %d %s" % (mode, via, x.dim(),
                                               " ".join(str(d) for d in x.shape)))
        self.lines.append("input " + arr(x))
        w = weight if weight is not None else self.weight
        b = bias if bias is not None else self.bias
        if weight is not None:
            self.lines.append("weight " + arr(weight))
        if bias is not None:
            self.lines.append("bias " + arr(bias))
        if stats_id is not None:
            self.lines.append("stats_id %d" % stats_id)
        train = mode == "train"
        if given is not None:
            y = self.step_given(x, w, b, train, given)
        elif self.kind in ("tracking", "learnable"):
            y = self.step_slot(x, w, b, train, 0 if stats_id is None else stats_id)
        elif self.kind == "frozen":
            y = F.batch_norm(x, torch.zeros(self.c), torch.ones(self.c), w, b, False, 0.0,
                             self.eps)
        else:  # no statistics: batch statistics in both modes, nothing updated
            y = F.batch_norm(x, None, None, w, b, True, 0.0, self.eps)
        self.lines.append("output " + arr(y))
        for k, (m, v, n) in enumerate(self.slots):
            self.lines.append("slot %d %d %s %s" % (k, n, arr(m), arr(v)))
        self.lines.append("end")
        return y

    def step_given(self, x, w, b, train, given):
        mean, var, count, has_count = given
        self.lines.append("given %d %d %s %s" % (has_count, count, arr(mean), arr(var)))
        if not train:
            return F.batch_norm(x, mean.clone(), var.clone(), w, b, False, 0.0, self.eps)
        rm, rv = mean.clone(), var.clone()
        count += 1
        y = F.batch_norm(x, rm, rv, w, b, True, self.factor(count), self.eps)
        self.lines.append("returned %d %s %s" % (count, arr(rm), arr(rv)))
        given[0], given[1], given[2], given[3] = rm, rv, count, 1
        return y

    def step_slot(self, x, w, b, train, k):
        slot = self.slots[k]
        if not train:
            return F.batch_norm(x, slot[0].clone(), slot[1].clone(), w, b, False, 0.0, self.eps)
        slot[2] += 1
        return F.batch_norm(x, slot[0], slot[1], w, b, True, self.factor(slot[2]), self.eps)

    def text(self):
        return "\n".join(self.lines + ["end_case"])


def run_slot_case(case, shapes, modes=None, centre=0.0, hyper=None, ids=None):
    """Steps on a layer's own statistics: SHAPES[i] with MODES[i] ((mode, via) pairs, default
    train by call then one eval). HYPER: 'both' or 'weight' sends weight/bias with each call."""
    modes = modes or [("train", "call")] * (len(shapes) - 1) + [("eval", "call")]
    for i, (shape, (mode, via)) in enumerate(zip(shapes, modes)):
        w = b = None
        if hyper in ("both", "weight"):
            w = (1.0 + 0.5 * case.randn(case.c)).float()
        if hyper == "both":
            b = case.randn(case.c)
        case.step(mode, case.data(shape, centre), via, w, b,
                  stats_id=None if ids is None else ids[i])


def run_given_case(case, shapes, modes, has_count=0, count=0, centre=0.0):
    """Steps with given statistics, fed back from each train call as a client would."""
    given = [centre + case.randn(case.c), 0.5 + case.randn(case.c).abs(), count, has_count]
    for shape, mode in zip(shapes, modes):
        case.step(mode, case.data(shape, centre), "call", given=given,
                  stats_id=0 if case.kind == "tracking" and mode == "eval" else None)


def slot_cases():
    cases = []
    T = ("train", "call")
    E = ("eval", "call")

    def add(name, c, kind, shapes, seed, setw=False, **kw):
        opts = {k: kw.pop(k) for k in ("momentum", "eps", "affine") if k in kw}
        case = Case(name, c, kind, seed=seed, **opts)
        if setw:
            case.set_weights()
        run_slot_case(case, shapes, **kw)
        cases.append(case)

    add("tracking_r2", 3, "tracking", [(8, 3)] * 3 + [(5, 3)], 1)
    add("tracking_r4_own_weights", 4, "tracking", [(2, 4, 5, 7)] * 3 + [(3, 4, 5, 7)], 2,
        setw=True, modes=[("train", "layer")] * 3 + [("eval", "layer")])
    add("tracking_r3_not_affine", 5, "tracking", [(4, 5, 7)] * 3, 3, affine=False)
    add("tracking_r5_momentum_0.3", 3, "tracking", [(2, 3, 2, 3, 4)] * 3, 4, momentum=0.3)
    add("tracking_momentum_null_r2", 4, "tracking", [(6, 4), (9, 4), (4, 4), (7, 4), (6, 4)],
        5, momentum=None)
    add("tracking_momentum_null_r4", 3, "tracking", [(2, 3, 3, 5)] * 4, 6, momentum=None,
        setw=True)
    add("tracking_momentum_0", 2, "tracking", [(5, 2, 3)] * 3, 7, momentum=0.0)
    add("tracking_momentum_1", 3, "tracking", [(4, 3)] * 3, 8, momentum=1.0)
    add("tracking_c1_r2", 1, "tracking", [(9, 1)] * 4, 9)
    add("tracking_c1_r4", 1, "tracking", [(3, 1, 4, 5)] * 3, 10, momentum=None)
    add("tracking_eps_0.1", 3, "tracking", [(4, 3, 5)] * 3, 11, eps=0.1)
    add("tracking_eps_1e-3_r4", 2, "tracking", [(3, 2, 3, 3)] * 3, 12, eps=1e-3)
    add("tracking_mean100_r2", 5, "tracking", [(32, 5)] * 4, 13, centre=100.0)
    add("tracking_mean100_r4", 3, "tracking", [(4, 3, 6, 6)] * 3, 14, centre=100.0, setw=True)
    add("tracking_hyper_weights_r4", 3, "tracking", [(2, 3, 4, 5)] * 3, 15, hyper="both",
        setw=True)
    add("tracking_not_affine_hyper_weights", 4, "tracking", [(6, 4, 3)] * 3, 16,
        affine=False, hyper="both")
    add("tracking_hyper_weight_only", 3, "tracking", [(5, 3)] * 3, 17, hyper="weight",
        setw=True)
    add("tracking_stats_id_0", 2, "tracking", [(3, 2, 5)] * 3, 18, ids=[0, 0, 0])
    add("tracking_odd_spatial", 5, "tracking", [(2, 5, 7, 9)] * 2, 19, momentum=None)
    add("tracking_batch_of_2", 3, "tracking", [(2, 3)] * 3, 20)
    add("tracking_eval_first", 3, "tracking", [(4, 3, 2)] * 3, 21,
        modes=[E, T, E])
    add("tracking_mode_override", 3, "tracking", [(5, 3)] * 4, 22,
        modes=[("eval", "layer"), T, ("eval", "call"), ("train", "layer")])
    add("tracking_c37_momentum_null", 37, "tracking", [(6, 37)] * 3, 23, momentum=None)
    add("tracking_mixed_ranks", 3, "tracking", [(6, 3), (2, 3, 4), (2, 3, 2, 2), (3, 3)], 24)
    add("frozen_r2", 3, "frozen", [(6, 3), (4, 3)], 31, modes=[T, E])
    add("frozen_r4_own_weights", 4, "frozen", [(2, 4, 3, 3)] * 2, 32, setw=True,
        modes=[("train", "layer"), ("eval", "layer")])
    add("frozen_r3_not_affine", 2, "frozen", [(3, 2, 5)] * 2, 33, affine=False, modes=[T, E])
    add("frozen_r5_hyper_weights", 3, "frozen", [(2, 3, 2, 2, 3)] * 2, 34, hyper="both",
        modes=[T, E])
    add("frozen_c1_mean100", 1, "frozen", [(7, 1), (2, 1, 9)], 35, centre=100.0, modes=[T, E])
    add("none_r2", 3, "none", [(8, 3)] * 2, 41, modes=[T, E])
    add("none_r4_own_weights", 4, "none", [(2, 4, 3, 5)] * 2, 42, setw=True,
        modes=[("train", "layer"), ("eval", "layer")])
    add("none_r5_not_affine", 2, "none", [(2, 2, 3, 2, 4)] * 2, 43, affine=False,
        modes=[T, E])
    add("none_mean100_r3", 3, "none", [(4, 3, 16)] * 2, 44, centre=100.0, modes=[T, E])
    add("none_eps_0.5", 3, "none", [(5, 3, 3)] * 2, 45, eps=0.5, modes=[T, E])
    add("none_c1_r3", 1, "none", [(3, 1, 11)] * 2, 46, modes=[T, E])
    add("none_hyper_weights_not_affine", 4, "none", [(3, 4, 5)] * 2, 47, affine=False,
        hyper="both", modes=[T, E])
    add("learnable_r2", 3, "learnable", [(6, 3)] * 3, 51)
    add("learnable_r4_own_weights", 2, "learnable", [(2, 2, 3, 4)] * 3, 52, setw=True,
        momentum=0.5)
    return cases


def given_cases():
    cases = []
    T, E = "train", "eval"

    def add(name, c, kind, shapes, modes, seed, **kw):
        opts = {k: kw.pop(k) for k in ("momentum", "eps", "affine") if k in kw}
        case = Case(name, c, kind, seed=seed, **opts)
        run_given_case(case, shapes, modes, **kw)
        cases.append(case)

    add("given_on_tracking_r2", 4, "tracking", [(10, 4)] * 4, [T, T, T, E], 61)
    add("given_on_none_r4", 3, "none", [(2, 3, 4, 4)] * 3, [T, T, E], 62, momentum=0.2)
    add("given_momentum_null_count_5", 3, "none", [(6, 3)] * 3, [T, T, T], 63,
        momentum=None, has_count=1, count=5)
    add("given_momentum_null_no_count", 2, "tracking", [(4, 2, 3)] * 3, [T, T, E], 64,
        momentum=None)
    add("given_on_frozen_r3", 3, "frozen", [(4, 3, 5)] * 3, [T, T, E], 65)
    add("given_eval_r5", 2, "none", [(2, 2, 3, 2, 2)] * 2, [E, E], 66, affine=False)
    add("given_mean100_r4", 3, "tracking", [(3, 3, 4, 4)] * 3, [T, T, E], 67, centre=100.0)
    add("given_on_learnable_r2", 3, "learnable", [(7, 3)] * 3, [T, T, E], 68)
    add("given_c1_not_affine", 1, "none", [(9, 1), (3, 1, 4)], [T, E], 69, affine=False)
    return cases


def checkpoint_case():
    case = Case("tracking_checkpoints", 3, "tracking", seed=71)
    case.set_weights()
    for _ in range(2):
        case.step("train", case.data((5, 3, 4)), stats_id=0)
    case.checkpoint()
    for _ in range(2):
        case.step("train", case.data((4, 3, 4)), stats_id=1)
    case.step("eval", case.data((3, 3, 4)), stats_id=0)
    case.step("eval", case.data((3, 3, 4)), stats_id=1)
    return case


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cases = slot_cases() + given_cases() + [checkpoint_case()]
    out = sys.stdout
    version = torch.__version__.split("+")[0]
    out.write("# core_forward.txt: PyTorch %s reference cases for hyperbn's layer forward, by\n"
              % version)
    out.write("#   /usr/bin/python3 tests/gen_core_fixtures.py > tests/fixtures/core_forward.txt\n")
    out.write("# Do not edit: regenerate. Read by tests/check_fixtures.c.\n")
    out.write(FORMAT_DOC)
    out.write("hbn-fixtures 1 %d\n" % len(cases))
    for case in cases:
        out.write(case.text() + "\n")


if __name__ == "__main__":
    main()
