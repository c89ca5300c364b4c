"""Write-audit-publish on the DuckDB target: the served file is only ever replaced by a complete, checked one.

Publication writes every mart into a new DuckDB file next to the served one,
re-opens it read-only to check its row counts, then renames it over the
served file (``os.replace``: atomic on one filesystem). A reader sees the
previous complete version or the new one, never a mix. The previous file is
kept (hard link) under ``published/history/`` for rollback (:mod:`kam.publish.rollback`).

The new file starts as a copy of the served one when the fingerprints of what
that publication wrote are known (:mod:`kam.publish.fingerprints`): only the
partitions whose fingerprint changed are rewritten (one delete and insert per
month, in one transaction per mart), and checked again after writing; a mart
whose columns or most of whose months changed is copied whole. The log line of
each publication gives the seconds of its steps. Every
``KAM_PUBLISH_FULL_EVERY`` publications (default 7), or without usable
fingerprints, the file is written from scratch, so deleted rows never pile up.
The Parquet copies (:mod:`kam.publish.parquet`) follow the changed months whenever the
served file's fingerprints are known, also when the file itself is written from scratch.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.faults import checkpoint
from kam.files import fsync_dir
from kam.marts import OPS_PUBLISHED, PUBLICATION_PARTITIONS, PUBLISHED_MARTS, partition_filter_sql
from kam.publish.fingerprints import (
    State,
    changed_parts,
    mart_fingerprints,
    mart_state,
    served_state,
    store_fingerprints,
)
from kam.publish.ledger import DataInterval, Publication, mark_published, settle_stuck, start_publication
from kam.publish.parquet import CopyResult, write_copies
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


def file_publication_id(path: Path) -> int | None:
    """The publication a published file holds (its own row in ``publications``)."""
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("select max(publication_id) from publications where status = 'published'").fetchone()
        return row[0] if row else None
    finally:
        con.close()


def recover(settings: Settings, con: duckdb.DuckDBPyConnection) -> None:
    """Settle publications a crash left in 'publishing': served (the crash came after the rename:
    finish its Parquet copies) or never seen; then remove stale temporary files."""
    def finish(pub_id: int) -> dict[str, int]:
        counts = served_tables(settings.published_path)
        write_parquet(settings, pub_id, {table: None for table in counts})
        return counts

    settle_stuck(con, file_publication_id(settings.published_path), finish,
                 "recovered after an interruption following the rename",
                 "interrupted before the served file was replaced")
    for stale in settings.published_dir.glob(".analytics.*.duckdb.tmp*"):
        stale.unlink(missing_ok=True)


def _mart_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = ?", [name]).fetchone()[0])


# The steps of a publication (kam.publish.steps), in order: each a function of the publication being
# made (``Staging``), small and tested alone (tests/unit/test_publish_steps.py).
def begin(settings: Settings, run_id: str | None, run_date: dt.date, audit_summary: dict | None,
          interval: DataInterval) -> Staging:
    """Record the publication as 'publishing' in the ledger (after settling one a crash left) and take
    the fingerprints of the marts and of what the served file holds."""
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    with warehouse(settings) as con:
        limit_memory(con, settings)
        recover(settings, con)
        missing = [m for m in PUBLISHED_MARTS if not _mart_exists(con, m)]
        if missing:
            raise RuntimeError(f"cannot publish: marts missing from the warehouse: {missing}")
        pub_id = start_publication(
            con, run_id, run_date, audit_summary, str(settings.published_path), started, interval,
            "select as_of_month, customer_id, tier from marts.customer_value_monthly "
            "where as_of_month = (select max(as_of_month) from marts.customer_value_monthly)")
        checkpoint("publish.after_log")
        current = {mart: mart_state(con, f"marts.{mart}", mart) for mart in PUBLISHED_MARTS}
        served, chain, based_on = served_state(con, file_publication_id(settings.published_path),
                                               settings.publish_full_every)
    # every KAM_PUBLISH_FULL_EVERY-th file is written from scratch (deleted rows do not pile up in it); the
    # Parquet copies have no such leftovers and follow the served file's changes regardless
    base = served if served is not None and chain + 1 < settings.publish_full_every else None
    return Staging(settings, pub_id, run_date, settings.published_dir / f".analytics.{pub_id}.duckdb.tmp",
                   current, served, chain, based_on, base is not None)


def stage(staging: Staging) -> None:
    """Write the new file beside the served one: a copy of it with the changed months rewritten, or
    every mart whole; then the ledger's tables; the fingerprints of what it holds are stored."""
    settings, tmp, pub_id = staging.settings, staging.path, staging.publication_id
    tmp.unlink(missing_ok=True)
    if staging.delta:
        shutil.copyfile(settings.published_path, tmp)
    with warehouse(settings) as con:
        limit_memory(con, settings)
        con.execute(f"attach '{tmp}' as pub")
        try:
            for i, mart in enumerate(PUBLISHED_MARTS):
                if i == len(PUBLISHED_MARTS) // 2:
                    checkpoint("publish.mid_copy")
                served = staging.served.get(mart) if staging.served else None
                staging.changes[mart] = changed_parts(mart, staging.current[mart], served)
                staging.written[mart] = _write_mart(con, mart, staging.current[mart],
                                                    staging.changes[mart] if staging.delta else None)
                staging.counts[mart] = con.execute(f"select count(*) from pub.main.{mart}").fetchone()[0]
            con.execute("create or replace table pub.main.tier_publication_log as "
                        "select * from ops.tier_publication_log order by publication_id, customer_id")
            con.execute(
                "create or replace table pub.main.publications as select * replace ("
                "case when publication_id = ? then 'published' else status end as status) "
                "from ops.publications order by publication_id", [pub_id])
            for table in OPS_PUBLISHED:
                staging.counts[table] = con.execute(f"select count(*) from pub.main.{table}").fetchone()[0]
                staging.changes[table] = None
        finally:
            con.execute("detach pub")
        store_fingerprints(con, pub_id, staging.current, staging.chain + 1 if staging.delta else 0,
                           settings.keep_publications)


