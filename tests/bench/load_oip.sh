#!/usr/bin/env bash
# load_oip.sh: the Open Inference Protocol load benchmark of hyperbnd (never run by `make check`),
# side by side with the v1 JSON and raw binary forms in the same run. Starts the daemon on a free
# loopback port, writes the request bodies, runs wrk (post.lua) per case at 2 and 8 connections
# and prints req/s, p50, p99, payload MB/s (float32 bytes in + out per second) and the daemon's
# CPU ms per request; then measures a plain loopback transfer of the large case's bytes from a
# static server doing no work (wrk: the same round trip; curl: a one-stream download) and checks
# the targets.
# Cases (layer C=256): medium (64,256,4,4) = 1 MiB and large (64,256,16,16) = 16 MiB of float32,
# as v1 JSON, OIP JSON, v1 raw binary and OIP binary (binary inputs, binary_data_output).
# Usage: tests/bench/load_oip.sh   (from the build dir, or HBN_BUILDDIR=... / HBN_HYPERBND=...)
# Environment: DURATION (seconds per run, default 8), CONNS (default "2 8"), THREADS (daemon
# --threads, default 8), MODE (train or eval, default train), CASES (default: all but the
# large JSON ones, e.g. "medium-oip-bin large-oip-bin large-oip-json").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builddir=${HBN_BUILDDIR:-$(pwd)}
bin=${HBN_HYPERBND:-$builddir/server/hyperbnd}
duration=${DURATION:-8}
conns_list=${CONNS:-2 8}
threads=${THREADS:-8}
mode=${MODE:-train}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "load_oip.sh: no daemon at $bin (run from the build dir or set HBN_BUILDDIR)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "load_oip.sh: wrk is not installed" >&2; exit 2; }
command -v curl >/dev/null || { echo "load_oip.sh: curl is not installed" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
spid=
cleanup() {
  for p in $pid $spid; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_port FILE REGEX PID: the port a process printed to FILE (at most 10 s), or nothing.
wait_port() {
  local port=
  for _ in $(seq 1 200); do
    port=$(sed -n "s/$2/\\1/p" "$1")
    [ -n "$port" ] && break
    kill -0 "$3" 2>/dev/null || break
    sleep 0.05
  done
  echo "$port"
}

"$bin" --host 127.0.0.1 --port 0 --threads "$threads" --max-body-bytes 67108864 \
  --log-format text 2>"$tmp/stderr" >/dev/null &
pid=$!
port=$(wait_port "$tmp/stderr" '^hyperbnd: listening on .*:\([0-9][0-9]*\)$' "$pid")
[ -n "$port" ] || { echo "load_oip.sh: hyperbnd did not start:" >&2; cat "$tmp/stderr" >&2; exit 1; }
base="http://127.0.0.1:$port"

# Layers and bodies. Each case gets BODY, CTYPE, PATH (with query), HEADER (Inference-Header-
# Content-Length or empty) written to $tmp/<case>.{body,meta}.
cases=${CASES:-medium-v1-json medium-oip-json medium-v1-bin medium-oip-bin large-v1-bin large-oip-bin}
"$py" - "$port" "$tmp" "$mode" "$cases" <<'EOF'
import http.client, json, random, struct, sys
port, out, mode, wanted = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split()
c = http.client.HTTPConnection("127.0.0.1", port)
for name in ("medium", "large"):
    c.request("POST", "/v1/layers", json.dumps({"name": name, "num_features": 256}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, (name, r.status)
rng = random.Random(0)
shapes = {"medium": [64, 256, 4, 4], "large": [64, 256, 16, 16]}
for size, shape in shapes.items():
    n = 1
    for d in shape:
        n *= d
    raw = struct.pack("<%df" % n, *(rng.gauss(0.5, 2.0) for _ in range(n)))
    text = ""
    if any(w.startswith(size + "-") and w.endswith("-json") for w in wanted):
        vals = struct.unpack("<%df" % n, raw)
        text = ",".join("%.9g" % v for v in vals)      # what a client sends: 9 digits
    shp = ",".join(str(d) for d in shape)
    cases = {
        "v1-json": (b'{"inputs":{"shape":[%s],"data":[%s]},"stats_id":0,"mode":"%s"}'
                    % (shp.encode(), text.encode(), mode.encode()),
                    "application/json", "/v1/layers/%s/forward" % size, ""),
        "oip-json": (b'{"inputs":[{"name":"inputs","shape":[%s],"datatype":"FP32","data":[%s]}],'
                     b'"parameters":{"stats_id":0,"mode":"%s"}}'
                     % (shp.encode(), text.encode(), mode.encode()),
                     "application/json", "/v2/models/%s/infer" % size, ""),
        "v1-bin": (raw, "application/octet-stream",
                   "/v1/layers/%s/forward?shape=%s&stats_id=0&mode=%s" % (size, shp, mode), ""),
    }
    head = json.dumps({"inputs": [{"name": "inputs", "shape": shape, "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"stats_id": 0, "mode": mode,
                                      "binary_data_output": True}}).encode()
    cases["oip-bin"] = (head + raw, "application/octet-stream", "/v2/models/%s/infer" % size,
                        str(len(head)))
    for form, (body, ctype, path, header) in cases.items():
        case = "%s-%s" % (size, form)
        if case not in wanted and case != "large-oip-bin":
            continue
        with open("%s/%s.body" % (out, case), "wb") as f:
            f.write(body)
        with open("%s/%s.meta" % (out, case), "w") as f:
            f.write("%s\n%s\n%s\n%d\n" % (ctype, path, header, len(raw)))
    if size == "large":
        with open("%s/large.raw" % out, "wb") as f:
            f.write(raw)
EOF

meta() { sed -n "$2p" "$tmp/$1.meta"; } # case, line: 1 ctype, 2 path, 3 header, 4 payload bytes

# Sanity: every case answers 200 once before it is measured.
for cs in $cases; do
  hdr=()
  [ -n "$(meta "$cs" 3)" ] && hdr=(-H "Inference-Header-Content-Length: $(meta "$cs" 3)")
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: $(meta "$cs" 1)" "${hdr[@]}" \
    --data-binary "@$tmp/$cs.body" "$base$(meta "$cs" 2)")
  [ "$code" = 200 ] || { echo "load_oip.sh: $cs answered $code" >&2; exit 1; }
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run_wrk CONNS BODY CTYPE HEADER URL: wrk's HBN_RESULT line for POSTing BODY to URL.
run_wrk() {
  local t=$(( $1 < 2 ? $1 : 2 )) hdr=()
  [ -n "$4" ] && hdr=(-H "Inference-Header-Content-Length: $4")
  HBN_BODY_FILE=$2 HBN_CONTENT_TYPE=$3 wrk -t "$t" -c "$1" -d "${duration}s" --timeout 30s \
    --latency "${hdr[@]}" -s "$here/post.lua" "$5" | grep '^HBN_RESULT' || true
}
declare -A result
printf '%-16s %5s %10s %10s %10s %10s %8s %7s\n' case conns 'req/s' 'p50 ms' 'p99 ms' \
  'MB/s' 'cpu ms' errors
for cs in $cases; do
  for n in $conns_list; do
    ticks0=$(cpu_ticks "$pid")
    line=$(run_wrk "$n" "$tmp/$cs.body" "$(meta "$cs" 1)" "$(meta "$cs" 3)" "$base$(meta "$cs" 2)")
    [ -n "$line" ] || { echo "load_oip.sh: wrk failed for $cs" >&2; exit 1; }
    ticks1=$(cpu_ticks "$pid")
    read -r _ rps p50 p99 non2xx errs reqs <<<"$line"
    result[$cs/$n]="$rps $p50 $p99"
    awk -v c="$cs" -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" -v e=$(( non2xx + errs )) \
      -v t=$(( ticks1 - ticks0 )) -v hz="$hz" -v q="$reqs" -v bytes="$(meta "$cs" 4)" \
      'BEGIN { printf "%-16s %5d %10.1f %10.2f %10.2f %10.0f %8.3f %7d\n", c, n, r, a / 1000,
               b / 1000, 2 * r * bytes / 1e6, (q > 0 ? 1000 * t / hz / q : 0), e }'
  done
done

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { echo "load_oip.sh: hyperbnd exited with $rc after SIGTERM" >&2; exit 1; }

# The plain loopback transfer of the large case's bytes, in the same run, from a static server
# that does no work on them: GET answers the 16 MiB with sendfile(); POST reads and drops the
# body (the OIP request's own bytes), then answers the same 16 MiB. Measured two ways: curl
# downloading the file (one stream, best of 5), and wrk doing the large OIP request's exact
# round trip (same body up, 16 MiB down, same client, same connection counts).
"$py" - "$tmp/large.raw" 2>"$tmp/sstderr" <<'EOF' &
import http.server, os, sys
path = sys.argv[1]
size = os.path.getsize(path)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        with open(path, "rb") as f:
            self.connection.sendfile(f)
    def do_GET(self):
        self.answer()
    def do_POST(self):
        left, buf = int(self.headers["Content-Length"]), bytearray(1 << 20)
        view = memoryview(buf)
        while left > 0:
            got = self.rfile.readinto(view[:min(left, len(buf))])
            if not got:
                return
            left -= got
        self.answer()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
sys.stderr.write("static listening on %d\n" % s.server_address[1])
sys.stderr.flush()
s.serve_forever()
EOF
spid=$!
sport=$(wait_port "$tmp/sstderr" '^static listening on \([0-9][0-9]*\)$' "$spid")
[ -n "$sport" ] || { echo "load_oip.sh: the static server did not start" >&2; exit 1; }
copy=0
for _ in 1 2 3 4 5; do
  s=$(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$sport/large.raw")
  copy=$(awk -v a="$s" -v b="$copy" 'BEGIN { print (a > b) ? a : b }')
done
bytes=$(meta large-oip-bin 4)
declare -A plain
echo
printf '%-16s %5s %10s %10s %10s %10s\n' 'plain copy' conns 'req/s' 'p50 ms' 'p99 ms' 'MB/s'
for n in $conns_list; do
  line=$(run_wrk "$n" "$tmp/large-oip-bin.body" application/octet-stream "" \
    "http://127.0.0.1:$sport/large.raw")
  [ -n "$line" ] || { echo "load_oip.sh: wrk failed against the static server" >&2; exit 1; }
  read -r _ rps p50 p99 _ _ _ <<<"$line"
  plain[$n]=$rps
  awk -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" -v bytes="$bytes" \
    'BEGIN { printf "%-16s %5d %10.1f %10.2f %10.2f %10.0f\n", "large round trip", n, r,
             a / 1000, b / 1000, 2 * r * bytes / 1e6 }'
done
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=
awk -v c="$copy" 'BEGIN { printf "curl download of the 16 MiB from sendfile (best of 5): %.0f MB/s\n", c / 1e6 }'
echo

# Targets: medium OIP binary >= 750 req/s at 8 connections; large OIP binary >= 40 % of the
# plain loopback transfer of the same bytes (the round trip above, same connections), with the
# bytes it moves (16 MiB in + 16 MiB out) also shown against curl's one-stream download rate.
check() { # label, awk condition
  if awk "BEGIN { exit !($2) }"; then echo "target met:    $1"; else echo "target MISSED: $1"; fi
}
if [ -n "${result[medium-oip-bin/8]:-}" ]; then
  read -r rps _ _ <<<"${result[medium-oip-bin/8]}"
  check "medium OIP binary ($mode), 8 conns: $rps req/s >= 750" "$rps >= 750"
fi
for n in $conns_list; do
  if [ -n "${result[large-oip-bin/$n]:-}" ]; then
    read -r rps _ _ <<<"${result[large-oip-bin/$n]}"
    pct=$(awk -v r="$rps" -v p="${plain[$n]}" 'BEGIN { printf "%.1f", 100 * r / p }')
    vs_curl=$(awk -v r="$rps" -v b="$bytes" -v c="$copy" \
      'BEGIN { printf "%.1f", 100 * 2 * r * b / c }')
    check "large OIP binary ($mode), $n conns: $rps req/s = $pct % of the plain round trip's ${plain[$n]} req/s (bytes moved: $vs_curl % of curl's rate) >= 40 %" "$pct >= 40"
  fi
done
