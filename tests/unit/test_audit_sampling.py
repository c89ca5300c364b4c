"""The audit's GX pass on large marts: only the suite's columns, a repeatable sample
above KAM_GX_MAX_ROWS (issue: performance). Real DuckDB, real GX, the real suite."""

from __future__ import annotations

import json

import duckdb
import pytest

from kam.config import REPO_ROOT
from kam.quality.audit import AuditResult, _mart_frame
from kam.quality.gx_suites import suite_columns, validate_frame

SUITE = REPO_ROOT / "expectations" / "mart_fct_order_lines.json"


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("""create table marts.fct_order_lines as
        select 'SO' || i || '-1' as order_line_id, 'C' || (i % 50) as customer_id,
               date '2026-01-01' + cast(i % 300 as integer) as order_date,
               case when i % 10 = 0 then 'cancelled' else 'confirmed' end as status,
               'product' as product_category, cast(i as double) as net_amount,
               cast(i % 7 as double) as quantity, 'unused' as currency
        from range(5000) t(i)""")
    yield con
    con.close()


def test_suite_columns_are_what_the_expectations_read(tmp_path):
    columns = suite_columns(SUITE)
    assert "order_line_id" in columns and "net_amount" in columns and "currency" not in columns
    conditional = tmp_path / "s.json"
    conditional.write_text(json.dumps({"name": "s", "expectations": [
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "a", "row_condition": 'b=="x"', "condition_parser": "pandas"}}]}))
    assert suite_columns(conditional) is None  # may read other columns: fetch all


def test_large_mart_is_validated_on_a_repeatable_sample_of_its_checked_columns(con):
    result = AuditResult()
    frame = _mart_frame(con, "fct_order_lines", SUITE, 1000, result)
    assert 850 < len(frame) < 1150 and set(frame.columns) == set(suite_columns(SUITE))
    assert result.sampled == {"fct_order_lines": {"validated_rows": len(frame), "rows": 5000}}
    again = _mart_frame(con, "fct_order_lines", SUITE, 1000, AuditResult())
    assert sorted(frame["order_line_id"]) == sorted(again["order_line_id"])  # repeatable
    outcome = validate_frame(frame, SUITE, parameters={"min_date": "2000-01-01", "run_date": "2026-12-31"})
    assert outcome.success, outcome


def test_small_mart_is_validated_whole_and_a_bad_row_fails(con):
    con.execute("update marts.fct_order_lines set status = 'lost' where order_line_id = 'SO7-1'")
    result = AuditResult()
    frame = _mart_frame(con, "fct_order_lines", SUITE, 10_000, result)
    assert len(frame) == 5000 and result.sampled == {}
    outcome = validate_frame(frame, SUITE, parameters={"min_date": "2000-01-01", "run_date": "2026-12-31"})
    assert not outcome.success


def test_compound_uniqueness_reads_only_its_columns():
    """customer_value_monthly's suite checks its key with expect_compound_columns_to_be_unique: the
    frame is still only the suite's columns (it was every column of the mart: 2.3 s of 5.3 s at 10k)."""
    suite = REPO_ROOT / "expectations" / "mart_customer_value_monthly.json"
    columns = suite_columns(suite)
    assert columns is not None and {"customer_id", "as_of_month"} <= set(columns)
    assert "gross_margin" not in columns and "latest_sales_stage" not in columns  # columns no expectation reads


def test_a_failing_suite_is_explained_with_counts_and_values(con):
    """validate_then_explain asks GX only pass/fail first; a failure is validated again with details."""
    from kam.quality.gx_suites import validate_then_explain

    params = {"min_date": "2000-01-01", "run_date": "2026-12-31"}
    frame = _mart_frame(con, "fct_order_lines", SUITE, 10_000, AuditResult())
    passed = validate_then_explain(frame, SUITE, parameters=params)
    assert passed.success and passed.evaluated == 6, passed
    con.execute("update marts.fct_order_lines set status = 'lost' where order_line_id in ('SO7-1', 'SO8-1')")
    frame = _mart_frame(con, "fct_order_lines", SUITE, 10_000, AuditResult())
    failed = validate_then_explain(frame, SUITE, parameters=params)
    assert not failed.success
    (failure,) = [f for f in failed.failures if f.column == "status"]
    assert failure.unexpected_count == 2 and sorted(failure.unexpected_values) == ["lost", "lost"]
