#!/usr/bin/env bash
# Build the Versity S3 Gateway (Apache-2.0), a real S3 server for the storage tests, from its Go module.
# Idempotent: does nothing when the binary for the pinned version is already in the cache.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE_ROOT="${MODELPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}"
BIN_DIR="$CACHE_ROOT/versitygw/$VERSITYGW_VERSION"
BINARY="$BIN_DIR/versitygw"

if [[ -x "$BINARY" ]]; then
    echo "versitygw $VERSITYGW_VERSION already built: $BINARY"
    exit 0
fi

command -v go >/dev/null || { echo "build_versitygw.sh: go is not on PATH" >&2; exit 1; }
mkdir -p "$BIN_DIR"
echo "building versitygw $VERSITYGW_VERSION with $(go version) into $BIN_DIR (a cold build takes minutes)"
start=$(date +%s)
# GOBIN keeps the binary out of the checkout; the Go build cache stays in its default place.
GOBIN="$BIN_DIR" GOMAXPROCS="${GOMAXPROCS:-$(nproc)}" nice -n 19 \
    go install -v "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
echo "built in $(( $(date +%s) - start ))s: $BINARY"
