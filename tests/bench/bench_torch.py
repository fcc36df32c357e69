#!/usr/bin/python3
# bench_torch.py: the PyTorch side of tests/bench/run_core_bench.sh. Times
# torch.nn.functional.batch_norm (float32, one thread) in train mode (batch statistics, running
# statistics updated in place, as a BatchNorm module does) and eval mode, and a same-size copy,
# on the shapes tests/bench/bench_core.c uses; interleaved repetitions, medians in microseconds.
# Needs Debian's python3-torch: run with /usr/bin/python3. Usage: bench_torch.py [--quick]
import statistics
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = [(32, 64), (256, 1024), (8, 16, 32, 32), (64, 256, 14, 14), (32, 64, 56, 56),
          (128, 64, 3, 3), (64, 512, 4, 4)]  # the last two: bench_core's extra_shapes


def label(shape):
    return "(" + ",".join(str(d) for d in shape) + ")"


def once(x, y, rm, rv, w, b):
    """One train call, one eval call and one copy; their durations in microseconds."""
    t0 = time.perf_counter_ns()
    F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)
    t1 = time.perf_counter_ns()
    F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5)
    t2 = time.perf_counter_ns()
    y.copy_(x)
    t3 = time.perf_counter_ns()
    return (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3


def row(shape, budget_us):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(*shape, generator=gen, dtype=torch.float32)
    y = torch.empty_like(x)
    c = shape[1]
    rm, rv = torch.zeros(c), torch.ones(c)
    w, b = torch.ones(c), torch.zeros(c)
    once(x, y, rm, rv, w, b)
    t = once(x, y, rm, rv, w, b)
    reps = max(15, min(20000, int(budget_us / max(1.0, sum(t)))))
    runs = [once(x, y, rm, rv, w, b) for _ in range(reps)]
    med = [statistics.median(r[k] for r in runs) for k in range(3)]
    gb = 2.0 * x.numel() * 4 / 1e3
    print("torch %-16s %10d %6d %11.1f %11.1f %11.1f %8.1f %8.1f %8.1f"
          % (label(shape), x.numel(), reps, med[0], med[1], med[2], gb / med[0], gb / med[1],
             gb / med[2]))


def main():
    budget = 1.5e6 / (10.0 if "--quick" in sys.argv[1:] else 1.0)
    torch.set_num_threads(1)
    print("# bench_torch: PyTorch %s, F.batch_norm float32, one thread, medians"
          % torch.__version__)
    print("# %-20s %10s %6s %11s %11s %11s %8s %8s %8s" % (
        "shape", "numel", "reps", "train_us", "eval_us", "copy_us", "train_GB", "eval_GB",
        "copy_GB"))
    for shape in SHAPES:
        row(shape, budget)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
