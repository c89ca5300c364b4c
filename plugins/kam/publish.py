"""Write-audit-publish: the served file is only ever replaced by a complete, checked one.

Publication writes every mart into a new DuckDB file next to the served one,
re-opens it read-only to check its row counts, then renames it over the
served file (``os.replace``: atomic on one filesystem). A reader sees the
previous complete version or the new one, never a mix. The previous file is
kept (hard link) under ``published/history/`` for rollback.

The new file starts as a copy of the served one when the fingerprints of what
that publication wrote are known (``ops.publication_fingerprints``: per mart and
month partition, the row count and the sum of the rows' hashes): only the
partitions whose fingerprint changed are rewritten (one delete and insert per
month, in one transaction per mart), and checked again after writing; a mart
whose columns or most of whose months changed is copied whole. The log line of
each publication gives the seconds of its steps. Every
``KAM_PUBLISH_FULL_EVERY`` publications (default 7), or without usable
fingerprints, the file is written from scratch, so deleted rows never pile up.
The Parquet copies (``kam.parquet_copies``) follow the changed months whenever the
served file's fingerprints are known, also when the file itself is written from scratch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.faults import checkpoint
from kam.marts import PUBLICATION_PARTITIONS, PUBLISHED_MARTS, partition_filter_sql, partition_key_sql
from kam.parquet_copies import CopyResult, write_copies
from kam.warehouse import warehouse

log = logging.getLogger(__name__)

KEEP_HISTORY = int(os.environ.get("KAM_KEEP_PUBLICATIONS", "5"))
FULL_EVERY = int(os.environ.get("KAM_PUBLISH_FULL_EVERY", "7"))


@dataclass
class Publication:
    publication_id: int
    status: str
    path: Path | None
    row_counts: dict[str, int]
    reason: str | None = None
    written: dict[str, str] = field(default_factory=dict)  # mart -> copied | unchanged | N of M months


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


DataInterval = tuple[dt.datetime | None, dt.datetime | None]


def _insert_publication(con: duckdb.DuckDBPyConnection, **row: object) -> int:
    pub_id = con.execute("select nextval('ops.publication_id_seq')").fetchone()[0]
    row = {"publication_id": pub_id, **row}
    con.execute(f"insert into ops.publications ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                list(row.values()))
    return pub_id


def record_refusal(settings: Settings, run_id: str | None, run_date: dt.date, reason: str,
                   audit_summary: dict | None = None, interval: DataInterval = (None, None)) -> int:
    """Record a refused publication; the served file is not touched."""
    with warehouse(settings) as con:
        now = dt.datetime.now()
        pub_id = _insert_publication(
            con, run_id=run_id, run_date=run_date, status="refused", reason=reason[:4000],
            audit_summary=json.dumps(audit_summary or {}, default=str), started_at=now, finished_at=now,
            data_interval_start=interval[0], data_interval_end=interval[1])
    log.error("publication %s refused: %s", pub_id, reason)
    return pub_id


def served_publication_id(path: Path) -> int | None:
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
    """Settle publications a crash left in 'publishing'.

    If the served file is that publication, the crash came after the rename:
    it *was* published (finish the Parquet copies and mark it). Otherwise it
    never reached readers: mark it failed and drop its tier log rows, which
    describe something nobody saw.
    """
    stuck = stuck_publications(con)
    if not stuck:
        return
    served = served_publication_id(settings.published_path)
    for pub_id in stuck:
        if pub_id == served:
            counts = served_tables(settings.published_path)
            _write_parquet(settings, pub_id, {table: None for table in counts})
            mark_published(con, pub_id, counts, "recovered after an interruption following the rename")
            log.warning("publication %s was served before an interruption: marked published", pub_id)
        else:
            mark_failed(con, pub_id, "interrupted before the served file was replaced")
    for stale in settings.published_dir.glob(".analytics.*.duckdb.tmp*"):
        stale.unlink(missing_ok=True)


def start_publication(con: duckdb.DuckDBPyConnection, run_id: str | None, run_date: dt.date,
                      audit_summary: dict | None, published_to: str, started: dt.datetime,
                      interval: DataInterval, latest_tiers_sql: str) -> int:
    """Record a publication as 'publishing' with the tiers it will show, in one transaction.

    ``latest_tiers_sql`` returns (as_of_month, customer_id, tier) of the latest
    month: what sales sees after this publication (DOMAIN §7).
    """
    con.execute("begin transaction")
    pub_id = _insert_publication(
        con, run_id=run_id, run_date=run_date, status="publishing",
        audit_summary=json.dumps(audit_summary or {}, default=str),
        published_path=published_to, started_at=started,
        data_interval_start=interval[0], data_interval_end=interval[1])
    con.execute("insert into ops.tier_publication_log "
                f"select ?, ?, as_of_month, customer_id, tier from ({latest_tiers_sql}) as latest",
                [pub_id, started])
    con.execute("commit")
    return pub_id


def stuck_publications(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Publications a crash left in 'publishing'."""
    return [r[0] for r in con.execute(
        "select publication_id from ops.publications where status = 'publishing' order by 1").fetchall()]


def mark_published(con: duckdb.DuckDBPyConnection, pub_id: int, counts: dict[str, int],
                   reason: str | None = None) -> None:
    con.execute("update ops.publications set status = 'published', row_counts = ?, reason = coalesce(?, reason), "
                "finished_at = current_localtimestamp() where publication_id = ?",
                [json.dumps(counts), reason, pub_id])


def mark_failed(con: duckdb.DuckDBPyConnection, pub_id: int, reason: str) -> None:
    """A publication that never reached readers: failed, and its tier log rows (which describe
    something nobody saw) dropped, in one transaction."""
    con.execute("begin transaction")
    con.execute("delete from ops.tier_publication_log where publication_id = ?", [pub_id])
    con.execute("update ops.publications set status = 'failed', reason = ?, "
                "finished_at = current_localtimestamp() where publication_id = ?", [reason, pub_id])
    con.execute("commit")
    log.warning("publication %s marked failed: %s", pub_id, reason)


def _mart_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = ?", [name]).fetchone()[0])


def publish(settings: Settings, run_id: str | None, run_date: dt.date,
            audit_summary: dict | None = None, interval: DataInterval = (None, None)) -> Publication:
    """Publish the audited marts to ``published/analytics.duckdb`` (+ Parquet)."""
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

        clock = _Clock()
        current = {mart: _state(con, f"marts.{mart}", mart) for mart in PUBLISHED_MARTS}
        clock.lap("fingerprints")
        served, chain, based_on = _served_state(settings, con)
        # every FULL_EVERY-th file is written from scratch (deleted rows do not pile up in it); the
        # Parquet copies have no such leftovers and follow the served file's changes regardless
        base = served if served is not None and chain + 1 < FULL_EVERY else None
        tmp = settings.published_dir / f".analytics.{pub_id}.duckdb.tmp"
        tmp.unlink(missing_ok=True)
        if base is not None:
            shutil.copyfile(settings.published_path, tmp)
            clock.lap("copy of the served file")
        con.execute(f"attach '{tmp}' as pub")
        counts: dict[str, int] = {}
        written: dict[str, str] = {}
        changes: dict[str, list[str] | None] = {}  # per table, the partitions that differ from the served file
        try:
            for i, mart in enumerate(PUBLISHED_MARTS):
                if i == len(PUBLISHED_MARTS) // 2:
                    checkpoint("publish.mid_copy")
                changes[mart] = _changed_parts(mart, current[mart], served.get(mart) if served else None)
                written[mart] = _write_mart(con, mart, current[mart], changes[mart] if base is not None else None)
                counts[mart] = con.execute(f"select count(*) from pub.main.{mart}").fetchone()[0]
            con.execute("create or replace table pub.main.tier_publication_log as "
                        "select * from ops.tier_publication_log order by publication_id, customer_id")
            con.execute(
                "create or replace table pub.main.publications as select * replace ("
                "case when publication_id = ? then 'published' else status end as status) "
                "from ops.publications order by publication_id", [pub_id])
            counts["tier_publication_log"] = con.execute(
                "select count(*) from pub.main.tier_publication_log").fetchone()[0]
            counts["publications"] = con.execute(
                "select count(*) from pub.main.publications").fetchone()[0]
            changes.update(tier_publication_log=None, publications=None)
        finally:
            con.execute("detach pub")
        clock.lap("marts written")
        _store_fingerprints(con, pub_id, current, chain + 1 if base is not None else 0)

    _verify(tmp, counts)
    clock.lap("verified")
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    checkpoint("publish.after_verify")
    _keep_previous(settings, pub_id)
    checkpoint("publish.after_history")
    os.replace(tmp, settings.published_path)
    _fsync_dir(settings.published_dir)
    checkpoint("publish.after_replace")
    clock.lap("served")
    copies = _write_parquet(settings, pub_id, changes, based_on)
    clock.lap("parquet")
    checkpoint("publish.after_parquet")

    with warehouse(settings) as con:
        mark_published(con, pub_id, counts)
    log.info("publication %s: %s (%s); parquet: %s; seconds: %s", pub_id, settings.published_path,
             ", ".join(f"{k} {v} rows ({written.get(k, 'copied')})" for k, v in counts.items()),
             ", ".join(f"{c.table} {c.how}" for c in copies), clock)
    return Publication(pub_id, "published", settings.published_path, counts, written=written)


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


