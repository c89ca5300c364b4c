"""The pipeline's DAG runner (kam.airflow.dagrun): several DAGs through Airflow's own ``dags
test`` in one process, each with its own log, stopping at the first failure."""

from __future__ import annotations

import datetime as dt
import sys

import pytest

from kam.airflow.orchestrate import ensure_airflow, run_dags
from kam.config import load_settings

pytestmark = pytest.mark.slow  # a real Airflow (migrate, dags test): make test, not make test-fast


def test_dags_run_in_order_in_one_process_and_stop_at_the_first_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAM_LANDING", str(tmp_path / "empty_landing"))
    (tmp_path / "empty_landing").mkdir()
    settings = load_settings()
    ensure_airflow(settings)

    reported = []
    outcomes = run_dags(settings, ("ingest", "no_such_dag", "build_and_publish"), dt.date(2026, 11, 30),
                        on_outcome=reported.append)

    assert [(o.dag_id, o.success) for o in outcomes] == [("ingest", True), ("no_such_dag", False)]
    ingest, missing = outcomes
    ingest_log = ingest.log_path.read_text()
    assert "DagRun Finished: dag_id=ingest" in ingest_log and "state=success" in ingest_log
    assert "no_such_dag" not in ingest_log  # each DAG writes its own log
    assert "could not be found" in missing.log_path.read_text()
    # the runner stopped: the DAG after the failure never started, not even its log
    assert not list((settings.kam_home / "logs").glob("build_and_publish_*.log"))
    assert ingest.seconds > 0 and missing.seconds >= 0
    assert reported == outcomes  # every outcome went to the callback
    assert not list((settings.kam_home / "logs").glob(".*"))  # the runner's results and stderr files are gone


def test_a_runner_that_cannot_start_fails_the_first_dag_with_its_error_in_the_log(tmp_path, monkeypatch):
    broken = tmp_path / "python"  # an interpreter that dies before Airflow starts
    broken.write_text("#!/bin/sh\necho 'cannot start: no such module' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "executable", str(broken))
    settings = load_settings()

    outcomes = run_dags(settings, ("ingest", "build_and_publish"), dt.date(2026, 11, 30))

    assert [(o.dag_id, o.success) for o in outcomes] == [("ingest", False)]  # never an empty, "successful" run
    log = outcomes[0].log_path.read_text()
    assert "cannot start: no such module" in log and "exited with code 3" in log
