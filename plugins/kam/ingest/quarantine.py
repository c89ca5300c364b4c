"""Quarantine: the rows that were not loaded, and why — written by ingest, listed by ``kam quarantine``.

Every rejected row sits in ``quarantine.<source>`` with the file, the row
number in the file and the rule that failed (``_reason``). After fixing the
file upstream, deliver it again: a different file (new sha256) is ingested
as a new batch; the corrected rows replace older versions by ``updated_at``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from kam.config import SOURCES, Settings
from kam.contract import quote_ident as _q
from kam.contract import sql_string
from kam.ingest.readers import ReadResult
from kam.ingest.tables import add_missing_columns
from kam.warehouse import warehouse


def _tables(con) -> list[str]:
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'quarantine'").fetchall()}
    return [s for s in SOURCES if s in present]


def quarantine_list(settings: Settings) -> list[dict]:
    """One line per batch with quarantined rows: source, batch, file, rows, most common reason."""
    rows: list[dict] = []
    with warehouse(settings, read_only=True) as con:
        for source in _tables(con):
            cur = con.execute(f"""
                select q._batch_id, any_value(q._source_file), count(*) as rows_,
                       mode(regexp_replace(q._reason, '^\\w+ row \\d+( \\(line \\d+\\))?: ', '')) as reason,
                       any_value(b.status)
                from quarantine.{source} q left join ops.ingest_batches b on b.batch_id = q._batch_id
                group by q._batch_id order by q._batch_id
            """)
            for batch_id, file, n, reason, status in cur.fetchall():
                rows.append({"source": source, "batch_id": batch_id, "file": file, "rows": n,
                             "batch_status": status, "most_common_reason": reason})
    return rows


def quarantine_show(settings: Settings, batch_id: int, limit: int = 50) -> list[dict]:
    """The quarantined rows of one batch, with row number, reason and the values as delivered."""
    with warehouse(settings, read_only=True) as con:
        for source in _tables(con):
            cur = con.execute(f"select * exclude (_loaded_at) from quarantine.{source} "
                              f"where _batch_id = ? order by _row_number limit ?", [batch_id, limit])
            cols = [d[0] for d in cur.description]
            found = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            if found:
                return [{k: v for k, v in row.items() if v is not None} for row in found]
    return []


def quarantine_rejects(con: duckdb.DuckDBPyConnection, source: str, batch_id: int, path: Path,
                        read: ReadResult) -> None:
    if not read.rejects:
        return
    rows = pd.DataFrame({
        "_batch_id": batch_id,
        "_source_file": str(path),
        "_row_number": [r.row_number for r in read.rejects],
        "_loaded_at": pd.Timestamp.now(),
        "_reason": [f"{source} row {r.row_number}"
                    + (f" (line {r.row_number + read.header_row})" if read.file_format == "csv" else "")
                    + f": cannot split into columns: {r.error}" for r in read.rejects],
        "_raw_line": [r.raw_line for r in read.rejects],
    })
    con.register("_batch_rejects", rows)
    con.execute(f"insert into quarantine.{source} by name select * from _batch_rejects")
    con.unregister("_batch_rejects")


def quarantine_whole(con: duckdb.DuckDBPyConnection, source: str, batch_id: int, path: Path,
                      read: ReadResult | None, reason: str, table: str = "_batch_text") -> int:
    """A refused batch keeps its rows in quarantine (when they could be read at all), from
    ``table`` (the batch as read, or as its source mapping made it)."""
    if read is None:
        return 0
    add_missing_columns(con, f"quarantine.{source}", read.columns)
    cols = ", ".join(_q(c) for c in read.columns)
    con.execute(
        f"insert into quarantine.{source} by name select {cols}, {batch_id} as _batch_id, "
        f"{sql_string(str(path))} as _source_file, _kam_row as _row_number, "
        f"current_localtimestamp() as _loaded_at, "
        f"{sql_string('batch refused: ' + reason)} as _reason from {table}"
    )
    quarantine_rejects(con, source, batch_id, path, read)
    return read.rows_read - read.skipped  # rows that are not data were counted as skipped
