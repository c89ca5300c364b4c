"""``airflow dags test`` for several DAGs, one after another, in one Airflow process.

Run by :func:`kam.orchestrate.run_pipeline` as ``python -m kam.dagrun``: each DAG
goes through Airflow's own ``dags test`` command (its CLI parser and
``dag_test``, which calls ``dag.test()``), exactly as ``airflow dags test <dag>
<date> --conf ...`` would, but the interpreter, Airflow's in-process execution
API and the libraries the tasks import (Great Expectations: ~8 s) start once per
pipeline instead of once per DAG. Each DAG's output goes to its own log file
(file descriptors 1 and 2 are redirected), and the runner stops at the first DAG
that fails. One JSON line per finished DAG is appended to ``--results``.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kam.dagrun", description=__doc__.splitlines()[0])
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
        try:
            cli_args.func(cli_args)
            success = True
        except SystemExit as exc:  # dag_test: SystemExit("DagRun failed")
            success = exc.code in (None, 0)
        except Exception:  # noqa: BLE001 - into the DAG's log, then the runner stops
            import traceback

            traceback.print_exc()
            success = False
        sys.stdout.flush()
        sys.stderr.flush()
        with open(args.results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"dag_id": dag_id, "success": success, "finished": time.time()}) + "\n")
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
