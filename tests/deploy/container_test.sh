#!/usr/bin/env bash
# container_test.sh: builds deploy/Dockerfile with podman and checks the image for real, as root,
# on a machine without a Docker engine or a registry (the lead's .ci/run calls it; `make check`
# does not). A bookworm base is debootstrap'ed and imported as debian:bookworm-slim when missing
# (rootfs tarball cached in $HBN_CI_CACHE); hyperbnd runs inside through `buildah run --isolation
# chroot --network host` (podman run cannot set rlimits here), bound to loopback only.
# Environment: STRICT=1 turns SKIPPED steps into failures; IMAGE (default hyperbn:test).
# Invariants: every wait is bounded; only processes and containers started here are stopped.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${IMAGE:-hyperbn:test}
BASE=docker.io/library/debian:bookworm-slim
CACHE=${HBN_CI_CACHE:-/var/cache/hyperbn-ci}
ROOTFS_TAR=$CACHE/bookworm-minbase.tar
STRICT=${STRICT:-0}
KEY="container-test-$$-key"
LAYER=bn-deploy
DATA=/var/lib/hyperbn
passed=0 failed=0 skipped=0
containers=() pids=() hc_cmd=() mounts=() data_flags=() defaults=() ctr="" work=""
port="" daemon="" runner="" stats0=""

say() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); say "PASS: $*"; }
fail() { failed=$((failed + 1)); say "FAIL: $*"; }
skip() {
    skipped=$((skipped + 1)); say "SKIPPED: $*"
    if [ "$STRICT" = 1 ]; then fail "STRICT=1: $*"; fi
}
check() {  # check DESCRIPTION COMMAND...: PASS when the command succeeds
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# holds PYTHON_EXPR: true when the expression over the JSON document on stdin (`d`) holds.
holds() { /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); sys.exit(not ($1))"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
    local p c
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1; done
    if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- tools and the base image -------------------------------------------------------------------
install_tools() {
    local missing=() t
    for t in podman buildah debootstrap curl; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q >/dev/null &&
        timeout 600 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# A minimal bookworm shaped like the official slim image: no apt lists or caches, no man pages
# or docs, the same apt sources, apt told to clean up after itself.
make_rootfs_tar() {
    local root=$work/rootfs
    timeout 900 debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian \
        >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; return 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/etc/apt/sources.list
    find "$root"/usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete
    mkdir -p "$root"/var/lib/apt/lists/partial "$root"/etc/apt/sources.list.d
    cat >"$root"/etc/apt/sources.list.d/debian.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        >"$root"/etc/dpkg/dpkg.cfg.d/docker-slim
    local clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true'
    printf '%s\n' "DPkg::Post-Invoke { \"$clean\"; };" \
        'Binary::apt::APT::Keep-Downloaded-Packages "false";' \
        >"$root"/etc/apt/apt.conf.d/docker-clean
    mkdir -p "$CACHE"
    tar --numeric-owner -C "$root" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$root"
}

ensure_base() {
    if podman image exists "$BASE"; then say "base image $BASE present"; return 0; fi
    # a cached rootfs older than 30 days is rebuilt (security updates)
    if [ ! -s "$ROOTFS_TAR" ] || [ -n "$(find "$ROOTFS_TAR" -mtime +30 2>/dev/null)" ]; then
        say "debootstrap bookworm (minbase) into $ROOTFS_TAR"
        make_rootfs_tar || return 1
    fi
    timeout 300 podman import "$ROOTFS_TAR" "$BASE" >"$work/import.log" 2>&1 ||
        { cat "$work/import.log"; return 1; }
}

build_image() {
    local rev
    rev=$(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)
    say "building $IMAGE"
    # --format docker: the OCI image format has no field for HEALTHCHECK
    if ! timeout 900 podman build --format docker --isolation=chroot --network=host \
        --build-arg REVISION="$rev" --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        -t "$IMAGE" -f deploy/Dockerfile . >"$work/build.log" 2>&1; then
        tail -40 "$work/build.log"
        return 1
    fi
    if grep -q 'Using cache' "$work/build.log"; then
        say "note: $(grep -c 'Using cache' "$work/build.log") build steps from the layer cache"
    fi
}

# ---- helpers around a container ----------------------------------------------------------------
inspect() { podman image inspect "$IMAGE" --format "$1"; }
# list TEMPLATE_FIELD...: the elements of the image's string-array fields, one a line.
list() {
    local f tpl=""
    for f in "$@"; do tpl="$tpl{{range $f}}{{println .}}{{end}}"; done
    inspect "$tpl" | sed '/^$/d'
}

# new_container: a working container of the image in $ctr (recorded for the cleanup).
new_container() { ctr=$(buildah from "$IMAGE") || return 1; containers+=("$ctr"); }

# in_image CONTAINER CMD...: one bounded command inside CONTAINER as the image's user.
in_image() {
    local c=$1; shift
    timeout 60 buildah run --isolation chroot --network host --user 10001:10001 "$c" -- "$@"
}

# The descendant of PID whose command is hyperbnd (buildah -> chroot runtime -> exec -> hyperbnd).
find_daemon() {
    local p=$1 c found
    for c in $(pgrep -P "$p"); do
        if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = hyperbnd ]; then echo "$c"; return 0; fi
        if found=$(find_daemon "$c"); then echo "$found"; return 0; fi
    done
    return 1
}

# start_daemon CONTAINER LOG: runs the image's ENTRYPOINT + CMD ($defaults) plus loopback flags
# (and $data_flags) in the background; sets $port, $daemon (hyperbnd's pid) and $runner
# (buildah's pid).
start_daemon() {
    local c=$1 log=$2 deadline
    : >"$log"
    buildah run --isolation chroot --network host --user 10001:10001 "${mounts[@]}" "$c" -- \
        "${defaults[@]}" --host 127.0.0.1 --port 0 --drain-timeout 5 \
        --api-key-file /run/secrets/hyperbn_api_key "${data_flags[@]}" >"$log" 2>&1 &
    runner=$!; pids+=("$runner"); port=""; daemon=""
    deadline=$(($(date +%s) + 30))
    while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$runner" 2>/dev/null; do
        port=$(sed -n 's/^hyperbnd: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        if [ -n "$port" ] && daemon=$(find_daemon "$runner"); then return 0; fi
        sleep 0.2
    done
    say "daemon did not start:"; cat "$log"
    return 1
}

# stop_daemon LOG: SIGTERM to hyperbnd itself, bounded wait; succeeds on exit status 0.
stop_daemon() {
    local log=$1 rc deadline=$(($(date +%s) + 30))
    kill -TERM "$daemon" || return 1
    while kill -0 "$runner" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$runner" 2>/dev/null; then say "still running 30 s after SIGTERM"; return 1; fi
    wait "$runner"; rc=$?
    grep -q 'draining' "$log" && [ "$rc" -eq 0 ]
}

# api METHOD PATH [BODY]: curl with the key; prints the body, then the status on the last line.
api() {
    local args=(-sS -m 10 -o - -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $KEY")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://127.0.0.1:$port$2"
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

# ---- the checks --------------------------------------------------------------------------------
check_image_config() {
    local cfg hc
    cfg=$(inspect '{{json .Config}}') || { fail "podman image inspect $IMAGE"; return; }
    # podman keeps the health check beside the OCI config: read it through its own template
    hc=$(list .Config.Healthcheck.Test | tr '\n' ' ')
    check "runs as the non-root user 10001:10001" holds 'd.get("User") == "10001:10001"' <<<"$cfg"
    check "exec-form ENTRYPOINT [/usr/local/bin/hyperbnd]" \
        holds 'd.get("Entrypoint") == ["/usr/local/bin/hyperbnd"]' <<<"$cfg"
    check "CMD binds 0.0.0.0:8080 with --data-dir $DATA" holds \
        'd.get("Cmd") == ["--host", "0.0.0.0", "--port", "8080", "--data-dir", "'$DATA'"]' <<<"$cfg"
    check "HEALTHCHECK runs hyperbnd --healthcheck on /v2/health/ready" test "$hc" = \
        "CMD /usr/local/bin/hyperbnd --healthcheck http://127.0.0.1:8080/v2/health/ready "
    check "EXPOSE 8080/tcp" holds 'list(d.get("ExposedPorts") or {}) == ["8080/tcp"]' <<<"$cfg"
    check "VOLUME $DATA" holds 'list(d.get("Volumes") or {}) == ["'$DATA'"]' <<<"$cfg"
    check "OCI labels title, version, revision" holds 'all((d.get("Labels") or {}).get(
        "org.opencontainers.image." + k) for k in ("title", "version", "revision"))' <<<"$cfg"
}

check_image_contents() {
    local c=$1 out
    out=$(timeout 60 buildah run --isolation chroot "$c" -- sh -c \
        'command -v gcc cc c99 tcc clang make ld as; ls -d /usr/lib/gcc 2>/dev/null; true')
    check "no compiler, linker or make in the runtime image${out:+ (found: ${out//$'\n'/ })}" \
        test -z "$out"
    out=$(in_image "$c" stat -c '%u:%g %a' "$DATA" 2>&1)
    check "$DATA owned by 10001:10001 ($out)" test "${out%% *}" = 10001:10001
    check "the image's user can write to the volume $DATA" \
        in_image "$c" sh -c "touch $DATA/.probe && rm $DATA/.probe"
    out=$(in_image "$c" sh -c 'ldd /usr/local/bin/hyperbnd | grep -c "not found"; true')
    check "every shared library of hyperbnd is present" test "$out" = 0
}

# The image's defaults bind 0.0.0.0: without a key hyperbnd must refuse (exit 2) before binding.
check_refuses_without_key() {
    local c=$1 out rc
    out=$(timeout 30 buildah run --isolation chroot --network host --user 10001:10001 "$c" -- \
        "${defaults[@]}" 2>&1)
    rc=$?
    check "image defaults without a key: refused, exit $rc (expected 2)" \
        grep -q 'refusing to serve 0.0.0.0' <<<"$out"
    [ "$rc" -eq 2 ] || fail "exit status $rc, expected 2: $out"
}

check_round_trip() {
    local r
    r=$(api GET /v2/health/live)
    check "GET /v2/health/live -> 200" test "$(status_of "$r")" = 200
    r=$(api GET /v2/health/ready)
    check "GET /v2/health/ready -> 200" test "$(status_of "$r")" = 200
    r=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/layers")
    check "no key -> 401" test "$r" = 401
    r=$(api GET /metrics)
    check "GET /metrics with the key -> 200" test "$(status_of "$r")" = 200
    r=$(api POST /v1/layers "{\"name\": \"$LAYER\", \"num_features\": 3}")
    check "create $LAYER -> 201" test "$(status_of "$r")" = 201
    r=$(api POST /v1/layers/$LAYER/forward '{"inputs": [[1, 2, 3], [3, 4, 5]]}')
    check "forward -> 200" test "$(status_of "$r")" = 200
    # batch mean (2, 3, 4), biased variance 1: outputs -1 and +1 over sqrt(1 + 1e-5)
    check "forward outputs are the normalized batch" holds 'all(abs(v - s / (1 + 1e-5) ** 0.5)
        < 1e-5 for row, s in zip(d["outputs"], (-1, 1)) for v in row)' <<<"$(body_of "$r")"
    r=$(api POST /v1/layers/$LAYER/checkpoints)
    check "checkpoint -> 201" test "$(status_of "$r")" = 201
    check "checkpoint opened slot 1" holds 'd["stats_id"] == 1' <<<"$(body_of "$r")"
    stats0=$(api GET /v1/layers/$LAYER/stats/0)
    # slot 0 after one batch with momentum 0.1: mean 0.1 * (2, 3, 4), var 0.9 + 0.1 * 1 * 2/1
    check "slot 0 holds the running statistics" holds 'all(abs(a - b) < 1e-6 for a, b in zip(
        d["running_mean"] + d["running_var"], (0.2, 0.3, 0.4, 1.1, 1.1, 1.1)))' \
        <<<"$(body_of "$stats0")"
}

