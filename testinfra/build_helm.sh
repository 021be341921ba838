#!/usr/bin/env bash
# Build the Helm CLI (Apache-2.0) for the chart tests (deploy/tests) from its Go module.
# Idempotent: does nothing when the binary for the pinned version is already in the cache.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
CACHE_ROOT="${MODELPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}"
BIN_DIR="$CACHE_ROOT/helm/$HELM_VERSION"
BINARY="$BIN_DIR/helm"

if [[ -x "$BINARY" ]]; then
    echo "helm $HELM_VERSION already built: $BINARY"
    exit 0
fi

command -v go >/dev/null || { echo "build_helm.sh: go is not on PATH" >&2; exit 1; }
mkdir -p "$BIN_DIR"
echo "building helm $HELM_VERSION with $(go version) into $BIN_DIR (a cold build takes minutes)"
start=$(date +%s)
# GOBIN keeps the binary out of the checkout; the Go build cache stays in its default place.
# The version is set as helm's own Makefile sets it (`helm version` says v4.3 otherwise).
GOBIN="$BIN_DIR" GOMAXPROCS="${GOMAXPROCS:-$(nproc)}" GOFLAGS=-buildvcs=false nice -n 19 \
    go install -v -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
echo "built in $(( $(date +%s) - start ))s: $BINARY ($("$BINARY" version --short))"