def verify(staging: Staging) -> None:
    """Open the new file read-only, as BI will, and check every table's row count."""
    _verify(staging.path, staging.counts)


def stage_report(staging: Staging) -> None:
    """The report of this publication, read from the file about to be served, staged beside it."""
    from kam.report.publication import stage_report as stage_page  # pandas and plotly: not at DAG parse
    from kam.report.source import duckdb_file

    with duckdb_file(staging.path) as src:
        staging.report = stage_page(staging.settings, src, staging.publication_id, staging.run_date)
    with staging.path.open("rb+") as fh:
        os.fsync(fh.fileno())
    checkpoint("publish.after_verify")


def keep_history(staging: Staging) -> None:
    """The served file, hard-linked under ``published/history/`` for ``kam rollback``."""
    keep_previous(staging.settings, staging.publication_id)
    checkpoint("publish.after_history")


def swap(staging: Staging) -> None:
    """Serve the new file (and its report): one rename, atomic on one filesystem."""
    from kam.report.publication import serve_report

    os.replace(staging.path, staging.settings.published_path)
    serve_report(staging.settings, staging.report)
    fsync_dir(staging.settings.published_dir)
    checkpoint("publish.after_replace")


def copies(staging: Staging) -> None:
    """The Parquet copies of the served file: the changed months, or whole (kam.publish.parquet)."""
    staging.copies = write_parquet(staging.settings, staging.publication_id, staging.changes, staging.based_on)
    checkpoint("publish.after_parquet")


def record(staging: Staging) -> None:
    """The ledger says 'published', with the row counts."""
    with warehouse(staging.settings) as con:
        mark_published(con, staging.publication_id, staging.counts)


STEPS: tuple[Callable[[Staging], None], ...] = (stage, verify, stage_report, keep_history, swap, copies, record)


@dataclass
class Staging:
    """A publication being made: what :func:`begin` found, then what each step did."""

    settings: Settings
    publication_id: int
    run_date: dt.date
    path: Path  # the new file, beside the served one until swap
    current: dict[str, State]  # the marts' fingerprints
    served: dict | None  # what the served file holds, when known
    chain: int  # publications since the last written from scratch
    based_on: int | None  # the publication the served Parquet copies hold
    delta: bool  # the new file starts as a copy of the served one
    counts: dict[str, int] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)  # per mart: unchanged, copied, months rewritten
    changes: dict[str, list[str] | None] = field(default_factory=dict)  # partitions that differ from served
    report: object = None  # the staged report (kam.report.publication)
    copies: list[CopyResult] = field(default_factory=list)


def publish(settings: Settings, run_id: str | None, run_date: dt.date,
            audit_summary: dict | None = None, interval: DataInterval = (None, None)) -> Publication:
    """Publish the audited marts to ``published/analytics.duckdb`` (+ the report and Parquet copies):
    :func:`begin`, then every step of :data:`STEPS` in order; the log line gives each step's seconds."""
    clock = _Clock()
    staging = begin(settings, run_id, run_date, audit_summary, interval)
    clock.lap("begin")
    for step in STEPS:
        step(staging)
        clock.lap(step.__name__)
    log.info("publication %s: %s (%s); parquet: %s; seconds: %s", staging.publication_id, settings.published_path,
             ", ".join(f"{k} {v} rows ({staging.written.get(k, 'copied')})" for k, v in staging.counts.items()),
             ", ".join(f"{c.table} {c.how}" for c in staging.copies), clock)
    return Publication(staging.publication_id, "published", settings.published_path, staging.counts,
                       written=staging.written)


