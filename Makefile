# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# SQLFluff with the dbt templater lives in its own venv: it pins click below Airflow's lock
LINT_VENV := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed
# Apache Superset (make bi) has its own venv too: it pins Flask, SQLAlchemy < 2 and pandas < 2.2
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed
BI_LOCK := deploy/superset/requirements-bi.lock

# uv compiles every installed module to bytecode at install time (pip does so by default, uv does not):
# with PYTHONDONTWRITEBYTECODE=1, as set on many machines and images, Python would otherwise compile
# each module again in every process it starts (`import great_expectations`: 10-11 s of CPU, 5 s with
# the bytecode; a `kam run` starts a dozen processes; docs/testing.md)
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode

# $(call venv_from_lock,VENV,LOCK): a venv of its own with the exact pins of LOCK (uv from .venv)
define venv_from_lock
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(UV_INSTALL) --python $(1)/bin/python -r $(2) \
	  || $(1)/bin/python -m pip install --quiet -r $(2)
	touch $(1)/.installed
endef
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
# pytest workers (pytest-xdist): one per core by default; each takes whole test files, so a
# module's shared pipeline run is made once (docs/testing.md)
TEST_WORKERS ?= auto
JAVA_PACKAGES := openjdk-17-jre-headless

.PHONY: setup demo test test-fast lint docs browser java bi bi-install bench bench-small-files bench-history bench-growth bench-whatif bench-all bench-spark lock lock-lint lock-bi clean

setup: $(STAMP)

# Installs the exact pins of requirements.lock, then the kam package (editable).
# uv is only the installer (pinned); pip is the fallback when uv is unavailable.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (kam needs Python 3.11; set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)" \
	  && $(UV_INSTALL) --python $(BIN)/python -r requirements.lock \
	  && $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . \
	  || { $(BIN)/python -m pip install --quiet -r requirements.lock && $(BIN)/python -m pip install --quiet --no-deps -e . ; }
	touch $(STAMP)

demo: setup
	$(BIN)/kam demo

# Headless Chromium, its driver and a CJK font for the browser tests (Debian packages; root or sudo).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi; \
	 command -v apt-get >/dev/null || { echo "error: no chromium and no apt-get: install $(BROWSER_PACKAGES) or their equivalents yourself"; exit 1; }; \
	 sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	 echo "installing Debian's $(BROWSER_PACKAGES) for the browser tests …"; \
	 install="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES)"; \
	 $$install >/dev/null || { $$sudo apt-get update -q >/dev/null && $$install >/dev/null; }

# A Java 17 runtime for the Spark target (pyspark starts a JVM): Debian's $(JAVA_PACKAGES) when
# there is no java on PATH and no JAVA_HOME (root or sudo); docs/spark.md.
java:
	@if [ -n "$$JAVA_HOME" ] && [ -x "$$JAVA_HOME/bin/java" ] || command -v java >/dev/null; then exit 0; fi; \
	 command -v apt-get >/dev/null || { echo "error: no java and no apt-get: install a Java 17 runtime (or set JAVA_HOME) for the Spark target"; exit 1; }; \
	 sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	 echo "installing Debian's $(JAVA_PACKAGES) for the Spark target …"; \
	 install="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(JAVA_PACKAGES)"; \
	 $$install >/dev/null || { $$sudo apt-get update -q >/dev/null && $$install >/dev/null; }

$(BI_STAMP): $(BI_LOCK) $(STAMP)
	$(call venv_from_lock,$(BI_VENV),$(BI_LOCK))

bi-install: setup $(BI_STAMP)

# The Superset dashboard on http://127.0.0.1:8088 (admin / $$SUPERSET_ADMIN_PASSWORD, default
# admin), on the published marts of $$KAM_HOME (run make demo first); docs/dashboard.md.
bi: bi-install
	$(BI_VENV)/bin/python deploy/superset/kam_superset.py bootstrap
	$(BI_VENV)/bin/python deploy/superset/kam_superset.py import
	$(BI_VENV)/bin/python deploy/superset/kam_superset.py serve

# The whole suite, as CI runs it (.ci/run): lint, then every test (docs/testing.md).
test: setup lint browser java bi-install
	$(BIN)/python -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Day-to-day: ruff, then unit and integration tests, no full pipeline run (-m "not slow");
# SQLFluff (~40 s: it renders every model with dbt) runs in make lint and make test.
test-fast: setup
	$(BIN)/ruff check plugins dags tests deploy
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile

$(LINT_STAMP): requirements-lint.lock $(STAMP)
	$(call venv_from_lock,$(LINT_VENV),requirements-lint.lock)

# ruff for Python; SQLFluff renders every model and test with dbt (dbt_project/.sqlfluff)
# against a throwaway DuckDB file, with dbt's target and logs outside the project.
lint: setup $(LINT_STAMP)
	$(BIN)/ruff check plugins dags tests deploy
	PYTHONPATH=plugins $(LINT_VENV)/bin/lint-imports --no-cache  # the layers of plugins/kam (.importlinter)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd dbt_project \
	  && KAM_WAREHOUSE_PATH="$$tmp/lint.duckdb" DBT_TARGET_PATH="$$tmp/target" DBT_LOG_PATH="$$tmp/logs" \
	     ../$(LINT_VENV)/bin/sqlfluff lint models tests --disable-progress-bar

# DESIGN.md §6's benchmark in parts, each its own command and each under 20 minutes on 2 cores
# once its generated data is cached ($$KAM_HOME/bench/data; docs/benchmarks.md has each part's
# measured time). Every part appends what it measured to docs/benchmarks.md as it goes.
# bench: the main run at 100,000 customers × 36 months (floors, baseline, daily run, targets)
bench: setup
	$(BIN)/kam bench

# many small files: 80 × 75,000 order lines against the same lines in 4 files
bench-small-files: setup
	$(BIN)/kam bench --no-main --customers 10000 --small-files 80x75000

# a daily run after 24 and after 72 months of history (10,000 customers)
bench-history: setup
	$(BIN)/kam bench --no-main --customers 10000 --history-months 24,72

# growth: full runs at 10,000, 30,000 and 100,000 customers × 36 months
bench-growth: setup
	$(BIN)/kam bench --no-main --scales 10000,30000,100000

# what-if: a full run at DESIGN.md §6's scale, then `kam whatif` of the example rules (≤ 0.5× its dbt build)
bench-whatif: setup
	$(BIN)/kam bench --no-main --whatif examples/rules/more-weight-on-profit.yml

# every part, one after another
bench-all: bench bench-small-files bench-history bench-growth bench-whatif

# The Spark target against DuckDB on the same files, at a modest scale (docs/spark.md)
bench-spark: setup java
	$(BIN)/kam bench --customers 10000 --spark

# docs/configuration.md from the settings table (plugins/kam/settings_table.py; a unit test compares)
docs: setup
	$(BIN)/python -m kam.settings_table > docs/configuration.md

# Re-resolve the lock from the top-level requirements (needs the package registry).
lock:
	$(BIN)/uv pip compile --python $(BIN)/python requirements.in -o requirements.lock

lock-lint:
	$(BIN)/uv pip compile --python $(BIN)/python requirements-lint.in -o requirements-lint.lock

lock-bi: $(BI_STAMP)
	$(BIN)/uv pip compile --python $(BI_VENV)/bin/python deploy/superset/requirements-bi.in -o $(BI_LOCK)

clean:
	rm -rf .kam landing dbt_project/target dbt_project/logs
