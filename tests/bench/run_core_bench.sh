#!/bin/sh
# run_core_bench.sh: hyperbn's core forward against PyTorch, side by side, in one run.
# Runs tests/bench/bench_core and tests/bench/bench_torch.py alternately RUNS times (the machine
# is shared and noisy), prints each program's median of the per-run medians, the ratios
# ours / torch and ours / same-size copy, checks the targets (on the issue's five shapes, not on
# bench_core's two extra ones with short planes), then the OpenBLAS experiment with the library's
# own CPU detection and with OPENBLAS_CORETYPE=Haswell (read at load time), then the bandwidth
# floor (bench_core --floor: read and map passes alone, and the traffic of a train without
# arithmetic, beside the copy).
# Usage: tests/bench/run_core_bench.sh [BUILD_DIR [RUNS]]   (defaults: . and 3; QUICK=1 for a
# short run). BUILD_DIR is where `make` built tests/bench/bench_core.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
runs=${2:-3}
bench="$build/tests/bench/bench_core"
quick=
[ "${QUICK:-0}" = 1 ] && quick=--quick
if [ ! -x "$bench" ]; then
    echo "run_core_bench.sh: $bench is not built (run make in $build)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

i=1
while [ "$i" -le "$runs" ]; do
    echo "run $i of $runs ..." >&2
    "$bench" --forward $quick >"$tmp/core.$i"
    /usr/bin/python3 "$here/bench_torch.py" $quick >"$tmp/torch.$i"
    i=$((i + 1))
done

echo "# hyperbn core vs PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')," \
    "one thread, medians of $runs runs (microseconds; GB/s = bytes read + written / time)"
cat "$tmp"/core.* "$tmp"/torch.* | awk -v runs="$runs" '
function med(key,    n, i, j, v, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) {
        v = a[i]
        for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
        a[j + 1] = v
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { val[key, ++cnt[key]] = v }
$1 == "forward" || $1 == "torch" {
    if (!($2 in seen)) { seen[$2] = 1; order[++nshape] = $2; numel[$2] = $3 }
    add($1 SUBSEP $2 SUBSEP "train", $5); add($1 SUBSEP $2 SUBSEP "eval", $6)
    add($1 SUBSEP $2 SUBSEP "copy", $7)
}
END {
    printf "%-16s %9s %9s %6s %9s %9s %6s %9s %9s %8s %8s\n", "shape", "train", "torch", "ratio",
        "eval", "torch", "ratio", "copy", "t.copy", "trainBW", "evalBW"
    for (k = 1; k <= nshape; k++) {
        s = order[k]
        tr = med("forward" SUBSEP s SUBSEP "train"); ttr = med("torch" SUBSEP s SUBSEP "train")
        ev = med("forward" SUBSEP s SUBSEP "eval"); tev = med("torch" SUBSEP s SUBSEP "eval")
        cp = med("forward" SUBSEP s SUBSEP "copy"); tcp = med("torch" SUBSEP s SUBSEP "copy")
        printf "%-16s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f %9.1f %9.1f %7.0f%% %7.0f%%\n", s, tr,
            ttr, tr / ttr, ev, tev, ev / tev, cp, tcp, 100 * cp / tr, 100 * cp / ev
        if (k > 5) # the extra shapes of bench_core: no targets
            continue
        limit = s ~ /,.*,/ ? 0.25 : (s == "(256,1024)" ? 0.8 : 0)
        if (limit > 0 && tr / ttr > limit)
            printf "  target missed: train %.2fx torch > %.2fx\n", tr / ttr, limit
        if (ev / tev > 1)
            printf "  target missed: eval slower than torch\n"
        if (cp / tr < 0.8)
            printf "  target missed: train bandwidth %.0f%% of the copy (< 80%%)\n", 100 * cp / tr
    }
    print "# ratio: ours / torch; trainBW, evalBW: effective bandwidth as % of the same-size memcpy"
}'

echo
"$bench" --blas $quick
echo
OPENBLAS_CORETYPE=Haswell "$bench" --blas $quick
echo
"$bench" --floor $quick
