"""The ingest manifest: one row per batch in ``ops.ingest_batches`` (file, sha256, counts, status)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.ingest.readers import FORMATS, ReadResult


@dataclass
class BatchResult:
    source: str
    path: Path
    status: str  # loaded | partial | refused | duplicate | skipped
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0  # records that are not data (a source mapping's footer or pattern)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    gx_docs: str | None = None
    gx_rows: int | None = None  # rows GX validated (the rest were checked by the compiled suite)
    seconds: float | None = None  # the batch's own work (ops.ingest_batches.seconds)

    def summary(self) -> str:
        skipped = f", skipped {self.rows_skipped} not data" if self.rows_skipped else ""
        text = (f"{self.source}: {self.path.name}: {self.status} "
                f"(read {self.rows_read}, loaded {self.rows_loaded}, "
                f"quarantined {self.rows_quarantined}{skipped})")
        return text + (f": {self.error}" if self.error else "")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_batch(con: duckdb.DuckDBPyConnection, result: BatchResult, sha: str, size: int,
            read: ReadResult | None, run_id: str | None, started: dt.datetime, mtime: dt.datetime) -> None:
    con.execute(
        "insert into ops.ingest_batches (batch_id, source, source_file, sha256, file_bytes, "
        "file_format, encoding, rows_read, rows_loaded, rows_quarantined, status, error, warnings, "
        "run_id, started_at, finished_at, gx_docs, gx_rows, file_mtime, rows_skipped, seconds) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.batch_id, result.source, str(result.path), sha, size,
         read.file_format if read else FORMATS.get(result.path.suffix.lower()),
         read.encoding if read else None,
         result.rows_read, result.rows_loaded, result.rows_quarantined, result.status,
         result.error, "; ".join(result.warnings) or None, run_id, started,
         dt.datetime.now(), result.gx_docs, result.gx_rows, mtime, result.rows_skipped,
         result.seconds if result.seconds is not None else (dt.datetime.now() - started).total_seconds()],
    )


def next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next batch id. Not a sequence: a batch killed before its commit must not use one up,
    so that a rerun after a crash numbers (and lineage-tags) batches as an uninterrupted run does.
    One writer at a time (the warehouse lock) makes max + 1 safe."""
    return con.execute("select coalesce(max(batch_id), 0) + 1 from ops.ingest_batches").fetchone()[0]


def check_counts(result: BatchResult) -> None:
    if result.status in ("duplicate", "skipped"):
        return
    if result.rows_read != result.rows_loaded + result.rows_quarantined + result.rows_skipped:
        raise AssertionError(
            f"{result.path}: rows read {result.rows_read} != loaded {result.rows_loaded} "
            f"+ quarantined {result.rows_quarantined} + skipped {result.rows_skipped}")
