# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export MODELPORT_DATA_DIR ?= $(CURDIR)/.modelport

# The test fixtures start their own PostgreSQL and Redis (Debian's binaries, free ports, a
# temporary folder), S3, the Kubernetes API server, the Celery worker and the OpenID provider.

# The OpenID provider the tests log in against (npm oidc-provider), installed from its lockfile.
OIDC_PROVIDER := testinfra/oidc
OIDC_MODULES := $(OIDC_PROVIDER)/node_modules/.package-lock.json
# The local model runtime (MLServer) has a virtualenv of its own.
MLSERVER_VENV := .venv-mlserver
export MODELPORT_MLSERVER ?= $(CURDIR)/$(MLSERVER_VENV)/bin/mlserver
# The local language-model runtime (llama-cpp-python's server) is built into the user's cache.
MODELPORT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/modelport
LLM_VERSION := $(shell sed -n 's/^llama-cpp-python\[server\]==//p' requirements-llm.txt)
export MODELPORT_LLAMA_PYTHON ?= $(MODELPORT_CACHE)/llama-cpp-python/$(LLM_VERSION)/bin/python

.PHONY: run test lint format venv clean screenshots bench-upload bench-endpoints bench-gateway \
	bench-llm-gateway bench-control-plane system-packages s3-gateway llm-server control-plane helm test-cluster

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# MLServer and its runtimes live in their own virtualenv: the local orchestrator runs them as
# separate processes, and their dependencies (numpy, scikit-learn, ...) stay out of the portal.
$(MLSERVER_VENV)/.installed: requirements-mlserver.txt
	test -x $(MLSERVER_VENV)/bin/python || $(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install --quiet -r requirements-mlserver.txt
	touch $@

venv: $(BIN)/.installed $(MLSERVER_VENV)/.installed

# DEMO=0 skips the demo tenant, model and endpoint.
DEMO ?= 1
# DEMO_LLM=0 skips the demo's language model (tiny-chat) and building its server.
DEMO_LLM ?= 1
export MODELPORT_DEMO_LLM := $(if $(filter 0,$(DEMO_LLM)),false,true)

run: venv $(if $(filter 0,$(DEMO_LLM)),,llm-server)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py bootstrap
	if [ "$(DEMO)" != 0 ]; then $(BIN)/python manage.py seed_demo; fi
	$(BIN)/python manage.py runembedded --port $(PORT)

# ruff, then the import contract in pyproject.toml: apps import only from the layers below them.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(OIDC_MODULES): $(OIDC_PROVIDER)/package.json $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# PostgreSQL, Redis, Chromium and Node.js from Debian's packages: installed when missing (as
# root), otherwise named in one line.
system-packages:
	testinfra/system-packages.sh

# A real S3 server for the storage tests (signatures, expiry, signed headers, part sizes): the
# Versity S3 Gateway, built from its Go module once per machine into ~/.cache/modelport (about
# 114 s cold on two cores, seconds with Go's caches warm). MinIO is under the AGPL.
s3-gateway:
	testinfra/build_versitygw.sh

# llama-cpp-python's OpenAI-compatible server for language-model endpoints, compiled once per
# machine into ~/.cache/modelport (437 s cold on two idle cores; nothing once built).
llm-server:
	tools/tiny_llm/build_server.sh

test: system-packages venv lint $(OIDC_MODULES) s3-gateway llm-server control-plane helm
	$(BIN)/pytest

# A real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler and
# kubectl from k8s.io/kubernetes v1.37.2, kwok, etcd) built once per machine into
# ~/.cache/modelport, and the tests that run against it (part of `make test`; this runs only them).
control-plane:
	testinfra/build_control_plane.sh

# The Helm CLI for the chart tests (deploy/tests), built once per machine from the helm.sh/helm/v4
# Go module into ~/.cache/modelport (181 s cold on two cores; nothing once built).
helm:
	testinfra/build_helm.sh

test-cluster: system-packages venv control-plane helm
	$(BIN)/pytest -m cluster

# The portal journey in headless Chromium, saving its screenshots to docs/screenshots/.
screenshots: system-packages venv $(OIDC_MODULES)
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest ui/tests/test_portal_journey.py

# Benchmarks are not part of `make test`: they print figures for people to compare.
# 1 GiB through the API (uvicorn + versitygw S3) beside boto3 straight to S3.
bench-upload: venv s3-gateway
	$(BIN)/python bench/upload/run.py

bench-endpoints: system-packages venv
	$(BIN)/python bench/endpoints/run.py

# Straight to MLServer and through the gateway, with wrk (apt-get install wrk); BASELINE=<git ref>
# measures that revision's gateway in the same run.
bench-gateway: venv
	$(BIN)/python bench/gateway/run.py $(if $(BASELINE),--baseline $(BASELINE))

# Chat streams straight to tiny-chat and an instrumented SSE server and through /v1/ (BASELINE too).
bench-llm-gateway: venv llm-server
	$(BIN)/python bench/llm-gateway/run.py $(if $(BASELINE),--baseline $(BASELINE))

# 100 tenants x 10 endpoints on the real control plane (kwok) and on the emulator, side by side:
# reconcile throughput, status cycle and its apiserver requests, freshness, API p50/p99.
bench-control-plane: system-packages venv control-plane
	$(BIN)/python bench/control-plane/run.py $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) $(MLSERVER_VENV) .pytest_cache .ruff_cache $(OIDC_PROVIDER)/node_modules
