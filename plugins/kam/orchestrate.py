"""Drive the real Airflow DAGs on the embedded default (SQLite metadata, ``airflow dags test``).

``kam run`` does what the scheduler would do: run ``ingest``, then
``build_and_publish`` (which the scheduler starts from the raw assets),
for one run date. Each DAG runs in its own ``airflow`` process; its full log
is kept under ``$KAM_HOME/logs/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kam.config import Settings

log = logging.getLogger(__name__)

DAG_ORDER = ("ingest", "build_and_publish")


@dataclass
class DagRunOutcome:
    dag_id: str
    success: bool
    seconds: float
    log_path: Path
    errors: list[str]


def airflow_executable() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


def airflow_env(settings: Settings) -> dict[str, str]:
    home = settings.airflow_home
    return {
        **os.environ,
        **settings.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get(
            "AIRFLOW__API_AUTH__JWT_SECRET", "kam-embedded-" + str(settings.kam_home)),
        "PYTHONUNBUFFERED": "1",
    }


def ensure_airflow(settings: Settings) -> None:
    """Create or migrate the embedded metadata DB and the one-slot warehouse pool."""
    import airflow

    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    marker = home / ".kam-initialised"
    if marker.exists() and marker.read_text().strip() == airflow.__version__:
        return
    env = airflow_env(settings)
    for cmd in (["db", "migrate"],
                ["pools", "set", "kam_warehouse", "1",
                 "One writer at a time for the DuckDB warehouse"]):
        proc = subprocess.run([airflow_executable(), *cmd], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{proc.stdout[-3000:]}"
                               f"\n{proc.stderr[-3000:]}")
    marker.write_text(airflow.__version__)


def _die_with_parent() -> None:
    """Linux: the airflow child gets SIGTERM if kam dies, so no orphan keeps the warehouse lock."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_dag(settings: Settings, dag_id: str, run_date: dt.date,
            extra_conf: dict | None = None) -> DagRunOutcome:
    """``airflow dags test <dag_id> <run_date>`` with ``conf.run_date``; output to a log file."""
    logs = settings.kam_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = logs / f"{dag_id}_{run_date.isoformat()}_{stamp}.log"
    conf = {"run_date": run_date.isoformat(), **(extra_conf or {})}
    cmd = [airflow_executable(), "dags", "test", dag_id, run_date.isoformat(),
           "--conf", json.dumps(conf)]
    started = time.monotonic()
    env = {**airflow_env(settings), "KAM_TASK_RETRIES": "0"}
    with log_path.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
        try:
            proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait(timeout=30)
            raise
    seconds = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    errors = [line.strip() for line in text.splitlines()
              if "REFUSED " in line or line.startswith("airflow.sdk.exceptions.AirflowFailException: ")]
    success = proc.returncode == 0 and "state=failed" not in text.split("DagRun Finished")[-1][:2000]
    return DagRunOutcome(dag_id, success, seconds, log_path, _unique(errors))


def _unique(lines: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        seen.setdefault(line[-400:], None)
    return list(seen)


def run_pipeline(settings: Settings, run_date: dt.date, echo=print,
                 full_refresh: bool = False) -> list[DagRunOutcome]:
    """Ingest, then build, audit and publish, through Airflow. Stops after a failed DAG.
    ``full_refresh`` rebuilds every dbt model instead of only what new batches touch."""
    ensure_airflow(settings)
    outcomes = []
    for dag_id in DAG_ORDER:
        echo(f"→ running DAG {dag_id} for {run_date} …")
        outcome = run_dag(settings, dag_id, run_date, {"full_refresh": True} if full_refresh else None)
        outcomes.append(outcome)
        state = "succeeded" if outcome.success else "FAILED"
        echo(f"  {dag_id} {state} in {outcome.seconds:.0f}s (log: {outcome.log_path})")
        if not outcome.success:
            break
    return outcomes
