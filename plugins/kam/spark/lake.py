"""The raw lake: every batch of ``raw.*`` as one Parquet file, for the Spark target.

Landing files are still read, checked and recorded by the embedded DuckDB warehouse
(its readers, quarantine and manifest). Each new batch of ``raw.<table>`` is then
written with DuckDB's Parquet writer to ``<lake>/raw/<table>/batch-<id>.parquet``: first
under a hidden name (Spark skips names that start with a dot), then renamed, so a
batch is visible whole or not at all. A file per table holds no rows, only the
schema, so Spark can read a source before its first batch. dbt reads the folders
through views (``macros/spark_sources.sql``); no row crosses one at a time.

The run context dbt reads (run date, first month to recompute) is written the same way,
to ``<lake>/ops/kam_run_context/``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from kam.warehouse import tables_in

log = logging.getLogger(__name__)

LAKE_SCHEMAS = ("raw",)
SCHEMA_FILE = "batch-0000000000.parquet"  # no rows: the table's columns before any batch
_BATCH_FILE = re.compile(r"^batch-(\d{10})\.parquet$")


def batch_file(folder: Path, batch_id: int) -> Path:
    return folder / f"batch-{batch_id:010d}.parquet"


def lake_batches(folder: Path) -> set[int]:
    """The batches a table's folder holds (the schema file is batch 0)."""
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _BATCH_FILE.match(p.name))}


def _write(duck: duckdb.DuckDBPyConnection, query: str, path: Path, rows: int) -> None:
    """``query``'s ``rows`` rows into ``path``, atomically: a hidden file, checked, then a rename."""
    hidden = path.with_name(f".{path.name}.tmp")
    hidden.unlink(missing_ok=True)
    (written,) = duck.execute(f"copy ({query}) to '{hidden}' (format parquet, compression zstd)").fetchone()
    if written != rows:
        hidden.unlink(missing_ok=True)
        raise RuntimeError(f"{path}: wrote {written} rows, expected {rows}")
    os.replace(hidden, path)


def export_new_batches(duck: duckdb.DuckDBPyConnection, lake_dir: Path,
                       tables: Iterable[str] | None = None) -> dict[str, int]:
    """Write the batches the lake lacks (of ``tables``, default every raw table); returns rows
    written per table. Batches are committed whole in DuckDB and never change afterwards, so a
    batch id that has its file is done; a file left hidden by a crash is written again."""
    written: dict[str, int] = {}
    for schema in LAKE_SCHEMAS:
        for table in tables_in(duck, schema):
            if tables is not None and table not in tables:
                continue
            folder = lake_dir / schema / table
            folder.mkdir(parents=True, exist_ok=True)
            relation = f'{schema}."{table}"'
            if not (folder / SCHEMA_FILE).exists():
                _write(duck, f"select * from {relation} limit 0", folder / SCHEMA_FILE, 0)
            have = lake_batches(folder)
            rows = 0
            for batch_id, count in duck.execute(
                    f"select _batch_id, count(*) from {relation} group by 1 order by 1").fetchall():
                if batch_id in have:
                    continue
                _write(duck, f"select * from {relation} where _batch_id = {int(batch_id)}",
                       batch_file(folder, int(batch_id)), count)
                rows += count
            written[f"{schema}.{table}"] = rows
    log.info("raw lake %s: %s", lake_dir, ", ".join(f"{k} +{v}" for k, v in written.items()))
    return written


def write_run_context(lake_dir: Path, run_date: dt.date, rebuild_from_month: dt.date | None) -> Path:
    """The run context as one Parquet file (the table ``ops.kam_run_context`` on Spark)."""
    folder = lake_dir / "ops" / "kam_run_context"
    folder.mkdir(parents=True, exist_ok=True)
    month = f"date '{rebuild_from_month.isoformat()}'" if rebuild_from_month else "cast(null as date)"
    path = folder / "context.parquet"
    with duckdb.connect() as duck:
        _write(duck, f"select date '{run_date.isoformat()}' as run_date, {month} as rebuild_from_month", path, 1)
    return path
