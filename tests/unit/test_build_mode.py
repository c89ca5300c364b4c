"""When a dbt build may be incremental, and from which month (kam.dbt.build_mode).

A real warehouse file with real ops and raw tables; no dbt run (the e2e test
tests/e2e/test_incremental.py proves incremental builds equal full ones)."""

from __future__ import annotations

import datetime as dt

import pytest

from kam.config import Settings
from kam.dbt import build_mode, fingerprint, record_build, write_run_context
from kam.warehouse import warehouse

D = dt.date(2026, 10, 14)


@pytest.fixture
def settings(tmp_path):
    s = Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing")
    with warehouse(s) as con:
        con.execute("create table raw.orders (order_id varchar, line_no bigint, order_date date, _batch_id bigint)")
        con.execute("create table raw.customers (customer_id varchar, created_at timestamp, _batch_id bigint)")
        con.execute("insert into raw.orders values ('SO1', 1, date '2025-03-02', 1), ('SO2', 1, date '2026-10-10', 1)")
        con.execute("insert into raw.customers values ('C1', timestamp '2024-01-01', 2)")
        _batch(con, 1, "orders")
        _batch(con, 2, "customers")
    return s


def _batch(con, batch_id: int, source: str) -> None:
    now = dt.datetime(2026, 10, 14, 3)
    con.execute("insert into ops.ingest_batches (batch_id, source, source_file, sha256, status, started_at, "
                "finished_at) values (?, ?, ?, ?, 'loaded', ?, ?)", [batch_id, source, f"f{batch_id}", "x", now, now])


def _built(settings, run_date: dt.date) -> None:
    mode = build_mode(settings, run_date)
    record_build(settings, "run", run_date, mode, True, dt.datetime.now(), 1.0)


def test_first_and_requested_builds_are_full(settings):
    assert build_mode(settings, D).reason == "first build on this target"
    _built(settings, D - dt.timedelta(days=1))
    mode = build_mode(settings, D, requested_full=True)
    assert (mode.full_refresh, mode.reason) == (True, "requested (--full-refresh)")


def test_no_new_batch_recomputes_from_the_previous_run_month(settings):
    _built(settings, dt.date(2026, 9, 30))
    mode = build_mode(settings, D)
    assert not mode.full_refresh and mode.rebuild_from_month == dt.date(2026, 9, 1)
    write_run_context(settings, D, mode.rebuild_from_month)  # what dbt reads (not --vars: no re-parse)
    with warehouse(settings) as con:
        assert con.execute("select * from ops.kam_run_context").fetchall() == [(D, dt.date(2026, 9, 1))]
    write_run_context(settings, D, None)
    with warehouse(settings) as con:
        assert con.execute("select * from ops.kam_run_context").fetchall() == [(D, None)]


def test_a_new_version_recomputes_from_the_oldest_month_of_any_version(settings):
    _built(settings, D - dt.timedelta(days=1))
    with warehouse(settings) as con:  # SO1 corrected: moved to October, but March changes too
        con.execute("insert into raw.orders values ('SO1', 1, date '2026-10-14', 3)")
        _batch(con, 3, "orders")
    mode = build_mode(settings, D)
    assert not mode.full_refresh and mode.rebuild_from_month == dt.date(2025, 3, 1)
    assert mode.max_batch_id == 3


def test_changed_rules_backfills_and_customer_master_force_a_full_build(settings, tmp_path):
    _built(settings, D)
    assert "run date 2026-10-01 is before" in build_mode(settings, dt.date(2026, 10, 1)).reason
    other = fingerprint(settings, {"tier_thresholds": {"A": 80, "B": 50, "C": 30}})
    assert other != fingerprint(settings)
    with warehouse(settings) as con:
        con.execute("insert into raw.customers values ('C2', timestamp '2026-10-14 08:00', 4)")
        _batch(con, 4, "customers")
    mode = build_mode(settings, D)
    assert mode.full_refresh and mode.reason.startswith("customer master changed")
    changed = settings.with_overrides(target="postgres", pg_dsn="postgresql://x@127.0.0.1/db")
    assert build_mode(changed, D).reason == "first build on this target"  # builds are per target
