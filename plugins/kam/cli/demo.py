"""``kam demo``: sample data, a real run, what was published."""

from __future__ import annotations

import argparse
import datetime as dt

from kam.cli.common import (
    settings_from,
    volumes,
)
from kam.cli.run import print_report, settle_run


def cmd_demo(args: argparse.Namespace) -> int:
    from kam.generate import generate
    from kam.status.demo import demo_summary

    settings = settings_from(args)
    today = dt.date.today()
    print(f"1/2 generating sample data ({args.customers} customers × {args.months} months) "
          f"into {settings.landing_dir} …")
    print("    " + generate(settings.landing_dir, customers=args.customers, months=args.months,
                            seed=args.seed, end_date=today, **volumes(args)).describe())
    print("2/2 running the DAGs through Airflow (ingest → build_and_publish) …")
    from kam.airflow.orchestrate import run_pipeline

    outcomes = run_pipeline(settings, today)
    if settle_run(settings, today, outcomes, echo_published=False) != 0:
        return 1
    print()
    print(demo_summary(settings))
    print_report(settings)
    return 0
