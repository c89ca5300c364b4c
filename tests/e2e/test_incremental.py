"""Incremental daily runs give exactly the marts of a full rebuild (issue: performance).

Real `kam run` through the DAGs on generated data. The last day's delivery (daily
files of orders, complaints and visits: what is dated or updated that day) and the
late corrections are held back, then land one after the other; after each
incremental run, a full rebuild of the same state must give the very same tables,
row for row: after each, a ``dbt build --full-refresh`` (kam's own build step, recorded
as kam records it) on a copy of the home. The first run is ``kam run --full-refresh``: the
flag reaches dbt through the DAG run's conf.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import published_tables, run_kam

END = dt.date(2026, 10, 14)  # mid-month: the daily run recomputes only this month


def _last_build(home: Path) -> tuple:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("""select mode, reason, rebuild_from_month, success from ops.dbt_builds
                              order by finished_at desc limit 1""").fetchone()
    finally:
        con.close()


def _test_sql(home: Path, prefix: str) -> str:
    """The SQL dbt ran for the data test whose id starts with ``prefix`` in the last build."""
    results = json.loads((home / "dbt" / "target" / "run_results.json").read_text())["results"]
    return next(r["compiled_code"] for r in results if r["unique_id"].startswith(prefix))


SCORECARD_TEST = "test.kam.unique_combination_customer_value_monthly_customer_id__as_of_month"
FACT_TEST = "test.kam.unique_fct_order_lines_order_line_id"


def _unit_tests_run(home: Path) -> int:
    results = json.loads((home / "dbt" / "target" / "run_results.json").read_text())["results"]
    return sum(r["unique_id"].startswith("unit_test.") for r in results)


def _published(home: Path) -> dict:
    return published_tables(home / "published" / "analytics.duckdb")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    from kam.generate import generate

    root = tmp_path_factory.mktemp("incremental")
    landing, held = root / "landing", root / "held"
    summary = generate(landing, customers=80, months=13, seed=11, end_date=END, daily_tail=True)
    daily = [f for f in summary.last_day_files if "_daily_" in f]
    corrections = [f for f in summary.last_day_files if "_corrections_" in f]
    assert daily and corrections
    for name in daily + corrections:
        (held / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(landing / name, held / name)
    home = root / "home"
    run_kam(["run", "--landing", str(landing), "--date", (END - dt.timedelta(days=1)).isoformat(), "--full-refresh"],
            home)
    assert _last_build(home)[:2] == ("full-refresh", "requested (--full-refresh)")  # the flag, not the new home
    return {"landing": landing, "held": held, "home": home, "daily": daily, "corrections": corrections}


def _land(staged, names: list[str]) -> None:
    for name in names:
        shutil.copy(staged["held"] / name, staged["landing"] / name)


def _incremental_then_full(staged, full_on_copy: Path) -> tuple[tuple, dict, dict]:
    """An incremental `kam run`, then a full rebuild of the same state: kam's build step with
    ``full_refresh`` on a copy of the home (``full_on_copy``), whose marts are compared with
    what the incremental run published."""
    home, landing = staged["home"], staged["landing"]
    run_kam(["run", "--landing", str(landing), "--date", END.isoformat()], home)
    build = _last_build(home)
    incremental = _published(home)
    # the data tests of a monthly model check the months the build rewrote; a fact's, every row
    month_filter = f"as_of_month >= cast('{build[2]:%Y-%m-%d}' as date)"
    assert month_filter in _test_sql(home, SCORECARD_TEST)
    assert "dbt_subquery" not in _test_sql(home, FACT_TEST)
    # dbt's unit tests (fixed rows, not data) ran in the full build of these models and rules, not again
    assert _unit_tests_run(home) == 0
    rebuilt, full = full_on_copy, _full_build_on_copy(home, full_on_copy, landing)
    assert _last_build(rebuilt)[:2] == ("full-refresh", "requested (--full-refresh)")
    # a full build tests every row, and runs the unit tests
    assert "dbt_subquery" not in _test_sql(rebuilt, SCORECARD_TEST)
    assert _unit_tests_run(rebuilt) >= 10
    return build, incremental, full


def _full_build_on_copy(home: Path, copy: Path, landing: Path) -> dict:
    """kam's build step (:func:`kam.transform.runner.build`, what the DAG's dbt_build task calls) with
    ``full_refresh`` on a copy of the home; its marts, as :func:`_published` reads a published file."""
    from kam.config import Settings
    from kam.marts import PUBLISHED_MARTS
    from kam.targets import target_of
    from kam.transform.runner import build

    shutil.copytree(home, copy, symlinks=True)
    dbt_log = copy / "dbt" / "logs" / "dbt.log"
    logged = dbt_log.stat().st_size
    settings = Settings(kam_home=copy, landing_dir=landing)
    result, mode = build(settings, target_of(settings), END, full_refresh=True)
    assert result.success and mode.full_refresh, result.failures
    # the copy's build parsed only what changed: the original's saved manifest holds for the copy
    # (the warehouse path in dbt's profile is relative to dbt's working folder, the same in every home)
    with dbt_log.open("rb") as fh:
        fh.seek(logged)
        parse = fh.read().decode("utf-8", "replace")
    assert "Unable to do partial parsing" not in parse and "Running with dbt" in parse
    con = duckdb.connect(str(copy / "warehouse.duckdb"), read_only=True)
    try:
        out = {}
        for mart in PUBLISHED_MARTS:
            cols = [r[0] for r in con.execute(f"describe marts.{mart}").fetchall()]
            out[mart] = [cols, con.execute(f"select * from marts.{mart} order by all").fetchall()]
        return out
    finally:
        con.close()


def _assert_same(incremental: dict, full: dict) -> None:
    assert incremental.keys() == full.keys()
    for table in full:
        assert incremental[table][0] == full[table][0], f"{table}: columns differ"
        assert incremental[table][1] == full[table][1], f"{table}: incremental rows differ from a full rebuild"


def test_daily_delivery_recomputes_only_the_current_month_and_equals_a_full_rebuild(staged, tmp_path):
    _land(staged, staged["daily"])
    build, incremental, full = _incremental_then_full(staged, full_on_copy=tmp_path / "rebuilt")
    mode, reason, from_month, success = build
    assert success and mode == "incremental", reason
    # the day's new facts are in this month; payments that day update older lines (one from
    # April), but a payment changes receivables only from its own date: only this month is
    # recomputed, not the 13 months of history
    assert from_month == END.replace(day=1), from_month
    staged["daily_from_month"] = from_month
    _assert_same(incremental, full)
    # the day's orders are in: the fact holds lines dated on the run date
    cols, rows = full["fct_order_lines"]
    assert any(row[cols.index("order_date")] == END for row in rows)


def test_late_corrections_recompute_from_their_month_and_equal_a_full_rebuild(staged, tmp_path):
    _land(staged, staged["corrections"])
    build, incremental, full = _incremental_then_full(staged, full_on_copy=tmp_path / "rebuilt")
    mode, reason, from_month, success = build
    assert success and mode == "incremental", reason
    assert from_month < staged["daily_from_month"], "corrections touch older months"
    _assert_same(incremental, full)
