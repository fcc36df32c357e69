#!/usr/bin/env bash
# load.sh: the HTTP load benchmark of hyperbnd (never run by `make check`). Starts the daemon on a
# free loopback port, creates the layers, writes the request bodies, runs wrk (post.lua) for each
# case at 2 and 8 connections and prints req/s, p50 and p99 per case, then the targets. The
# "cpu ms" column is the daemon's own CPU time (user + system) per request, which stays
# meaningful when other work shares the machine and req/s does not.
# Usage: tests/bench/load.sh   (from the build dir, or HBN_BUILDDIR=... / HBN_HYPERBND=...)
# Environment: DURATION (seconds per run, default 10), CONNS (default "2 8"), THREADS (daemon
# --threads, default 8), CASES (default: all; e.g. "small-json-train medium-bin-eval").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${HBN_BUILDDIR:-$(pwd)}
bin=${HBN_HYPERBND:-$builddir/server/hyperbnd}
duration=${DURATION:-10}
conns_list=${CONNS:-2 8}
threads=${THREADS:-8}
py=/usr/bin/python3
if [ ! -x "$bin" ]; then
  echo "load.sh: no daemon at $bin (run from the build dir or set HBN_BUILDDIR)" >&2
  exit 2
fi
command -v wrk >/dev/null || { echo "load.sh: wrk is not installed" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" --host 127.0.0.1 --port 0 --threads "$threads" --max-body-bytes 67108864 \
  --log-format text 2>"$tmp/stderr" >/dev/null &
pid=$!
port=
for _ in $(seq 1 200); do          # at most 10 s
  port=$(sed -n 's/^hyperbnd: listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/stderr")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { echo "load.sh: hyperbnd did not start:" >&2; cat "$tmp/stderr" >&2; exit 1; }
base="http://127.0.0.1:$port"

# Layers and bodies: (32, 64) and (64, 256, 4, 4) = 262,144 floats, JSON and raw float32.
"$py" - "$port" "$tmp" <<'EOF'
import http.client, json, random, struct, sys
port, out = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
for name, ch in (("small", 64), ("medium", 256)):
    c.request("POST", "/v1/layers", json.dumps({"name": name, "num_features": ch}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, (name, r.status)
rng = random.Random(0)
def values(n):
    return [struct.unpack("<f", struct.pack("<f", rng.gauss(0.5, 2.0)))[0] for _ in range(n)]
def nested(flat, shape):
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]
def write_json(path, flat, shape, mode):
    doc = {"inputs": nested(flat, shape), "stats_id": 0, "mode": mode}
    text = json.dumps(doc, separators=(",", ":"))
    # a client sends float32 values with 9 significant digits, not Python's 17
    text = json.dumps(json.loads(text, parse_float=lambda s: float("%.9g" % float(s))),
                      separators=(",", ":"))
    with open(path, "w") as f:
        f.write(text)
small, medium = values(32 * 64), values(64 * 256 * 4 * 4)
for mode in ("train", "eval"):
    write_json("%s/small-%s.json" % (out, mode), small, [32, 64], mode)
    write_json("%s/medium-%s.json" % (out, mode), medium, [64, 256, 4, 4], mode)
with open("%s/medium.bin" % out, "wb") as f:
    f.write(struct.pack("<%df" % len(medium), *medium))
EOF

# case name -> layer, body file, content type, query
declare -A layer body ctype query
for mode in train eval; do
  layer[small-json-$mode]=small;  body[small-json-$mode]=$tmp/small-$mode.json
  layer[medium-json-$mode]=medium; body[medium-json-$mode]=$tmp/medium-$mode.json
  layer[medium-bin-$mode]=medium;  body[medium-bin-$mode]=$tmp/medium.bin
  ctype[small-json-$mode]=application/json; ctype[medium-json-$mode]=application/json
  ctype[medium-bin-$mode]=application/octet-stream
  query[small-json-$mode]=; query[medium-json-$mode]=
  query[medium-bin-$mode]="?shape=64,256,4,4&stats_id=0&mode=$mode"
done
all_cases="small-json-train small-json-eval medium-json-train medium-json-eval"
all_cases="$all_cases medium-bin-train medium-bin-eval"
cases=${CASES:-$all_cases}

# Sanity: every case answers 200 once before it is measured.
for cs in $cases; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: ${ctype[$cs]}" \
    --data-binary "@${body[$cs]}" "$base/v1/layers/${layer[$cs]}/forward${query[$cs]}")
  [ "$code" = 200 ] || { echo "load.sh: $cs answered $code" >&2; exit 1; }
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
declare -A result
printf '%-18s %5s %10s %10s %10s %8s %8s\n' case conns 'req/s' 'p50 ms' 'p99 ms' 'cpu ms' errors
for cs in $cases; do
  for n in $conns_list; do
    t=$(( n < 2 ? n : 2 ))
    ticks0=$(cpu_ticks)
    line=$(HBN_BODY_FILE=${body[$cs]} HBN_CONTENT_TYPE=${ctype[$cs]} \
      wrk -t "$t" -c "$n" -d "${duration}s" --timeout 30s --latency -s "$here/post.lua" \
      "$base/v1/layers/${layer[$cs]}/forward${query[$cs]}" | grep '^HBN_RESULT') || true
    [ -n "$line" ] || { echo "load.sh: wrk failed for $cs" >&2; exit 1; }
    ticks1=$(cpu_ticks)
    read -r _ rps p50 p99 non2xx errs reqs <<<"$line"
    result[$cs/$n]="$rps $p50 $p99"
    awk -v c="$cs" -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" -v e=$(( non2xx + errs )) \
      -v t=$(( ticks1 - ticks0 )) -v hz="$hz" -v q="$reqs" \
      'BEGIN { printf "%-18s %5d %10.0f %10.2f %10.2f %8.3f %8d\n", c, n, r, a / 1000, b / 1000,
               (q > 0 ? 1000 * t / hz / q : 0), e }'
  done
done

# Targets (issue "hyperbnd daemon"): small JSON >= 6,500 req/s at 8 connections with p99 <= 3 ms;
# medium JSON >= 50 req/s; medium binary >= 750 req/s (best of the measured connection counts).
check() { # label, awk condition
  if awk "BEGIN { exit !($2) }"; then echo "target met:    $1"; else echo "target MISSED: $1"; fi
}
best() { # case prefix -> best req/s over modes and connection counts measured
  local m=0 k r
  for k in "${!result[@]}"; do
    case $k in
      "$1"-*) r=${result[$k]%% *}
        m=$(awk -v a="$r" -v b="$m" 'BEGIN { print (a > b) ? a : b }') ;;
    esac
  done
  echo "$m"
}
echo
for mode in train eval; do
  if [ -n "${result[small-json-$mode/8]:-}" ]; then
    read -r rps _ p99 <<<"${result[small-json-$mode/8]}"
    check "small JSON $mode, 8 conns: $rps req/s >= 6500, p99 $p99 us <= 3000" \
      "$rps >= 6500 && $p99 <= 3000"
  fi
done
for pre in medium-json medium-bin; do
  goal=$([ $pre = medium-json ] && echo 50 || echo 750)
  b=$(best "$pre")
  if [ "$b" != 0 ]; then check "$pre best $b req/s >= $goal" "$b >= $goal"; fi
done

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { echo "load.sh: hyperbnd exited with $rc after SIGTERM" >&2; exit 1; }