# Sets hc_cmd to the image's own HEALTHCHECK command pointed at PORT; fails when hyperbnd does
# not know --healthcheck yet (then the step is reported as SKIPPED).
healthcheck_cmd() {
    local c=$1 p=$2
    in_image "$c" /usr/local/bin/hyperbnd --help | grep -q -- '--healthcheck' || return 1
    mapfile -t hc_cmd < <(list .Config.Healthcheck.Test)
    if [ "${hc_cmd[0]:-}" != CMD ]; then
        fail "HEALTHCHECK not in exec form: ${hc_cmd[*]}"
        return 1
    fi
    hc_cmd=("${hc_cmd[@]:1}")
    hc_cmd=("${hc_cmd[@]/:8080\//:$p/}")
}

# The key as Docker mounts secrets (a directory at /run/secrets), and the data directory: a host
# directory mounted at /mnt/hyperbn with `--data-dir /mnt/hyperbn` appended, so that a fresh
# container finds the layers. Not at /var/lib/hyperbn itself: buildah run mounts its own
# anonymous volume for the image's VOLUME there too, in random order with -v, so either may win.
# Without working bind mounts the layers stay in that anonymous volume of the one container.
setup_mounts() {
    local c=$1
    mkdir -p "$work/data" "$work/secrets" && chown 10001:10001 "$work/data"
    printf '%s\n' "$KEY" >"$work/secrets/hyperbn_api_key" &&
        chmod 0444 "$work/secrets/hyperbn_api_key"
    mounts=(-v "$work/secrets:/run/secrets:ro")
    if timeout 60 buildah run --isolation chroot --user 10001:10001 -v "$work/data:/mnt/hyperbn" \
        "$c" -- touch /mnt/hyperbn/.probe >/dev/null 2>&1 && [ -f "$work/data/.probe" ]; then
        rm -f "$work/data/.probe"
        mounts+=(-v "$work/data:/mnt/hyperbn")
        return 0
    fi
    say "note: bind mounts do not work here; the layers stay in the container's own volume"
    return 1
}

