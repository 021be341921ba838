#!/usr/bin/env bash
# Build llama-cpp-python's OpenAI-compatible server (the local language-model runtime) into a
# virtualenv in the user's cache, keyed by version, from requirements-llm.txt. pip compiles
# llama.cpp from the sdist with cmake: 437 s cold on two idle cores (804 s beside other builds), nothing
# when built.
# Idempotent; prints the virtualenv's python on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
REQUIREMENTS="$ROOT/requirements-llm.txt"
VERSION="$(sed -n 's/^llama-cpp-python\[server\]==\(.*\)$/\1/p' "$REQUIREMENTS")"
CACHE_ROOT="${MODELPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelport}"
VENV="$CACHE_ROOT/llama-cpp-python/$VERSION"
PYTHON="${PYTHON:-python3}"

# The stamp holds the requirements it was built from: a changed pin rebuilds.
if [[ -x "$VENV/bin/python" && -f "$VENV/.installed" ]] && cmp -s "$REQUIREMENTS" "$VENV/.installed"; then
    echo "llama-cpp-python $VERSION already built: $VENV/bin/python"
    exit 0
fi

for tool in cmake g++; do
    command -v "$tool" >/dev/null || {
        echo "build_server.sh needs $tool: run 'sudo apt-get install cmake g++ ninja-build'" >&2
        exit 1
    }
done

echo "building llama-cpp-python $VERSION into $VENV (compiles llama.cpp: minutes on a cold machine)"
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# llama.cpp is built for this CPU (GGML_NATIVE, llama.cpp's default): the cache is per machine.
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$VENV/bin/python" -m pip install --quiet --no-cache-dir -r "$REQUIREMENTS"
cp "$REQUIREMENTS" "$VENV/.installed"
echo "built in $(( $(date +%s) - start ))s: $VENV/bin/python"
