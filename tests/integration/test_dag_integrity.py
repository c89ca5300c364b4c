"""DAG integrity: every DAG file parses, declares what operators need, and stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p.name for p in (REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env_before = dict(os.environ)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        # connections and variables unavailable: parsing must never depend on them
        "AIRFLOW__SECRETS__BACKEND": "",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/never-created.db",
        "KAM_HOME": str(home / "kam-home-must-not-be-created"),
    })
    try:
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(REPO / "dags"))
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def test_dag_folder_has_the_four_dags():
    assert DAG_FILES == ["build_and_publish.py", "ingest.py", "notify.py", "publication_deadline.py"]


@pytest.mark.parametrize("file_name", DAG_FILES)
def test_dag_file_imports_without_errors(dagbag, file_name):
    errors = {Path(k).name: v for k, v in dagbag.import_errors.items()}
    assert file_name not in errors, errors.get(file_name)
    assert Path(file_name).stem in dagbag.dag_ids  # dag_id = file name


@pytest.mark.parametrize("dag_id", [Path(f).stem for f in DAG_FILES])
def test_dag_declares_owner_retries_docs_and_one_active_run(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 100
    assert dag.max_active_runs == 1
    assert not dag.catchup
    for t in dag.tasks:
        assert t.owner == "kam"
        assert t.retries >= 1
        assert t.pool == "kam_warehouse"  # one writer at a time


def test_publish_is_downstream_of_build_and_audit_with_all_success(dagbag):
    dag = dagbag.dags["build_and_publish"]
    publish = dag.get_task("publish")
    assert publish.trigger_rule == "all_success"
    assert publish.upstream_task_ids == {"audit"}
    assert dag.get_task("audit").upstream_task_ids == {"dbt_build"}
    assert [o.name for o in publish.outlets] == ["kam.published_marts"]


def test_ingest_tasks_emit_the_raw_assets_that_schedule_the_build(dagbag):
    ingest = dagbag.dags["ingest"]
    emitted = {o.name for t in ingest.tasks for o in t.outlets}
    assert emitted == {f"kam.raw.{s}" for s in ("customers", "orders", "complaints", "visits")}
    build = dagbag.dags["build_and_publish"]
    condition = build.timetable.asset_condition
    assert type(condition).__name__ == "AssetAll"  # one build per ingest run, after all four sources
    assert {a.name for a in condition.objects} == emitted


def test_notify_runs_on_every_publication_and_failures_go_through_airflows_notifier(dagbag):
    from airflow.sdk import BaseNotifier

    notify = dagbag.dags["notify"]
    condition = notify.timetable.asset_condition
    assert {a.name for a in condition.objects} == {"kam.published_marts"}
    assert [t.task_id for t in notify.tasks] == ["deliver_digests"]
    for dag in dagbag.dags.values():
        for t in dag.tasks:
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert any(isinstance(c, BaseNotifier) for c in callbacks), (dag.dag_id, t.task_id)


def test_parsing_does_no_heavy_imports_or_io(tmp_path):
    """Importing a DAG file must not load the warehouse stack or touch KAM_HOME."""
    probe = (
        "import importlib.util, json, sys\n"
        "for name in ['ingest', 'build_and_publish', 'notify', 'publication_deadline']:\n"
        f"    spec = importlib.util.spec_from_file_location(name, r'{REPO}/dags/' + name + '.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = [m for m in ('duckdb', 'great_expectations', 'pandas', 'dbt', 'kam.ingest') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "af"), "KAM_HOME": str(tmp_path / "kam")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert not (tmp_path / "kam").exists()


def test_run_date_travels_on_asset_events():
    """The asset-triggered build uses the run date the ingest tasks put on their events."""
    from types import SimpleNamespace

    from kam.airflow.tasks import run_date_from

    events = {"kam.raw.orders": [SimpleNamespace(extra={"run_date": "2026-06-14"}),
                                 SimpleNamespace(extra={"run_date": "2026-06-15"})],
              "kam.raw.visits": [SimpleNamespace(extra={})]}
    assert run_date_from({"triggering_asset_events": events}).isoformat() == "2026-06-15"
    conf_wins = {"triggering_asset_events": events, "conf": {"run_date": "2026-01-31"}}
    assert run_date_from(conf_wins).isoformat() == "2026-01-31"


def test_the_publication_deadline_is_a_cron_in_its_time_zone_or_never(monkeypatch, dagbag):
    from kam.airflow.dag_defaults import publication_deadline

    assert type(dagbag.dags["publication_deadline"].timetable).__name__ == "NullTimetable"  # unset: never
    monkeypatch.delenv("KAM_PUBLICATION_DEADLINE", raising=False)
    assert publication_deadline() is None
    monkeypatch.setenv("KAM_PUBLICATION_DEADLINE", "0 7 * * *")
    monkeypatch.setenv("KAM_PUBLICATION_DEADLINE_TZ", "Asia/Shanghai")
    timetable = publication_deadline()
    assert timetable.expression == "0 7 * * *" and str(timetable.timezone) == "Asia/Shanghai"


def test_ingest_schedule_is_configurable(monkeypatch):
    from kam.airflow.dag_defaults import ingest_schedule

    monkeypatch.delenv("KAM_INGEST_SCHEDULE", raising=False)
    assert ingest_schedule() == "@daily"
    monkeypatch.setenv("KAM_INGEST_SCHEDULE", "0 6 * * *")
    assert ingest_schedule() == "0 6 * * *"
    monkeypatch.setenv("KAM_INGEST_SCHEDULE", "none")
    assert ingest_schedule() is None
