"""The benchmark's series (DESIGN.md §6): how cost grows, not one run's ratios.

* :func:`growth` (``kam bench --scales 10000,30000,100000``): a full run at each customer count,
  the same months and per-customer volumes; seconds per million landed rows should not grow.
* :func:`history` (``kam bench --history-months 24,72``): every customer present from the first
  month, the same customers and monthly rates; the full run, then the last day's delivery as a
  daily incremental run, whose cost should follow the day's data, not the months behind it.
* :func:`small_files` (``kam bench --small-files``): the same order lines landed as many small
  Parquet files and as a few large ones, each ingested by kam's ingest (one batch per file) into
  a fresh warehouse; the per-batch overhead is the difference over the extra files.

Each step runs in its own folder under the benchmark's work folder, removed afterwards.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import duckdb

from kam.bench import BENCH_PER_CUSTOMER
from kam.bench.report import small_files_target  # noqa: F401 - kam bench's table of targets
from kam.config import Settings


def _settings(base: Settings, folder: Path) -> Settings:
    return base.with_overrides(kam_home=folder / "home", landing_dir=folder / "landing")


def _full_and_daily(settings: Settings, customers: int, months: int, seed: int, run_date: dt.date, echo,
                    all_from_start: bool, daily: bool, cache: Path | None = None) -> dict:
    from kam.airflow.orchestrate import ensure_airflow
    from kam.bench.airflow_stats import build_seconds, task_figures
    from kam.bench.data import landing_for
    from kam.bench.run import _timed_pipeline

    volumes = {k: round(v * customers * months / 36) for k, v in BENCH_PER_CUSTOMER.items()}
    # always with the last day in daily files (the same rows): the main run's data at the same scale,
    # and one cache entry for both; without ``daily`` they all land for the one full run
    summary = landing_for(settings, cache, echo, customers=customers, months=months, seed=seed, end_date=run_date,
                          daily_tail=True, all_from_start=all_from_start, **volumes)
    held = settings.landing_dir.parent / "held_back_last_day"
    last_day = [f for f in summary.last_day_files if "_daily_" in f] if daily else []
    for name in last_day:
        (held / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(settings.landing_dir / name, held / name)
    ensure_airflow(settings)
    seconds, _ = _timed_pipeline(settings, run_date - dt.timedelta(days=1) if last_day else run_date, echo)
    out = {"customers": customers, "months": months, "rows": int(sum(summary.rows.values())),
           "order_lines": summary.rows["orders"], "full_seconds": seconds, "full_dbt_build": build_seconds(settings),
           "full_stages": {k: v[0] for k, v in task_figures(settings).items()}}
    if last_day:
        day_rows = 0
        for name in last_day:
            shutil.move(held / name, settings.landing_dir / name)
        seconds, _ = _timed_pipeline(settings, run_date, echo)
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            day_rows = con.execute("select sum(rows_read) from ops.ingest_batches "
                                   "where contains(source_file, '_daily_')").fetchone()[0]
        out.update(daily_seconds=seconds, daily_dbt_build=build_seconds(settings), daily_rows=int(day_rows or 0),
                   daily_stages={k: v[0] for k, v in task_figures(settings).items()})
    return out


def _each_in_its_folder(base: Settings, work: Path, points: list[tuple[str, int, int]], seed: int,
                        run_date: dt.date, echo, all_from_start: bool, daily: bool, cache: Path | None = None,
                        on_point=None) -> list[dict]:
    """One run per (folder name, customers, months), each in its own folder, removed afterwards;
    ``on_point`` gets each run's figures as soon as they are measured."""
    runs = []
    for name, customers, months in points:
        folder = work / name
        echo(f"{name}: {customers:,} customers × {months} months"
             f"{', all present from the first month' if all_from_start else ''} …")
        runs.append(_full_and_daily(_settings(base, folder), customers, months, seed, run_date, echo,
                                    all_from_start=all_from_start, daily=daily, cache=cache))
        shutil.rmtree(folder, ignore_errors=True)
        if on_point is not None:
            on_point(runs[-1])
    return runs


