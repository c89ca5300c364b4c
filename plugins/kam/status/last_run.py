"""What the last ``kam run`` did, remembered for ``kam status``; the problem batches of a run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from kam.config import Settings
from kam.status.common import open_read_only, rows_of

LAST_RUN_FILE = "last_run.json"


def record_last_run(settings: Settings, run_date: dt.date, success: bool, outcome: str,
                    batch_problems: list[str], publication_id: int | None) -> None:
    """What the last ``kam run`` did (landing, run date, outcome), for ``kam status``."""
    record = {"landing": str(settings.landing_dir), "run_date": run_date.isoformat(),
              "target": settings.target, "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
              "success": success, "outcome": outcome, "publication_id": publication_id,
              "batch_problems": batch_problems,
              "sources": str(settings.sources_path) if settings.sources_path else None}
    path = settings.kam_home / LAST_RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def last_run(settings: Settings) -> dict | None:
    path = settings.kam_home / LAST_RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_batch_problems(settings: Settings, ingest_run_id: str | None) -> list[str]:
    """The refused, partial and duplicate batches of one ingest run (none without its run id)."""
    if not ingest_run_id:
        return []
    return _batch_problems(settings, "run_id = ?", [ingest_run_id], limit=100)


def recent_batch_problems(settings: Settings, limit: int = 20) -> list[str]:
    return _batch_problems(settings, "true", [], limit)


def _batch_problems(settings: Settings, where: str, params: list, limit: int) -> list[str]:
    con = open_read_only(settings.warehouse_path)
    if con is None:
        return []
    try:
        rows = rows_of(con, "select batch_id, source, source_file, status, rows_read, rows_quarantined, error, gx_docs "
                          "from ops.ingest_batches where status in ('refused', 'partial', 'duplicate') "
                          f"and {where} order by batch_id desc limit ?", [*params, limit])
    finally:
        con.close()
    return [f"{r['source']}: {Path(r['source_file']).name} (batch {r['batch_id']}): {r['status']}"
            + (f", {r['rows_quarantined']} of {r['rows_read']} rows quarantined"
               if r["status"] == "partial" else "")
            + (f": {r['error']}" if r["error"] else "")
            + (f"\n      GX result: {r['gx_docs']}" if r.get("gx_docs") and r["status"] == "partial" else "")
            for r in rows]
