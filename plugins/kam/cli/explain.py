"""``kam explain CUSTOMER``: why a customer has its tier."""

from __future__ import annotations

import argparse
import sys

from kam.cli.common import (
    settings_from,
)


def cmd_explain(args: argparse.Namespace) -> int:
    from kam.status.explain import explain
    from kam.targets import NotOnThisTarget, target_of

    settings = settings_from(args)
    try:
        path = target_of(settings).published_snapshot()
    except NotOnThisTarget as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(explain(settings, args.customer_id, args.month, path))
    return 0
