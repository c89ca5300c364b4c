"""Ingest landing files: read → parse → validate (GX) → raw / quarantine → manifest.

One file is one batch, loaded in one transaction: a crash never leaves half a
batch. Every row read ends in ``raw.<source>`` or ``quarantine.<source>``
(rows read = rows loaded + rows quarantined, checked before commit).
A file whose sha256 was already ingested (under any name) loads nothing; a file
still at the same path with the same size and modification time as when it was
recorded is not even hashed again (a daily run does not re-read the history).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kam.config import Settings
from kam.contract import DUCKDB_TYPES, SourceContract, contract_for
from kam.contract import quote_ident as _q
from kam.errors import BatchRefused
from kam.faults import checkpoint
from kam.ingest.parse import typed_select
from kam.ingest.readers import FORMATS, ReadResult, read_batch

log = logging.getLogger(__name__)

LINEAGE_COLUMNS = {
    "_batch_id": "BIGINT",
    "_source_file": "VARCHAR",
    "_row_number": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}


@dataclass
class BatchResult:
    source: str
    path: Path
    status: str  # loaded | partial | refused | duplicate | skipped
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    gx_docs: str | None = None
    gx_rows: int | None = None  # rows GX validated (the rest were checked by the compiled suite)

    def summary(self) -> str:
        text = (f"{self.source}: {self.path.name}: {self.status} "
                f"(read {self.rows_read}, loaded {self.rows_loaded}, "
                f"quarantined {self.rows_quarantined})")
        return text + (f": {self.error}" if self.error else "")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def discover_files(landing_dir: Path, source: str) -> list[Path]:
    """Files of a source, oldest name first (so batches load in delivery order)."""
    folder = landing_dir / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def ensure_tables(con: duckdb.DuckDBPyConnection, contract: SourceContract) -> None:
    typed = ", ".join(f"{_q(c.name)} {DUCKDB_TYPES[c.type]}" for c in contract.columns)
    text = ", ".join(f"{_q(c.name)} VARCHAR" for c in contract.columns)
    lineage = ", ".join(f"{k} {v}" for k, v in LINEAGE_COLUMNS.items())
    con.execute(f"create table if not exists raw.{contract.name} ({typed}, {lineage})")
    con.execute(
        f"create table if not exists quarantine.{contract.name} "
        f"({text}, {lineage}, _reason VARCHAR, _raw_line VARCHAR)"
    )


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    schema, name = table.split(".")
    existing = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    for column in columns:
        if column not in existing:  # schema drift: extra columns are kept (as text)
            con.execute(f"alter table {table} add column {_q(column)} VARCHAR")


def _suite_parameters(settings: Settings, run_date: dt.date) -> dict[str, str]:
    """The raw suites' run-time bounds: no business date before KAM_MIN_BUSINESS_DATE, none after
    the run date's next day."""
    return {"min_date": settings.min_business_date.isoformat(),
            "max_date": (run_date + dt.timedelta(days=1)).isoformat()}


def _record(con: duckdb.DuckDBPyConnection, result: BatchResult, sha: str, size: int,
            read: ReadResult | None, run_id: str | None, started: dt.datetime, mtime: dt.datetime) -> None:
    con.execute(
        "insert into ops.ingest_batches (batch_id, source, source_file, sha256, file_bytes, "
        "file_format, encoding, rows_read, rows_loaded, rows_quarantined, status, error, warnings, "
        "run_id, started_at, finished_at, gx_docs, gx_rows, file_mtime) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.batch_id, result.source, str(result.path), sha, size,
         read.file_format if read else FORMATS.get(result.path.suffix.lower()),
         read.encoding if read else None,
         result.rows_read, result.rows_loaded, result.rows_quarantined, result.status,
         result.error, "; ".join(result.warnings) or None, run_id, started,
         dt.datetime.now(), result.gx_docs, result.gx_rows, mtime],
    )


