"""When a dbt build may be incremental, and from which month (kam.transform.runner.build_mode).

A real warehouse file with real ops and raw tables; no dbt run (the e2e test
tests/e2e/test_incremental.py proves incremental builds equal full ones)."""

from __future__ import annotations

import datetime as dt

import pytest

from kam.config import Settings
from kam.targets.duckdb import DuckDBTarget
from kam.transform.context import run_context_statements
from kam.transform.mode import build_mode, fingerprint
from kam.transform.runner import record_build
from kam.warehouse import warehouse

D = dt.date(2026, 10, 14)


def _write_context(settings, run_date, rebuild_from_month):
    DuckDBTarget(settings).write_run_context(run_context_statements(settings, run_date, rebuild_from_month),
                                             run_date, rebuild_from_month)


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
    _write_context(settings, D, mode.rebuild_from_month)  # what dbt reads (not --vars: no re-parse)
    with warehouse(settings) as con:
        assert con.execute("select * from ops.kam_run_context").fetchall() == [(D, dt.date(2026, 9, 1))]
    _write_context(settings, D, None)
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


@pytest.fixture
def with_fact(settings):
    """raw.orders with payment columns, and the fact a good build made of batch 1."""
    with warehouse(settings) as con:
        con.execute("drop table raw.orders")
        con.execute("""create table raw.orders (order_id varchar, line_no bigint, customer_id varchar,
                       order_date date, net_amount decimal(18, 2), status varchar, paid_amount decimal(18, 2),
                       paid_date date, updated_at timestamp, _batch_id bigint, _row_number bigint)""")
        con.execute("""insert into raw.orders values
            ('SO1', 1, 'C1', date '2025-03-02', 100, 'confirmed', null, null, timestamp '2025-03-02 09:00', 1, 1),
            ('SO2', 1, 'C1', date '2026-10-10', 50, 'confirmed', null, null, timestamp '2026-10-10 09:00', 1, 2),
            ('SO3', 1, 'C1', date '2025-06-05', 70, 'confirmed', 70, date '2025-07-01',
             timestamp '2025-07-01 00:00', 1, 3)""")
        con.execute("create schema if not exists marts")
        con.execute("""create table marts.fct_order_lines as select order_id, line_no, order_date,
                       _batch_id as source_batch_id from raw.orders""")
    _built(settings, D - dt.timedelta(days=1))
    return settings


def _new_version(settings, batch_id: int, values: str) -> None:
    with warehouse(settings) as con:
        con.execute(f"insert into raw.orders values {values}")
        _batch(con, batch_id, "orders")


def test_a_payment_of_an_old_line_recomputes_from_the_payment_month_not_the_order_month(with_fact):
    # SO1 (March 2025) paid on the run date: receivables change from the payment on
    _new_version(with_fact, 3, "('SO1', 1, 'C1', date '2025-03-02', 100, 'confirmed', 100, date '2026-10-14', "
                               "timestamp '2026-10-14 00:00', 3, 1)")
    mode = build_mode(with_fact, D)
    assert not mode.full_refresh and mode.rebuild_from_month == dt.date(2026, 10, 1)


def test_a_changed_payment_recomputes_from_the_earlier_of_both_payment_dates(with_fact):
    # SO3 was paid on 2025-07-01; the ERP now says 2025-09-15: July's receivables change too
    _new_version(with_fact, 3, "('SO3', 1, 'C1', date '2025-06-05', 70, 'confirmed', 70, date '2025-09-15', "
                               "timestamp '2026-10-14 00:00', 3, 1)")
    assert build_mode(with_fact, D).rebuild_from_month == dt.date(2025, 7, 1)


def test_any_other_change_recomputes_from_the_order_month(with_fact):
    # SO1 paid and its amount corrected: revenue of March 2025 changes
    _new_version(with_fact, 3, "('SO1', 1, 'C1', date '2025-03-02', 90, 'confirmed', 90, date '2026-10-14', "
                               "timestamp '2026-10-14 00:00', 3, 1)")
    assert build_mode(with_fact, D).rebuild_from_month == dt.date(2025, 3, 1)


def test_a_line_the_fact_does_not_hold_from_the_last_good_build_recomputes_from_its_order_month(with_fact):
    # a failed or killed build already merged a version of SO1 from batch 3 into the fact:
    # the fact is no longer the last good build's, so the payment rule does not apply
    _new_version(with_fact, 3, "('SO1', 1, 'C1', date '2025-03-02', 100, 'confirmed', 100, date '2026-10-14', "
                               "timestamp '2026-10-14 00:00', 3, 1)")
    with warehouse(with_fact) as con:
        con.execute("update marts.fct_order_lines set source_batch_id = 3 where order_id = 'SO1'")
    assert build_mode(with_fact, D).rebuild_from_month == dt.date(2025, 3, 1)
    # a brand-new line dated in an older month: from that month
    with warehouse(with_fact) as con:
        con.execute("update marts.fct_order_lines set source_batch_id = 1 where order_id = 'SO1'")
    _new_version(with_fact, 4, "('SO9', 1, 'C1', date '2026-02-20', 10, 'confirmed', null, null, "
                               "timestamp '2026-10-14 00:00', 4, 1)")
    assert build_mode(with_fact, D).rebuild_from_month == dt.date(2026, 2, 1)