def growth(base: Settings, work: Path, scales: list[int], months: int, seed: int, run_date: dt.date,
           echo=print, cache: Path | None = None, on_point=None) -> list[dict]:
    """A full run per customer count (same months, DESIGN.md §6's volumes per customer)."""
    return _each_in_its_folder(base, work, [(f"scale_{c}", c, months) for c in scales], seed, run_date, echo,
                               all_from_start=False, daily=False, cache=cache, on_point=on_point)


def history(base: Settings, work: Path, customers: int, months_list: list[int], seed: int, run_date: dt.date,
            echo=print, cache: Path | None = None, on_point=None) -> list[dict]:
    """Per history length: every customer from the first month on, the full run, then the daily one."""
    return _each_in_its_folder(base, work, [(f"history_{m}", customers, m) for m in months_list], seed,
                               run_date, echo, all_from_start=True, daily=True, cache=cache, on_point=on_point)


def point_line(run: dict) -> str:
    """One measured run of a series, as a line appended the moment it is measured."""
    daily = (f"; daily run {run['daily_seconds']:.1f} s ({run['daily_rows']:,} rows, dbt build "
             f"{run['daily_dbt_build']:.1f} s)" if "daily_seconds" in run else "")
    return (f"* measured: {run['customers']:,} customers × {run['months']} months, {run['rows']:,} rows landed: "
            f"full run {run['full_seconds']:.1f} s (dbt build {run['full_dbt_build']:.1f} s){daily}\n")


