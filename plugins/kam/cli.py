"""The ``kam`` command: what a user does by hand (DESIGN.md "Paths and names")."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

from kam.bench import BENCH_PER_CUSTOMER, DESIGN_SCALE
from kam.config import TARGETS, Settings, load_settings
from kam.contract import CONTRACTS
from kam.errors import KamError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _settings(args: argparse.Namespace) -> Settings:
    landing = getattr(args, "landing", None)
    if landing:
        os.environ["KAM_LANDING"] = str(Path(landing).resolve())
    target = getattr(args, "target", None)
    if target:
        os.environ["KAM_TARGET"] = target  # child processes (Airflow, dbt) see the same target
    sources = getattr(args, "sources", None)
    if sources:
        os.environ["KAM_SOURCES"] = str(Path(sources).resolve())  # the ingest tasks read the same mapping
    try:
        return load_settings()
    except ValueError as exc:  # a setting that cannot work: say which, no traceback
        raise KamError(str(exc)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from kam.generate import generate

    out = Path(args.out) if args.out else _settings(args).landing_dir
    summary = generate(out, customers=args.customers, months=args.months, seed=args.seed,
                       end_date=args.end_date, **_volumes(args))
    print(summary.describe())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from kam.airflow.orchestrate import run_pipeline

    settings = _settings(args)
    if not settings.landing_dir.is_dir():
        print(f"error: landing folder {settings.landing_dir} does not exist "
              f"(create it, use --landing DIR, or run `kam generate`)", file=sys.stderr)
        return 2
    run_date = args.date or dt.date.today()
    from kam.sources import load_mappings

    mappings = load_mappings(settings.sources_path)  # a bad mapping is refused before any DAG runs
    print(f"kam run: landing {settings.landing_dir}, run date {run_date}, state in {settings.kam_home}, "
          f"target {settings.target}" + (f", source mapping {mappings.path}" if mappings.path else ""))
    if settings.target == "spark":  # before any DAG runs: no Java is a setup error, not a failed task
        from kam.spark.session import require_java

        require_java()
    from kam.runlock import RunLocked

    try:
        outcomes = run_pipeline(settings, run_date, full_refresh=args.full_refresh, wait=not args.no_wait)
    except RunLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return _settle_run(settings, run_date, outcomes)


def _settle_run(settings: Settings, run_date: dt.date, outcomes: list, echo_published: bool = True) -> int:
    """Judge a pipeline run from its evidence (every task of both DAGs 'success', and the
    publication this run made recorded and served), print what happened and remember it for
    ``kam status``. 0 only when all of that is proven."""
    from kam.airflow.orchestrate import DAG_ORDER
    from kam.publish.evidence import PublicationNotProven, prove_publication
    from kam.status import record_last_run, run_batch_problems

    notified = next((o for o in outcomes if o.dag_id == "notify"), None)
    outcomes = [o for o in outcomes if o.dag_id != "notify"]
    ingest_run = next((o.run_id for o in outcomes if o.dag_id == "ingest"), None)
    problems = run_batch_problems(settings, ingest_run)
    for line in problems:
        print(f"  ! {line}")
    failed = [o for o in outcomes if not o.success]
    if not failed and len(outcomes) < len(DAG_ORDER):  # never an unfinished run called a success
        failed_text = f"only {', '.join(o.dag_id for o in outcomes) or 'no DAG'} of {', '.join(DAG_ORDER)} ran"
        reasons, log_path = [failed_text], None
    elif failed:
        reasons, log_path = failed[0].errors, failed[0].log_path
        failed_text = f"DAG {failed[0].dag_id}"
    else:
        try:
            proven = prove_publication(settings, outcomes[-1].run_id)
        except PublicationNotProven as exc:
            reasons, log_path, failed_text = [str(exc)], outcomes[-1].log_path, "no publication"
        else:
            record_last_run(settings, run_date, True, f"published #{proven.publication_id}", problems,
                            proven.publication_id)
            if echo_published:
                from kam.whatif.adopt import publication_rules_note

                print("\n" + proven.describe())
                note = publication_rules_note(settings, proven.publication_id)
                if note:
                    print(note)
                _print_report(settings)
            return _settle_digests(settings, notified, proven.publication_id)
    print(f"\nFAILED: {failed_text}. The served marts were not changed by this run.", file=sys.stderr)
    for line in reasons[:10]:
        print(f"  {line[:600]}", file=sys.stderr)
    if log_path:
        print(f"  full log: {log_path}", file=sys.stderr)
    print("  see also: kam status", file=sys.stderr)
    record_last_run(settings, run_date, False, f"FAILED: {failed_text}: {'; '.join(reasons[:3])}"[:1500],
                    problems, None)
    return 1


def _settle_digests(settings: Settings, outcome, publication_id: int) -> int:
    """After a proven publication: what the notify DAG delivered (when digests are configured)."""
    if settings.notify_path is None:
        return 0
    from kam.notify.deliver import notify_status
    from kam.warehouse import warehouse

    with warehouse(settings, read_only=True) as con:
        state = notify_status(settings, con) or {}
    if outcome is not None and outcome.success:
        sent = state.get("sent", 0) if state.get("publication_id") == publication_id else 0
        print(f"digests: {sent} message(s) sent for publication #{publication_id} (each once: ops.notifications)")
        for line in state.get("problems", []):
            print(f"  ! {line}")
        if state.get("from_default"):
            print("  managers without an entry in notify.yml, told through default: "
                  + ", ".join(state["from_default"]))
        return 0
    print(f"\nFAILED: DAG notify: publication #{publication_id} is published and served, but its digests were not "
          f"all delivered.", file=sys.stderr)
    if not state.get("problems"):  # else the ledger's lines say it better than the log's
        for line in (outcome.errors if outcome else ["the notify DAG did not run"])[:10]:
            print(f"  {line[:600]}", file=sys.stderr)
    for line in state.get("problems", []):
        print(f"  ! {line}", file=sys.stderr)
    if outcome is not None:
        print(f"  full log: {outcome.log_path}", file=sys.stderr)
    print("  kam notify sends what is missing (nothing twice); see also: kam status", file=sys.stderr)
    return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from kam.generate import generate
    from kam.status import demo_summary

    settings = _settings(args)
    today = dt.date.today()
    print(f"1/2 generating sample data ({args.customers} customers × {args.months} months) "
          f"into {settings.landing_dir} …")
    print("    " + generate(settings.landing_dir, customers=args.customers, months=args.months,
                            seed=args.seed, end_date=today, **_volumes(args)).describe())
    print("2/2 running the DAGs through Airflow (ingest → build_and_publish) …")
    from kam.airflow.orchestrate import run_pipeline

    outcomes = run_pipeline(settings, today)
    if _settle_run(settings, today, outcomes, echo_published=False) != 0:
        return 1
    print()
    print(demo_summary(settings))
    _print_report(settings)
    return 0


def _print_report(settings) -> None:
    if settings.report_path.exists():
        print(f"report: {settings.report_path}  (open it in a browser; kam report writes another month)")


def cmd_report(args: argparse.Namespace) -> int:
    from kam.report import write_report
    from kam.report.source import duckdb_file, postgres_schema

    settings = _settings(args)
    month = dt.date.fromisoformat(args.month) if args.month else None
    if month is not None and month.day != 1:
        print(f"error: --month {args.month} must be the first day of a month (YYYY-MM-01)", file=sys.stderr)
        return 2
    out = Path(args.out).resolve() if args.out else settings.report_path
    if settings.target == "postgres":
        source = postgres_schema(settings.pg_dsn)
    elif settings.target == "spark":  # the local snapshot of the last publication (kam.publish.spark)
        from kam.publish.spark import served_snapshot

        snapshot = served_snapshot(settings) if settings.warehouse_path.exists() else None
        if snapshot is None:
            print("error: nothing published on Spark yet (run `kam run --target spark` first)", file=sys.stderr)
            return 2
        source = duckdb_file(snapshot)
    elif not _exists(settings.published_path, "nothing published yet at"):
        return 2
    else:
        source = duckdb_file(settings.published_path)
    with source as src:
        written = write_report(src, out, month=month, months=settings.report_months)
    print(written.describe())
    return 0


def _exists(path, missing: str) -> bool:
    """True if ``path`` exists, else print ``error: <missing> <path> (run `kam run` first)``."""
    if path.exists():
        return True
    print(f"error: {missing} {path} (run `kam run` first)", file=sys.stderr)
    return False


def cmd_status(args: argparse.Namespace) -> int:
    from kam.status import status_report

    print(status_report(_settings(args), as_json=args.json))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from kam.status import explain

    settings = _settings(args)
    path = settings.published_path
    if settings.target == "spark":  # the local snapshot of the last publication (kam.publish.spark)
        from kam.publish.spark import served_snapshot

        path = served_snapshot(settings) if settings.warehouse_path.exists() else None
        if path is None:
            print("error: nothing published on Spark yet (run `kam run --target spark` first)", file=sys.stderr)
            return 2
    elif not _exists(path, "nothing published yet at"):
        return 2
    print(explain(settings, args.customer_id, args.month, path))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from kam.publish.duckdb_file import file_publication_id
    from kam.publish.rollback import kept_publications, rollback

    settings = _settings(args)
    if settings.target == "spark":
        print("error: kam rollback serves an earlier published DuckDB file; on the Spark target point the views "
              "of database analytics at a kept analytics_v<id> instead (docs/spark.md)", file=sys.stderr)
        return 2
    if args.list:
        served = file_publication_id(settings.published_path)
        print(f"serving publication {served} ({settings.published_path})")
        for kept in kept_publications(settings):
            print(f"  kept: publication {kept.publication_id} (run date {kept.run_date})  {kept.path}")
        return 0
    pub = rollback(settings, args.to)
    print(f"now serving publication {pub.publication_id} (was {pub.reason.removeprefix('was ')}): "
          f"{settings.published_path}")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from kam.ingest.quarantine import quarantine_list, quarantine_show

    settings = _settings(args)
    if not _exists(settings.warehouse_path, "no warehouse at"):
        return 2
    if args.action == "list":
        rows = quarantine_list(settings)
        if not rows:
            print("quarantine is empty")
        for r in rows:
            print(f"batch {r['batch_id']:>5}  {r['source']:<10} {r['rows']:>7} row(s)  "
                  f"[{r['batch_status']}]  {r['file']}\n             most common: {r['most_common_reason']}")
        return 0
    if args.batch_id is None:
        print("error: kam quarantine show needs a BATCH_ID (see kam quarantine list)", file=sys.stderr)
        return 2
    rows = quarantine_show(settings, args.batch_id, args.limit)
    if not rows:
        print(f"no quarantined rows in batch {args.batch_id}", file=sys.stderr)
        return 1
    for r in rows:
        reason, line = r.pop("_reason"), r.pop("_raw_line", None)
        file, number = r.pop("_source_file"), r.pop("_row_number")
        r.pop("_batch_id", None)
        print(f"{file} row {number}: {reason}")
        print(f"    values: {line if line is not None else r}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark in parts (docs/benchmarks.md): the main run unless --no-main, then each series
    asked for. Every part appends what it measured to the report the moment it is measured."""
    import shutil
    import time

    from kam.bench.report import append_report, append_section, update_latest
    from kam.bench.run import run_bench

    base = _settings(args)
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
          f"({', '.join(f'{k} ~{v:,}' for k, v in _volumes(args, BENCH_PER_CUSTOMER).items())}) in {work}"
          f"{'' if cache is None else f'; generated data cached in {cache}'}")
    run_date = args.date or dt.date.today()
    scale = f"{args.customers:,} customers × {args.months} months"
    ok = True
    if not args.no_main:
        report = run_bench(settings, args.customers, args.months, args.seed, run_date,
                           volumes=_volumes(args, BENCH_PER_CUSTOMER), spark=args.spark, echo=echo, cache=cache,
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
                               end_date=run_date, daily_tail=True, **_volumes(args, BENCH_PER_CUSTOMER))
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


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers separated by commas, got {text!r}")
    return values


