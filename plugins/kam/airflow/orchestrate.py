"""Drive the real Airflow DAGs on the embedded default (SQLite metadata, ``airflow dags test``).

``kam run`` does what the scheduler would do: run ``ingest``, then
``build_and_publish`` (which the scheduler starts from the raw assets),
for one run date. Both DAGs run one after another in one Airflow process
(:mod:`kam.airflow.dagrun`: Airflow's ``dags test`` command for each), so Airflow and
the tasks' libraries start once per run; each DAG's full log is kept under
``$KAM_HOME/logs/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kam.config import Settings
from kam.runlock import run_lock

log = logging.getLogger(__name__)

DAG_ORDER = ("ingest", "build_and_publish")


@dataclass
class DagRunOutcome:
    dag_id: str
    success: bool
    seconds: float
    log_path: Path
    errors: list[str]
    run_id: str | None = None  # the Airflow DAG run (ops.publications.run_id for build_and_publish)
    tasks: dict[str, str | None] = field(default_factory=dict)  # task id -> state, as Airflow recorded it


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
        # the embedded metadata DB of this home, whatever airflow.cfg was written with: Airflow
        # writes absolute paths into the airflow.cfg it generates, so a KAM_HOME moved or copied
        # (a restored backup, a test's copy) would otherwise go on writing the old home's DB
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get(
            "AIRFLOW__API_AUTH__JWT_SECRET", "kam-embedded-" + str(settings.kam_home)),
        "PYTHONUNBUFFERED": "1",
    }


def ensure_airflow(settings: Settings) -> None:
    """Create or migrate the embedded metadata DB and the one-slot warehouse pool."""
    from importlib.metadata import version

    airflow_version = version("apache-airflow")  # not `import airflow`: ~5 s this process does not need
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    marker = home / ".kam-initialised"
    if marker.exists() and marker.read_text().strip() == airflow_version:
        return
    # under the run lock (taken here unless a run holds it already): two first runs on one
    # KAM_HOME once both died in `airflow db migrate`
    with run_lock(settings.kam_home, None, what="airflow db migrate"):
        if marker.exists() and marker.read_text().strip() == airflow_version:
            return
        env = airflow_env(settings)
        for cmd in (["db", "migrate"],
                    ["pools", "set", "kam_warehouse", "1",
                     "One writer at a time for the DuckDB warehouse"]):
            proc = subprocess.run([airflow_executable(), *cmd], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{proc.stdout[-3000:]}"
                                   f"\n{proc.stderr[-3000:]}")
        marker.write_text(airflow_version)


def _die_with_parent() -> None:
    """Linux: the airflow child gets SIGTERM if kam dies, so no orphan keeps the warehouse lock."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_dags(settings: Settings, dag_ids: tuple[str, ...], run_date: dt.date,
             extra_conf: dict | None = None, on_outcome=None, on_progress=None,
             progress_seconds: float = 60.0) -> list[DagRunOutcome]:
    """``airflow dags test <dag_id> <run_date>`` with ``conf.run_date`` for each DAG in order,
    in one Airflow process (:mod:`kam.airflow.dagrun`), stopping at the first failure; each DAG's
    output goes to its own log file under ``$KAM_HOME/logs/``. ``on_outcome`` is called
    with each DAG's outcome as soon as that DAG has finished; ``on_progress`` with a line every
    ``progress_seconds`` while a DAG runs (a person watching a long run knows it is alive)."""
    logs = settings.kam_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = f"{dt.datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}"  # unique per run
    log_paths = {dag_id: logs / f"{dag_id}_{run_date.isoformat()}_{stamp}.log" for dag_id in dag_ids}
    results_path = logs / f".results_{run_date.isoformat()}_{stamp}.jsonl"
    errors_path = logs / f".runner_{run_date.isoformat()}_{stamp}.err"  # before the runner redirects its output
    for path in (*log_paths.values(), results_path, errors_path):
        path.unlink(missing_ok=True)
    conf = {"run_date": run_date.isoformat(), **(extra_conf or {})}
    cmd = [sys.executable, "-m", "kam.airflow.dagrun", "--date", run_date.isoformat(), "--conf", json.dumps(conf),
           "--results", str(results_path), *(f"{dag_id}={path}" for dag_id, path in log_paths.items())]
    outcomes: list[DagRunOutcome] = []
    previous_end = time.time()

    def settle(dag_id: str, result: dict | None, exit_code: int | None = None) -> None:
        nonlocal previous_end
        outcome = _outcome(dag_id, log_paths[dag_id], result, previous_end, errors_path, exit_code)
        previous_end += outcome.seconds
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    env = {**airflow_env(settings), "KAM_TASK_RETRIES": "0"}
    with errors_path.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=_die_with_parent)
    dag_started = last_said = time.time()
    try:
        while True:
            done = proc.poll() is not None
            # complete lines only: the runner may be writing the last one
            lines = results_path.read_text(encoding="utf-8").split("\n")[:-1] if results_path.exists() else []
            for line in lines[len(outcomes):]:
                result = json.loads(line)
                settle(result["dag_id"], result)
                dag_started = last_said = time.time()
            if done:
                break
            if on_progress is not None and time.time() - last_said >= progress_seconds and len(outcomes) < len(dag_ids):
                last_said = time.time()
                running = int(last_said - dag_started)
                on_progress(f"  … DAG {dag_ids[len(outcomes)]} running for {running // 60}m{running % 60:02d}s "
                            f"(log: {log_paths[dag_ids[len(outcomes)]]})")
            time.sleep(0.5)
    except BaseException:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    # the runner died inside a DAG or before the first (killed, crashed, could not start):
    # that DAG failed and the later ones never started; a run is never short of a failure
    if len(outcomes) < len(dag_ids) and (not outcomes or outcomes[-1].success):
        settle(dag_ids[len(outcomes)], None, proc.returncode)
    results_path.unlink(missing_ok=True)
    errors_path.unlink(missing_ok=True)
    return outcomes