# --- what a publication wrote: fingerprints per mart and month --------------------------

Fingerprints = dict[str, tuple[int, int]]  # partition -> (rows, sum of row hashes)
State = tuple[str, Fingerprints]  # (columns with types, fingerprints)


def _fingerprints(con: duckdb.DuckDBPyConnection, relation: str, mart: str,
                  parts: list[str] | None = None) -> Fingerprints:
    select = f"select {partition_key_sql(mart)}, count(*), sum(hash(t)::hugeint) from {relation} t"
    if parts is None:
        rows = con.execute(f"{select} group by 1").fetchall()
    else:
        rows = [row for part in parts
                for row in con.execute(f"{select} where {partition_filter_sql(mart, part)} group by 1").fetchall()]
    return {part: (n, int(h)) for part, n, h in rows}


def _state(con: duckdb.DuckDBPyConnection, relation: str, mart: str) -> State:
    columns = ", ".join(f"{name} {kind}" for name, kind, *_ in con.execute(f"describe {relation}").fetchall())
    return columns, _fingerprints(con, relation, mart)


def _served_state(settings: Settings, con: duckdb.DuckDBPyConnection
                  ) -> tuple[dict[str, State] | None, int, int | None]:
    """What the served file holds (its publication's fingerprints), how many delta
    publications led to it, and its publication id; None when they are not known (or
    ``KAM_PUBLISH_FULL_EVERY`` is 1: everything written from scratch)."""
    served = served_publication_id(settings.published_path)
    if served is None or FULL_EVERY <= 1:
        return None, 0, None
    rows = con.execute("select mart, columns, part, rows, fingerprint, delta_chain "
                       "from ops.publication_fingerprints where publication_id = ?", [served]).fetchall()
    base: dict[str, State] = {}
    chain = 0
    for mart, columns, part, n, fingerprint, delta_chain in rows:
        chain = delta_chain
        _, parts = base.setdefault(mart, (columns, {}))
        if part != "*":  # '*' only carries the columns of a mart (an empty one has no partitions)
            parts[part] = (n, int(fingerprint))
    if set(base) != set(PUBLISHED_MARTS):
        return None, 0, None
    return base, chain, served


def _store_fingerprints(con: duckdb.DuckDBPyConnection, pub_id: int, states: dict[str, State],
                        chain: int) -> None:
    rows = [(pub_id, mart, columns, part, n, fingerprint, chain)
            for mart, (columns, parts) in states.items()
            for part, (n, fingerprint) in [("*", (sum(v[0] for v in parts.values()), 0)), *parts.items()]]
    con.execute("delete from ops.publication_fingerprints where publication_id = ?", [pub_id])
    con.executemany("insert into ops.publication_fingerprints (publication_id, mart, columns, part, rows, "
                    "fingerprint, delta_chain) values (?, ?, ?, ?, ?, ?, ?)", rows)
    # keep the fingerprints of the publications a rollback can still serve
    con.execute("""delete from ops.publication_fingerprints where publication_id not in (
                       select publication_id from ops.publications where status in ('published', 'publishing')
                       order by publication_id desc limit ?)""", [KEEP_HISTORY + 2])


