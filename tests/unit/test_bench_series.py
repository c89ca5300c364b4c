"""The benchmark's series tables (kam.bench.series): the verdicts follow DESIGN.md §6's targets."""

from __future__ import annotations

import re

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


def test_the_latest_figure_of_each_target_replaces_the_earlier_one_at_the_top(tmp_path):
    from kam.bench.report import LATEST_END, LATEST_START, update_latest

    report = tmp_path / "benchmarks.md"
    report.write_text(f"# Benchmarks\n\n{LATEST_START}\n| DESIGN.md §6 target | latest figure | met? | measured |\n"
                      f"|---|---|---|---|\n| peak RSS < 4 GB | 1,541 MB | yes | 2026-12-04, make bench |\n"
                      f"{LATEST_END}\n\n## Runs\n")
    update_latest(report, [("dbt build ≤ 1.5× fair floor", "2.58×", False), ("growth and history", "–", None)],
                  "make bench")
    update_latest(report, [("dbt build ≤ 1.5× fair floor", "1.40×", True)], "make bench")
    text = report.read_text()
    assert "| peak RSS < 4 GB | 1,541 MB | yes | 2026-12-04, make bench |" in text  # kept
    assert "| dbt build ≤ 1.5× fair floor | 1.40× | yes |" in text and "2.58×" not in text
    assert re.search(r"\| 1\.40× \| yes \| \d{4}-\d\d-\d\d \d\d:\d\d, make bench \|", text)  # the time of day too
    assert "growth and history" not in text  # not measured: not a figure
    assert text.endswith("\n## Runs\n")


def test_kam_bench_appends_to_the_repositorys_benchmarks_page_by_default():
    from pathlib import Path

    from kam.cli import build_parser
    from kam.config import REPO_ROOT

    report = Path(build_parser().parse_args(["bench"]).report)
    assert report == REPO_ROOT / "docs" / "benchmarks.md" and report.is_file()
