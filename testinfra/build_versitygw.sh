#!/usr/bin/env bash
# Build the Versity S3 Gateway (Apache-2.0), a real S3 server for the storage tests, from its Go
# module into ~/.cache/modelport/versitygw/<version>/.
set -euo pipefail
exec "$(dirname "$0")/go_install.sh" versitygw "${VERSITYGW_VERSION:-v1.8.0}" \
    github.com/versity/versitygw/cmd/versitygw
