"""Read the published marts: the DuckDB file or the PostgreSQL ``analytics`` schema.

SQL here is plain enough for both engines (date literals, no parameters), and returns
pandas DataFrames of one month, or of counts over months: never a whole history.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pandas as pd

from kam.errors import KamError


class Source(Protocol):
    def frame(self, sql: str) -> pd.DataFrame: ...


class _DuckDBSource:
    def __init__(self, con) -> None:
        self.con = con

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()


class PostgresSource:
    """Queries on a connection the caller holds (the publisher's transaction, schema on its search path)."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def frame(self, sql: str) -> pd.DataFrame:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            columns = [c.name for c in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=columns)


@contextlib.contextmanager
def duckdb_file(path: Path) -> Iterator[Source]:
    """A published DuckDB file, opened read-only with no access to other files."""
    import duckdb

    if not path.exists():
        raise KamError(f"no published file at {path}: run `kam run` first")
    con = duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
    try:
        yield _DuckDBSource(con)
    finally:
        con.close()


@contextlib.contextmanager
def postgres_schema(dsn: str, schema: str = "analytics") -> Iterator[Source]:
    """The served schema of the PostgreSQL target, in a read-only transaction."""
    import psycopg2

    conn = psycopg2.connect(dsn, options=f"-c search_path={schema}")
    try:
        conn.set_session(readonly=True)
        yield PostgresSource(conn)
    finally:
        conn.close()


def month_literal(month: dt.date) -> str:
    return f"date '{month.isoformat()}'"
