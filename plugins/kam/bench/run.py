"""``kam bench``: generate, run the real DAGs, measure the floors and the baseline, reconcile, report."""

from __future__ import annotations

import datetime as dt
import time

import duckdb

from kam.bench.airflow_stats import build_seconds, task_figures
from kam.bench.baseline import pandas_baseline
from kam.bench.fair_floor import compare, fair_floor
from kam.bench.floors import floor_job, load_floor, published_core, same_monthly
from kam.bench.models_sql import models_sql, same_marts
from kam.bench.report import BenchReport, Figure
from kam.config import Settings
from kam.marts import PUBLISHED_MARTS
from kam.memory import self_peak_mb
from kam.transform.runner import target_dir


def _timed(func, *args):
    started = time.monotonic()
    result = func(*args)
    return time.monotonic() - started, self_peak_mb(), result


def _measured(func, *args):
    """Run ``func`` in a fresh child process: its own wall time and peak RSS, not ours."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_timed, (func, *args))


def _timed_pipeline(settings: Settings, run_date: dt.date, echo):
    from kam.airflow.orchestrate import run_pipeline

    started = time.monotonic()
    outcomes = run_pipeline(settings, run_date, echo=echo)
    seconds = time.monotonic() - started
    if not all(o.success for o in outcomes):
        failed = next(o for o in outcomes if not o.success)
        raise RuntimeError(f"benchmark pipeline failed in DAG {failed.dag_id}; log: {failed.log_path}")
    return seconds, outcomes


def _spark_run(settings: Settings, run_date: dt.date, echo) -> dict:
    """The same run on the Spark target (its own KAM_HOME beside the DuckDB one, the same landing)."""
    from kam.airflow.orchestrate import ensure_airflow

    spark = settings.with_overrides(target="spark", kam_home=settings.kam_home.parent / "spark_home")
    ensure_airflow(spark)
    echo(f"the same run on the Spark target ({spark.spark_master}) …")
    seconds, outcomes = _timed_pipeline(spark, run_date, echo)
    stages = task_figures(spark)
    peaks = [peak for _, peak in stages.values() if peak is not None]
    return {"seconds": seconds, "dbt_build_seconds": build_seconds(spark), "master": spark.spark_master,
            "stages": {k: v[0] for k, v in stages.items()}, "peak_rss_mb": max(peaks, default=None),
            "parquet_dir": str(spark.parquet_dir)}


def _same_published(duck_parquet, spark_parquet) -> dict[str, bool]:
    """Per mart: the Spark target's Parquet copies hold the DuckDB target's rows (count, and for the
    scorecard the tiers and revenue per month; tests/e2e/test_spark_target.py compares every value)."""
    checks = {m: "select count(*) from read_parquet('{d}/" + m + "/*.parquet')" for m in PUBLISHED_MARTS}
    checks["customer_value_monthly tiers and revenue"] = (
        "select as_of_month, tier, count(*), sum(revenue) from read_parquet('{d}/customer_value_monthly/*.parquet') "
        "group by all order by all")
    with duckdb.connect() as con:
        return {name: con.execute(sql.format(d=duck_parquet)).fetchall() == con.execute(
                    sql.format(d=spark_parquet)).fetchall() for name, sql in checks.items()}


def run_bench(settings: Settings, customers: int, months: int, seed: int, run_date: dt.date,
              generate_data: bool = True, echo=print, volumes: dict[str, int | None] | None = None,
              spark: bool = False, cache=None, on_pipeline=None) -> BenchReport:
    """The full run covers everything up to the day before ``run_date``; then the last
    day's delivery (daily files) lands and the daily incremental run is measured.
    ``spark``: both runs again on the Spark target, on the same files (``report.spark``).
    ``cache``: the data cache folder (:mod:`kam.bench.data`). ``on_pipeline`` gets a line of the
    pipeline's figures as soon as they are measured (before the floors)."""
    import shutil

    from kam.airflow.orchestrate import ensure_airflow
    from kam.bench.data import landing_for

    landing = settings.landing_dir
    held = landing.parent / "held_back_last_day"
    daily: list[str] = []
    if generate_data:
        echo(f"landing: {customers:,} customers × {months} months in {landing} …")
        summary = landing_for(settings, cache, echo, customers=customers, months=months, seed=seed,
                              end_date=run_date, daily_tail=True, **(volumes or {}))
        rows = summary.rows
        daily = [f for f in summary.last_day_files if "_daily_" in f]
        for name in daily:
            (held / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(landing / name, held / name)
    else:
        rows = {}
    ensure_airflow(settings)  # one-time set-up (metadata DB migration) is not part of a run
    full_date = run_date - dt.timedelta(days=1) if daily else run_date
    seconds, outcomes = _timed_pipeline(settings, full_date, echo)
    report = BenchReport(customers, months, rows, pipeline_seconds=seconds)
    report.dag_seconds = {o.dag_id: o.seconds for o in outcomes}
    full_stages = task_figures(settings)
    # the largest task of either run, from the tasks' own figures: the kernel's peak of our
    # children counts what this process held when it forked them (the generator's frames)
    peaks = [peak for _, peak in full_stages.values() if peak is not None]
    full_build = build_seconds(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = dict(con.execute("select source, sum(rows_read) from ops.ingest_batches group by 1").fetchall())
        report.ingest_by_format = {fmt: (int(rows), float(seconds)) for fmt, rows, seconds in con.execute(
            # each batch's own work: files checked as a group overlap between started_at and finished_at
            "select file_format, sum(rows_read), sum(coalesce(seconds, epoch(finished_at - started_at))) "
            "from ops.ingest_batches "
            "where status in ('loaded', 'partial') group by 1").fetchall()}
    echo("load floor (DuckDB's readers into persistent tables) …")
    seconds, peak, by_format = _measured(load_floor, landing, settings.tmp_dir / "load_floor.duckdb",
                                         settings.duckdb_memory_limit, str(settings.tmp_dir))
    report.load_floor_by_format = by_format
    report.load_floor = Figure("load floor: DuckDB's readers into persistent tables, the files of the full run",
                               seconds, sum(rows for rows, _ in by_format.values()), peak)
    echo("the dbt models' SQL alone (one DuckDB session) …")
    sql_out = settings.tmp_dir / "models_sql.duckdb"
    seconds, peak, _ = _measured(models_sql, target_dir(settings) / "manifest.json", settings.warehouse_path,
                                 sql_out, settings.duckdb_memory_limit, str(settings.tmp_dir))
    report.models_sql = Figure("the dbt models' SQL alone: one DuckDB session, no dbt, tests, checks or publication",
                               seconds, None, peak)
    marts_equal = same_marts(settings.warehouse_path, sql_out, list(PUBLISHED_MARTS))
    sql_out.unlink(missing_ok=True)
    if spark:
        report.spark = {"full": _spark_run(settings, full_date, echo)}
    if daily:
        for name in daily:
            shutil.move(held / name, landing / name)
        echo("daily incremental run (the last day's delivery) …")
        seconds, outcomes = _timed_pipeline(settings, run_date, echo)
        daily_stages = task_figures(settings)
        report.daily = {"seconds": seconds, "dbt_build_seconds": build_seconds(settings),
                        "full_dbt_build_seconds": full_build,
                        "dags": {o.dag_id: o.seconds for o in outcomes},
                        "stages": {k: v[0] for k, v in daily_stages.items()}}
        peaks += [peak for _, peak in daily_stages.values() if peak is not None]
        if spark:
            report.spark["daily"] = _spark_run(settings, run_date, echo)
    report.peak_rss_mb = max(peaks, default=0.0)
    if on_pipeline is not None:
        on_pipeline(f"* measured: whole pipeline {report.pipeline_seconds:.1f} s ("
                    + ", ".join(f"{stage} {seconds:.1f} s" for stage, (seconds, _) in full_stages.items())
                    + (f"); daily incremental run {report.daily['seconds']:.1f} s" if report.daily else ")")
                    + f"; peak RSS {report.peak_rss_mb:,.0f} MB; the floors follow\n")

    report.rows = report.rows or {k: int(v) for k, v in loaded.items()}
    report.models_sql.rows = report.rows.get("orders")
    pub_lines, pub_revenue, pub_monthly = published_core(settings.published_path)
    stage_rows = {"ingest": int(sum(loaded.values())), "dbt build": report.rows.get("orders"),
                  "audit": pub_lines, "publish": pub_lines}
    for stage, (seconds, peak) in full_stages.items():
        report.stages.append(Figure(stage, seconds, stage_rows.get(stage), peak))

    echo("two-mart floor (one DuckDB SQL script) …")
    seconds, peak, floor = _measured(floor_job, landing, run_date, settings.duckdb_memory_limit,
                                     str(settings.tmp_dir))
    report.floor = Figure("two-mart floor: order lines and revenue per customer-month, DuckDB SQL script",
                          seconds, report.rows.get("orders"), peak)
    echo("fair engine floor (customer_value_monthly and customer_tier_history by hand, one DuckDB script) …")
    fair_db = settings.tmp_dir / "fair_floor.duckdb"
    seconds, peak, _ = _measured(fair_floor, landing, run_date, fair_db, settings.dbt_project_dir,
                                 settings.duckdb_memory_limit, str(settings.tmp_dir))
    report.fair_floor = Figure("fair engine floor: customer_value_monthly + customer_tier_history by hand, "
                               "one DuckDB script from the landing files", seconds, report.rows.get("orders"), peak)
    report.fair_agreement = compare(fair_db, settings.published_path)
    fair_db.unlink(missing_ok=True)
    echo("pandas baseline …")
    seconds, peak, baseline = _measured(pandas_baseline, landing, run_date)
    report.pandas = Figure("pandas baseline", seconds, report.rows.get("orders"), peak)

    report.reconciled = {
        "order_lines": {"pipeline": pub_lines, "floor": floor[0], "pandas": baseline[0]},
        "revenue": {"pipeline": round(pub_revenue, 2), "floor": round(floor[1], 2), "pandas": round(baseline[1], 2)},
        "order_lines_equal": pub_lines == floor[0] == baseline[0],
        "revenue_equal": round(pub_revenue, 2) == round(floor[1], 2) == round(baseline[1], 2),
        "customer_month_revenue_equal": same_monthly(pub_monthly, floor[2]) and same_monthly(floor[2], baseline[2]),
        "models_sql_marts_differ": sorted(m for m, same in marts_equal.items() if not same),
        "models_sql_marts_equal": all(marts_equal.values()),
        "fair_floor_marts_equal": all(a["share_equal"] == 1.0 and a["floor_rows"] == a["pipeline_rows"]
                                      for a in report.fair_agreement.values()),
    }
    if spark:
        same = _same_published(settings.parquet_dir, report.spark["full"]["parquet_dir"])
        report.reconciled["spark_marts_differ"] = sorted(m for m, ok in same.items() if not ok)
        report.reconciled["spark_marts_equal"] = all(same.values())
    return report
