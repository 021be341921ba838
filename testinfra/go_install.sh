#!/usr/bin/env bash
# `go install PACKAGE@VERSION` into ~/.cache/modelport/NAME/VERSION/ (outside the checkout), once
# per machine: the Go programs the tests run. Idempotent: does nothing when the binary for that
# version is already there. Go's module and build caches stay in their default places.
# Usage: go_install.sh NAME VERSION PACKAGE [LDFLAGS]
set -euo pipefail

name=$1 version=$2 package=$3 ldflags="-s -w ${4:-}"
CACHE_ROOT="${MODELPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}"
BIN_DIR="$CACHE_ROOT/$name/$version"
BINARY="$BIN_DIR/$(basename "$package")"

if [[ -x "$BINARY" ]]; then
    echo "$name $version already built: $BINARY"
    exit 0
fi

command -v go >/dev/null || { echo "go_install.sh: go is not on PATH" >&2; exit 1; }
mkdir -p "$BIN_DIR"
echo "building $name $version with $(go version) into $BIN_DIR (a cold build takes minutes)"
start=$(date +%s)
GOBIN="$BIN_DIR" GOMAXPROCS="${GOMAXPROCS:-$(nproc)}" GOFLAGS=-buildvcs=false nice -n 19 \
    go install -v -ldflags "$ldflags" "$package@$version"
echo "built in $(( $(date +%s) - start ))s: $BINARY"