def _changed_parts(mart: str, current: State, base: State | None) -> list[str] | None:
    """The partitions of ``mart`` whose fingerprint differs from the served file's ([] when
    none), or None when it must be written whole (no usable base, other columns, or a mart
    that is not partitioned and changed)."""
    if base is None or base[0] != current[0]:
        return None
    if base == current:
        return []
    if mart not in PUBLICATION_PARTITIONS:
        return None
    parts, served = current[1], base[1]
    return sorted({p for p in parts if served.get(p) != parts[p]} | {p for p in served if p not in parts})


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
    con.execute("begin transaction")  # one commit per mart: autocommitted months checkpoint again and again
    try:
        for part in changed:
            rows = partition_filter_sql(mart, part)
            con.execute(f"delete from pub.main.{mart} where {rows}")
            con.execute(f"insert into pub.main.{mart} select * from marts.{mart} where {rows}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    got = _fingerprints(con, f"pub.main.{mart}", mart, changed)
    if got != {p: parts[p] for p in changed if p in parts}:
        raise RuntimeError(f"publication of {mart}: the rewritten months {changed} do not match the warehouse")
    return f"{len(changed)} of {len(parts)} months rewritten"


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


def _keep_previous(settings: Settings, pub_id: int) -> None:
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
    for old in kept[:-KEEP_HISTORY] if KEEP_HISTORY > 0 else kept:
        old.unlink()


def _write_parquet(settings: Settings, pub_id: int | None, changes: dict[str, list[str] | None],
                   based_on: int | None = None) -> list[CopyResult]:
    """The Parquet copies of the served file (kam.parquet_copies): per table, only the changed
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


@dataclass
class KeptFile:
    path: Path
    publication_id: int | None
    run_date: dt.date | None


def kept_publications(settings: Settings) -> list[KeptFile]:
    """Earlier published files under ``published/history/``, newest first."""
    kept = []
    for path in sorted(settings.history_dir.glob("analytics.before-*.duckdb"), reverse=True):
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            continue
        try:
            row = con.execute("select publication_id, run_date from publications where status = 'published' "
                              "order by publication_id desc limit 1").fetchone()
        finally:
            con.close()
        kept.append(KeptFile(path, *(row or (None, None))))
    return kept


def rollback(settings: Settings, to_publication: int | None = None) -> Publication:
    """Serve an earlier publication again (atomically), keeping the current one for roll-forward."""
    from kam.errors import KamError

    served = served_publication_id(settings.published_path)
    candidates = [k for k in kept_publications(settings) if k.publication_id != served]
    if to_publication is not None:
        candidates = [k for k in candidates if k.publication_id == to_publication]
    if not candidates:
        available = ", ".join(str(k.publication_id) for k in kept_publications(settings)) or "none"
        raise KamError(f"no kept publication to roll back to"
                       f"{f' with id {to_publication}' if to_publication is not None else ''} "
                       f"(served: {served}; kept: {available})")
    target = candidates[0]
    with warehouse(settings) as con:
        now = dt.datetime.now()
        pub_id = _insert_publication(
            con, run_id="rollback", run_date=target.run_date, status="rolled_back",
            reason=f"served file rolled back from publication {served} to publication "
                   f"{target.publication_id} ({target.path.name})",
            published_path=str(settings.published_path), started_at=now)
    tmp = settings.published_dir / f".analytics.{pub_id}.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    os.link(target.path, tmp)
    counts = served_tables(tmp)
    _keep_previous(settings, pub_id)
    os.replace(tmp, settings.published_path)
    _fsync_dir(settings.published_dir)
    _write_parquet(settings, target.publication_id, {table: None for table in counts})
    with warehouse(settings) as con:
        con.execute("update ops.publications set row_counts = ?, finished_at = current_localtimestamp() "
                    "where publication_id = ?", [json.dumps(counts), pub_id])
    log.warning("rolled back: now serving publication %s", target.publication_id)
    return Publication(target.publication_id, "rolled_back", settings.published_path, counts,
                       reason=f"was {served}")
