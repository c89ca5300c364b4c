"""``kam bench``: the pipeline at a chosen scale against the engine floor and a pandas baseline.

1. Generate a landing folder (``kam generate`` at ``--customers`` × ``--months``).
2. Run the real DAGs (``kam run``: ``ingest``, then ``build_and_publish``) on a
   fresh ``KAM_HOME``; per stage (ingest, dbt build, audit, publish) the wall
   time comes from Airflow's task instances, rows/s from the rows the stage
   handled, peak memory from the kernel's accounting of the child processes.
3. Compute the same core marts two other ways, in this process:
   (a) the *engine floor*: one hand-written DuckDB SQL script straight over the
   landing files; (b) a *pandas baseline*: what a user might write instead.
   The core marts are the order lines (latest version of each line up to the
   run date) and revenue per customer and month.
4. Reconcile the three (same line count, same revenue, same customer-month
   revenue), print the figures and ratios, and append them to
   ``docs/benchmarks.md`` with the machine's cores and memory.

Figures are measured, never asserted: the smoke test in ``make test`` only
checks that a tiny run works and reconciles.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.dbt import target_dir
from kam.marts import PUBLISHED_MARTS
from kam.memory import self_peak_mb

STAGES = {"ingest": ("ingest", "ingest_"), "dbt build": ("build_and_publish", "dbt_build"),
          "audit": ("build_and_publish", "audit"), "publish": ("build_and_publish", "publish")}


@dataclass
class Figure:
    name: str
    seconds: float
    rows: int | None = None
    peak_rss_mb: float | None = None

    @property
    def rows_per_second(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds > 0 else None


@dataclass
class BenchReport:
    customers: int
    months: int
    rows: dict[str, int]
    stages: list[Figure] = field(default_factory=list)
    pipeline_seconds: float = 0.0
    dag_seconds: dict[str, float] = field(default_factory=dict)
    floor: Figure | None = None
    pandas: Figure | None = None
    models_sql: Figure | None = None  # the dbt models' compiled SQL alone, one DuckDB session
    load_floor: Figure | None = None  # DuckDB's readers alone into persistent tables, the full run's files
    # per file format, (rows, seconds): the pipeline's batches (read to commit) and DuckDB's load floor
    ingest_by_format: dict[str, tuple[int, float]] = field(default_factory=dict)
    load_floor_by_format: dict[str, tuple[int, float]] = field(default_factory=dict)
    reconciled: dict[str, object] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    daily: dict = field(default_factory=dict)  # the daily incremental run after the full one

    @property
    def ok(self) -> bool:
        return bool(self.reconciled) and all(v is True for k, v in self.reconciled.items() if k.endswith("_equal"))

    def ratios(self) -> dict[str, float]:
        out = {}
        if self.floor and self.floor.seconds > 0:
            out["pipeline / engine floor"] = self.pipeline_seconds / self.floor.seconds
        if self.pandas and self.pipeline_seconds > 0:
            out["pandas / pipeline"] = self.pandas.seconds / self.pipeline_seconds
        stage = {f.name: f.seconds for f in self.stages}
        if self.load_floor and self.load_floor.seconds > 0 and "ingest" in stage:
            out["ingest / load floor"] = stage["ingest"] / self.load_floor.seconds
        if self.models_sql and self.models_sql.seconds > 0:
            out["pipeline / the models' SQL alone"] = self.pipeline_seconds / self.models_sql.seconds
            if "dbt build" in stage:
                out["dbt build / the models' SQL alone"] = stage["dbt build"] / self.models_sql.seconds
        if self.pipeline_seconds > 0 and "audit" in stage and "publish" in stage:
            out["(audit + publish) / pipeline"] = (stage["audit"] + stage["publish"]) / self.pipeline_seconds
        if self.daily and self.pipeline_seconds > 0:
            out["daily incremental run / full run"] = self.daily["seconds"] / self.pipeline_seconds
            out["daily incremental dbt build / full dbt build"] = (self.daily["dbt_build_seconds"]
                                                                  / self.daily["full_dbt_build_seconds"])
        return out

    def table(self) -> str:
        def fmt(v, spec):
            return "–" if v is None else format(v, spec)

        lines = ["| stage | wall s | rows | rows/s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
        for f in [*self.stages, *(x for x in (self.load_floor, self.floor, self.pandas, self.models_sql) if x)]:
            lines.append(f"| {f.name} | {f.seconds:.1f} | {fmt(f.rows, ',')} | "
                         f"{fmt(f.rows_per_second, ',.0f')} | {fmt(f.peak_rss_mb, ',.0f')} |")
        lines.append(f"| whole pipeline (both DAGs, incl. Airflow and dbt start-up; peak: the largest task) "
                     f"| {self.pipeline_seconds:.1f} | {self.rows.get('orders', 0):,} | – | {self.peak_rss_mb:,.0f} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        mem = _memory_gib()
        head = (f"### {dt.datetime.now():%Y-%m-%d %H:%M} — {self.customers:,} customers × {self.months} months "
                f"({', '.join(f'{k} {v:,}' for k, v in self.rows.items())})\n\n"
                f"Machine: {os.cpu_count()} cores, {mem:.1f} GiB, {platform.platform()}, "
                f"DuckDB {duckdb.__version__}.\n\n")
        ratios = "\n".join(f"* {k}: **{v:.2f}×**" for k, v in self.ratios().items())
        overhead = ", ".join(f"{k} {v:.1f} s" for k, v in self.dag_seconds.items())
        daily = ""
        if self.daily:
            d = self.daily
            dags = ", ".join(f"{k} {v:.1f} s" for k, v in d["dags"].items())
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in d.get("stages", {}).items())
            daily = (f"* daily incremental run (the last day's files): {d['seconds']:.1f} s "
                     f"(dbt build {d['dbt_build_seconds']:.1f} s vs {d['full_dbt_build_seconds']:.1f} s full; "
                     f"DAGs {dags}; tasks {stages})\n")
        by_format = ""
        if self.ingest_by_format:
            def speeds(figures):
                return ", ".join(f"{fmt} {rows / seconds:,.0f}" for fmt, (rows, seconds) in sorted(figures.items())
                                 if seconds > 0)
            by_format = (f"* ingest rows/s by file format, the pipeline's batches (read to commit): "
                         f"{speeds(self.ingest_by_format)}; DuckDB's load floor: "
                         f"{speeds(self.load_floor_by_format)}\n")
        return (head + self.table() + "\n\n" + ratios + f"\n* DAG wall times: {overhead}\n" + by_format + daily
                + f"* reconciliation: {json.dumps(self.reconciled, default=str)}\n")


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def _task_figures(settings: Settings) -> dict[str, tuple[float, float | None]]:
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


def _reader_sql(path: Path, files: ExitStack, folder: Path, all_varchar: bool) -> tuple[str, str]:
    """(file format, DuckDB reader call) for a landing file; a CSV that is not UTF-8 is read
    through a UTF-8 copy that lives as long as ``files`` (as the pipeline reads it)."""
    from kam.ingest.readers import utf8_copy

    fmt = {".parquet": "parquet", ".jsonl": "jsonl"}.get(path.suffix, "csv")
    if fmt == "csv":
        path = files.enter_context(utf8_copy(path, _sniffed_encoding(path), folder))
    p = str(path).replace("'", "''")
    return fmt, {"parquet": f"read_parquet('{p}')",
                 "jsonl": f"read_json('{p}', format='newline_delimited', records=true)",
                 "csv": f"read_csv('{p}', header=true{', all_varchar=true' if all_varchar else ''})"}[fmt]


def engine_floor(landing: Path, run_date: dt.date, con: duckdb.DuckDBPyConnection) -> tuple[int, float, list]:
    """The core marts in one DuckDB SQL script over the landing files (no checks, no lineage)."""
    from kam.ingest.readers import temp_directory

    with ExitStack() as files:
        return _engine_floor(landing, run_date, con, files, temp_directory(con))


def _engine_floor(landing: Path, run_date: dt.date, con: duckdb.DuckDBPyConnection, files: ExitStack,
                  folder: Path) -> tuple[int, float, list]:
    parts = []
    for path in sorted((landing / "orders").iterdir()):
        src = f"select * from {_reader_sql(path, files, folder, all_varchar=True)[1]}"
        parts.append(f"""select cast(order_id as varchar) as order_id, cast(line_no as integer) as line_no,
            cast(customer_id as varchar) as customer_id,
            cast(replace(cast(order_date as varchar), '/', '-') as date) as order_date,
            cast(replace(cast(net_amount as varchar), ',', '') as decimal(18, 2)) as net_amount,
            cast(status as varchar) as status, cast(updated_at as timestamp) as updated_at
            from ({src})""")
    con.execute(f"""
        create or replace temp table floor_lines as
        select * from ({' union all '.join(parts)})
        qualify row_number() over (partition by order_id, line_no order by updated_at desc) = 1
    """)
    con.execute(f"delete from floor_lines where order_date > date '{run_date.isoformat()}'")
    monthly = con.execute("""
        select customer_id, date_trunc('month', order_date) as month, sum(net_amount) as revenue
        from floor_lines where status <> 'cancelled' group by all order by all""").fetchall()
    lines, revenue = con.execute("select count(*), coalesce(sum(net_amount) filter (where status <> 'cancelled'), 0) "
                                 "from floor_lines").fetchone()
    return lines, float(revenue), monthly


def _sniffed_encoding(path: Path) -> str:
    """UTF-8 unless the first MiB does not decode as it (then GB18030): a floor's guess, not
    the pipeline's check of the whole file."""
    try:
        with path.open(encoding="utf-8") as fh:
            fh.read(1 << 20)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def load_floor(landing: Path, db_path: Path, memory_limit: str, tmp_dir: str) -> dict[str, tuple[int, float]]:
    """What DuckDB alone needs to land the same files: each file read by DuckDB's own reader
    (types detected by it) into a table of a new database file on disk, then checkpointed. No
    text copy, parsing rules, row checks, lineage, quarantine, manifest or GX. Per file format:
    (rows, seconds)."""
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path), config={"memory_limit": memory_limit, "temp_directory": tmp_dir})
    out: dict[str, tuple[int, float]] = {}
    try:
        landed = sorted(p for source in sorted(landing.iterdir()) if source.is_dir()
                        for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        for i, path in enumerate(landed):
            started = time.monotonic()
            with ExitStack() as files:
                fmt, src = _reader_sql(path, files, Path(tmp_dir), all_varchar=False)
                con.execute(f"create table f{i} as select * from {src}")
            con.execute("checkpoint")
            seconds = time.monotonic() - started
            rows = con.execute(f"select count(*) from f{i}").fetchone()[0]
            before = out.get(fmt, (0, 0.0))
            out[fmt] = (before[0] + rows, before[1] + seconds)
    finally:
        con.close()
        db_path.unlink(missing_ok=True)
    return out


def pandas_baseline(landing: Path, run_date: dt.date) -> tuple[int, float, list]:
    """The same core marts the way a pandas user would write them."""
    import pandas as pd

    frames = []
    for path in sorted((landing / "orders").iterdir()):
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        else:
            try:
                df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            except UnicodeDecodeError:
                df = pd.read_csv(path, dtype=str, encoding="gb18030")
        df = df[["order_id", "line_no", "customer_id", "order_date", "net_amount", "status", "updated_at"]].copy()
        df["net_amount"] = pd.to_numeric(df["net_amount"].astype(str).str.replace(",", "", regex=False))
        df["order_date"] = pd.to_datetime(df["order_date"].astype(str).str.replace("/", "-", regex=False),
                                          format="mixed")
        df["updated_at"] = pd.to_datetime(df["updated_at"].astype(str), format="mixed")
        df["line_no"] = pd.to_numeric(df["line_no"]).astype(int)
        frames.append(df)
    orders = pd.concat(frames, ignore_index=True)
    orders = orders.sort_values("updated_at").drop_duplicates(["order_id", "line_no"], keep="last")
    orders = orders[orders["order_date"] <= pd.Timestamp(run_date)]
    revenue = orders[orders["status"] != "cancelled"]
    monthly = (revenue.assign(month=revenue["order_date"].dt.to_period("M").dt.to_timestamp())
               .groupby(["customer_id", "month"], as_index=False)["net_amount"].sum()
               .sort_values(["customer_id", "month"]))
    rows = [(c, m.to_pydatetime(), round(float(v), 2)) for c, m, v in monthly.itertuples(index=False)]
    return len(orders), float(revenue["net_amount"].sum()), rows


def models_sql(manifest_path: Path, warehouse_path: Path, out_path: Path, memory_limit: str,
               tmp_dir: str) -> int:
    """The dbt models' own SQL (compiled by the full build), run in dependency order in one
    DuckDB session into ``out_path``: the same marts without dbt, Airflow, data tests, GX or
    publication, over the raw tables and seeds of the warehouse (attached read-only). What
    the pipeline adds over this is its orchestration and checks. Returns how many models ran."""
    manifest = json.loads(manifest_path.read_text())
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    uncompiled = sorted(node["name"] for node in models.values() if not node.get("compiled_code"))
    if uncompiled:
        raise RuntimeError(f"no compiled SQL for {uncompiled} in {manifest_path} (run a full build first)")
    here = {node["relation_name"]: f'"models_sql"."main"."{node["alias"]}"' for node in models.values()}
    order, done = [], set()

    def visit(uid: str) -> None:  # depth-first: a model after the models it reads
        if uid in done:
            return
        done.add(uid)
        for dep in models[uid]["depends_on"]["nodes"]:
            if dep in models:
                visit(dep)
        order.append(uid)

    for uid in sorted(models):
        visit(uid)
    out_path.unlink(missing_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp_dir,
                                 "preserve_insertion_order": False})
    try:
        con.execute(f"attach '{warehouse_path}' as warehouse (read_only)")
        con.execute(f"attach '{out_path}' as models_sql")
        for uid in order:
            node = models[uid]
            sql = node["compiled_code"]
            for theirs, ours in here.items():
                sql = sql.replace(theirs, ours)
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create {kind} {here[node['relation_name']]} as {sql}")
        con.execute("checkpoint models_sql")
        return len(order)
    finally:
        con.close()


