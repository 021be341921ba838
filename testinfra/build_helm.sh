#!/usr/bin/env bash
# Build the Helm CLI (Apache-2.0) for the chart tests (deploy/tests) from its Go module into
# ~/.cache/modelport/helm/<version>/. The version is set as helm's own Makefile sets it (`helm
# version` says v4.3 otherwise).
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
exec "$(dirname "$0")/go_install.sh" helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
