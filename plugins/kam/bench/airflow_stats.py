"""Per-stage wall time of the pipeline, read from Airflow's task instances (its metadata DB)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import duckdb

from kam.config import Settings

STAGES = {"ingest": ("ingest", "ingest_"), "dbt build": ("build_and_publish", "dbt_build"),
          "audit": ("build_and_publish", "audit"), "publish": ("build_and_publish", "publish")}


def task_figures(settings: Settings) -> dict[str, tuple[float, float | None]]:
    """Per stage, from the last run of each DAG in Airflow's metadata DB: wall time (the
    task instances' start and end) and peak RSS (``peak_rss_mb`` in each task's XCom,
    see :mod:`kam.memory`; the largest task of the stage)."""
    db = settings.airflow_home / "airflow.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        last = "(select run_id from dag_run d where d.dag_id = {t}.dag_id order by id desc limit 1)"
        rows = con.execute(f"select dag_id, task_id, start_date, end_date from task_instance ti "
                           f"where run_id = {last.format(t='ti')}").fetchall()
        xcoms = con.execute(f"select dag_id, task_id, value from xcom x where key = 'return_value' "
                            f"and run_id = {last.format(t='x')}").fetchall()
    finally:
        con.close()
    peaks: dict[tuple[str, str], float] = {}
    for dag_id, task_id, value in xcoms:
        try:
            value = json.loads(value) if isinstance(value, str | bytes) else value  # Airflow 3 stores JSON text
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("peak_rss_mb"), int | float):
            peaks[(dag_id, task_id)] = float(value["peak_rss_mb"])
    out: dict[str, tuple[float, float | None]] = {}
    for stage, (dag_id, prefix) in STAGES.items():
        spans = [(dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e))
                 for d, t, s, e in rows if d == dag_id and t.startswith(prefix) and s and e]
        if spans:  # tasks of a stage run one after another (pool of one slot): first start to last end
            stage_peaks = [v for (d, t), v in peaks.items() if d == dag_id and t.startswith(prefix)]
            out[stage] = ((max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds(),
                          max(stage_peaks) if stage_peaks else None)
    return out


def build_seconds(settings: Settings) -> float:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select seconds from ops.dbt_builds order by finished_at desc limit 1").fetchone()[0]