def ingest_file(con: duckdb.DuckDBPyConnection, settings: Settings, source: str, path: Path,
                run_date: dt.date, run_id: str | None = None) -> BatchResult:
    """Load one landing file as one batch. Never raises for bad data: it is recorded."""
    contract = contract_for(source)
    ensure_tables(con, contract)
    started = dt.datetime.now()
    stat = path.stat()
    size, mtime = stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime)
    unchanged = con.execute(
        "select batch_id, status from ops.ingest_batches where source = ? and source_file = ? "
        "and file_bytes = ? and file_mtime = ? order by batch_id limit 1",
        [source, str(path), size, mtime],
    ).fetchone()
    if unchanged:  # the quick check of rsync and make: same path, size and modification time
        return BatchResult(source, path, "skipped",
                           error=f"unchanged since batch {unchanged[0]} ({unchanged[1]}): same size and mtime")
    sha = sha256_of(path)
    known = con.execute(
        "select batch_id, source_file, status from ops.ingest_batches "
        "where sha256 = ? and source = ? and status <> 'duplicate' order by batch_id limit 1",
        [sha, source],
    ).fetchone()
    if known:
        seen_here = con.execute(
            "select 1 from ops.ingest_batches where sha256 = ? and source_file = ?",
            [sha, str(path)],
        ).fetchone()
        result = BatchResult(source, path, "duplicate" if not seen_here else "skipped",
                             error=f"same content (sha256) as batch {known[0]} ({known[1]}, {known[2]})")
        if not seen_here:  # a re-delivery under a new name: record it once, load nothing
            result.batch_id = _next_batch_id(con)
            _record(con, result, sha, size, None, run_id, started, mtime)
            log.warning("%s", result.summary())
        return result

    batch_id = _next_batch_id(con)
    result = BatchResult(source, path, "loaded", batch_id=batch_id)
    read: ReadResult | None = None
    try:
        # Reading, parsing and validating only touch temp tables: no transaction yet.
        read = read_batch(con, path, "_batch_text")
        result.rows_read = read.rows_read
        missing = [c for c in contract.required if c not in read.columns]
        if missing:
            hint = _rename_hint(missing, read.columns, contract)
            raise BatchRefused(path, f"missing required column(s): {', '.join(missing)} "
                                     f"(found: {', '.join(read.columns)}){hint}")
        lineage = (f"{batch_id} as _batch_id, {_sql_str(str(path))} as _source_file, "
                   f"_kam_row as _row_number, current_localtimestamp() as _loaded_at")
        con.execute(f"create or replace temp table _batch_typed as select {lineage}, "
                    f"{typed_select(contract, read.columns)} from _batch_text")
        bad, result.gx_docs, result.gx_rows = _row_reasons(con, settings, contract, run_date)
        bad_rows = bad + len(read.rejects)
        refusal = bad_share_refusal(bad_rows, read.rows_read, settings)
        if refusal:
            raise BatchRefused(path, refusal)
        con.execute("begin transaction")
        _load(con, contract, read, batch_id, path)
        result.rows_quarantined = bad_rows
        result.rows_loaded = read.rows - bad
        if bad_rows:
            result.status = "partial"
            result.warnings.append(f"{bad_rows} row(s) quarantined")
    except BatchRefused as exc:
        _rollback_quietly(con)
        con.execute("begin transaction")
        result.status, result.error = "refused", exc.reason
        result.rows_loaded = 0
        result.rows_quarantined = _quarantine_whole(con, source, batch_id, path, read, exc.reason)
        result.rows_read = read.rows_read if read else 0
    except Exception:
        _rollback_quietly(con)
        raise
    try:
        _check_counts(result)
        _record(con, result, sha, size, read, run_id, started, mtime)
        checkpoint("ingest.before_commit")
        con.execute("commit")
    except Exception:
        _rollback_quietly(con)
        raise
    (log.error if result.status == "refused" else
     log.warning if result.status == "partial" else log.info)("%s", result.summary())
    return result


