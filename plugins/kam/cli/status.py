"""``kam status``: what an engineer needs to see at a glance."""

from __future__ import annotations

import argparse

from kam.cli.common import (
    settings_from,
)


def cmd_status(args: argparse.Namespace) -> int:
    from kam.status.report import status_report

    print(status_report(settings_from(args), as_json=args.json))
    return 0
