"""``kam report``: the key-account report of a month, from the served marts."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from kam.cli.common import (
    settings_from,
)


def cmd_report(args: argparse.Namespace) -> int:
    from kam.report import write_report
    from kam.targets import NotOnThisTarget, target_of

    settings = settings_from(args)
    month = dt.date.fromisoformat(args.month) if args.month else None
    if month is not None and month.day != 1:
        print(f"error: --month {args.month} must be the first day of a month (YYYY-MM-01)", file=sys.stderr)
        return 2
    out = Path(args.out).resolve() if args.out else settings.report_path
    try:
        with target_of(settings).report_source() as src:
            written = write_report(src, out, month=month, months=settings.report_months)
    except NotOnThisTarget as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(written.describe())
    return 0
