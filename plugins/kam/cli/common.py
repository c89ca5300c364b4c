"""Helpers every command shares: its settings from the options, dates, sizes of generated data."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from kam.bench import BENCH_PER_CUSTOMER
from kam.config import Settings, load_settings
from kam.errors import KamError


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def settings_from(args: argparse.Namespace) -> Settings:
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


def exists_or_say(path, missing: str) -> bool:
    """True if ``path`` exists, else print ``error: <missing> <path> (run `kam run` first)``."""
    if path.exists():
        return True
    print(f"error: {missing} {path} (run `kam run` first)", file=sys.stderr)
    return False


def scale_args(parser: argparse.ArgumentParser, customers: int, months: int,
                volumes_default: str = "the customers' natural rates") -> None:
    """The size of generated data (kam generate, demo, bench)."""
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--months", type=int, default=months)
    parser.add_argument("--seed", type=int, default=42)
    for name in BENCH_PER_CUSTOMER:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None,
                            help=f"about how many {name.replace('_', ' ')} to generate (default: {volumes_default})")


def volumes(args: argparse.Namespace, per_customer: dict[str, int] | None = None) -> dict[str, int | None]:
    """The volumes asked for; without one, ``per_customer`` × customers (or the natural rates)."""
    return {name: getattr(args, name) if getattr(args, name) is not None
            else (per_customer[name] * args.customers if per_customer else None)
            for name in BENCH_PER_CUSTOMER}


def int_list(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers separated by commas, got {text!r}")
    return values


def files_by_lines(text: str) -> tuple[int, int]:
    values = int_list(text.replace("x", ","))
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected FILESxLINES such as 80x75000, got {text!r}")
    return values[0], values[1]
