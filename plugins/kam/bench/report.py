"""The benchmark's report: figures per stage, ratios, targets, appended to ``docs/benchmarks.md``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


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
    floor: Figure | None = None  # the two-mart floor: order lines and revenue per customer-month by hand
    fair_floor: Figure | None = None  # DESIGN.md §6's reference: the scorecard and tier history by hand
    fair_agreement: dict[str, dict] = field(default_factory=dict)  # kam.bench.fair_floor.compare
    small_files: dict = field(default_factory=dict)  # kam bench --small-files (kam.bench.series)
    pandas: Figure | None = None
    models_sql: Figure | None = None  # the dbt models' compiled SQL alone, one DuckDB session
    load_floor: Figure | None = None  # DuckDB's readers alone into persistent tables, the full run's files
    # per file format, (rows, seconds): the pipeline's batches (read to commit) and DuckDB's load floor
    ingest_by_format: dict[str, tuple[int, float]] = field(default_factory=dict)
    load_floor_by_format: dict[str, tuple[int, float]] = field(default_factory=dict)
    reconciled: dict[str, object] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    daily: dict = field(default_factory=dict)  # the daily incremental run after the full one
    spark: dict = field(default_factory=dict)  # kam bench --spark: the same runs on the Spark target

    @property
    def ok(self) -> bool:
        return bool(self.reconciled) and all(v is True for k, v in self.reconciled.items() if k.endswith("_equal"))

    def ratios(self) -> dict[str, float]:
        out = {}
        stage = {f.name: f.seconds for f in self.stages}
        if self.fair_floor and self.fair_floor.seconds > 0:
            out["pipeline / fair floor"] = self.pipeline_seconds / self.fair_floor.seconds
            if "dbt build" in stage:
                out["dbt build / fair floor"] = stage["dbt build"] / self.fair_floor.seconds
        if self.floor and self.floor.seconds > 0:
            out["pipeline / two-mart floor"] = self.pipeline_seconds / self.floor.seconds
        if self.pandas and self.pipeline_seconds > 0:
            out["pandas / pipeline"] = self.pandas.seconds / self.pipeline_seconds
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
        extra = (self.fair_floor, self.load_floor, self.floor, self.pandas, self.models_sql)
        for f in [*self.stages, *(x for x in extra if x)]:
            lines.append(f"| {f.name} | {f.seconds:.1f} | {fmt(f.rows, ',')} | "
                         f"{fmt(f.rows_per_second, ',.0f')} | {fmt(f.peak_rss_mb, ',.0f')} |")
        lines.append(f"| whole pipeline (both DAGs, incl. Airflow and dbt start-up; peak: the largest task) "
                     f"| {self.pipeline_seconds:.1f} | {self.rows.get('orders', 0):,} | – | {self.peak_rss_mb:,.0f} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        mem = memory_gib()
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
                + self._spark_lines() + self._agreement_lines()
                + f"* reconciliation: {json.dumps(self.reconciled, default=str)}\n\n" + self.targets_table() + "\n")

    def _agreement_lines(self) -> str:
        lines = []
        for mart, a in self.fair_agreement.items():
            differ = ", ".join(f"{c} {n:,}" for c, n in a["columns_differ"].items()) or "none"
            lines.append(f"* fair floor vs the published {mart}: {a['equal']:,} of {a['pipeline_rows']:,} rows equal "
                         f"in every column (**{a['share_equal']:.2%}**; floor rows {a['floor_rows']:,}, matched on the "
                         f"key {a['matched']:,}; columns that differ: {differ})\n")
        return "".join(lines)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """DESIGN.md §6's targets this run measures: (target, figure, met; None = not measured here)."""
        ratios = self.ratios()
        stage = {f.name: f.seconds for f in self.stages}
        out: list[tuple[str, str, bool | None]] = []
        for name, limit in (("dbt build / fair floor", 1.5), ("pipeline / fair floor", 2.5)):
            if name in ratios:
                out.append((f"{name.replace(' / ', ' ≤ ' + str(limit) + '× ')}", f"{ratios[name]:.2f}×",
                            ratios[name] <= limit))
        for fmt, (rows, seconds) in sorted(self.ingest_by_format.items()):
            floor_rows, floor_seconds = self.load_floor_by_format.get(fmt, (0, 0.0))
            if seconds > 0 and floor_seconds > 0 and floor_rows:
                share = (rows / seconds) / (floor_rows / floor_seconds)
                out.append((f"{fmt} ingest ≥ 50% of the load floor's rows/s",
                            f"{share:.0%} ({rows / seconds:,.0f} vs {floor_rows / floor_seconds:,.0f} rows/s)",
                            share >= 0.5))
        if self.small_files:
            out.append(small_files_target(self.small_files))
        else:
            out.append(("many small files ≤ 1.5× a few files", "not measured in this run (kam bench --small-files)",
                        None))
        if self.daily and self.pipeline_seconds > 0:
            share = self.daily["seconds"] / self.pipeline_seconds
            out.append(("daily incremental run ≤ 25% of the full run",
                        f"{share:.0%} ({self.daily['seconds']:.1f} s vs {self.pipeline_seconds:.1f} s)", share <= 0.25))
        if "publish" in stage and self.pipeline_seconds > 0:
            share = stage["publish"] / self.pipeline_seconds
            out.append(("publish ≤ 10% of the full run", f"{share:.1%}", share <= 0.10))
        if self.peak_rss_mb:
            out.append(("peak RSS < 4 GB", f"{self.peak_rss_mb:,.0f} MB", self.peak_rss_mb < 4096))
        out.append(("growth and history", "kam bench --scales / --history-months (their own tables)", None))
        return out

    def targets_table(self) -> str:
        lines = ["| DESIGN.md §6 target | measured | met? |", "|---|---|---|"]
        for target, figure, met in self.targets():
            lines.append(f"| {target} | {figure} | {'–' if met is None else 'yes' if met else 'no'} |")
        return "\n".join(lines)

    def _spark_lines(self) -> str:
        """kam bench --spark: the Spark target's runs against the DuckDB target's, same files, same machine."""
        lines = []
        duck = {"full": (self.pipeline_seconds, {f.name: f.seconds for f in self.stages}),
                "daily": (self.daily.get("seconds"), self.daily.get("stages", {}))}
        for run, figures in self.spark.items():
            base, base_stages = duck[run]
            stages = ", ".join(f"{k} {v:.1f} s (DuckDB {base_stages[k]:.1f} s)" if k in base_stages else
                               f"{k} {v:.1f} s" for k, v in figures["stages"].items())
            ratio = f" = **{figures['seconds'] / base:.1f}×** DuckDB's {base:.1f} s" if base else ""
            peak = f", peak RSS {figures['peak_rss_mb']:,.0f} MB" if figures.get("peak_rss_mb") else ""
            lines.append(f"* Spark target ({figures['master']}, dbt-spark session mode), {run} run: "
                         f"{figures['seconds']:.1f} s{ratio}; {stages}{peak}\n")
        return "".join(lines)


def memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def append_report(report: BenchReport, path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\nAppended by `kam bench` (`make bench`). Targets: DESIGN.md §6.\n\n",
                        encoding="utf-8")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n" + report.markdown())


def append_section(path: Path, title: str | None, text: str) -> None:
    """A part of the benchmark, appended the moment it is measured (a part killed later keeps it);
    ``title`` None continues the section above."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\nAppended by `kam bench` (`make bench`). Targets: DESIGN.md §6.\n\n",
                        encoding="utf-8")
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    with path.open("a", encoding="utf-8") as fh:
        if title is not None:
            fh.write(f"\n### {stamp} — {title}\n\nMachine: {os.cpu_count()} cores, {memory_gib():.1f} GiB, "
                     f"{platform.platform()}, DuckDB {duckdb.__version__}.\n\n")
        fh.write(text)


LATEST_START, LATEST_END = "<!-- latest-targets:start -->", "<!-- latest-targets:end -->"
LATEST_HEAD = ["| DESIGN.md §6 target | latest figure | met? | measured |", "|---|---|---|---|"]


def update_latest(path: Path, measured: list[tuple[str, str, bool | None]], where: str) -> None:
    """Put each measured target's figure in the table of latest figures at the top of the report
    (between its markers; a file without them is left as it is). Targets not measured now keep
    their earlier figure and date."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if LATEST_START not in text or LATEST_END not in text:
        return
    before, rest = text.split(LATEST_START, 1)
    block, after = rest.split(LATEST_END, 1)
    rows: dict[str, list[str]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    stamp = f"{dt.datetime.now():%Y-%m-%d %H:%M}, {where}"  # when, to the minute: parts run hours apart
    for target, figure, met in measured:
        if met is not None:
            rows[target] = [figure, "yes" if met else "no", stamp]
    table = "\n".join([*LATEST_HEAD, *(f"| {t} | {' | '.join(v)} |" for t, v in rows.items())])
    path.write_text(f"{before}{LATEST_START}\n{table}\n{LATEST_END}{after}", encoding="utf-8")


def small_files_target(sf: dict) -> tuple[str, str, bool]:
    return (f"{sf['many_files']} small files ≤ 1.5× the time of the same rows in {sf['few_files']}",
            f"{sf['ratio']:.2f}× ({sf['many_seconds']:.1f} s vs {sf['few_seconds']:.1f} s)", sf["ratio"] <= 1.5)