class _Clock:
    """Wall time of the publication's steps, for its log line."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.laps[step] = now - self.last
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.1f}" for step, seconds in self.laps.items())


def _write_mart(con: duckdb.DuckDBPyConnection, mart: str, current: State, changed: list[str] | None) -> str:
    """Bring ``pub.main.<mart>`` (a copy of the served file, or a new file) to the warehouse's
    mart: unchanged, the ``changed`` month partitions rewritten, or copied whole (None)."""
    if changed == []:
        return "unchanged"
    parts = current[1]
    if changed is None or 2 * len(changed) > len(parts):  # most months changed: one copy beats one per month
        # stored month by month, so that a month's rows share row groups: rewriting or reading one
        # month later touches only those (at 30k customers, three months of customer_value_monthly
        # commit in 1.2 s instead of 2.9 s, and each month's Parquet file is read without a full scan)
        order = f" order by {PUBLICATION_PARTITIONS[mart]}" if mart in PUBLICATION_PARTITIONS else ""
        con.execute(f"create or replace table pub.main.{mart} as select * from marts.{mart}{order}")
        return "copied"
    expected = {p: parts[p] for p in changed if p in parts}
    by_row = 0
    for rowwise in (True, False):  # row by row where it can; if the result differs, each month whole
        con.execute("begin transaction")  # one commit per mart: autocommitted months checkpoint again and again
        try:
            by_row = sum(_rewrite_month(con, mart, part, parts.get(part, (0, 0))[0], rowwise) for part in changed)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        if mart_fingerprints(con, f"pub.main.{mart}", mart, changed) == expected:
            break
        if not rowwise:
            raise RuntimeError(f"publication of {mart}: the rewritten months {changed} do not match the warehouse")
        log.warning("publication of %s: the months %s brought up to date row by row do not match the "
                    "warehouse: each is rewritten whole", mart, changed)
    note = f", {by_row} by changed rows" if by_row else ""
    return f"{len(changed)} of {len(parts)} months rewritten{note}"


def _rewrite_month(con: duckdb.DuckDBPyConnection, mart: str, part: str, rows_now: int, rowwise: bool) -> int:
    """Bring one month of ``pub.main.<mart>`` to the warehouse's: when fewer than half of its rows
    changed (a day's corrections of old orders touch a few lines in each of many months), only the
    rows that differ, found by their whole-row hash (as the fingerprints are); else the whole month.
    The delete and insert of whole months rewrote 10 months of fct_order_lines (2.8M rows) for a daily
    run at 100k customers: 7.9 s of its 11.4 s of staging. The caller compares the months' fingerprints
    afterwards and rewrites them whole if they differ. 1 when done row by row, else 0."""
    rows = partition_filter_sql(mart, part)
    if rowwise:
        con.execute(f"create or replace temp table _kam_month_new as select * from marts.{mart} w where {rows} "
                    f"and hash(w) not in (select hash(p) from pub.main.{mart} p where {rows})")
        if 2 * con.execute("select count(*) from _kam_month_new").fetchone()[0] < rows_now:
            con.execute(f"delete from pub.main.{mart} p where {rows} and hash(p) not in ("
                        f"select hash(w) from marts.{mart} w where {rows})")
            con.execute(f"insert into pub.main.{mart} select * from _kam_month_new")
            con.execute("drop table _kam_month_new")
            return 1
        con.execute("drop table _kam_month_new")
    con.execute(f"delete from pub.main.{mart} where {rows}")
    con.execute(f"insert into pub.main.{mart} select * from marts.{mart} where {rows}")
    return 0


def _verify(path: Path, expected: dict[str, int]) -> None:
    """Open the new file read-only, as BI will, and check every table's row count."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table, rows in expected.items():
            got = con.execute(f"select count(*) from {table}").fetchone()[0]
            if got != rows:
                raise RuntimeError(f"{path}: {table} has {got} rows, expected {rows}")
    finally:
        con.close()


def write_parquet(settings: Settings, pub_id: int | None, changes: dict[str, list[str] | None],
                   based_on: int | None = None) -> list[CopyResult]:
    """The Parquet copies of the served file (kam.publish.parquet): per table, only the changed
    partitions when the served copies hold publication ``based_on``, else whole."""
    return write_copies(settings.published_path, settings.parquet_dir, pub_id, changes, based_on,
                        settings.publish_memory_limit)


def limit_memory(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """DuckDB's memory limit for publishing (``KAM_PUBLISH_MEMORY_LIMIT``). The month-ordered
    copies fill DuckDB's pool up to its limit, in the Airflow task process beside Airflow and GX:
    at 100k customers, 3GB gave a publish task peak of 3.9–4.1 GB, 2GB 0.7 GB less for 10 % more
    time (docs/benchmarks.md, 2026-12-02)."""
    value = settings.publish_memory_limit.replace("'", "")
    try:
        con.execute(f"set memory_limit = '{value}'")
    except duckdb.Error as exc:
        raise ValueError(f"KAM_PUBLISH_MEMORY_LIMIT={settings.publish_memory_limit!r} is not a DuckDB "
                         f"memory limit (e.g. 2GB): {str(exc).splitlines()[0]}") from exc


def served_tables(path: Path) -> dict[str, int]:
    """Row count per table in a published file (opened read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("show tables").fetchall()]
        return {n: con.execute(f"select count(*) from {n}").fetchone()[0] for n in names}
    finally:
        con.close()


def keep_previous(settings: Settings, pub_id: int) -> None:
    """Hard-link the served file into history/ before it is replaced; keep the last N."""
    current = settings.published_path
    if not current.exists():
        return
    history = settings.history_dir
    history.mkdir(exist_ok=True)
    target = history / f"analytics.before-{pub_id:06d}.duckdb"
    target.unlink(missing_ok=True)
    os.link(current, target)
    kept = sorted(history.glob("analytics.before-*.duckdb"))
    keep = settings.keep_publications
    for old in kept[:-keep] if keep > 0 else kept:
        old.unlink()
