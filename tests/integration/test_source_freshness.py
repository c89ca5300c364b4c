"""``dbt source freshness`` in every build (kam.transform.freshness, kam.quality.freshness): a source
whose newest row was loaded longer ago than its ``warn_after`` warns in the audit and in ``kam
status``; ``KAM_STALE_SOURCES=refuse`` refuses the publication, naming the source and its age."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest
from conftest import END_DATE, kam_env, run_kam

from kam.config import load_settings
from kam.targets import target_of
from kam.transform.freshness import check_freshness

pytestmark = pytest.mark.slow  # a built warehouse, dbt and the audit: make test, not test-fast


def _settings(home, **changes):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in kam_env(home).items():
            mp.setenv(key, value)
        return dataclasses.replace(load_settings(), **changes)


def test_the_build_checks_freshness_and_the_publication_records_it(first_run):
    con = duckdb.connect(str(first_run / "warehouse.duckdb"), read_only=True)
    summary = json.loads(con.execute("select audit_summary from ops.publications where status = 'published' "
                                     "order by publication_id desc limit 1").fetchone()[0])
    checked = con.execute("select source, status, criteria from ops.source_freshness order by source").fetchall()
    con.close()
    sources = ["crm.customers", "crm.visits", "erp.orders", "ticketing.complaints"]
    assert checked == [(s, "pass", "warn after 2 days") for s in sources]
    assert summary["source_freshness"] == dict.fromkeys(sources, "pass")
    status = run_kam(["status"], first_run).stdout
    assert "sources         fresh: 4 of 4 (dbt source freshness; oldest " in status


def test_a_stale_source_warns_and_with_refuse_fails_the_audit_naming_it(copy_of_first_run):
    con = duckdb.connect(str(copy_of_first_run / "warehouse.duckdb"))
    con.execute("update raw.orders set _loaded_at = _loaded_at - interval 3 days")
    con.close()
    settings = _settings(copy_of_first_run)

    checked = {c.source: c for c in check_freshness(settings, "stale-test")}

    assert {s: c.status for s, c in checked.items()} == {
        "crm.customers": "pass", "crm.visits": "pass", "erp.orders": "warn", "ticketing.complaints": "pass"}
    assert 72 <= checked["erp.orders"].age_hours < 73
    said = "stale source erp.orders: last loaded 3.0 days ago (warn after 2 days)"
    warned = target_of(settings).audit(END_DATE)
    assert warned.success and said in warned.warnings, warned.warnings
    assert warned.freshness["erp.orders"] == "warn"
    assert said in target_of(settings).audit(END_DATE, "stale-test").warnings  # the DAG run's own check
    other = target_of(settings).audit(END_DATE, "a-run-that-checked-nothing")
    assert "source freshness: no check recorded by run a-run-that-checked-nothing" in " ".join(other.warnings)
    assert not other.freshness
    refused = target_of(dataclasses.replace(settings, stale_sources="refuse")).audit(END_DATE)
    assert not refused.success
    assert refused.failed == [f"{said}; KAM_STALE_SOURCES=refuse"]
    status = run_kam(["status"], copy_of_first_run).stdout
    assert "sources         1 of 4 not fresh (a warning; KAM_STALE_SOURCES=refuse refuses the publication)" \
        in status
    assert f"  ! warn: {said.removeprefix('stale ')}" in status


def test_a_check_dbt_cannot_make_is_recorded_and_warns(copy_of_first_run):
    con = duckdb.connect(str(copy_of_first_run / "warehouse.duckdb"))
    con.execute("alter table raw.visits rename column _loaded_at to loaded_at_renamed")
    con.close()
    settings = _settings(copy_of_first_run)
    checked = {c.source: c for c in check_freshness(settings, "broken")}
    assert checked["crm.visits"].status == "runtime error"
    assert "_loaded_at" in checked["crm.visits"].message
    assert checked["erp.orders"].status == "pass"
    result = target_of(dataclasses.replace(settings, stale_sources="refuse")).audit(END_DATE)
    assert any(w.startswith("source crm.visits: freshness not checked:") for w in result.warnings)
    assert not any("freshness" in f for f in result.failed)
