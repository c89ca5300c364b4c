"""The benchmark's series tables (kam.bench.series): the verdicts follow DESIGN.md §6's targets."""

from __future__ import annotations

from kam.bench.series import growth_markdown, history_markdown


def _run(customers: int, rows: int, seconds: float) -> dict:
    return {"customers": customers, "months": 36, "rows": rows, "order_lines": rows // 2, "full_seconds": seconds,
            "full_dbt_build": seconds / 2, "full_stages": {"ingest": seconds / 4}}


def test_growth_is_met_when_time_grows_no_faster_than_rows():
    linear = growth_markdown([_run(10_000, 1_000_000, 100.0), _run(30_000, 3_000_000, 290.0)])
    assert "at worst: **0.97**" in linear and ": met" in linear
    worse = growth_markdown([_run(10_000, 1_000_000, 100.0), _run(30_000, 3_000_000, 360.0)])
    assert "at worst: **1.20**" in worse and "not met" in worse
    assert "xychart-beta" in worse and "bar [100, 360]" in worse and "line [100, 300]" in worse


def test_history_compares_the_daily_runs_at_the_longest_and_shortest_history():
    def run(months: int, daily: float) -> dict:
        return {"months": months, "customers": 10_000, "rows": months * 1000, "full_seconds": 100.0,
                "daily_rows": 2_000, "daily_seconds": daily, "daily_dbt_build": daily / 2,
                "daily_stages": {"ingest": 10.0}}

    assert "**1.40×** (target ≤ 1.5×: met)" in history_markdown([run(24, 50.0), run(72, 70.0)])
    assert "**1.60×** (target ≤ 1.5×: not met)" in history_markdown([run(24, 50.0), run(72, 80.0)])
