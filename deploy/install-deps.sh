#!/bin/sh
# install-deps.sh: installs what hyperbn needs on Debian 12 (bookworm), from Debian's packages only.
#   deploy/install-deps.sh          build, run and test dependencies
#   deploy/install-deps.sh --bench  also wrk and python3-torch (benchmarks, fixture regeneration)
#   deploy/install-deps.sh --fuzz   also clang and its libFuzzer runtime (make fuzz, CI)
# (flags combine).
# Runs apt-get through sudo when not root. Idempotent.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="gcc make autoconf automake libtool pkg-config libmicrohttpd-dev libcjson-dev libopenblas-dev
check python3 python3-yaml curl"
for flag in "$@"; do
    case $flag in
    --bench) PKGS="$PKGS wrk python3-torch" ;;
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    *) echo "install-deps.sh: unknown flag $flag (--bench, --fuzz)" >&2; exit 2 ;;
    esac
done
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS
