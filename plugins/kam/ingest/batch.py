"""Ingest landing files: read → (map) → parse → check rows → raw / quarantine → manifest.

One file is one batch, loaded in one transaction: a crash never leaves half a
batch. Every row read ends in ``raw.<source>`` or ``quarantine.<source>``, or is
counted as skipped when the source mapping says it is not data (a 合计 footer):
rows read = rows loaded + rows quarantined + rows skipped, checked before commit.
A source mapping (:mod:`kam.sources`) says how a supplier's own exports are read
and map onto the contract (:mod:`kam.ingest.mapping`).
A file whose sha256 was already ingested (under any name) loads nothing; a file
still at the same path with the same size and modification time as when it was
recorded is not even hashed again (a daily run does not re-read the history).
The row checks are :mod:`kam.quality.batch_checks`; the manifest :mod:`kam.ingest.manifest`.
Consecutive files of a source are read and checked a group at a time (:func:`prepare`, each on its
own cursor), GX validates the group's samples at once, then each commits as its own batch
(:func:`finish`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.contract import SourceContract, contract_for, sql_string
from kam.contract import quote_ident as _q
from kam.errors import BatchRefused
from kam.faults import checkpoint
from kam.ingest.manifest import BatchResult, check_counts, next_batch_id, record_batch, sha256_of
from kam.ingest.mapping import MAP_ERRORS, Mapped, map_batch
from kam.ingest.parse import typed_select
from kam.ingest.quarantine import quarantine_rejects, quarantine_whole
from kam.ingest.readers import DEFAULT_OPTIONS, ReadOptions, ReadResult, duckdb_message, read_batch
from kam.ingest.tables import add_missing_columns, ensure_tables
from kam.quality.batch_checks import SqlChecks, agree, row_reasons_in_gx, sql_checks
from kam.sources import Mappings, SourceMapping, load_mappings

log = logging.getLogger(__name__)


def discover_files(landing_dir: Path, source: str) -> list[Path]:
    """Files of a source, oldest name first (so batches load in delivery order). Symbolic links
    are listed too (broken ones included), to be refused by name (:func:`landing_refusal`)."""
    folder = landing_dir / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() or p.is_symlink()) and not p.name.startswith("."))


def landing_refusal(path: Path, settings: Settings) -> str | None:
    """Why ``path`` cannot be a landing file, or None. Landing files are regular files inside the
    landing folder: a symbolic link is refused naming where it points (``KAM_LANDING_LINKS=inside``
    follows the links that resolve to a regular file inside the folder), and so is a file that
    resolves outside it (a linked source folder). Nothing outside the folder is ever opened."""
    root = settings.landing_dir.resolve()
    resolved = path.resolve()
    inside = resolved.is_relative_to(root)
    if path.is_symlink():
        if settings.landing_links == "inside" and inside and resolved.is_file() and not resolved.is_symlink():
            return None
        where = "inside" if inside else "outside"
        return (f"is a symbolic link to {os.readlink(path)} ({where} the landing folder {root}): landing "
                f"files must be regular files (KAM_LANDING_LINKS=inside follows links that stay inside "
                f"the landing folder; now {settings.landing_links})")
    if not inside:
        return f"resolves to {resolved}, outside the landing folder {root} (a linked folder?)"
    if not path.is_file():
        return "is not a regular file"
    return None


def read_options(mapping: SourceMapping | None) -> ReadOptions:
    if mapping is None:
        return DEFAULT_OPTIONS
    return ReadOptions(mapping.format, mapping.encoding, mapping.delimiter, mapping.header_row, mapping.sheets)


# Small files are read and checked a group at a time, GX validating the group's samples at once
# (kam.quality.batch_checks.agree); a group ends at this many rows read or files, whichever comes first.
GROUP_ROWS = 1_000_000
GROUP_FILES = 64


@dataclass
class Prepared:
    """A batch read, typed and checked in SQL on its own connection (its temp tables), waiting for
    GX's word on its sample and for its transaction (:func:`finish`)."""

    con: duckdb.DuckDBPyConnection
    result: BatchResult
    sha: str
    size: int
    mtime: dt.datetime
    started: dt.datetime
    run_id: str | None = None
    read: ReadResult | None = None
    rows_table: str = "_batch_text"
    checks: SqlChecks | None = None  # None: nothing left for GX (checked whole already, or refused)
    bad: int = 0
    refusal: str | None = None
    seconds: float = 0.0  # its own work so far (ops.ingest_batches.seconds)


def ingest_file(con: duckdb.DuckDBPyConnection, settings: Settings, source: str, path: Path,
                run_date: dt.date, run_id: str | None = None, mapping: SourceMapping | None = None,
                pulled: bool = False, before_commit=None) -> BatchResult:
    """Load one landing file as one batch, read and mapped by the source's ``mapping`` (none: the
    contract's own names). ``pulled``: a file kam itself wrote from a database pull
    (:mod:`kam.ingest.pull`), under ``$KAM_HOME/pulls``, not in the landing folder;
    ``before_commit(result)`` runs inside the batch's transaction (a pull's watermark moves with
    its batch or not at all). Never raises for bad data: it is recorded."""
    state = prepare(con, settings, source, path, run_date, run_id, mapping, pulled)
    if isinstance(state, BatchResult):
        return state
    return finish(settings, source, run_date, [state], before_commit)[0]


def prepare(con: duckdb.DuckDBPyConnection, settings: Settings, source: str, path: Path, run_date: dt.date,
            run_id: str | None = None, mapping: SourceMapping | None = None, pulled: bool = False,
            pending: list[Prepared] = ()) -> BatchResult | Prepared | None:
    """Everything about one file that needs no transaction: the landing checks, the quick and the
    sha256 check against the manifest, reading, mapping, typing and the SQL row checks, on
    ``con`` (whose temp tables are the batch's). A file that ends here (skipped, a duplicate,
    refused unread) comes back as its result; one to load as :class:`Prepared`. ``pending``: the
    batches prepared before it and not yet committed; None when this file cannot join them (it
    would record a batch before theirs, or has the content of one of them): finish them first."""
    contract = contract_for(source)
    ensure_tables(con, contract)
    started, clock = dt.datetime.now(), time.monotonic()
    refusal = None if pulled else landing_refusal(path, settings)
    if refusal:
        return None if pending else _refuse_unread(con, source, path, refusal, run_id, started)
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
    if any(p.sha == sha for p in pending):
        return None
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
        if not seen_here and pending:
            return None
        result = BatchResult(source, path, "duplicate" if not seen_here else "skipped",
                             error=f"same content (sha256) as batch {known[0]} ({known[1]}, {known[2]})")
        if not seen_here:  # a re-delivery under a new name: record it once, load nothing
            result.batch_id = next_batch_id(con)
            record_batch(con, result, sha, size, None, run_id, started, mtime)
            log.warning("%s", result.summary())
        return result

    # numbered as if the batches before it had committed: they will, in order, before it (finish)
    state = Prepared(con, BatchResult(source, path, "loaded", batch_id=next_batch_id(con) + len(pending)),
                     sha, size, mtime, started, run_id)
    result = state.result
    try:
        # Reading, parsing and validating only touch temp tables: no transaction yet.
        reshaped = mapping is not None and mapping.reshapes
        state.rows_table = "_batch_src" if reshaped else "_batch_text"
        state.read = read = read_batch(con, path, state.rows_table, settings.max_line_bytes, read_options(mapping))
        result.rows_read = read.rows_read
        result.warnings.extend(read.notes)
        if reshaped:
            mapped = map_batch(con, mapping, contract, read)
            state.read = read = mapped.read
            state.rows_table = "_batch_text"
            result.rows_skipped = read.skipped
            _note_mapping(result, mapped, mapping)
        missing = [c for c in contract.required if c not in read.columns]
        if missing:
            hint = _rename_hint(missing, read.columns, contract)
            raise BatchRefused(path, f"missing required column(s): {', '.join(missing)} "
                                     f"(found: {', '.join(read.columns)}){hint}")
        lineage = (f"{result.batch_id} as _batch_id, {sql_string(str(path))} as _source_file, "
                   f"_kam_row as _row_number, current_localtimestamp() as _loaded_at")
        con.execute(f"create or replace temp table _batch_typed as select {lineage}, "
                    f"{typed_select(contract, read.columns, MAP_ERRORS if reshaped else None)} from _batch_text")
        state.checks = sql_checks(con, settings, contract, run_date)
        if state.checks is None:  # a suite the compiler does not cover: GX on the whole batch, now
            state.bad, result.gx_docs, result.gx_rows = row_reasons_in_gx(con, settings, contract, run_date)
        else:
            state.bad = state.checks.failing
        refusal = bad_share_refusal(state.bad + len(read.rejects), read.rows_read, settings)
        if refusal:
            raise BatchRefused(path, refusal)
    except Exception as exc:  # noqa: BLE001 - whatever fails here is about this file: refuse it, go on
        state.refusal = _refusal_reason(source, path, exc)
        state.checks = None
    state.seconds = time.monotonic() - clock
    return state


def _refusal_reason(source: str, path: Path, exc: Exception) -> str:
    if isinstance(exc, BatchRefused):
        return exc.reason
    log.exception("%s: %s: unexpected error while reading", source, path)
    return f"unexpected error while reading ({type(exc).__name__}): {duckdb_message(exc)}"


def finish(settings: Settings, source: str, run_date: dt.date, group: list[Prepared],
           before_commit=None) -> list[BatchResult]:
    """GX on the group's samples at once (:func:`kam.quality.batch_checks.agree`), then each batch
    in its own transaction, in order: its good rows to raw, its bad rows to quarantine (a refused
    batch: every row to quarantine), its manifest row."""
    contract = contract_for(source)
    waiting = [p for p in group if p.checks is not None]
    if waiting:
        clock = time.monotonic()
        try:
            for state, word in zip(waiting, agree(settings, contract, run_date, [(p.con, p.checks) for p in waiting]),
                                   strict=True):
                state.result.gx_docs, state.result.gx_rows = word.docs_url, word.gx_rows
                if word.problems:
                    log.error("%s: %s: %s", source, state.result.path, word.problems[0])
                    state.refusal = f"unexpected error while reading (RuntimeError): {word.problems[0]}"
        except Exception as exc:  # noqa: BLE001 - GX could not validate: every batch of the group is refused
            for state in waiting:
                state.refusal = _refusal_reason(source, state.result.path, exc)
        for state in waiting:  # one GX validation for the group: each batch its share
            state.seconds += (time.monotonic() - clock) / len(waiting)
    results = []
    for state in group:
        try:
            results.append(_commit(settings, contract, state, before_commit))
        except Exception as exc:  # noqa: BLE001 - unexpected (the manifest could not be written): recorded
            results.append(_refuse_or_fail(state.con, source, state.result.path, exc, state.run_id))
    return results


def _refuse_unexpected(con: duckdb.DuckDBPyConnection, source: str, path: Path, exc: Exception,
                       run_id: str | None) -> BatchResult:
    """A file whose ingest failed outside the batch's own checks, recorded as refused."""
    log.exception("%s: %s: unexpected error", source, path)
    reason = f"unexpected error ({type(exc).__name__}): {duckdb_message(exc)}"
    _rollback_quietly(con)  # a failed statement aborts the transaction: the next file needs none
    return _refuse_unread(con, source, path, reason, run_id, dt.datetime.now())


def _commit(settings: Settings, contract: SourceContract, state: Prepared, before_commit) -> BatchResult:
    con, result, read = state.con, state.result, state.read
    source, path = contract.name, result.path
    clock = time.monotonic()
    try:
        if state.refusal is not None:
            raise BatchRefused(path, state.refusal)
        con.execute("begin transaction")
        _load(con, contract, read, result.batch_id, path)
        bad_rows = state.bad + len(read.rejects)
        result.rows_quarantined = bad_rows
        result.rows_loaded = read.rows - state.bad
        if bad_rows:
            result.status = "partial"
            result.warnings.append(f"{bad_rows} row(s) quarantined")
    except Exception as exc:  # noqa: BLE001 - whatever fails here is about this file: refuse it, go on
        reason = _refusal_reason(source, path, exc)
        _rollback_quietly(con)
        con.execute("begin transaction")
        result.status, result.error = "refused", reason
        result.rows_loaded = 0
        result.rows_quarantined = quarantine_whole(con, source, result.batch_id, path, read, reason,
                                                   state.rows_table)
        result.rows_read = read.rows_read if read else 0
    try:
        check_counts(result)
        result.seconds = state.seconds + time.monotonic() - clock
        record_batch(con, result, state.sha, state.size, read, state.run_id, state.started, state.mtime)
        if before_commit is not None:
            before_commit(result)
        checkpoint("ingest.before_commit")
        con.execute("commit")
    except Exception:
        _rollback_quietly(con)
        raise
    (log.error if result.status == "refused" else
     log.warning if result.status == "partial" else log.info)("%s", result.summary())
    return result


def _note_mapping(result: BatchResult, mapped: Mapped, mapping: SourceMapping) -> None:
    """The rows the mapping skipped, named; a required column it could not find refuses the batch,
    naming the headers found and the key to set; a missing optional one is noted."""
    if mapped.skipped_rows:
        shown = "; ".join(f"row {n}: {text}" for n, text in mapped.skipped_rows[:3])
        more = f" and {len(mapped.skipped_rows) - 3} more" if len(mapped.skipped_rows) > 3 else ""
        result.warnings.append(f"{len(mapped.skipped_rows)} row(s) skipped as not data ({shown}{more})")
    headers = ", ".join(c for c in mapped.read.columns if c not in contract_for(mapping.source).column_names) \
        or "none"
    required = set(contract_for(mapping.source).required)
    refused = []
    for column, header in mapped.missing:
        found_in = f"header {header!r} (mapped by {mapping.key_for(column)}) is not in the file" if header \
            else f"no header {column!r} and no mapping for it"
        if column in required:
            refused.append(f"{column}: {found_in}")
        else:
            result.warnings.append(f"optional column {column}: {found_in}; left empty")
    if refused:
        raise BatchRefused(result.path, f"missing required column(s) after the source mapping: {'; '.join(refused)} "
                                        f"(the file's other headers: {headers}): set "
                                        f"sources.{mapping.source}.columns.<column>: <the file's header> "
                                        f"in {mapping.file}")


def _refuse_unread(con: duckdb.DuckDBPyConnection, source: str, path: Path, reason: str,
                   run_id: str | None, started: dt.datetime) -> BatchResult:
    """Record a landing entry refused before anything was read from it (a symbolic link, or a
    file whose ingest failed unexpectedly): its manifest row carries the sha256 of the link's text
    (or of the path), never of what it points to. Recorded once: the same entry, unchanged, is
    skipped on later runs."""
    stat = path.lstat()
    size, mtime = stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime)
    unchanged = con.execute(
        "select batch_id from ops.ingest_batches where source = ? and source_file = ? and file_bytes = ? "
        "and file_mtime = ? and status = 'refused'", [source, str(path), size, mtime]).fetchone()
    if unchanged:
        return BatchResult(source, path, "skipped", error=f"refused before as batch {unchanged[0]}: {reason}")
    link = os.readlink(path) if path.is_symlink() else str(path)  # never what it points to
    result = BatchResult(source, path, "refused", batch_id=next_batch_id(con), error=reason)
    con.execute("begin transaction")
    try:
        record_batch(con, result, hashlib.sha256(link.encode()).hexdigest(), size, None, run_id, started, mtime)
        con.execute("commit")
    except Exception:
        _rollback_quietly(con)
        raise
    log.error("%s", result.summary())
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


def _load(con: duckdb.DuckDBPyConnection, contract: SourceContract, read: ReadResult,
          batch_id: int, path: Path) -> None:
    """Rows of ``_batch_reasons`` to quarantine (with their text as delivered), the rest to raw."""
    source = contract.name
    extras = [c for c in read.columns if c not in contract.column_names]
    add_missing_columns(con, f"raw.{source}", extras)
    add_missing_columns(con, f"quarantine.{source}", read.columns)
    text_cols = ", ".join(f"t.{_q(c)}" for c in read.columns)
    con.execute(
        f"insert into quarantine.{source} by name select {text_cols}, "
        f"y._batch_id, y._source_file, y._row_number, y._loaded_at, "
        f"'{source} row ' || y._row_number || ': ' || r._reason as _reason "
        f"from _batch_reasons r join _batch_typed y using (_row_number) "
        f"join (select _kam_row as _row_number, * from _batch_text) t using (_row_number)"
    )
    quarantine_rejects(con, source, batch_id, path, read)
    keep = list(contract.column_names) + extras
    con.execute(
        f"insert into raw.{source} by name select {', '.join(_q(c) for c in keep)}, "
        f"_batch_id, _source_file, _row_number, _loaded_at from _batch_typed "
        f"where _row_number not in (select _row_number from _batch_reasons)"
    )


def source_files(settings: Settings, source: str, mapping: SourceMapping | None) -> list[Path]:
    """The files of a source: its mapping's globs under the landing folder, else ``<landing>/<source>/*``
    (none for a source pulled from a database without ``files``)."""
    if mapping is not None and (mapping.files or mapping.query is not None):
        return mapping.files_under(settings.landing_dir)
    return discover_files(settings.landing_dir, source)


def ingest_source(settings: Settings, source: str, run_date: dt.date,
                  run_id: str | None = None, mappings: Mappings | None = None) -> list[BatchResult]:
    """Ingest every new file of one source; a refused file never stops the others. The connection
    reading the files can reach only the landing folder and the spill folder (:func:`confine`)."""
    from kam.quality.gx_suites import data_docs_once
    from kam.warehouse import warehouse

    mapping = (mappings if mappings is not None else load_mappings(settings.sources_path)).get(source)
    files = source_files(settings, source, mapping)
    where = f"{settings.landing_dir} ({', '.join(mapping.files)}, {mapping.origin})" if mapping and mapping.files \
        else settings.landing_dir / source
    log.info("%s: %d file(s) in %s", source, len(files), where)
    results: list[BatchResult | None] = []
    group: list[tuple[int, Prepared]] = []  # prepared, not yet committed: (their place in results, batch)

    def finish_group() -> None:
        for (slot, state), result in zip(group, finish(settings, source, run_date, [s for _, s in group]),
                                         strict=True):
            results[slot] = result
            state.con.close()
        group.clear()

    with warehouse(settings) as con, data_docs_once(settings.gx_dir):
        pulled = _pull(con, settings, mapping) if mapping is not None and mapping.query is not None else None
        confine(con, settings)
        if pulled is not None and pulled.path:
            try:
                results.append(ingest_file(con, settings, source, pulled.path, run_date, run_id, mapping, pulled=True,
                                           before_commit=lambda result: _record_pull(con, mapping, pulled, result)))
                if results[-1].status in ("duplicate", "skipped"):  # the same content as an earlier pull
                    pulled.path.unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - unexpected: recorded against its file, go on
                results.append(_refuse_or_fail(con, source, pulled.path, exc, run_id))
        for path in files:
            cur = con.cursor()  # the batch's own temp tables, kept until its group is committed
            try:
                state = prepare(cur, settings, source, path, run_date, run_id, mapping,
                                pending=[s for _, s in group])
                if state is None:  # it cannot join the group: commit the group first
                    finish_group()
                    state = prepare(cur, settings, source, path, run_date, run_id, mapping)
            except Exception as exc:  # noqa: BLE001 - unexpected: recorded against its file, go on
                cur.close()
                finish_group()
                results.append(_refuse_or_fail(con, source, path, exc, run_id))
                continue
            if not isinstance(state, Prepared):
                cur.close()
                results.append(state)
                continue
            results.append(None)
            group.append((len(results) - 1, state))
            if len(group) >= GROUP_FILES or sum(s.read.rows_read for _, s in group if s.read) >= GROUP_ROWS:
                finish_group()
        finish_group()
    return results


def _refuse_or_fail(con: duckdb.DuckDBPyConnection, source: str, path: Path, exc: Exception,
                    run_id: str | None) -> BatchResult:
    try:
        return _refuse_unexpected(con, source, path, exc, run_id)
    except Exception:  # noqa: BLE001 - the warehouse itself fails: the task fails (ingest_task)
        log.exception("%s: %s: cannot record the refusal", source, path)
        return BatchResult(source, path, "refused", error=f"unexpected error ({type(exc).__name__}): "
                                                          f"{duckdb_message(exc)}")


def _pull(con: duckdb.DuckDBPyConnection, settings: Settings, mapping: SourceMapping):
    """This run's pull of a source from its database (:mod:`kam.ingest.pull`); its problems (no
    connection, a refused query) fail the source's ingest task, naming the mapping's key."""
    from kam.ingest.pull import last_watermark, pull

    since = last_watermark(con, mapping.source)
    result = pull(settings, mapping, since)
    log.info("%s: pulled %d row(s) with %s%s", mapping.source, result.rows, mapping.query.connection,
             f" ({mapping.query.watermark} > {since})" if since is not None else "")
    return result


def _record_pull(con: duckdb.DuckDBPyConnection, mapping: SourceMapping, pulled, result: BatchResult) -> None:
    """In the pull's batch transaction: a loaded pull moves the watermark; a refused one keeps it,
    so the next run reads its rows again."""
    from kam.ingest.pull import record_pull

    if result.status in ("loaded", "partial"):
        record_pull(con, mapping, result.batch_id, pulled)


def confine(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """From here on this connection reaches no file but those under the landing folder and the
    spill folder (DuckDB's ``allowed_directories`` with external access off, which cannot be
    turned back on): SQL text that came from a file, were it ever executed, could read nothing
    else. The warehouse file itself stays open."""
    pulls = settings.kam_home / "pulls"  # the files of database pulls (kam.ingest.pull)
    folders = {str(settings.landing_dir), str(settings.landing_dir.resolve()), str(settings.tmp_dir),
               str(settings.tmp_dir.resolve()), str(pulls), str(pulls.resolve())}
    con.execute(f"set allowed_directories = [{', '.join(sql_string(f.rstrip('/') + '/') for f in sorted(folders))}]")
    con.execute("set enable_external_access = false")