# Drops `--data-dir DIR` from $defaults when hyperbnd does not know the flag yet (returns 1).
defaults_for() {
    local c=$1 kept=() i
    mapfile -t defaults < <(list .Config.Entrypoint .Config.Cmd)
    in_image "$c" /usr/local/bin/hyperbnd --help | grep -q -- '--data-dir' && return 0
    for ((i = 0; i < ${#defaults[@]}; i++)); do
        if [ "${defaults[i]}" = --data-dir ]; then i=$((i + 1)); else kept+=("${defaults[i]}"); fi
    done
    defaults=("${kept[@]}")
    return 1
}

run_first() {
    local c=$1 log=$work/run1.log r rc
    if ! start_daemon "$c" "$log"; then fail "hyperbnd starts in the image"; return; fi
    pass "hyperbnd starts in the image on 127.0.0.1:$port as uid $(stat -c %u /proc/"$daemon")"
    check_round_trip
    if healthcheck_cmd "$c" "$port"; then
        check "image HEALTHCHECK command exits 0 against the running daemon" \
            in_image "$c" "${hc_cmd[@]}"
    else
        skip "hyperbnd --healthcheck is not wired yet: the image's HEALTHCHECK cannot run"
    fi
    check "SIGTERM drains and exits 0" stop_daemon "$log"
    if [ "${#hc_cmd[@]}" -gt 0 ]; then
        r=$(in_image "$c" "${hc_cmd[@]}" 2>&1)
        rc=$?
        check "image HEALTHCHECK command exits 1 once the daemon is gone (${r%%$'\n'*})" \
            test "$rc" -eq 1
    fi
}

# A fresh container on the same data directory, as after `docker rm` + `docker run`.
run_restart() {
    local c=$1 log=$work/run2.log r before=$failed
    if ! start_daemon "$c" "$log"; then
        fail "hyperbnd restarts on the same data directory"
        return
    fi
    r=$(api GET /v1/layers/$LAYER)
    check "after a restart GET $LAYER -> 200" test "$(status_of "$r")" = 200
    check "after a restart $LAYER has 2 slots" holds 'd.get("num_stats") == 2' <<<"$(body_of "$r")"
    r=$(api GET /v1/layers/$LAYER/stats/0)
    check "after a restart slot 0 is unchanged" test "$(body_of "$r")" = "$(body_of "$stats0")"
    check "second SIGTERM drains and exits 0" stop_daemon "$log"
    if [ "$failed" -ne "$before" ]; then
        say "--- data directory:"; ls -la "$work/data" 2>&1
        say "--- first run:"; tail -n 5 "$work/run1.log"
        say "--- restart:"; tail -n 8 "$log"
    fi
}

main() {
    local t0 t_base t_build t_end c c2 persist=1 bind=1
    [ "$(id -u)" -eq 0 ] || { say "container_test.sh needs root (podman, buildah)"; exit 1; }
    cd "$top" || exit 1
    work=$(mktemp -d /tmp/hyperbn-container-test.XXXXXX)
    t0=$(now)
    install_tools || { say "cannot install podman buildah debootstrap curl"; exit 1; }
    ensure_base || { say "cannot create the base image $BASE"; exit 1; }
    t_base=$(now)
    build_image || { fail "podman build -f deploy/Dockerfile"; exit 1; }
    pass "podman build -f deploy/Dockerfile"
    t_build=$(now)

    check_image_config
    new_container || { fail "buildah from $IMAGE"; exit 1; }
    c=$ctr
    check_image_contents "$c"
    defaults_for "$c" || persist=0
    check_refuses_without_key "$c"
    if setup_mounts "$c"; then
        [ "$persist" = 1 ] && data_flags=(--data-dir /mnt/hyperbn)
    else
        bind=0
    fi
    run_first "$c"
    if [ "$persist" = 0 ]; then
        skip "persistence not available (hyperbnd has no --data-dir yet)"
    else
        c2=$c
        if [ "$bind" = 1 ] && new_container; then c2=$ctr; fi
        run_restart "$c2"
    fi
    t_end=$(now)
    say "image size: $(inspect '{{.Size}}' | awk '{ printf "%.1f MB", $1 / 1e6 }')"
    say "timing: base image $(secs "$t0" "$t_base") s, build $(secs "$t_base" "$t_build") s," \
        "tests $(secs "$t_build" "$t_end") s"
    say "container_test: $passed passed, $failed failed ($skipped skipped)"
    [ "$failed" -eq 0 ]
}

main "$@"