def _files_by_lines(text: str) -> tuple[int, int]:
    values = _int_list(text.replace("x", ","))
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected FILESxLINES such as 80x75000, got {text!r}")
    return values[0], values[1]


def cmd_sources(args: argparse.Namespace) -> int:
    from kam.sources import load_mappings

    if args.action == "init":
        from kam.ingest.preview import init_mapping

        text = init_mapping([Path(p).resolve() for p in args.paths], args.source)
        if args.out:
            out = Path(args.out)
            if out.exists() and not args.force:
                raise KamError(f"{out} exists (--force replaces it)")
            out.write_text(text, encoding="utf-8")
            print(f"proposed mapping written to {out}: confirm every GUESS and TODO, then "
                  f"`kam sources check --sources {out} <landing>`")
        else:
            print(text, end="")
        return 0
    from kam.ingest.preview import check_sources

    settings = _settings(args)
    if not settings.landing_dir.is_dir():
        raise KamError(f"landing folder {settings.landing_dir} does not exist")
    return check_sources(settings, load_mappings(settings.sources_path), args.date or dt.date.today())


def cmd_notify(args: argparse.Namespace) -> int:
    """Deliver (or with --dry-run print) the served publication's digests (kam.notify)."""
    from kam.notify.config import load_notify
    from kam.notify.deliver import NotifyFailed, notify_publication

    settings = _settings(args)
    config = load_notify(settings.notify_path)
    if config is None:
        raise KamError("no notify configuration: write $KAM_HOME/notify.yml or set KAM_NOTIFY (docs/notify.md)")
    from kam.runlock import run_lock

    try:  # one writer of the ledger at a time: waits for a kam run in progress
        with run_lock(settings.kam_home, dt.date.today(), what="kam notify", echo=print):
            result = notify_publication(settings, config, args.publication, dry_run=args.dry_run, echo=print)
    except NotifyFailed as exc:
        print("\n".join(exc.result.lines()), file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as exc:
        raise KamError(str(exc)) from None
    print("\n".join(result.lines()))
    return 1 if result.unmapped else 0


def cmd_whatif(args: argparse.Namespace) -> int:
    """Build the value model under candidate rules on a copy of the warehouse and compare (kam.whatif)."""
    from kam.whatif.run import run_whatif

    settings = _settings(args)
    try:
        month = dt.date.fromisoformat(f"{args.month}-01"[:10]) if args.month else None
    except ValueError:
        raise KamError(f"--month {args.month!r}: not a month (YYYY-MM)") from None
    result = run_whatif(settings, [Path(p) for p in args.rules], month, Path(args.out) if args.out else None,
                        keep=args.keep, echo=print)
    print("\n".join(result.lines()))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    """Show the rules in force, or apply candidate rules (kam.whatif.adopt)."""
    from kam.whatif.adopt import apply_rules, show_rules

    settings = _settings(args)
    if args.action == "show":
        print("\n".join(show_rules(settings)))
        return 0
    print("\n".join(apply_rules(settings, Path(args.file), echo=print).lines()))
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    """Run the airflow CLI against kam's embedded Airflow home."""
    from kam.airflow.orchestrate import airflow_env, airflow_executable, ensure_airflow

    settings = _settings(args)
    ensure_airflow(settings)
    return subprocess.call([airflow_executable(), *args.airflow_args], env=airflow_env(settings))


def _scale_args(parser: argparse.ArgumentParser, customers: int, months: int,
                volumes_default: str = "the customers' natural rates") -> None:
    """The size of generated data (kam generate, demo, bench)."""
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--months", type=int, default=months)
    parser.add_argument("--seed", type=int, default=42)
    for name in BENCH_PER_CUSTOMER:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None,
                            help=f"about how many {name.replace('_', ' ')} to generate (default: {volumes_default})")