def _same_marts(warehouse_path: Path, out_path: Path, marts: list[str]) -> dict[str, bool]:
    """Per mart: the models' SQL gave the same rows as the pipeline's build (both ways)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse_path}' as warehouse (read_only)")
        con.execute(f"attach '{out_path}' as models_sql (read_only)")
        out = {}
        for mart in marts:
            a, b = f"warehouse.marts.{mart}", f"models_sql.main.{mart}"
            out[mart] = con.execute(f"select not exists (select * from {a} except all select * from {b}) "
                                    f"and not exists (select * from {b} except all select * from {a})").fetchone()[0]
        return out
    finally:
        con.close()


def _floor_job(landing: Path, run_date: dt.date, memory_limit: str, tmp_dir: str):
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp_dir})
    try:
        return engine_floor(landing, run_date, con)
    finally:
        con.close()


def _timed(func, *args):
    started = time.monotonic()
    result = func(*args)
    return time.monotonic() - started, self_peak_mb(), result


def _measured(func, *args):
    """Run ``func`` in a fresh child process: its own wall time and peak RSS, not ours."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_timed, (func, *args))


def _published_core(path: Path) -> tuple[int, float, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        lines, revenue = con.execute("select count(*), coalesce(sum(net_amount) filter (where is_revenue), 0) "
                                     "from fct_order_lines").fetchone()
        monthly = con.execute("""select customer_id, date_trunc('month', order_date), sum(net_amount)
                                 from fct_order_lines where is_revenue group by all order by all""").fetchall()
    finally:
        con.close()
    return lines, float(revenue), monthly


def _same_monthly(a: list, b: list) -> bool:
    def norm(rows):
        return [(c, dt.date(m.year, m.month, 1), round(float(v), 2)) for c, m, v in rows]

    return norm(a) == norm(b)


def _timed_pipeline(settings: Settings, run_date: dt.date, echo):
    from kam.orchestrate import run_pipeline

    started = time.monotonic()
    outcomes = run_pipeline(settings, run_date, echo=echo)
    seconds = time.monotonic() - started
    if not all(o.success for o in outcomes):
        failed = next(o for o in outcomes if not o.success)
        raise RuntimeError(f"benchmark pipeline failed in DAG {failed.dag_id}; log: {failed.log_path}")
    return seconds, outcomes


def _build_seconds(settings: Settings) -> float:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select seconds from ops.dbt_builds order by finished_at desc limit 1").fetchone()[0]


def run_bench(settings: Settings, customers: int, months: int, seed: int, run_date: dt.date,
              generate_data: bool = True, echo=print, volumes: dict[str, int | None] | None = None) -> BenchReport:
    """The full run covers everything up to the day before ``run_date``; then the last
    day's delivery (daily files) lands and the daily incremental run is measured."""
    import shutil

    from kam.generate import generate
    from kam.orchestrate import ensure_airflow

    landing = settings.landing_dir
    held = landing.parent / "held_back_last_day"
    daily: list[str] = []
    if generate_data:
        echo(f"generating {customers:,} customers × {months} months into {landing} …")
        started = time.monotonic()
        summary = generate(landing, customers=customers, months=months, seed=seed, end_date=run_date,
                           daily_tail=True, **(volumes or {}))
        rows = summary.rows
        echo(f"  {summary.describe()} in {time.monotonic() - started:.0f}s")
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
    full_stages = _task_figures(settings)
    # the largest task of either run, from the tasks' own figures: the kernel's peak of our
    # children counts what this process held when it forked them (the generator's frames)
    peaks = [peak for _, peak in full_stages.values() if peak is not None]
    full_build = _build_seconds(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = dict(con.execute("select source, sum(rows_read) from ops.ingest_batches group by 1").fetchall())
        report.ingest_by_format = {fmt: (int(rows), float(seconds)) for fmt, rows, seconds in con.execute(
            "select file_format, sum(rows_read), sum(epoch(finished_at - started_at)) from ops.ingest_batches "
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
    same_marts = _same_marts(settings.warehouse_path, sql_out, list(PUBLISHED_MARTS))
    sql_out.unlink(missing_ok=True)
    if daily:
        for name in daily:
            shutil.move(held / name, landing / name)
        echo("daily incremental run (the last day's delivery) …")
        seconds, outcomes = _timed_pipeline(settings, run_date, echo)
        daily_stages = _task_figures(settings)
        report.daily = {"seconds": seconds, "dbt_build_seconds": _build_seconds(settings),
                        "full_dbt_build_seconds": full_build,
                        "dags": {o.dag_id: o.seconds for o in outcomes},
                        "stages": {k: v[0] for k, v in daily_stages.items()}}
        peaks += [peak for _, peak in daily_stages.values() if peak is not None]
    report.peak_rss_mb = max(peaks, default=0.0)

    report.rows = report.rows or {k: int(v) for k, v in loaded.items()}
    report.models_sql.rows = report.rows.get("orders")
    pub_lines, pub_revenue, pub_monthly = _published_core(settings.published_path)
    stage_rows = {"ingest": int(sum(loaded.values())), "dbt build": report.rows.get("orders"),
                  "audit": pub_lines, "publish": pub_lines}
    for stage, (seconds, peak) in full_stages.items():
        report.stages.append(Figure(stage, seconds, stage_rows.get(stage), peak))

    echo("engine floor (one DuckDB SQL script) …")
    seconds, peak, floor = _measured(_floor_job, landing, run_date, settings.duckdb_memory_limit,
                                     str(settings.tmp_dir))
    report.floor = Figure("engine floor: DuckDB SQL script", seconds, report.rows.get("orders"), peak)
    echo("pandas baseline …")
    seconds, peak, baseline = _measured(pandas_baseline, landing, run_date)
    report.pandas = Figure("pandas baseline", seconds, report.rows.get("orders"), peak)

    report.reconciled = {
        "order_lines": {"pipeline": pub_lines, "floor": floor[0], "pandas": baseline[0]},
        "revenue": {"pipeline": round(pub_revenue, 2), "floor": round(floor[1], 2), "pandas": round(baseline[1], 2)},
        "order_lines_equal": pub_lines == floor[0] == baseline[0],
        "revenue_equal": round(pub_revenue, 2) == round(floor[1], 2) == round(baseline[1], 2),
        "customer_month_revenue_equal": _same_monthly(pub_monthly, floor[2]) and _same_monthly(floor[2], baseline[2]),
        "models_sql_marts_differ": sorted(m for m, same in same_marts.items() if not same),
        "models_sql_marts_equal": all(same_marts.values()),
    }
    return report


def append_report(report: BenchReport, path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\nAppended by `kam bench` (`make bench`). Targets: DESIGN.md §6.\n\n",
                        encoding="utf-8")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n" + report.markdown())
