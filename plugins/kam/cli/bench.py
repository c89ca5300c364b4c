"""``kam bench``: the benchmark in parts (docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from kam.bench import BENCH_PER_CUSTOMER, DESIGN_SCALE
from kam.cli.common import (
    settings_from,
    volumes,
)
from kam.errors import KamError


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark in parts (docs/benchmarks.md): the main run unless --no-main, then each series
    asked for. Every part appends what it measured to the report the moment it is measured."""
    import shutil
    import time

    from kam.bench.report import append_report, append_section, update_latest
    from kam.bench.run import run_bench

    base = settings_from(args)
    work = Path(args.workdir).resolve() if args.workdir else base.kam_home / "bench" / \
        dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    if work.exists() and any(work.iterdir()):
        raise KamError(f"benchmark folder {work} is not empty (choose another --workdir)")
    if args.no_main and not (args.small_files or args.history_months or args.scales or args.whatif):
        raise KamError("--no-main needs a series: --small-files, --history-months, --scales or --whatif")
    settings = base.with_overrides(kam_home=work / "home", landing_dir=work / "landing")
    cache = None if args.no_cache else (Path(args.cache).resolve() if args.cache else base.kam_home / "bench" / "data")
    report_path = None if args.report == "-" else Path(args.report)
    started = time.monotonic()

    def echo(message: str) -> None:  # progress: a person watching a long part knows it is alive
        elapsed = int(time.monotonic() - started)
        print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", flush=True)

    def append(title: str | None, text: str, target: tuple | None = None, where: str = "") -> None:
        """``title`` None: a line of the section above."""
        if report_path is not None:
            append_section(report_path, title, text)
            if target is not None:
                update_latest(report_path, [target], title or where)

    print(f"kam bench: {args.customers:,} customers × {args.months} months "
          f"({', '.join(f'{k} ~{v:,}' for k, v in volumes(args, BENCH_PER_CUSTOMER).items())}) in {work}"
          f"{'' if cache is None else f'; generated data cached in {cache}'}")
    run_date = args.date or dt.date.today()
    scale = f"{args.customers:,} customers × {args.months} months"
    ok = True
    if not args.no_main:
        report = run_bench(settings, args.customers, args.months, args.seed, run_date,
                           volumes=volumes(args, BENCH_PER_CUSTOMER), spark=args.spark, echo=echo, cache=cache,
                           on_pipeline=lambda line: append(f"{scale}: main run (in progress)", line))
        _bench_small_files(args, settings, work, run_date, report, cache, echo, append)  # in the targets table
        print()
        print(report.markdown())
        if report_path is not None:
            append_report(report, report_path)
            if (args.customers, args.months) == DESIGN_SCALE:
                update_latest(report_path, report.targets(), f"make bench ({scale})")
            else:
                print(f"the table of latest figures keeps DESIGN.md §6's scale ({DESIGN_SCALE[0]:,} customers × "
                      f"{DESIGN_SCALE[1]} months): this run's targets are in its own section")
            print(f"appended to {report_path}")
        ok = report.ok
    else:
        report = None
        settings.landing_dir.mkdir(parents=True, exist_ok=True)
        _bench_small_files(args, settings, work, run_date, report, cache, echo, append)
    _bench_series(args, settings, work, run_date, cache, echo, append)
    _bench_whatif(args, settings, work, run_date, report, cache, echo, append)
    echo(f"done in {time.monotonic() - started:.0f}s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if not ok:
        print("error: the pipeline, the engine floor and the pandas baseline disagree (see reconciliation)",
              file=sys.stderr)
        return 1
    return 0


def _bench_small_files(args: argparse.Namespace, settings, work: Path, run_date: dt.date, report, cache, echo,
                       append) -> None:
    """kam bench --small-files: the same order lines as many files and as a few, ingested."""
    from kam.bench import series
    from kam.bench.data import landing_for

    if args.small_files:
        many, lines = args.small_files
        source = settings.landing_dir
        if report is None:  # --no-main: the order lines of the main run's landing, from the cache
            echo(f"source landing for the small files: {args.customers:,} customers × {args.months} months …")
            landing_for(settings, cache, echo, customers=args.customers, months=args.months, seed=args.seed,
                               end_date=run_date, daily_tail=True, **volumes(args, BENCH_PER_CUSTOMER))
        figures = series.small_files(settings, work / "small_files", source, many, args.few_files, lines,
                                     run_date, echo=echo)
        if report is not None:
            report.small_files = figures
        append(f"many small files ({many}x{lines:,}, from {args.customers:,} customers' order lines)",
               series.small_files_markdown(figures), series.small_files_target(figures))


def _bench_series(args: argparse.Namespace, settings, work: Path, run_date: dt.date, cache, echo, append) -> None:
    """kam bench --history-months / --scales, each point appended as soon as it is measured."""
    from kam.bench import series

    if args.history_months:
        title = f"daily runs after {', '.join(map(str, args.history_months))} months ({args.customers:,} customers)"
        append(title, "")
        runs = series.history(settings, work / "history", args.customers, args.history_months, args.seed, run_date,
                              echo=echo, cache=cache, on_point=lambda run: append(None, series.point_line(run)))
        append(None, "\n" + series.history_markdown(runs), series.history_target(runs), title)
    if args.scales:
        title = f"growth: full runs at {', '.join(f'{c:,}' for c in args.scales)} customers × {args.months} months"
        append(title, "")
        runs = series.growth(settings, work / "growth", args.scales, args.months, args.seed, run_date, echo=echo,
                             cache=cache, on_point=lambda run: append(None, series.point_line(run)))
        append(None, "\n" + series.growth_markdown(runs), series.growth_target(runs), title)


def _bench_whatif(args: argparse.Namespace, settings, work: Path, run_date: dt.date, report, cache, echo,
                  append) -> None:
    """kam bench --whatif RULES…: on the main run's warehouse when it ran, else after a full run of its own."""
    from kam.bench import series

    if not args.whatif:
        return
    built = None
    if report is not None:
        dbt = next(f.seconds for f in report.stages if f.name == "dbt build")
        built = (settings, dbt)
    figures = series.whatif(settings, work / "whatif", args.customers, args.months, args.seed, run_date,
                            [Path(p).resolve() for p in args.whatif], echo=echo, cache=cache, built=built)
    append(f"what-if ({', '.join(figures['candidates'])}, {args.customers:,} customers × {args.months} months)",
           series.whatif_markdown(figures), series.whatif_target(figures))
