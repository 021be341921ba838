# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export MODELPORT_DATA_DIR ?= $(CURDIR)/.modelport

# What the test suite talks to: the PostgreSQL and Redis servers on this machine.
# S3, the Kubernetes API emulator and the Celery worker are started by fixtures.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/modelport
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

MLSERVER_VENV := .venv-mlserver
export MODELPORT_MLSERVER ?= $(CURDIR)/$(MLSERVER_VENV)/bin/mlserver

.PHONY: run test lint format venv clean bench-gateway

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

run: venv
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py runembedded --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: venv lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest

clean:
	rm -rf $(VENV) $(MLSERVER_VENV) .pytest_cache .ruff_cache

# Benchmarks: not part of `make test`; each prints its figures.
bench-gateway: venv
	$(BIN)/python bench/gateway/run.py
