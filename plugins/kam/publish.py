"""Write-audit-publish: the served file is only ever replaced by a complete, checked one.

Publication writes every mart into a new DuckDB file next to the served one,
re-opens it read-only to check its row counts, then renames it over the
served file (``os.replace``: atomic on one filesystem). A reader sees the
previous complete version or the new one, never a mix. The previous file is
kept (hard link) under ``published/history/`` for rollback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.marts import PUBLISHED_MARTS
from kam.warehouse import warehouse

log = logging.getLogger(__name__)

KEEP_HISTORY = int(os.environ.get("KAM_KEEP_PUBLICATIONS", "5"))


@dataclass
class Publication:
    publication_id: int
    status: str
    path: Path | None
    row_counts: dict[str, int]
    reason: str | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_refusal(settings: Settings, run_id: str | None, run_date: dt.date, reason: str,
                   audit_summary: dict | None = None) -> int:
    """Record a refused publication; the served file is not touched."""
    with warehouse(settings) as con:
        pub_id = con.execute("select nextval('ops.publication_id_seq')").fetchone()[0]
        now = dt.datetime.now()
        con.execute(
            "insert into ops.publications values (?, ?, ?, 'refused', ?, ?, null, null, ?, ?)",
            [pub_id, run_id, run_date, reason[:4000],
             json.dumps(audit_summary or {}, default=str), now, now],
        )
    log.error("publication %s refused: %s", pub_id, reason)
    return pub_id


def _mark_interrupted(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "update ops.publications set status = 'failed', "
        "reason = 'interrupted before the served file was replaced', "
        "finished_at = current_localtimestamp() where status = 'publishing'"
    )


def _mart_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = ?", [name]).fetchone()[0])


def publish(settings: Settings, run_id: str | None, run_date: dt.date,
            audit_summary: dict | None = None) -> Publication:
    """Publish the audited marts to ``published/analytics.duckdb`` (+ Parquet)."""
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    with warehouse(settings) as con:
        _mark_interrupted(con)
        missing = [m for m in PUBLISHED_MARTS if not _mart_exists(con, m)]
        if missing:
            raise RuntimeError(f"cannot publish: marts missing from the warehouse: {missing}")
        pub_id = con.execute("select nextval('ops.publication_id_seq')").fetchone()[0]
        con.execute("begin transaction")
        con.execute(
            "insert into ops.publications values (?, ?, ?, 'publishing', null, ?, null, ?, ?, null)",
            [pub_id, run_id, run_date, json.dumps(audit_summary or {}, default=str),
             str(settings.published_path), started],
        )
        if _mart_exists(con, "customer_value_monthly"):
            # what sales sees now: the tiers of the latest month, as published (DOMAIN §7)
            con.execute(
                "insert into ops.tier_publication_log "
                "select ?, ?, as_of_month, customer_id, tier from marts.customer_value_monthly "
                "where as_of_month = (select max(as_of_month) from marts.customer_value_monthly)",
                [pub_id, started],
            )
        con.execute("commit")

        tmp = settings.published_dir / f".analytics.{pub_id}.duckdb.tmp"
        tmp.unlink(missing_ok=True)
        con.execute(f"attach '{tmp}' as pub")
        counts: dict[str, int] = {}
        try:
            for mart in PUBLISHED_MARTS:
                con.execute(f"create table pub.main.{mart} as select * from marts.{mart}")
                counts[mart] = con.execute(f"select count(*) from pub.main.{mart}").fetchone()[0]
            con.execute("create table pub.main.tier_publication_log as "
                        "select * from ops.tier_publication_log order by publication_id, customer_id")
            con.execute(
                "create table pub.main.publications as select * replace ("
                "case when publication_id = ? then 'published' else status end as status) "
                "from ops.publications order by publication_id", [pub_id])
            counts["tier_publication_log"] = con.execute(
                "select count(*) from pub.main.tier_publication_log").fetchone()[0]
            counts["publications"] = con.execute(
                "select count(*) from pub.main.publications").fetchone()[0]
        finally:
            con.execute("detach pub")

    _verify(tmp, counts)
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    _keep_previous(settings, pub_id)
    os.replace(tmp, settings.published_path)
    _fsync_dir(settings.published_dir)
    _write_parquet(settings, counts)

    with warehouse(settings) as con:
        con.execute(
            "update ops.publications set status = 'published', row_counts = ?, "
            "finished_at = current_localtimestamp() where publication_id = ?",
            [json.dumps(counts), pub_id],
        )
    log.info("publication %s: %s (%s)", pub_id, settings.published_path,
             ", ".join(f"{k} {v}" for k, v in counts.items()))
    return Publication(pub_id, "published", settings.published_path, counts)


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
    history = settings.published_dir / "history"
    history.mkdir(exist_ok=True)
    target = history / f"analytics.before-{pub_id:06d}.duckdb"
    target.unlink(missing_ok=True)
    os.link(current, target)
    kept = sorted(history.glob("analytics.before-*.duckdb"))
    for old in kept[:-KEEP_HISTORY] if KEEP_HISTORY > 0 else kept:
        old.unlink()


def _write_parquet(settings: Settings, counts: dict[str, int]) -> None:
    """Each mart as ``parquet/<mart>/<mart>.parquet``, each file replaced atomically."""
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        for table in counts:
            folder = settings.parquet_dir / table
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{table}.parquet.tmp"
            con.execute(f"copy {table} to '{tmp}' (format parquet)")
            os.replace(tmp, folder / f"{table}.parquet")
    finally:
        con.close()


def served_tables(path: Path) -> dict[str, int]:
    """Row count per table in a published file (opened read-only)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("show tables").fetchall()]
        return {n: con.execute(f"select count(*) from {n}").fetchone()[0] for n in names}
    finally:
        con.close()
