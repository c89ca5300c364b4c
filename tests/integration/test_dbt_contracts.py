"""The dbt project as dbt teams keep it: every model has its yml beside it with every column
described, and the eleven published marts carry an enforced contract (name and data type of
every column), so a model change that alters what BI reads fails the build, naming the column."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import REPO, kam_env

from kam.config import load_settings
from kam.marts import PUBLISHED_MARTS
from kam.transform.runner import run_dbt

pytestmark = pytest.mark.slow  # a built warehouse and a dbt invocation: make test, not test-fast

MODELS = REPO / "dbt_project" / "models"


def _model_yml(sql: Path) -> dict:
    """The model entry of the yml beside ``sql`` (``<model>.yml``), and its unit tests."""
    doc = yaml.safe_load(sql.with_suffix(".yml").read_text())
    (entry,) = [m for m in doc["models"] if m["name"] == sql.stem]
    return {**entry, "unit_tests": doc.get("unit_tests", [])}


def test_every_model_has_its_yml_beside_it_describing_every_built_column(first_run):
    con = duckdb.connect(str(first_run / "warehouse.duckdb"), read_only=True)
    built: dict[str, list[str]] = {}
    for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema in ('staging', 'intermediate', 'marts') order by table_name, ordinal_position"
    ).fetchall():
        built.setdefault(table, []).append(column)
    con.close()
    sqls = sorted(MODELS.rglob("*.sql"))
    assert {s.stem for s in sqls} == set(built), "every model is built, every built relation is a model"
    unit_tested = set()
    for sql in sqls:
        entry = _model_yml(sql)
        assert entry.get("description"), f"{sql.stem}: no description"
        columns = {c["name"]: c for c in entry.get("columns", [])}
        assert list(columns) == built[sql.stem], f"{sql.stem}: the yml's columns are not the model's, in order"
        undescribed = [name for name, c in columns.items() if not (c.get("description") or "").strip()]
        assert not undescribed, f"{sql.stem}: columns without a description: {undescribed}"
        for test in entry["unit_tests"]:
            assert test["model"] == sql.stem, f"{sql.stem}.yml holds a unit test of {test['model']}"
            unit_tested.add(test["name"])
    assert len(unit_tested) >= 16  # every rule's unit test lives beside its model
    assert not [p for p in MODELS.rglob("*.yml") if "unit_test" in p.read_text() and p.stem.startswith("_")]


def test_the_published_marts_carry_an_enforced_contract_with_a_type_for_every_column():
    for mart in PUBLISHED_MARTS:
        entry = _model_yml(MODELS / "marts" / f"{mart}.sql")
        assert entry["config"]["contract"] == {"enforced": True}, mart
        untyped = [c["name"] for c in entry["columns"] if not c.get("data_type")]
        assert not untyped, f"{mart}: columns without a data_type: {untyped}"


def test_a_model_change_that_alters_a_published_column_fails_the_build_naming_it(copy_of_first_run, tmp_path):
    """A column whose type changes (tier_migration.customers becomes a float) and a column renamed
    (customer_alerts.reason) each fail their model with dbt's contract error naming the column;
    the published marts the contract protects are left as they were."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "dbt_project", repo / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    marts = repo / "dbt_project" / "models" / "marts"
    changes = {"tier_migration": ("    customers,\n", "    cast(customers as double) as customers,\n"),
               "customer_alerts": ("    reason\nfrom final", "    reason as alert_reason\nfrom final")}
    for mart, (old, new) in changes.items():
        sql = marts / f"{mart}.sql"
        assert sql.read_text().count(old) == 1, f"{mart}.sql changed: this test's edit no longer applies"
        sql.write_text(sql.read_text().replace(old, new))
    with pytest.MonkeyPatch.context() as mp:
        for key, value in kam_env(copy_of_first_run).items():
            mp.setenv(key, value)
        settings = dataclasses.replace(load_settings(), repo_root=repo)
    before = _rows(settings.warehouse_path, "select count(*), sum(customers) from marts.tier_migration")

    result = run_dbt(settings, ["run", "--select", "tier_migration", "customer_alerts"])

    assert not result.success
    failures = {f.split(":", 1)[0]: f for f in result.failures}
    assert set(failures) == {"model.kam.tier_migration", "model.kam.customer_alerts"}, result.failures
    for failure in failures.values():
        assert "This model has an enforced contract that failed" in failure
    migration = failures["model.kam.tier_migration"]
    assert "| customers   | DOUBLE          | BIGINT        | data type mismatch |" in migration
    alerts = failures["model.kam.customer_alerts"]
    assert "alert_reason" in alerts and "missing in contract" in alerts
    assert "reason" in alerts.replace("alert_reason", "") and "missing in definition" in alerts
    assert _rows(settings.warehouse_path, "select count(*), sum(customers) from marts.tier_migration") == before


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
