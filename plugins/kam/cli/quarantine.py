"""``kam quarantine``: the rows that were set aside, and why."""

from __future__ import annotations

import argparse
import sys

from kam.cli.common import (
    exists_or_say,
    settings_from,
)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from kam.ingest.quarantine import quarantine_list, quarantine_show

    settings = settings_from(args)
    if not exists_or_say(settings.warehouse_path, "no warehouse at"):
        return 2
    if args.action == "list":
        rows = quarantine_list(settings)
        if not rows:
            print("quarantine is empty")
        for r in rows:
            print(f"batch {r['batch_id']:>5}  {r['source']:<10} {r['rows']:>7} row(s)  "
                  f"[{r['batch_status']}]  {r['file']}\n             most common: {r['most_common_reason']}")
        return 0
    if args.batch_id is None:
        print("error: kam quarantine show needs a BATCH_ID (see kam quarantine list)", file=sys.stderr)
        return 2
    rows = quarantine_show(settings, args.batch_id, args.limit)
    if not rows:
        print(f"no quarantined rows in batch {args.batch_id}", file=sys.stderr)
        return 1
    for r in rows:
        reason, line = r.pop("_reason"), r.pop("_raw_line", None)
        file, number = r.pop("_source_file"), r.pop("_row_number")
        r.pop("_batch_id", None)
        print(f"{file} row {number}: {reason}")
        print(f"    values: {line if line is not None else r}")
    return 0