def _write_order_files(landing: Path, out: Path, files: int, lines: int, tmp_dir: str) -> int:
    """``files`` Parquet files of ``lines`` order lines each (``files * lines`` in all), from the
    order lines of ``landing`` parsed by the contract and repeated under new order ids as needed.
    Returns the rows written."""
    from contextlib import ExitStack

    from kam.bench.fair_floor import _load
    from kam.ingest.readers import temp_directory

    con = duckdb.connect(config={"temp_directory": tmp_dir})
    con.execute("set enable_progress_bar = false")
    try:
        with ExitStack() as stack:
            _load(con, landing, stack, temp_directory(con), sources=("orders",))
        have = con.execute("select count(*) from src_orders").fetchone()[0]
        copies = -(-files * lines // have)
        con.execute(f"""create temp table lines as
            select * exclude (file_no, row_no) replace (order_id || '-' || copy as order_id),
                   (row_number() over (order by copy, file_no, row_no) - 1) // {lines} as file_index
            from src_orders, (select unnest(range({copies})) as copy)
            qualify row_number() over (order by copy, file_no, row_no) <= {files * lines}""")
        out.mkdir(parents=True, exist_ok=True)
        for i in range(files):
            target = str(out / f"orders_{i + 1:03d}.parquet").replace("'", "''")
            con.execute(f"copy (select * exclude (file_index) from lines where file_index = {i}) "
                        f"to '{target}' (format parquet)")
        return con.execute("select count(*) from lines").fetchone()[0]
    finally:
        con.close()


def _ingest_orders(settings: Settings, run_date: dt.date) -> dict:
    from kam.ingest.batch import ingest_source

    started = time.monotonic()
    results = ingest_source(settings, "orders", run_date)
    seconds = time.monotonic() - started
    return {"seconds": seconds, "batches": len(results), "rows": sum(r.rows_loaded for r in results),
            "statuses": sorted({r.status for r in results})}


def small_files(base: Settings, work: Path, source_landing: Path, many: int, few: int, lines: int,
                run_date: dt.date, echo=print) -> dict:
    """The same ``many * lines`` order lines as ``many`` files and as ``few``, each set ingested
    by kam's ingest into a fresh warehouse in its own process."""
    from kam.bench.run import _measured

    if many % few:
        raise ValueError(f"--small-files: {many} files do not split evenly into {few}")
    figures = {}
    for files in (many, few):
        folder = work / f"files_{files}"
        echo(f"small files: {many * lines:,} order lines as {files} Parquet file(s), ingested …")
        written = _write_order_files(source_landing, folder / "landing" / "orders", files, many * lines // files,
                                     str(base.tmp_dir))
        settings = _settings(base, folder)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        _, peak, result = _measured(_ingest_orders, settings, run_date)
        if result["rows"] != written:
            raise RuntimeError(f"small files: {written:,} order lines written as {files} file(s), "
                               f"{result['rows']:,} loaded ({result['statuses']})")
        figures[files] = {**result, "peak_rss_mb": peak}
        shutil.rmtree(folder, ignore_errors=True)
    m, f = figures[many], figures[few]
    return {"many_files": many, "few_files": few, "lines": many * lines, "many_seconds": m["seconds"],
            "few_seconds": f["seconds"], "ratio": m["seconds"] / f["seconds"],
            "overhead_per_batch_s": (m["seconds"] - f["seconds"]) / (many - few)}


def growth_markdown(runs: list[dict]) -> str:
    """The growth table and a chart (Mermaid, rendered by GitHub and most Markdown viewers)."""
    base = runs[0]
    lines = ["| customers | months | rows landed | order lines | full run s | s per M rows | × rows | × time "
             "| dbt build s | ingest s |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        per_m = r["full_seconds"] / (r["rows"] / 1e6)
        lines.append(f"| {r['customers']:,} | {r['months']} | {r['rows']:,} | {r['order_lines']:,} "
                     f"| {r['full_seconds']:.1f} | {per_m:.1f} | {r['rows'] / base['rows']:.2f} "
                     f"| {r['full_seconds'] / base['full_seconds']:.2f} | {r['full_dbt_build']:.1f} "
                     f"| {r['full_stages'].get('ingest', 0):.1f} |")
    worst = max(r["full_seconds"] / base["full_seconds"] / (r["rows"] / base["rows"]) for r in runs[1:] or runs)
    xs = ", ".join(f"{r['rows'] / 1e6:.3g}" for r in runs)
    bars = ", ".join(f"{r['full_seconds']:.0f}" for r in runs)
    linear = ", ".join(f"{base['full_seconds'] * r['rows'] / base['rows']:.0f}" for r in runs)
    chart = ["```mermaid", "xychart-beta", '    title "full run: seconds against millions of rows landed"',
             f'    x-axis "rows landed (M)" [{xs}]', '    y-axis "seconds"', f"    bar [{bars}]",
             f"    line [{linear}]", "```", "", "(bars: measured; line: linear in rows from the smallest run)"]
    verdict = (f"* growth, time ratio ÷ rows ratio at worst: **{worst:.2f}** (≤ 1 is linear or better): "
               f"{'met' if worst <= 1.0 else 'not met'}")
    return "\n".join(lines) + "\n\n" + verdict + "\n\n" + "\n".join(chart) + "\n"


def history_markdown(runs: list[dict]) -> str:
    lines = ["| months of history | customers | rows landed | full run s | daily rows | daily run s "
             "| daily dbt build s | daily tasks |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        tasks = ", ".join(f"{k} {v:.1f} s" for k, v in r["daily_stages"].items())
        lines.append(f"| {r['months']} | {r['customers']:,} | {r['rows']:,} | {r['full_seconds']:.1f} "
                     f"| {r['daily_rows']:,} | {r['daily_seconds']:.1f} | {r['daily_dbt_build']:.1f} | {tasks} |")
    ratio = runs[-1]["daily_seconds"] / runs[0]["daily_seconds"]
    return ("\n".join(lines) + f"\n\n* daily run after {runs[-1]['months']} months / after {runs[0]['months']}: "
            f"**{ratio:.2f}×** (target ≤ 1.5×: {'met' if ratio <= 1.5 else 'not met'}); dbt build "
            f"{runs[-1]['daily_dbt_build'] / runs[0]['daily_dbt_build']:.2f}×\n")


def small_files_markdown(sf: dict) -> str:
    return (f"* small files: {sf['lines']:,} order lines as {sf['many_files']} Parquet files ingested in "
            f"{sf['many_seconds']:.1f} s, as {sf['few_files']} files in {sf['few_seconds']:.1f} s: "
            f"**{sf['ratio']:.2f}×** "
            f"(target ≤ 1.5×: {'met' if sf['ratio'] <= 1.5 else 'not met'}); overhead per extra batch "
            f"{sf['overhead_per_batch_s']:.2f} s\n")


def history_target(runs: list[dict]) -> tuple[str, str, bool]:
    ratio = runs[-1]["daily_seconds"] / runs[0]["daily_seconds"]
    return (f"daily run after {runs[-1]['months']} months ≤ 1.5× after {runs[0]['months']}",
            f"{ratio:.2f}× ({runs[-1]['daily_seconds']:.1f} s vs {runs[0]['daily_seconds']:.1f} s)", ratio <= 1.5)


def growth_target(runs: list[dict]) -> tuple[str, str, bool]:
    base = runs[0]
    worst = max(r["full_seconds"] / base["full_seconds"] / (r["rows"] / base["rows"]) for r in runs[1:] or runs)
    span = f"{base['customers']:,} → {runs[-1]['customers']:,} customers"
    return ("linear growth (time ratio ÷ rows ratio ≤ 1)", f"{worst:.2f} ({span})", worst <= 1.0)


def whatif(settings: Settings, folder: Path, customers: int, months: int, seed: int, run_date: dt.date,
           rules: list[Path], echo=print, cache: Path | None = None,
           built: tuple[Settings, float] | None = None) -> dict:
    """``kam bench --whatif RULES…``: ``kam whatif`` on a built warehouse, against the full run's dbt
    build (DESIGN.md / issue what-if: at most half of it). ``built`` (the main run's home and its dbt
    build seconds) when the main run made one; else a full run first, in ``folder``."""
    from kam.whatif.run import run_whatif

    if built is None:
        home = _settings(settings, folder)
        run = _full_and_daily(home, customers, months, seed, run_date, echo, all_from_start=False, daily=False,
                              cache=cache)
        built = (home, run["full_dbt_build"])
    home, dbt_seconds = built
    echo(f"what-if of {', '.join(p.name for p in rules)} on {customers:,} customers …")
    started = time.monotonic()
    result = run_whatif(home, rules, out_dir=folder / "whatif_out", echo=echo)
    seconds = time.monotonic() - started
    shutil.rmtree(folder / "whatif_out", ignore_errors=True)
    return {"customers": customers, "months": months, "seconds": seconds, "dbt_build": dbt_seconds,
            "ratio": seconds / dbt_seconds, "candidates": [c.candidate for c in result.comparisons],
            "models": [len(c.models_rebuilt) for c in result.comparisons],
            "headlines": [c.headline() for c in result.comparisons]}


def whatif_markdown(w: dict) -> str:
    lines = [f"* what-if: {', '.join(w['candidates'])} ({', '.join(map(str, w['models']))} model(s) rebuilt) in "
             f"{w['seconds']:.1f} s against the full run's dbt build of {w['dbt_build']:.1f} s: **{w['ratio']:.2f}×** "
             f"(target ≤ 0.5×: {'met' if w['ratio'] <= 0.5 else 'not met'})"]
    lines += [f"  * {h}" for h in w["headlines"]]
    return "\n".join(lines) + "\n"


def whatif_target(w: dict) -> tuple[str, str, bool]:
    return ("what-if ≤ 0.5× the full run's dbt build",
            f"{w['ratio']:.2f}× ({w['seconds']:.1f} s vs {w['dbt_build']:.1f} s)", w["ratio"] <= 0.5)