def _volumes(args: argparse.Namespace, per_customer: dict[str, int] | None = None) -> dict[str, int | None]:
    """The volumes asked for; without one, ``per_customer`` × customers (or the natural rates)."""
    return {name: getattr(args, name) if getattr(args, name) is not None
            else (per_customer[name] * args.customers if per_customer else None)
            for name in BENCH_PER_CUSTOMER}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kam", description="Key-account value warehouse: ingest, build, audit, publish.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write sample landing files")
    _scale_args(g, 2000, 24)
    g.add_argument("--end-date", type=_date, default=None, help="last day of data (default today)")
    g.add_argument("--out", help="landing folder (default $KAM_LANDING or ./landing)")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="ingest, build, audit and publish once, through the DAGs")
    r.add_argument("--landing", help="landing folder (default $KAM_LANDING or ./landing)")
    r.add_argument("--date", type=_date, default=None,
                   help="run date YYYY-MM-DD: months up to this date's month (default today)")
    r.add_argument("--target", choices=TARGETS, default=None,
                   help="where dbt builds and what is published: duckdb (default; published/analytics.duckdb) "
                        "postgres (schema analytics on KAM_PG_DSN) or spark (database analytics on "
                        "KAM_SPARK_MASTER, docs/spark.md); default $KAM_TARGET")
    r.add_argument("--full-refresh", action="store_true",
                   help="rebuild every dbt model from all loaded batches (default: incremental, "
                        "only what new batches touch; a full rebuild also happens by itself when "
                        "models or rules changed)")
    r.add_argument("--no-wait", action="store_true",
                   help="refuse at once (exit 3) when another run holds this KAM_HOME, instead of "
                        "waiting for it to finish")
    r.add_argument("--sources", help="source mapping of your own exports (default $KAM_SOURCES, else "
                                      "$KAM_HOME/sources.yml if it exists; docs/sources.md)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate sample data and run everything")
    _scale_args(d, 2000, 24)
    d.add_argument("--landing", help="landing folder (default $KAM_LANDING or ./landing)")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("status", help="last publications, refused batches, quarantine")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_status)

    e = sub.add_parser("explain", help="why a customer has its tier (from the published marts)")
    e.add_argument("customer_id")
    e.add_argument("--month", help="as_of_month YYYY-MM-01 (default: the latest complete month)")
    e.set_defaults(func=cmd_explain)

    rp = sub.add_parser("report", help="write the key-account report (HTML) from the published marts")
    rp.add_argument("--month", help="the report month, YYYY-MM-01 (default: the latest complete month)")
    rp.add_argument("--out", help="file to write (default: $KAM_HOME/published/report.html)")
    rp.set_defaults(func=cmd_report)
    rb = sub.add_parser("rollback", help="serve an earlier publication again (kept under published/history)")
    rb.add_argument("--to", type=int, default=None, help="publication id (default: the one before)")
    rb.add_argument("--list", action="store_true", help="list the kept publications, change nothing")
    rb.set_defaults(func=cmd_rollback)

    q = sub.add_parser("quarantine", help="rows that were not loaded, with their reasons")
    q.add_argument("action", choices=["list", "show"])
    q.add_argument("batch_id", nargs="?", type=int, help="batch to show (from `kam quarantine list`)")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(func=cmd_quarantine)

    b = sub.add_parser("bench", help="measure the pipeline against the engine floor and a pandas baseline")
    _scale_args(b, *DESIGN_SCALE, volumes_default="DESIGN.md §6's ratio: per customer 100 order lines, "
                                                 "10 complaints, 30 visits")
    b.add_argument("--date", type=_date, default=None, help="run date and last day of data (default today)")
    b.add_argument("--workdir", help="folder for the generated data and state (default $KAM_HOME/bench/<time>)")
    b.add_argument("--keep", action="store_true", help="keep the generated data and state afterwards")
    b.add_argument("--spark", action="store_true",
                   help="also run both runs on the Spark target (local Spark, docs/spark.md) and compare")
    b.add_argument("--small-files", type=_files_by_lines, metavar="FILESxLINES", default=None,
                   help="also ingest FILES Parquet files of LINES order lines each, and the same lines in "
                        "--few-files files (DESIGN.md §6: 80x75000)")
    b.add_argument("--few-files", type=int, default=4, help="the few files of --small-files (default 4)")
    b.add_argument("--history-months", type=_int_list, metavar="M1,M2", default=None,
                   help="also a full and a daily run after each history length, every customer present "
                        "from the first month (DESIGN.md §6: 24,72)")
    b.add_argument("--scales", type=_int_list, metavar="N1,N2,...", default=None,
                   help="also a full run at each customer count, --months months (DESIGN.md §6: "
                        "10000,30000,100000)")
    b.add_argument("--whatif", nargs="+", metavar="RULES.yml", default=None,
                   help="also time `kam whatif` of these candidate rules on a built warehouse (the main run's, "
                        "else one full run of its own) against the full run's dbt build (target ≤ 0.5×)")
    b.add_argument("--no-main", action="store_true",
                   help="skip the main run: only the series asked for (make bench-small-files, bench-history, "
                        "bench-growth)")
    b.add_argument("--cache", help="generated landing data cache (default $KAM_HOME/bench/data): each "
                                   "parameter set is generated once, checked and reused")
    b.add_argument("--no-cache", action="store_true", help="generate fresh data, neither reading nor filling the cache")
    b.add_argument("--report", default=str(Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"),
                   help="markdown file the figures are appended to ('-': print only)")
    b.set_defaults(func=cmd_bench)

    so = sub.add_parser("sources", help="try a source mapping on your exports (check), or propose one (init)")
    so_sub = so.add_subparsers(dest="action", required=True)
    sc = so_sub.add_parser("check", help="read every file the mapping covers, load nothing, and say what each "
                                         "header maps to, what is missing, a few parsed rows and the rows that "
                                         "would be quarantined")
    sc.add_argument("landing", nargs="?", help="the landing folder (default $KAM_LANDING)")
    sc.add_argument("--sources", help="the mapping (default $KAM_SOURCES, else $KAM_HOME/sources.yml)")
    sc.add_argument("--date", type=_date, default=None, help="run date for the row checks (default today)")
    sc.set_defaults(func=cmd_sources)
    si = so_sub.add_parser("init", help="propose a mapping from the headers (and values) of export files")
    si.add_argument("paths", nargs="+", metavar="FILE", help="export files (workbooks or CSV)")
    si.add_argument("--source", choices=sorted(CONTRACTS), help="the source the files are (default: guessed)")
    si.add_argument("--out", help="write the proposal to this file (default: print it)")
    si.add_argument("--force", action="store_true", help="replace --out if it exists")
    si.set_defaults(func=cmd_sources)

    n = sub.add_parser("notify", help="deliver the served publication's digests to account managers, leadership")
    n.add_argument("--publication", type=int, help="the publication (must be the served one; default: it)")
    n.add_argument("--dry-run", action="store_true", help="print the digests, send and record nothing")
    n.set_defaults(func=cmd_notify)

    w = sub.add_parser("whatif", help="preview candidate rules (weights, thresholds, …): who would move, "
                                      "built on a copy of the warehouse, nothing published")
    w.add_argument("rules", nargs="+", help="candidate rules file(s): any subset of dbt_project.yml's rule vars")
    w.add_argument("--month", help="the month compared, YYYY-MM (default: the latest complete month)")
    w.add_argument("--out", help="folder for the page and the movers files (default: $KAM_HOME/whatif)")
    w.add_argument("--keep", action="store_true", help="keep the rebuilt copies of the warehouse")
    w.set_defaults(func=cmd_whatif)

    ru = sub.add_parser("rules", help="the scorecard's rules in force (show), or adopt a candidate (apply)")
    ru_sub = ru.add_subparsers(dest="action", required=True)
    ru_sub.add_parser("show", help="the rules version in force, what differs from dbt_project.yml, history")
    ra = ru_sub.add_parser("apply", help="check a candidate (as kam whatif does), preview it, and put it in force "
                                         "($KAM_HOME/rules.yml) with a new rules version")
    ra.add_argument("file", help="candidate rules file (any subset of dbt_project.yml's rule vars)")
    ru.set_defaults(func=cmd_rules)

    a = sub.add_parser("airflow", help="run the airflow CLI on kam's Airflow home")
    a.add_argument("airflow_args", nargs=argparse.REMAINDER)
    a.set_defaults(func=cmd_airflow)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())


