"""``airflow dags test`` for several DAGs, one after another, in one Airflow process.

Run by :func:`kam.airflow.orchestrate.run_pipeline` as ``python -m kam.airflow.dagrun``: each DAG
goes through Airflow's own ``dags test`` command (its CLI parser and
``dag_test``, which calls ``dag.test()``), exactly as ``airflow dags test <dag>
<date> --conf ...`` would, but the interpreter, Airflow's in-process execution
API and the libraries the tasks import (Great Expectations: ~8 s) start once per
pipeline instead of once per DAG. Each DAG's output goes to its own log file
(file descriptors 1 and 2 are redirected), and the runner stops at the first DAG
that fails. One JSON line per finished DAG is appended to ``--results``, with the
evidence read back from Airflow's metadata DB: the DAG run this test created, its
state, and the state of every task instance against the tasks the DAG declares
(``kam.airflow.orchestrate`` judges success from those, never from the run's state alone: a
run dated before a DAG's start_date "succeeds" without a single task).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _redirect_output(path: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def missing_work(dag_id: str, run_date: str, evidence: dict) -> list[str]:
    """What did not happen in a DAG run Airflow calls finished: no run, no task instance, a task
    that is not 'success' (skipped, upstream_failed, never created). Empty: every task ran and
    succeeded."""
    if not evidence:
        return [f"DAG {dag_id}: Airflow's record of the run could not be read, so there is no evidence "
                f"that its tasks ran (see the error above in this log)"]
    if evidence.get("run_id") is None:
        return [f"DAG {dag_id}: no DAG run was created for {run_date}"]
    expected = evidence.get("expected_tasks") or []
    tasks = evidence.get("tasks") or {}
    if not tasks:
        why = ""
        start = evidence.get("start_date")
        if start and run_date < start:
            why = (f": the run date {run_date} is before the DAG's start_date {start} "
                   f"(KAM_MIN_BUSINESS_DATE), and Airflow schedules no task before it")
        return [f"DAG {dag_id} ran no task for {run_date}: its run {evidence['run_id']} ended "
                f"'{evidence.get('run_state')}' without a single task instance{why}"]
    problems = [f"DAG {dag_id}: task {task} {'did not succeed: ' + str(tasks[task]) if task in tasks else 'never ran'}"
                for task in expected if tasks.get(task) != "success"]
    return problems


def _now():
    """Airflow's clock (UTC, aware): ``dags test`` stamps the run it makes with ``run_after`` = now."""
    from airflow.utils import timezone

    return timezone.utcnow()


def _evidence(dag_id: str, started) -> dict:
    """What Airflow recorded for the run ``dags test`` just made (the DAG's run with ``run_after``
    from ``started`` on; not the newest id: ``dags test`` deletes an earlier run of the same
    logical date, and SQLite then hands the new run the same id), the tasks the DAG declares
    and the state of each task instance (``run_id`` None: no run was created)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    def text(value) -> str | None:
        return None if value is None else str(getattr(value, "value", value))

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_after >= started)
                              .order_by(DagRun.run_after.desc()).limit(1)).first()
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        evidence = {"run_id": None, "run_state": None, "tasks": {},
                    "expected_tasks": sorted(dag.task_ids) if dag else [],
                    "start_date": dag.start_date.date().isoformat() if dag and dag.start_date else None}
        if run is None:
            return evidence
        states = session.execute(select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)).all()
        evidence.update(run_id=run.run_id, run_state=text(run.state),
                        tasks={task_id: text(state) for task_id, state in states})
    return evidence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kam.airflow.dagrun", description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, help="logical date (YYYY-MM-DD)")
    parser.add_argument("--conf", default="{}", help="run conf, JSON (the same for every DAG)")
    parser.add_argument("--results", required=True, help="file to append one JSON line per finished DAG to")
    parser.add_argument("runs", nargs="+", metavar="DAG_ID=LOG_FILE", help="DAGs in order, each with its log")
    args = parser.parse_args(argv)
    runs = [run.split("=", 1) for run in args.runs]
    if any(len(run) != 2 for run in runs):
        parser.error("each run is DAG_ID=LOG_FILE")

    _redirect_output(runs[0][1])  # Airflow's start-up output belongs to the first DAG's log
    from airflow.cli.cli_parser import get_parser

    airflow_cli = get_parser()
    for dag_id, log_file in runs:
        _redirect_output(log_file)
        cli_args = airflow_cli.parse_args(["dags", "test", dag_id, args.date, "--conf", args.conf])
        evidence: dict = {}
        started = None
        try:
            started = _now()
            cli_args.func(cli_args)
            success = True
        except SystemExit as exc:  # dag_test: SystemExit("DagRun failed")
            success = exc.code in (None, 0)
        except Exception:  # noqa: BLE001 - into the DAG's log, then the runner stops
            import traceback

            traceback.print_exc()
            success = False
        try:
            evidence = _evidence(dag_id, started) if started is not None else {}
        except Exception:  # noqa: BLE001 - no evidence is a failure kam reports, not a crash
            import traceback

            traceback.print_exc()
        problems = missing_work(dag_id, args.date, evidence)
        for problem in problems:
            print(f"kam: {problem}")
        success = success and not problems
        sys.stdout.flush()
        sys.stderr.flush()
        with open(args.results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"dag_id": dag_id, "success": success, "finished": time.time(),
                                 "evidence": evidence, "problems": problems}) + "\n")
        if not success:
            return 1
    return 0


if __name__ == "__main__":
    exit_code = main()
    # Everything is written (results file closed, logs flushed below). Interpreter
    # teardown after Airflow, GX and DuckDB takes ~4 s of native finalisation that
    # nothing needs, so the runner leaves without it.
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
