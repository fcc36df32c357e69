#!/bin/sh
# run.sh: builds the libFuzzer targets with clang (apart from the autotools build) and runs each
# for FUZZ_SECONDS (30) on a temporary copy of its seed corpus, one at a time; prints per target
# executions, exec/s, crashing and leaking inputs saved (in $FUZZ_OUT/artifacts/<target>/) and the
# corpus size reached; exits 1 when any target crashed or leaked. Environment: FUZZ_TARGETS
# (subset), FUZZ_CC (clang), FUZZ_OUT (./tests/fuzz), HBN_SRCDIR (this script's tree), FUZZ_ARGS
# (extra libFuzzer flags), FUZZ_KEEP_GOING (1: on after crashes; 0: stop at the first).
# `--build-only` only builds. See tests/fuzz/README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=${HBN_SRCDIR:-$(cd "$here/../.." && pwd)}
out=${FUZZ_OUT:-$(pwd)/tests/fuzz}
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-state tensor_json json_scan router api oip}
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cflags="-std=c11 -g -O1 -D_GNU_SOURCE -I$src $(pkg-config --cflags libcjson)"
libs="$(pkg-config --libs libcjson) -lm -pthread"

command -v "$cc" >/dev/null 2>&1 || { echo "run.sh: $cc not found (FUZZ_CC)" >&2; exit 77; }
mkdir -p "$out/obj" "$out/bin" "$out/artifacts"

# stale OBJ: true when OBJ is missing or older than a file its clang -MMD dependency list names.
stale() {
    [ -f "$1" ] && [ -f "$1.d" ] || return 0
    # shellcheck disable=SC2013 # dependency paths hold no blanks
    for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$1.d"); do
        [ -n "$(find "$dep" -prune -newer "$1")" ] && return 0
    done
    return 1
}

# The code under test: all of api/ and core/, and the registry (the real store of the api target).
objs=""
for f in "$src"/api/*.c "$src"/core/*.c "$src"/server/registry.c; do
    rel=${f#"$src"/}
    obj="$out/obj/$(echo "$rel" | tr / _).o"
    objs="$objs $obj"
    if stale "$obj"; then
        echo "  CC(fuzz) $rel"
        # shellcheck disable=SC2086
        "$cc" $cflags $san -fsanitize=fuzzer-no-link -MMD -MF "$obj.d" -c "$f" -o "$obj"
    fi
done
for t in $targets; do
    bin="$out/bin/fuzz_$t"
    echo "  CCLD(fuzz) tests/fuzz/fuzz_$t.c"
    # shellcheck disable=SC2086
    "$cc" $cflags $san -fsanitize=fuzzer -DHBN_FUZZ_LIBFUZZER -Wall -Wextra \
        "$src/tests/fuzz/fuzz_$t.c" $objs $libs -o "$bin"
done
[ "${1:-}" = "--build-only" ] && exit 0

# progress STAT KEY LOG: libFuzzer's final "stat::STAT:" value in LOG when it has one, else KEY's
# value on its last progress line ("#123: ... exec/s 45" in fork mode), else 0.
progress() {
    v=$(sed -n "s/^stat::$1: *\([0-9][0-9]*\).*/\1/p" "$3" | tail -n 1)
    if [ -z "$v" ] && [ "$2" = '#' ]; then
        v=$(grep '^#[0-9]' "$3" | sed -n 's/^#\([0-9][0-9]*\).*/\1/p' | tail -n 1)
    elif [ -z "$v" ]; then
        v=$(grep '^#[0-9]' "$3" | sed -n "s/.* $2:* *\([0-9][0-9]*\).*/\1/p" | tail -n 1)
    fi
    echo "${v:-0}"
}

# Keep going after a crash (libFuzzer's fork mode, one job): the whole time budget is used and
# every crashing input is saved; FUZZ_KEEP_GOING=0 stops at the first one instead.
keep="-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1"
[ "${FUZZ_KEEP_GOING:-1}" = 0 ] && keep=""
start=$(date +%s)
summary=""
failed=0
for t in $targets; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/hbn-fuzz-$t.XXXXXX")
    if [ -d "$src/tests/fuzz/corpus/$t" ]; then
        cp "$src/tests/fuzz/corpus/$t"/* "$work/" 2>/dev/null || true
    fi
    arts="$out/artifacts/$t"
    mkdir -p "$arts"
    touch "$work.stamp"
    case $t in tensor_json|json_scan) dict=json ;; *) dict=$t ;; esac
    dict="$src/tests/fuzz/dict/$dict.dict"
    [ -f "$dict" ] && dict="-dict=$dict" || dict=""
    log="$out/fuzz_$t.log"
    echo "== fuzz_$t: $seconds s (log: $log)"
    # shellcheck disable=SC2086
    "$out/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$arts/" $keep $dict ${FUZZ_ARGS:-} \
        "$work" >"$log" 2>&1 && rc=0 || rc=$?
    execs=$(progress number_of_executed_units '#' "$log")
    rate=$(progress average_exec_per_sec 'exec\/s' "$log")
    # what this run saved: crash-* (crashes, sanitizer reports, broken invariants), leak-*,
    # oom-* and timeout-* (counted with the crashes)
    leaks=$(find "$arts" -name 'leak-*' -newer "$work.stamp" | wc -l)
    crashes=$(find "$arts" -type f ! -name 'leak-*' -newer "$work.stamp" | wc -l)
    [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && [ "$leaks" -eq 0 ] && crashes=1
    units=$(find "$work" -maxdepth 1 -type f | wc -l)
    rm -rf "$work" "$work.stamp"
    summary="$summary$(printf '%-12s %12s %9s %8s %6s %8s' "$t" "$execs" "$rate" "$crashes" \
        "$leaks" "$units")
"
    if [ "$crashes" -ne 0 ] || [ "$leaks" -ne 0 ]; then
        failed=1
        echo "   saved in $arts/; distinct reports:"
        grep -E 'fuzz invariant broken|^SUMMARY:' "$log" | sed 's/^/   /' | sort | uniq -c || true
    fi
done
printf '%-12s %12s %9s %8s %6s %8s\n' target executions exec/s crashes leaks corpus
printf '%s' "$summary"
echo "total: $(( $(date +%s) - start )) s of fuzzing for $(echo "$targets" | wc -w) targets"
exit "$failed"
