"""Shared fixtures: generated landing data and a real `kam run` through Airflow.

The end-to-end fixtures run the real DAGs (``airflow dags test``) on data
made by the generator at a small scale; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
KAM = str(Path(sys.executable).parent / "kam")
END_DATE = dt.date(2026, 6, 15)  # fixed, so results do not depend on today's date
SMALL = {"customers": 240, "months": 24, "seed": 7}


def kam_env(home: Path, landing: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAM_", "AIRFLOW"))}
    env["KAM_HOME"] = str(home)
    if landing is not None:
        env["KAM_LANDING"] = str(landing)
    env.update(extra)
    return env


def run_kam(args: list[str], home: Path, landing: Path | None = None, check: bool = True,
            timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([KAM, *args], env=kam_env(home, landing, **extra), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kam {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def published_tables(path: Path, ignore_columns: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every table of a published file, sorted rows: for exact comparisons."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("show tables").fetchall()]
        out = {}
        for name in names:
            if name in ("publications", "tier_publication_log"):
                continue  # these grow by design with every publication
            cols = [r[0] for r in con.execute(f"describe {name}").fetchall() if r[0] not in ignore_columns]
            rows = con.execute(f"select {', '.join(cols)} from {name} order by all").fetchall()
            out[name] = [cols, rows]
        return out
    finally:
        con.close()


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    from kam.generate import generate

    out = tmp_path_factory.mktemp("landing")
    generate(out, end_date=END_DATE, **SMALL)
    return out


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, small_landing) -> Path:
    """KAM_HOME after one complete `kam run` on the small landing folder."""
    home = tmp_path_factory.mktemp("kam_home")
    run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home)
    return home


@pytest.fixture
def copy_of_first_run(first_run, tmp_path) -> Path:
    """A private copy of the first run's state, for tests that change it."""
    home = tmp_path / "home"
    shutil.copytree(first_run, home, symlinks=True)
    return home
