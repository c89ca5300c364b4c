"""``kam sources``: propose and check the mapping of a supplier's own exports."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from kam.cli.common import (
    settings_from,
)
from kam.errors import KamError


def cmd_sources(args: argparse.Namespace) -> int:
    from kam.sources import load_mappings

    if args.action == "init":
        from kam.ingest.preview import init_mapping

        text = init_mapping([Path(p).resolve() for p in args.paths], args.source)
        if args.out:
            out = Path(args.out)
            if out.exists() and not args.force:
                raise KamError(f"{out} exists (--force replaces it)")
            out.write_text(text, encoding="utf-8")
            print(f"proposed mapping written to {out}: confirm every GUESS and TODO, then "
                  f"`kam sources check --sources {out} <landing>`")
        else:
            print(text, end="")
        return 0
    from kam.ingest.preview import check_sources

    settings = settings_from(args)
    if not settings.landing_dir.is_dir():
        raise KamError(f"landing folder {settings.landing_dir} does not exist")
    return check_sources(settings, load_mappings(settings.sources_path), args.date or dt.date.today())
