"""``kam rollback``: serve an earlier publication again."""

from __future__ import annotations

import argparse
import sys

from kam.cli.common import (
    settings_from,
)


def cmd_rollback(args: argparse.Namespace) -> int:
    from kam.publish.duckdb_file import file_publication_id
    from kam.publish.rollback import kept_publications, rollback
    from kam.targets import NotOnThisTarget, target_of

    settings = settings_from(args)
    try:
        target_of(settings).check_rollback()
    except NotOnThisTarget as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        served = file_publication_id(settings.published_path)
        print(f"serving publication {served} ({settings.published_path})")
        for kept in kept_publications(settings):
            print(f"  kept: publication {kept.publication_id} (run date {kept.run_date})  {kept.path}")
        return 0
    pub = rollback(settings, args.to)
    print(f"now serving publication {pub.publication_id} (was {pub.reason.removeprefix('was ')}): "
          f"{settings.published_path}")
    return 0