def _outcome(dag_id: str, log_path: Path, result: dict | None, previous_end: float,
             errors_path: Path, exit_code: int | None = None) -> DagRunOutcome:
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    if result is None:  # the runner's own failure: its stderr and exit code join this DAG's log
        runner_errors = errors_path.read_text(encoding="utf-8", errors="replace") if errors_path.exists() else ""
        text += f"{runner_errors}\nkam: the DAG runner (python -m kam.airflow.dagrun) exited with code {exit_code} " \
                f"before DAG {dag_id} finished\n"
        log_path.write_text(text, encoding="utf-8")
    end = result["finished"] if result else time.time()
    errors = [line.strip() for line in text.splitlines()
              if "REFUSED " in line or line.startswith("airflow.sdk.exceptions.AirflowFailException: ")
              or line.startswith("kam.notify.deliver.NotifyFailed: ")]
    # success is the evidence the runner read back from Airflow (every declared task instance
    # 'success', kam.airflow.dagrun.missing_work), never the DAG run's state or its log text alone
    evidence = (result or {}).get("evidence") or {}
    problems = (result or {}).get("problems", [])
    success = result is not None and result["success"] and not problems
    return DagRunOutcome(dag_id, success, end - previous_end, log_path, _unique(problems + errors),
                         evidence.get("run_id"), evidence.get("tasks") or {})


def _unique(lines: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        seen.setdefault(line[-400:], None)
    return list(seen)


def pipeline_dags(settings: Settings) -> tuple[str, ...]:
    """The DAGs ``kam run`` runs: ingest and build_and_publish, then notify when digests are configured."""
    return DAG_ORDER + (("notify",) if settings.notify_path else ())


def run_pipeline(settings: Settings, run_date: dt.date, echo=print,
                 full_refresh: bool = False, wait: bool = True) -> list[DagRunOutcome]:
    """Ingest, then build, audit and publish, through Airflow. Stops after a failed DAG.
    ``full_refresh`` rebuilds every dbt model instead of only what new batches touch. One run per
    KAM_HOME at a time (:mod:`kam.runlock`): waits for a run in progress, or with ``wait=False``
    raises :class:`kam.runlock.RunLocked` naming it."""
    with run_lock(settings.kam_home, run_date, wait=wait, echo=echo):
        ensure_airflow(settings)
        dag_ids = pipeline_dags(settings)
        echo(f"→ running DAGs {', '.join(dag_ids)} for {run_date} (one Airflow process) …")

        def report(outcome: DagRunOutcome) -> None:
            state = "succeeded" if outcome.success else "FAILED"
            echo(f"  {outcome.dag_id} {state} in {outcome.seconds:.0f}s (log: {outcome.log_path})")

        return run_dags(settings, dag_ids, run_date, {"full_refresh": True} if full_refresh else None,
                        on_outcome=report, on_progress=echo)
