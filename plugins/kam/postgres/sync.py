"""The raw batches reach the server in bulk: DuckDB's CSV writer into ``COPY ... FROM STDIN``.

Landing files are still read, validated and recorded by the embedded DuckDB warehouse (its
readers are the fast path, and ``ops.*`` stays there); each new batch of ``raw.*`` and
``quarantine.*`` (and its ``ops.ingest_batches`` row) is copied in one transaction, so a
crash leaves the server with whole batches only.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import duckdb

from kam.postgres.connection import connect, q, redacted
from kam.postgres.types import create_like, duck_columns
from kam.warehouse import tables_in

log = logging.getLogger(__name__)


# The tables the server receives from the embedded warehouse, keyed by batch id.
SYNCED_SCHEMAS = ("raw", "quarantine")


def copy_query(duck: duckdb.DuckDBPyConnection, cur, query: str, target: str,
               columns: Iterable[str], tmp_dir: Path) -> int:
    """Bulk-copy the result of a DuckDB query into a PostgreSQL table (CSV + ``COPY FROM STDIN``).

    DuckDB writes NULL unquoted-empty and an empty string as ``""``, which is
    exactly how PostgreSQL's CSV format tells them apart.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".kam-copy-", suffix=".csv", dir=tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        duck.execute(f"copy ({query}) to '{path}' (format csv, header false)")
        before = cur.rowcount
        with path.open("rb") as fh:
            cur.copy_expert(f"copy {target} ({', '.join(q(c) for c in columns)}) "
                            f"from stdin with (format csv)", fh)
        return cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else before
    finally:
        path.unlink(missing_ok=True)


def _max_batch(cur, schema: str, table: str, column: str) -> int:
    cur.execute(f"select coalesce(max({q(column)}), 0) from {q(schema)}.{q(table)}")
    return int(cur.fetchone()[0])


def sync_new_batches(duck: duckdb.DuckDBPyConnection, dsn: str, tmp_dir: Path) -> dict[str, int]:
    """Copy the batches the server lacks (by batch id), all in one server transaction.

    Returns rows copied per table. Batches are numbered in load order and a
    batch is committed whole in DuckDB, so "above the server's highest batch
    id" is exactly what is new.
    """
    copied: dict[str, int] = {}
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('kam.sync'))")  # one syncer at a time
            targets = [(s, t, "_batch_id") for s in SYNCED_SCHEMAS for t in tables_in(duck, s)]
            targets.append(("ops", "ingest_batches", "batch_id"))
            for schema, table, key in targets:
                columns = duck_columns(duck, schema, table)
                create_like(cur, schema, table, columns)
                since = _max_batch(cur, schema, table, key)
                names = [n for n, _ in columns]
                rows = copy_query(duck, cur, f"select {', '.join(q(n) for n in names)} from "
                                             f"{schema}.{q(table)} where {q(key)} > {since}",
                                  f"{q(schema)}.{q(table)}", names, tmp_dir)
                copied[f"{schema}.{table}"] = rows
    finally:
        conn.close()
    log.info("synced to %s: %s", redacted(dsn), ", ".join(f"{k} +{v}" for k, v in copied.items()))
    return copied
