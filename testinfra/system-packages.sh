#!/usr/bin/env bash
# The Debian packages the test suite needs: PostgreSQL and Redis (started by the fixtures on free
# ports, never as system services), Chromium (the browser tests) and Node.js (the test OpenID
# provider), cmake and g++ (pip compiles llama.cpp for the local language-model runtime). Installs what is missing when it can (root with apt-get); otherwise names it in one
# line and fails.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing ${missing[*]} from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package's own cluster is not used (the tests start theirs); don't leave it running.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r version name _; do
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" stop 2>/dev/null || true
    done
  fi
  exit 0
fi
echo "make test needs ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (or 'sudo testinfra/system-packages.sh')." >&2
exit 1
