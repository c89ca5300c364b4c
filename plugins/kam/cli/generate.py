"""``kam generate``: sample landing files."""

from __future__ import annotations

import argparse
from pathlib import Path

from kam.cli.common import (
    settings_from,
    volumes,
)


def cmd_generate(args: argparse.Namespace) -> int:
    from kam.generate import generate

    out = Path(args.out) if args.out else settings_from(args).landing_dir
    summary = generate(out, customers=args.customers, months=args.months, seed=args.seed,
                       end_date=args.end_date, **volumes(args))
    print(summary.describe())
    return 0
