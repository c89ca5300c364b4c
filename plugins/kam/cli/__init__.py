"""The ``kam`` command: what a user does by hand (DESIGN.md "Paths and names"); one module per
command (``kam.cli.<command>``), the options here."""

from __future__ import annotations

import argparse
import logging
import sys

from kam.bench import DESIGN_SCALE
from kam.cli.airflow import cmd_airflow
from kam.cli.bench import cmd_bench
from kam.cli.common import (
    files_by_lines,
    int_list,
    parse_date,
    scale_args,
)
from kam.cli.demo import cmd_demo
from kam.cli.explain import cmd_explain
from kam.cli.generate import cmd_generate
from kam.cli.notify import cmd_notify
from kam.cli.quarantine import cmd_quarantine
from kam.cli.report import cmd_report
from kam.cli.rollback import cmd_rollback
from kam.cli.rules import cmd_rules
from kam.cli.run import cmd_run
from kam.cli.sources import cmd_sources
from kam.cli.status import cmd_status
from kam.cli.whatif import cmd_whatif
from kam.config import REPO_ROOT, TARGETS
from kam.contract import CONTRACTS
from kam.errors import KamError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kam", description="Key-account value warehouse: ingest, build, audit, publish.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write sample landing files")
    scale_args(g, 2000, 24)
    g.add_argument("--end-date", type=parse_date, default=None, help="last day of data (default today)")
    g.add_argument("--out", help="landing folder (default $KAM_LANDING or ./landing)")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="ingest, build, audit and publish once, through the DAGs")
    r.add_argument("--landing", help="landing folder (default $KAM_LANDING or ./landing)")
    r.add_argument("--date", type=parse_date, default=None,
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
    scale_args(d, 2000, 24)
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
    scale_args(b, *DESIGN_SCALE, volumes_default="DESIGN.md §6's ratio: per customer 100 order lines, "
                                                 "10 complaints, 30 visits")
    b.add_argument("--date", type=parse_date, default=None, help="run date and last day of data (default today)")
    b.add_argument("--workdir", help="folder for the generated data and state (default $KAM_HOME/bench/<time>)")
    b.add_argument("--keep", action="store_true", help="keep the generated data and state afterwards")
    b.add_argument("--spark", action="store_true",
                   help="also run both runs on the Spark target (local Spark, docs/spark.md) and compare")
    b.add_argument("--small-files", type=files_by_lines, metavar="FILESxLINES", default=None,
                   help="also ingest FILES Parquet files of LINES order lines each, and the same lines in "
                        "--few-files files (DESIGN.md §6: 80x75000)")
    b.add_argument("--few-files", type=int, default=4, help="the few files of --small-files (default 4)")
    b.add_argument("--history-months", type=int_list, metavar="M1,M2", default=None,
                   help="also a full and a daily run after each history length, every customer present "
                        "from the first month (DESIGN.md §6: 24,72)")
    b.add_argument("--scales", type=int_list, metavar="N1,N2,...", default=None,
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
    b.add_argument("--report", default=str(REPO_ROOT / "docs" / "benchmarks.md"),
                   help="markdown file the figures are appended to ('-': print only)")
    b.set_defaults(func=cmd_bench)

    so = sub.add_parser("sources", help="try a source mapping on your exports (check), or propose one (init)")
    so_sub = so.add_subparsers(dest="action", required=True)
    sc = so_sub.add_parser("check", help="read every file the mapping covers, load nothing, and say what each "
                                         "header maps to, what is missing, a few parsed rows and the rows that "
                                         "would be quarantined")
    sc.add_argument("landing", nargs="?", help="the landing folder (default $KAM_LANDING)")
    sc.add_argument("--sources", help="the mapping (default $KAM_SOURCES, else $KAM_HOME/sources.yml)")
    sc.add_argument("--date", type=parse_date, default=None, help="run date for the row checks (default today)")
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


