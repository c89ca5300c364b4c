"""``kam whatif``: preview candidate rules on a copy."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from kam.cli.common import (
    settings_from,
)
from kam.errors import KamError


def cmd_whatif(args: argparse.Namespace) -> int:
    """Build the value model under candidate rules on a copy of the warehouse and compare (kam.whatif)."""
    from kam.whatif.run import run_whatif

    settings = settings_from(args)
    try:
        month = dt.date.fromisoformat(f"{args.month}-01"[:10]) if args.month else None
    except ValueError:
        raise KamError(f"--month {args.month!r}: not a month (YYYY-MM)") from None
    result = run_whatif(settings, [Path(p) for p in args.rules], month, Path(args.out) if args.out else None,
                        keep=args.keep, echo=print)
    print("\n".join(result.lines()))
    return 0
