"""``kam notify``: deliver the served publication's digests."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from kam.cli.common import (
    settings_from,
)
from kam.errors import KamError


def cmd_notify(args: argparse.Namespace) -> int:
    """Deliver (or with --dry-run print) the served publication's digests (kam.notify)."""
    from kam.notify.config import load_notify
    from kam.notify.deliver import NotifyFailed, notify_publication

    settings = settings_from(args)
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