def bad_share_refusal(bad_rows: int, rows_read: int, settings: Settings) -> str | None:
    """Why a batch is refused for its bad rows, or None to load its good rows.

    A batch whose share of bad rows passes ``KAM_MAX_BAD_ROW_SHARE`` is more likely a broken
    export than a few bad rows: it is refused whole. But a small correction file (6 rows, 3 bad)
    passes any share with very few rows; refusing it would lose its good corrections until
    someone re-delivers. So the share rule applies only from ``KAM_MIN_BAD_ROWS_TO_REFUSE`` bad
    rows on; below that the bad rows go to quarantine and the good ones load.
    """
    share = bad_rows / rows_read if rows_read else 0.0
    if share <= settings.max_bad_row_share or bad_rows < settings.min_bad_rows_to_refuse:
        return None
    return (f"{bad_rows} of {rows_read} rows ({share:.1%}) fail row checks, above the limit of "
            f"{settings.max_bad_row_share:.0%} (KAM_MAX_BAD_ROW_SHARE; applied from "
            f"{settings.min_bad_rows_to_refuse} bad rows, KAM_MIN_BAD_ROWS_TO_REFUSE)")


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next batch id. Not a sequence: a batch killed before its commit must not use one up,
    so that a rerun after a crash numbers (and lineage-tags) batches as an uninterrupted run does.
    One writer at a time (the warehouse lock) makes max + 1 safe."""
    return con.execute("select coalesce(max(batch_id), 0) + 1 from ops.ingest_batches").fetchone()[0]


def _rename_hint(missing: list[str], found: list[str], contract: SourceContract) -> str:
    """' — net_amt looks like a renamed net_amount' when a delivered name is close to a missing one."""
    unknown = [c for c in found if c not in contract.column_names]
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, unknown, n=1, cutoff=0.6)
        if close:
            hints.append(f"{close[0]} looks like a renamed {column}")
    return f" — {'; '.join(hints)}" if hints else ""


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("rollback")
    except duckdb.Error:
        pass  # no transaction was open


def _row_reasons(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
                 run_date: dt.date) -> tuple[int, str | None, int]:
    """Fill temp table ``_batch_reasons`` (``_row_number``, ``_reason``) with every row that could
    not be parsed or fails the raw suite; return how many, the link to the GX result and how
    many rows GX validated.

    The suite runs as SQL over every row and as GX over a bounded sample that must agree with
    it (``kam.quality.row_checks``); a suite the compiler does not cover runs in GX entirely."""
    from kam.quality.gx_suites import validate_frame
    from kam.quality.row_checks import NotCompilable, compile_suite, disagreements, failing_rows_sql, sample_sql

    suite = settings.expectations_dir / f"raw_{contract.name}.json"
    try:
        checks = compile_suite(suite, {c.name: c.type for c in contract.columns}, _suite_parameters(settings, run_date))
    except NotCompilable as exc:
        log.warning("%s: %s cannot run as SQL (%s): GX validates the whole batch as a DataFrame",
                    contract.name, suite.name, exc)
        return _row_reasons_in_gx(con, settings, contract, run_date)
    con.execute(f"create or replace temp table _batch_checks as {failing_rows_sql(checks, '_batch_typed')}")
    failing = con.sql("select count(*) from _batch_checks").fetchone()[0]
    limit = settings.gx_batch_sample_rows
    frame = con.sql(sample_sql("_batch_typed", "_batch_checks", failing, contract.column_names, limit)).df()
    outcome = validate_frame(frame, suite, parameters=_suite_parameters(settings, run_date),
                             index_columns=["_row_number"], docs_root=settings.gx_dir)
    sql_failed = dict(con.sql(f"select _row_number, _failed from _batch_checks order by _row_number "
                              f"limit {int(limit)}").fetchall())
    problems = disagreements(checks, sql_failed, outcome.failures, set(frame["_row_number"].tolist()),
                             whole_groups=failing <= limit)
    if problems:
        raise RuntimeError(f"{suite.name}: the SQL compiled from the suite and GX disagree on "
                           f"{len(problems)} sampled row check(s), e.g. {'; '.join(problems[:5])}")
    con.execute("create or replace temp table _batch_reasons as select _row_number, _reason from _batch_checks")
    return failing, outcome.docs_url, len(frame)


def _row_reasons_in_gx(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
                       run_date: dt.date) -> tuple[int, str | None, int]:
    """The whole batch through GX as a pandas DataFrame (suites the SQL compiler does not cover):
    row number -> failed expectations, and the link to the GX result (Data Docs)."""
    from kam.quality.gx_suites import validate_frame

    frame = con.sql(
        f"select {', '.join(_q(c) for c in contract.column_names)}, _row_number from _batch_typed"
    ).df()
    outcome = validate_frame(frame, settings.expectations_dir / f"raw_{contract.name}.json",
                             parameters=_suite_parameters(settings, run_date), index_columns=["_row_number"],
                             docs_root=settings.gx_dir)
    reasons: dict[int, list[str]] = defaultdict(list)
    for failure in outcome.failures:
        if failure.error:
            raise RuntimeError(f"GX suite raw_{contract.name}: {failure.describe()}")
        values = failure.unexpected_values or [None] * len(failure.row_indices)
        for index, value in zip(failure.row_indices, values, strict=False):
            row = index if not isinstance(index, dict) else index["_row_number"]
            shown = f", got {value!r}" if value is not None and not isinstance(value, dict) else ""
            reasons[int(row)].append(f"{failure.describe()}{shown}")
    for row, text in con.execute(
        "select _row_number, _parse_errors from _batch_typed where _parse_errors <> ''"
    ).fetchall():
        parsed_cols = {part.split(":", 1)[0] for part in text.split("; ")}
        # a value that could not be parsed is also null: keep only the parse reason
        reasons[row] = [text] + [
            r for r in reasons.get(row, [])
            if not any(r.startswith(f"{col}: expect_column_values_to_not_be_null")
                       for col in parsed_cols)
        ]
    bad = pd.DataFrame(
        {"_row_number": list(reasons), "_reason": ["; ".join(v) for v in reasons.values()]},
        columns=["_row_number", "_reason"],
    ).astype({"_row_number": "int64", "_reason": "string"})
    con.register("_batch_reasons_frame", bad)
    con.execute("create or replace temp table _batch_reasons as select * from _batch_reasons_frame")
    con.unregister("_batch_reasons_frame")
    return len(bad), outcome.docs_url, len(frame)


def _load(con: duckdb.DuckDBPyConnection, contract: SourceContract, read: ReadResult,
          batch_id: int, path: Path) -> None:
    """Rows of ``_batch_reasons`` to quarantine (with their text as delivered), the rest to raw."""
    source = contract.name
    extras = [c for c in read.columns if c not in contract.column_names]
    _add_missing_columns(con, f"raw.{source}", extras)
    _add_missing_columns(con, f"quarantine.{source}", read.columns)
    text_cols = ", ".join(f"t.{_q(c)}" for c in read.columns)
    con.execute(
        f"insert into quarantine.{source} by name select {text_cols}, "
        f"y._batch_id, y._source_file, y._row_number, y._loaded_at, "
        f"'{source} row ' || y._row_number || ': ' || r._reason as _reason "
        f"from _batch_reasons r join _batch_typed y using (_row_number) "
        f"join (select _kam_row as _row_number, * from _batch_text) t using (_row_number)"
    )
    _quarantine_rejects(con, source, batch_id, path, read)
    keep = list(contract.column_names) + extras
    con.execute(
        f"insert into raw.{source} by name select {', '.join(_q(c) for c in keep)}, "
        f"_batch_id, _source_file, _row_number, _loaded_at from _batch_typed "
        f"where _row_number not in (select _row_number from _batch_reasons)"
    )


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quarantine_rejects(con: duckdb.DuckDBPyConnection, source: str, batch_id: int, path: Path,
                        read: ReadResult) -> None:
    if not read.rejects:
        return
    rows = pd.DataFrame({
        "_batch_id": batch_id,
        "_source_file": str(path),
        "_row_number": [r.row_number for r in read.rejects],
        "_loaded_at": pd.Timestamp.now(),
        "_reason": [f"{source} row {r.row_number} (line {r.row_number + 1}): cannot split into "
                    f"columns: {r.error}" for r in read.rejects],
        "_raw_line": [r.raw_line for r in read.rejects],
    })
    con.register("_batch_rejects", rows)
    con.execute(f"insert into quarantine.{source} by name select * from _batch_rejects")
    con.unregister("_batch_rejects")


def _quarantine_whole(con: duckdb.DuckDBPyConnection, source: str, batch_id: int, path: Path,
                      read: ReadResult | None, reason: str) -> int:
    """A refused batch keeps its rows in quarantine (when they could be read at all)."""
    if read is None:
        return 0
    _add_missing_columns(con, f"quarantine.{source}", read.columns)
    cols = ", ".join(_q(c) for c in read.columns)
    con.execute(
        f"insert into quarantine.{source} by name select {cols}, {batch_id} as _batch_id, "
        f"{_sql_str(str(path))} as _source_file, _kam_row as _row_number, "
        f"current_localtimestamp() as _loaded_at, "
        f"{_sql_str('batch refused: ' + reason)} as _reason from _batch_text"
    )
    _quarantine_rejects(con, source, batch_id, path, read)
    return read.rows_read


def _check_counts(result: BatchResult) -> None:
    if result.status in ("duplicate", "skipped"):
        return
    if result.rows_read != result.rows_loaded + result.rows_quarantined:
        raise AssertionError(
            f"{result.path}: rows read {result.rows_read} != loaded {result.rows_loaded} "
            f"+ quarantined {result.rows_quarantined}")


def ingest_source(settings: Settings, source: str, run_date: dt.date,
                  run_id: str | None = None) -> list[BatchResult]:
    """Ingest every new file of one source; a refused file never stops the others."""
    from kam.warehouse import warehouse

    files = discover_files(settings.landing_dir, source)
    log.info("%s: %d file(s) in %s", source, len(files), settings.landing_dir / source)
    from kam.quality.gx_suites import data_docs_once

    results: list[BatchResult] = []
    with warehouse(settings) as con, data_docs_once(settings.gx_dir):
        for path in files:
            try:
                results.append(ingest_file(con, settings, source, path, run_date, run_id))
            except Exception as exc:  # unexpected: record it, go on with the next file
                log.exception("%s: %s: unexpected error", source, path)
                results.append(BatchResult(source, path, "refused", error=f"unexpected error: {exc}"))
    return results
