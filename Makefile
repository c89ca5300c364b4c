# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench lock clean

setup: $(STAMP)

# Installs the exact pins of requirements.lock, then the kam package (editable).
# uv is only the installer (pinned); pip is the fallback when uv is unavailable.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (kam needs Python 3.11; set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)" \
	  && $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock \
	  && $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . \
	  || { $(BIN)/python -m pip install --quiet -r requirements.lock && $(BIN)/python -m pip install --quiet --no-deps -e . ; }
	touch $(STAMP)

demo: setup
	$(BIN)/kam demo

# The whole suite, as CI runs it (.ci/run): lint, then every test (docs/testing.md).
test: setup lint
	$(BIN)/python -m pytest -q

# Day-to-day: lint, then unit and integration tests, no full pipeline run (-m "not slow").
test-fast: setup lint
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check plugins dags tests

bench: setup
	$(BIN)/kam bench

# Re-resolve the lock from the top-level requirements (needs the package registry).
lock:
	$(BIN)/uv pip compile --python $(BIN)/python requirements.in -o requirements.lock

clean:
	rm -rf .kam landing dbt_project/target dbt_project/logs
