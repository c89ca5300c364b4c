"""Drift checks against the served publication, on small hand-made DuckDB files."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import pytest

from kam.config import REPO_ROOT
from kam.quality.drift import check_drift, load_limits

LIMITS = REPO_ROOT / "expectations" / "drift.json"
RUN_DATE = dt.date(2026, 6, 15)
PUBLISHED_AT = dt.datetime(2026, 6, 15, 6, 0)


def write_marts(con, schema: str, key_accounts: int, revenue_by_month: dict[str, float]) -> None:
    con.execute(f"create schema if not exists {schema}")
    tiers = ["B"] * key_accounts + ["C"] * (100 - key_accounts)
    con.execute(f"create or replace table {schema}.customer_value_monthly as "
                f"select date '2026-06-01' as as_of_month, 'C' || i as customer_id, t as tier, "
                f"case when t in ('A', 'B') then 'key' else 'small' end as size_class "
                f"from (select unnest(range(100)) as i, unnest(?::varchar[]) as t)", [tiers])
    con.execute(f"create or replace table {schema}.fct_order_lines as "
                f"select cast(m || '-10' as date) as order_date, cast(v as decimal(18, 2)) as net_amount, "
                f"true as is_revenue from (select unnest(?::varchar[]) as m, unnest(?::double[]) as v)",
                [list(revenue_by_month), list(revenue_by_month.values())])


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(path))
    write_marts(con, "main", 20, {"2026-04": 1000.0, "2026-05": 2000.0, "2026-06": 500.0})
    con.execute("create table publications as select 7 as publication_id, 'published' as status, "
                "? as run_date, ? as started_at", [RUN_DATE, PUBLISHED_AT])
    con.close()
    return path


@pytest.fixture
def warehouse():
    con = duckdb.connect()
    con.execute("create schema raw; create table raw.orders (order_date date, _loaded_at timestamp, "
                "_batch_id bigint)")
    yield con
    con.close()


def test_nothing_moved_nothing_reported(served, warehouse):
    write_marts(warehouse, "marts", 20, {"2026-04": 1000.0, "2026-05": 2000.0, "2026-06": 900.0})
    report = check_drift(warehouse, served, LIMITS)
    assert report.baseline == "publication 7 (run date 2026-06-15)"
    assert (report.warnings, report.failures) == ([], [])  # June is still open: it may grow


@pytest.mark.parametrize("after,level", [(18, None), (12, "warnings"), (5, "failures")])
def test_key_account_count_change_is_graded(served, warehouse, after, level):
    write_marts(warehouse, "marts", after, {"2026-04": 1000.0, "2026-05": 2000.0, "2026-06": 500.0})
    report = check_drift(warehouse, served, LIMITS)
    key_lines = {name: [t for t in getattr(report, name) if "key accounts" in t]
                 for name in ("warnings", "failures")}
    if level is None:  # 2 accounts: below ignore_below
        assert key_lines == {"warnings": [], "failures": []}
    else:
        assert len(key_lines[level]) == 1 and f"key accounts 20 → {after}" in key_lines[level][0]
    assert report.measures["key_accounts"]["before"] == 20


def test_closed_month_restated_by_late_rows_is_a_reported_warning(served, warehouse):
    write_marts(warehouse, "marts", 20, {"2026-04": 1300.0, "2026-05": 2000.0, "2026-06": 500.0})
    warehouse.execute("insert into raw.orders values (date '2026-04-20', ?, 42)",
                      [PUBLISHED_AT + dt.timedelta(days=1)])
    report = check_drift(warehouse, served, LIMITS)
    assert report.failures == []
    assert report.warnings == ["restatement: closed month 2026-04 revenue 1,000.00 → 1,300.00 (30.00%), "
                               "explained by 1 late row(s) in batch(es) 42"]
    assert report.measures["restated_months"][0]["late_rows"] == 1


def test_closed_month_moving_without_late_data_refuses(served, warehouse):
    write_marts(warehouse, "marts", 20, {"2026-04": 1000.0, "2026-05": 1900.0, "2026-06": 500.0})
    warehouse.execute("insert into raw.orders values (date '2026-05-20', ?, 3)",
                      [PUBLISHED_AT - dt.timedelta(days=1)])  # loaded before: explains nothing
    report = check_drift(warehouse, served, LIMITS)
    assert len(report.failures) == 1 and "closed month 2026-05" in report.failures[0]
    assert "no late data" in report.failures[0]


def test_tier_share_shift_is_measured_in_points(served, warehouse):
    write_marts(warehouse, "marts", 50, {"2026-04": 1000.0, "2026-05": 2000.0, "2026-06": 500.0})
    report = check_drift(warehouse, served, LIMITS)
    share = report.measures["tier_share_max_change_pp"]
    assert share["change_pp"] == pytest.approx(30.0)
    assert any("share of tier" in f for f in report.failures)  # 30 pp > fail 25


def test_first_publication_has_nothing_to_compare(tmp_path, warehouse):
    report = check_drift(warehouse, tmp_path / "missing.duckdb", LIMITS)
    assert report.baseline is None and not report.failures


def test_limits_must_be_ordered(tmp_path):
    bad = json.loads(LIMITS.read_text(encoding="utf-8"))
    bad["tier_share_change_pp"] = {"warn": 30, "fail": 10}
    path = tmp_path / "drift.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match="tier_share_change_pp needs numbers warn <= fail"):
        load_limits(path)
    shutil.copy(LIMITS, path)
    assert load_limits(path)["key_accounts_change_pct"]["fail"] == 50
