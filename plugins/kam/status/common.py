"""Read-only access to the working warehouse for the status commands (never waits for the pipeline)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the DuckDB file at ``path``; None when it does not exist or is locked."""
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None  # the pipeline holds the write lock right now


def rows_of(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    """The rows of ``sql`` as dicts; none when a table it reads does not exist (yet)."""
    try:
        cur = con.execute(sql, params or [])
    except duckdb.CatalogException:
        return []
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
