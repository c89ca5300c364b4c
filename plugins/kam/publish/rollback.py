"""Earlier published files, kept under ``published/history/``, and ``kam rollback`` to one of them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.errors import KamError
from kam.files import fsync_dir
from kam.publish.duckdb_file import file_publication_id, keep_previous, served_tables, write_parquet
from kam.publish.ledger import Publication, insert_publication
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


@dataclass
class KeptFile:
    path: Path
    publication_id: int | None
    run_date: dt.date | None


def kept_publications(settings: Settings) -> list[KeptFile]:
    """Earlier published files under ``published/history/``, newest first."""
    kept = []
    for path in sorted(settings.history_dir.glob("analytics.before-*.duckdb"), reverse=True):
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            continue
        try:
            row = con.execute("select publication_id, run_date from publications where status = 'published' "
                              "order by publication_id desc limit 1").fetchone()
        finally:
            con.close()
        kept.append(KeptFile(path, *(row or (None, None))))
    return kept


def rollback(settings: Settings, to_publication: int | None = None) -> Publication:
    """Serve an earlier publication again (atomically), keeping the current one for roll-forward."""
    from kam.report.publication import serve_report, stage_report  # pandas and plotly: only when used
    from kam.report.source import duckdb_file

    served = file_publication_id(settings.published_path)
    candidates = [k for k in kept_publications(settings) if k.publication_id != served]
    if to_publication is not None:
        candidates = [k for k in candidates if k.publication_id == to_publication]
    if not candidates:
        available = ", ".join(str(k.publication_id) for k in kept_publications(settings)) or "none"
        raise KamError(f"no kept publication to roll back to"
                       f"{f' with id {to_publication}' if to_publication is not None else ''} "
                       f"(served: {served}; kept: {available})")
    target = candidates[0]
    with warehouse(settings) as con:
        now = dt.datetime.now()
        pub_id = insert_publication(
            con, run_id="rollback", run_date=target.run_date, status="rolled_back",
            reason=f"served file rolled back from publication {served} to publication "
                   f"{target.publication_id} ({target.path.name})",
            published_path=str(settings.published_path), started_at=now)
    tmp = settings.published_dir / f".analytics.{pub_id}.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    os.link(target.path, tmp)
    counts = served_tables(tmp)
    with duckdb_file(tmp) as src:  # the report follows the served file
        staged_report = stage_report(settings, src, target.publication_id, target.run_date)
    keep_previous(settings, pub_id)
    os.replace(tmp, settings.published_path)
    serve_report(settings, staged_report)
    fsync_dir(settings.published_dir)
    write_parquet(settings, target.publication_id, {table: None for table in counts})
    with warehouse(settings) as con:
        con.execute("update ops.publications set row_counts = ?, finished_at = current_localtimestamp() "
                    "where publication_id = ?", [json.dumps(counts), pub_id])
    log.warning("rolled back: now serving publication %s", target.publication_id)
    return Publication(target.publication_id, "rolled_back", settings.published_path, counts,
                       reason=f"was {served}")

