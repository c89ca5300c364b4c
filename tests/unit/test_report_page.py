"""The report from a small hand-made published file: what a real publication may hold and
the generator rarely makes (missing drivers, an alert for a customer without a scorecard row,
a month without revenue, no tier change, an open current month)."""

from __future__ import annotations

import datetime as dt
import json
import re

import duckdb
import pytest

from kam.errors import KamError
from kam.report import write_report
from kam.report.source import duckdb_file

SCHEMA = """
create table customer_value_monthly as select * from (values
  ('c1', date '2026-01-01', true,  'A', 'Key account A', 'A级大客户', 'key',   false, 'star',     900.0, 80.0, 70.0),
  ('c2', date '2026-01-01', true,  'C', 'Small account C', 'C级小客户', 'small', true,  'cash_cow', 100.0, 60.0, 20.0),
  ('c3', date '2026-01-01', true,  'P', 'Potential customer', '潜在客户', 'potential', false, null, 0.0, null, 55.0),
  ('c1', date '2026-02-01', true,  'A', 'Key account A', 'A级大客户', 'key',   false, 'star',     950.0, 81.0, 70.0),
  ('c2', date '2026-02-01', true,  'D', 'Small account D', 'D级小客户', 'small', false, 'maintain', 0.0, null, null),
  ('c1', date '2026-03-01', false, 'A', 'Key account A', 'A级大客户', 'key',   false, 'star',     990.0, 82.0, 71.0)
) t(customer_id, as_of_month, is_complete_month, tier, tier_label_en, tier_label_zh, size_class,
    is_pseudo_key_account, value_quadrant, revenue, current_value_score, potential_value_score);
create table revenue_concentration as select * from (values
  (date '2026-01-01', 2, 1000.0, 0.9, 1, 0.5, 0.4),
  (date '2026-02-01', 1, 950.0, 1.0, 1, 1.0, 0.0),
  (date '2026-03-01', 1, 990.0, 1.0, 1, 1.0, 0.0)
) t(as_of_month, customers, revenue, top20_share, customers_for_80pct, customers_for_80pct_share, gini);
create table tier_migration as select * from (values
  (date '2026-01-01', 'new', 'A', false, 1, 900.0), (date '2026-01-01', 'new', 'C', false, 1, 100.0),
  (date '2026-01-01', 'new', 'P', false, 1, 0.0),
  (date '2026-02-01', 'A', 'A', true, 1, 950.0), (date '2026-02-01', 'C', 'D', false, 1, 0.0)
) t(as_of_month, from_tier, to_tier, is_same_tier, customers, revenue);
create table customer_alerts as select * from (values
  ('c2', date '2026-02-01', 'churn_risk', 'revenue 0 in the last 12 months'),
  ('gone', date '2026-02-01', 'overdue_payment', 'overdue 5 by more than 30 days')
) t(customer_id, as_of_month, alert_type, reason);
create table visit_coverage as select * from (values
  (date '2026-02-01', 'A', 30, 1, 1, 1.0)
) t(as_of_month, tier, max_days_between_visits, accounts, accounts_within_plan, coverage_rate);
create table customer_tier_changes as select * from (values
  ('c2', date '2026-02-01', 'C', 'D', 'demotion', 40.0, null, null, null)
) t(customer_id, change_month, from_tier, to_tier, direction, previous_value_score, value_score,
    top_moving_dimension, top_moving_dimension_change);
create table publications as select 3 as publication_id, date '2026-03-05' as run_date, 'published' as status;
"""


@pytest.fixture
def published(tmp_path):
    path = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    con.close()
    return path


def figures_of(path) -> dict:
    return json.loads(re.search(r"const FIGURES = (\{.*?\});\nconst drawn", path.read_text(), re.S).group(1))


def test_the_report_opens_on_the_latest_complete_month_and_survives_missing_values(published, tmp_path):
    out = tmp_path / "report.html"
    with duckdb_file(published) as src:
        written = write_report(src, out, months=12)
    assert written.month == dt.date(2026, 2, 1)  # March is still open
    text = out.read_text()
    assert "publication #3, run date 2026-03-05" in text
    assert '<option value="2026-02-01" selected>2026-02</option>' in text
    assert "2026-03 (open)" in text
    figs = figures_of(out)
    assert written.charts == len(figs) == 1 + 5 * 3  # tier mix + 5 charts per month
    # the alert of a customer without a scorecard row is listed, with no tier
    assert "gone" in text and "overdue 5 by more than 30 days" in text
    # a tier change without a driver shows a dash
    assert "C · C级小客户 Small account C → D · D级小客户 Small account D" in text
    # tier mix: the months and customers per tier as in the mart
    mix = {t["name"].split(" ")[0]: t["y"] for t in figs["tier_mix"]["data"]}
    assert mix == {"A": [1, 1, 1], "C": [1, 0, 0], "D": [0, 1, 0], "P": [1, 0, 0]}
    # migration: 'new' is a row of its own; empty cells stay empty
    jan = figs["migration_202601"]["data"][0]
    assert jan["y"] == ["新 new"] and jan["x"] == ["A", "C", "P"] and jan["z"] == [[1, 1, 1]]
    # the quadrant shows scored customers only, the pseudo key account in its own trace
    q = {t["name"]: [c[0] for c in t["customdata"]] for t in figs["quadrant_202601"]["data"]}
    assert q == {"客户 customer": ["c1"], "伪大客户 pseudo key account": ["c2"]}


def test_a_month_can_be_asked_for_and_an_unknown_month_is_refused(published, tmp_path):
    with duckdb_file(published) as src:
        written = write_report(src, tmp_path / "r.html", month=dt.date(2026, 1, 1), months=1)
        assert written.month == dt.date(2026, 1, 1) and written.months == 2  # the asked month joins the picker
        with pytest.raises(KamError, match="no published month 2025-01-01: the marts hold 2026-01 to 2026-03"):
            write_report(src, tmp_path / "x.html", month=dt.date(2025, 1, 1))
    assert not (tmp_path / "x.html").exists()


def test_the_report_source_cannot_read_other_files(published, tmp_path):
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with duckdb_file(published) as src, pytest.raises(duckdb.PermissionException):
        src.frame(f"select * from read_csv('{tmp_path / 'secret.csv'}')")
