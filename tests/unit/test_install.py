"""What `make setup` installs: the libraries' bytecode compiled at install time (the Makefile's
UV_INSTALL). With PYTHONDONTWRITEBYTECODE=1, as this machine and CI set, a venv without it compiles
every imported module again in every process (`import great_expectations`: 10-11 s of CPU instead of
5; docs/testing.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from conftest import missing

LIBRARIES = ("airflow", "dbt.adapters.duckdb", "great_expectations", "pandas", "duckdb")


def test_the_venvs_libraries_carry_their_bytecode():
    origins = {name: importlib.util.find_spec(name).origin for name in LIBRARIES}  # found, not imported
    uncompiled = [name for name, origin in origins.items()
                  if not Path(importlib.util.cache_from_source(origin)).is_file()]
    if uncompiled:  # skipped with the reason on a venv made before 2026-12-07; with CI=true a failure
        missing(f"{sys.prefix} was installed without bytecode for {', '.join(uncompiled)} (the Makefile's "
                "UV_INSTALL compiles it): rm -rf .venv && make setup, or .venv/bin/python -m compileall -q .venv/lib")
    assert all(origin.endswith(".py") for origin in origins.values()), origins
