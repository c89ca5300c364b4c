"""Success is proven, never assumed: the judgement of a DAG run from what Airflow recorded
(kam.airflow.dagrun.missing_work), the proof of a publication from the ledger and the served file
(kam.publish.evidence), and the audit's coverage of every published mart. Real DuckDB files, real
publications, the real suites."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from kam.airflow.dagrun import missing_work
from kam.config import REPO_ROOT
from kam.errors import ConfigError
from kam.marts import PUBLISHED_MARTS
from kam.publish.duckdb_file import publish
from kam.publish.evidence import PublicationNotProven, prove_publication
from kam.publish.ledger import record_refusal
from kam.quality.audit import mart_suites
from kam.targets import target_of

D = dt.date(1998, 8, 2)
TASKS = ["audit", "dbt_build", "publish"]


def test_a_run_in_which_every_declared_task_succeeded_has_no_missing_work():
    evidence = {"run_id": "r1", "run_state": "success", "expected_tasks": TASKS, "start_date": "1970-01-01",
                "tasks": dict.fromkeys(TASKS, "success")}
    assert missing_work("build_and_publish", "1998-08-02", evidence) == []


def test_a_successful_run_without_task_instances_is_missing_all_its_work_and_says_why():
    evidence = {"run_id": "r1", "run_state": "success", "expected_tasks": TASKS, "start_date": "2024-01-01",
                "tasks": {}}
    [problem] = missing_work("ingest", "1998-08-02", evidence)
    assert "ran no task" in problem and "'success'" in problem
    assert "before the DAG's start_date 2024-01-01" in problem


def test_skipped_missing_and_upstream_failed_tasks_are_named():
    evidence = {"run_id": "r1", "run_state": "success", "expected_tasks": TASKS, "start_date": "1970-01-01",
                "tasks": {"dbt_build": "success", "audit": "upstream_failed"}}
    problems = missing_work("build_and_publish", "1998-08-02", evidence)
    assert problems == ["DAG build_and_publish: task audit did not succeed: upstream_failed",
                        "DAG build_and_publish: task publish never ran"]
    evidence["tasks"] = {**dict.fromkeys(TASKS, "success"), "publish": "skipped"}
    assert missing_work("build_and_publish", "1998-08-02", evidence) == [
        "DAG build_and_publish: task publish did not succeed: skipped"]


def test_no_run_or_no_record_is_missing_work():
    assert "no DAG run was created" in missing_work("ingest", "1998-08-02", {"run_id": None})[0]
    assert "could not be read" in missing_work("ingest", "1998-08-02", {})[0]


def test_a_publication_is_proven_by_the_ledger_and_the_served_file(small_marts):
    pub = publish(small_marts, "run-1", D)
    proven = prove_publication(small_marts, "run-1", target_of(small_marts))
    assert proven.publication_id == pub.publication_id and proven.run_date == D
    assert set(PUBLISHED_MARTS) <= set(proven.row_counts) and proven.row_counts["dim_customers"] == 200
    assert f"publication #{pub.publication_id}" in proven.describe() and "dim_customers" in proven.describe()


def test_a_run_that_recorded_no_publication_is_not_proven(small_marts):
    publish(small_marts, "run-1", D)
    with pytest.raises(PublicationNotProven, match="run-2 recorded no publication"):
        prove_publication(small_marts, "run-2", target_of(small_marts))


def test_a_refused_publication_is_not_proven(small_marts):
    publish(small_marts, "run-1", D)
    record_refusal(small_marts, "run-2", D, "audit failed: something")
    with pytest.raises(PublicationNotProven, match="is 'refused', not published: audit failed"):
        prove_publication(small_marts, "run-2", target_of(small_marts))


def test_a_recorded_publication_that_is_not_served_is_not_proven(small_marts):
    publish(small_marts, "run-1", D)
    small_marts.published_path.unlink()  # the served file is gone (or another one is served)
    with pytest.raises(PublicationNotProven, match="serves no publication"):
        prove_publication(small_marts, "run-1", target_of(small_marts))


def test_every_published_mart_has_its_suite_in_the_repository(tmp_path):
    from kam.config import Settings

    suites = dict(mart_suites(Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing")))
    assert set(suites) == set(PUBLISHED_MARTS)


def test_a_published_mart_without_its_suite_stops_the_audit_naming_it(small_marts, tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", expectations)
    (expectations / "mart_tier_migration.json").unlink()
    settings = small_marts.with_overrides(expectations_override=expectations)
    with pytest.raises(ConfigError, match=r"no GX suite for published mart\(s\) tier_migration"):
        target_of(settings).audit(D)
