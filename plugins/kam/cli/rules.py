"""``kam rules``: the rules in force; apply candidate rules."""

from __future__ import annotations

import argparse
from pathlib import Path

from kam.cli.common import (
    settings_from,
)


def cmd_rules(args: argparse.Namespace) -> int:
    """Show the rules in force, or apply candidate rules (kam.whatif.adopt)."""
    from kam.whatif.adopt import apply_rules, show_rules

    settings = settings_from(args)
    if args.action == "show":
        print("\n".join(show_rules(settings)))
        return 0
    print("\n".join(apply_rules(settings, Path(args.file), echo=print).lines()))
    return 0
