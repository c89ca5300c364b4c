"""Write-audit-publish on the PostgreSQL target: an atomic schema swap into ``analytics``.

dbt builds and the audit checks schema ``marts`` on the server. Publication
copies every published mart into a fresh schema ``analytics_next``, adds
``publications`` and ``tier_publication_log`` from kam's ops tables (COPY),
checks the row counts, then in the same transaction drops ``analytics`` and
renames ``analytics_next`` to it, and grants the read-only BI role. Readers
see the old schema or the new one, never a mix: a query that reaches a
table during the swap waits for the commit and then reads the new table. The
swap never waits holding a served table (:func:`lock_served`), so a BI query is
never cancelled as a deadlock's victim.
A crash before the commit leaves the server exactly as it was.

The run bookkeeping (``ops.publications``, ``ops.tier_publication_log``)
stays in the embedded DuckDB warehouse, next to the ingest manifest.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kam.config import Settings
from kam.faults import checkpoint
from kam.marts import OPS_PUBLISHED as OPS_TABLES
from kam.marts import PUBLISHED_MARTS, SERVED_NAME
from kam.postgres.connection import connect, q, redacted
from kam.postgres.grants import ensure_bi_role, grant_bi
from kam.postgres.sync import copy_query
from kam.postgres.types import create_like, duck_columns
from kam.publish.ledger import (
    DataInterval,
    Publication,
    mark_published,
    settle_stuck,
    start_publication,
    stuck_publications,
)
from kam.warehouse import warehouse

log = logging.getLogger(__name__)

SERVED_SCHEMA = SERVED_NAME
NEXT_SCHEMA = "analytics_next"


def schema_publication_id(dsn: str, schema: str = SERVED_SCHEMA) -> int | None:
    """The publication the server's ``analytics`` schema holds (None before the first)."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from information_schema.tables where table_schema = %s "
                        "and table_name = 'publications'", [schema])
            if not cur.fetchone()[0]:
                return None
            cur.execute(f"select max(publication_id) from {q(schema)}.publications where status = 'published'")
            return cur.fetchone()[0]
    finally:
        conn.close()


def recover_postgres(settings: Settings, con) -> None:
    """Settle publications a crash left in 'publishing': served on the server, or never seen."""
    if not stuck_publications(con):
        return
    settle_stuck(con, schema_publication_id(settings.pg_dsn), lambda _pub_id: server_counts(settings.pg_dsn),
                 "recovered after an interruption following the commit",
                 "interrupted before the schema swap was committed")


def server_counts(dsn: str, schema: str = SERVED_SCHEMA) -> dict[str, int]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            return {t: _count(cur, schema, t) for t in (*PUBLISHED_MARTS, *OPS_TABLES)}
    finally:
        conn.close()


def _count(cur, schema: str, table: str) -> int:
    cur.execute(f"select count(*) from {q(schema)}.{q(table)}")
    return cur.fetchone()[0]


def _latest_tiers_csv(cur, tmp_dir: Path) -> Path:
    """The server's tiers of the latest month as a CSV file (COPY TO STDOUT), for the ops log."""
    fd, name = tempfile.mkstemp(prefix=".kam-tiers-", suffix=".csv", dir=tmp_dir)
    with os.fdopen(fd, "wb") as fh:
        cur.copy_expert(
            "copy (select as_of_month, customer_id, tier from marts.customer_value_monthly "
            "where as_of_month = (select max(as_of_month) from marts.customer_value_monthly)) "
            "to stdout with (format csv)", fh)
    return Path(name)


@dataclass
class Staging:
    """A publication being made on the server: one connection, one transaction from stage to swap."""

    settings: Settings
    conn: Any  # psycopg2 connection to KAM_PG_DSN
    publication_id: int
    run_date: dt.date
    counts: dict[str, int] = field(default_factory=dict)
    report: object = None  # the staged report (kam.report.publication)


# The steps of a publication on the server, named as the DuckDB target's (kam.publish.steps); a file's
# history and Parquet copies do not apply: the served schema is replaced whole, in one transaction.
def begin(settings: Settings, run_id: str | None, run_date: dt.date, audit_summary: dict | None,
          interval: DataInterval) -> Staging:
    """Record the publication as 'publishing' (after settling one a crash left), with the server's
    tiers of the latest month; the connection it returns is closed by :func:`publish_postgres`."""
    dsn = settings.pg_dsn
    started = dt.datetime.now()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    conn = connect(dsn)
    try:
        with warehouse(settings) as con:
            recover_postgres(settings, con)
            with conn.cursor() as cur:
                missing = [m for m in PUBLISHED_MARTS if not _exists(cur, "marts", m)]
                if missing:
                    raise RuntimeError(f"cannot publish: marts missing on {redacted(dsn)}: {missing}")
                tiers = _latest_tiers_csv(cur, settings.tmp_dir)
            conn.rollback()
            try:
                pub_id = start_publication(
                    con, run_id, run_date, audit_summary, served_at(settings), started, interval,
                    f"select * from read_csv('{tiers}', header = false, columns = "
                    "{'as_of_month': 'DATE', 'customer_id': 'VARCHAR', 'tier': 'VARCHAR'})")
            finally:
                tiers.unlink(missing_ok=True)
    except BaseException:
        conn.close()
        raise
    checkpoint("publish.after_log")
    return Staging(settings, conn, pub_id, run_date)


def stage(staging: Staging) -> None:
    """``analytics_next``: every published mart copied from ``marts``, and the ledger's tables (COPY)."""
    settings, pub_id = staging.settings, staging.publication_id
    with staging.conn.cursor() as cur, warehouse(settings) as con:
        cur.execute("select pg_advisory_xact_lock(hashtext('kam.publish'))")  # one publisher at a time
        cur.execute(f"drop schema if exists {NEXT_SCHEMA} cascade")
        cur.execute(f"create schema {NEXT_SCHEMA}")
        for i, mart in enumerate(PUBLISHED_MARTS):
            if i == len(PUBLISHED_MARTS) // 2:
                checkpoint("publish.mid_copy")
            cur.execute(f"create table {NEXT_SCHEMA}.{q(mart)} as select * from marts.{q(mart)}")
            staging.counts[mart] = cur.rowcount
        for table in OPS_TABLES:
            columns = duck_columns(con, "ops", table)
            create_like(cur, NEXT_SCHEMA, table, columns)
            names = [n for n, _ in columns]
            select = ", ".join(
                f"case when publication_id = {int(pub_id)} then 'published' else status end as status"
                if n == "status" else q(n) for n in names)
            copy_query(con, cur, f"select {select} from ops.{table} order by all",
                       f"{NEXT_SCHEMA}.{q(table)}", names, settings.tmp_dir)
            staging.counts[table] = con.execute(f"select count(*) from ops.{table}").fetchone()[0]


def verify(staging: Staging) -> None:
    """What BI will read, counted on the server."""
    with staging.conn.cursor() as cur:
        for table, rows in staging.counts.items():
            got = _count(cur, NEXT_SCHEMA, table)
            if got != rows:
                raise RuntimeError(f"{NEXT_SCHEMA}.{table} has {got} rows, expected {rows}")
    checkpoint("publish.after_verify")


def stage_report(staging: Staging) -> None:
    """The report of this publication, read from ``analytics_next`` in the same transaction. A report
    that fails rolls the publication back."""
    from kam.report.publication import stage_report as stage_page  # pandas and plotly: only when used
    from kam.report.source import PostgresSource

    with staging.conn.cursor() as cur:
        cur.execute(f"set local search_path to {NEXT_SCHEMA}")
        staging.report = stage_page(staging.settings, PostgresSource(staging.conn), staging.publication_id,
                                    staging.run_date)
        cur.execute("reset search_path")


def swap(staging: Staging) -> None:
    """``analytics_next`` becomes ``analytics`` for the BI role, committed; then the report is renamed in."""
    from kam.report.publication import serve_report

    settings = staging.settings
    with staging.conn.cursor() as cur:
        ensure_bi_role(cur, settings.bi_role, settings.bi_password)
        lock_served(cur, settings.pg_publish_lock_wait)
        cur.execute(f"drop schema if exists {SERVED_SCHEMA} cascade")
        cur.execute(f"alter schema {NEXT_SCHEMA} rename to {SERVED_SCHEMA}")
        grant_bi(cur, settings.bi_role, SERVED_SCHEMA)
    staging.conn.commit()
    serve_report(settings, staging.report)
    checkpoint("publish.after_replace")


def record(staging: Staging) -> None:
    """The ledger says 'published', with the row counts."""
    with warehouse(staging.settings) as con:
        mark_published(con, staging.publication_id, staging.counts)


STEPS: tuple[Callable[[Staging], None], ...] = (stage, verify, stage_report, swap, record)


def served_at(settings: Settings) -> str:
    return f"schema {SERVED_SCHEMA} on {redacted(settings.pg_dsn)}"


def publish_postgres(settings: Settings, run_id: str | None, run_date: dt.date,
                     audit_summary: dict | None = None,
                     interval: DataInterval = (None, None)) -> Publication:
    """:func:`begin`, then every step of :data:`STEPS` in order, on one server connection."""
    staging = begin(settings, run_id, run_date, audit_summary, interval)
    try:
        for step in STEPS:
            step(staging)
    finally:
        staging.conn.close()
    log.info("publication %s: %s (%s)", staging.publication_id, served_at(settings),
             ", ".join(f"{k} {v}" for k, v in staging.counts.items()))
    return Publication(staging.publication_id, "published", None, staging.counts)


# One attempt to lock the served tables waits at most this long: well below PostgreSQL's deadlock_timeout
# (1 s by default), so a reader never waits long enough for the deadlock detector to cancel its query.
LOCK_ATTEMPT_MS = 100


def lock_served(cur, wait_seconds: int) -> None:
    """Take every served table's ACCESS EXCLUSIVE lock before the swap drops them, without ever waiting
    while holding one. ``drop schema … cascade`` alone takes them one by one: a BI query that holds one
    table and asks for another which the publication already holds, while the publication waits for the
    first, is a deadlock, and PostgreSQL cancels one of the two, as often the reader as not. Here each
    attempt asks for all of them in one statement with a short ``lock_timeout``; when a reader holds one,
    the attempt gives back what it took (a savepoint) and the next comes a little later, so readers wait
    at most one attempt and never deadlock with the publication. After ``wait_seconds``
    (KAM_PG_PUBLISH_LOCK_WAIT) the publication fails, naming the sessions that held the tables."""
    from psycopg2.errors import LockNotAvailable

    cur.execute("select format('%%I.%%I', n.nspname, c.relname) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind in ('r', 'p') order by c.relname", [SERVED_SCHEMA])
    tables = [row[0] for row in cur.fetchall()]
    if not tables:
        return
    deadline, pause, attempts = time.monotonic() + wait_seconds, 0.05, 0
    while True:
        attempts += 1
        cur.execute("savepoint kam_lock_served")
        try:
            cur.execute(f"set local lock_timeout = '{LOCK_ATTEMPT_MS}ms'")
            cur.execute(f"lock table {', '.join(tables)} in access exclusive mode")
        except LockNotAvailable:
            cur.execute("rollback to savepoint kam_lock_served")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"publication refused to wait longer: for {wait_seconds} s ({attempts} attempts, "
                                   f"KAM_PG_PUBLISH_LOCK_WAIT) schema {SERVED_SCHEMA} was held by "
                                   f"{_lock_holders(cur) or 'sessions that have ended since'}; "
                                   f"{SERVED_SCHEMA} is unchanged") from None
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            continue
        cur.execute("release savepoint kam_lock_served")
        cur.execute("set local lock_timeout to default")
        if attempts > 1:
            log.info("the served tables were locked at attempt %d (BI sessions held them before)", attempts)
        return


def _lock_holders(cur) -> str:
    """The other sessions holding a lock on a served table: who, from where, since when, doing what."""
    cur.execute("""
        select distinct a.pid, a.usename, a.application_name, a.client_addr, a.state,
               to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS'), left(regexp_replace(a.query, '\s+', ' ', 'g'), 80)
        from pg_locks l
        join pg_class c on c.oid = l.relation
        join pg_namespace n on n.oid = c.relnamespace
        join pg_stat_activity a on a.pid = l.pid
        where n.nspname = %s and l.granted and l.pid <> pg_backend_pid()
        order by a.pid""", [SERVED_SCHEMA])
    return "; ".join(f"pid {pid} (user {user}, application {app or '-'}, from {addr or 'local'}, {state}, "
                     f"transaction since {since}: {query})"
                     for pid, user, app, addr, state, since, query in cur.fetchall())


def _exists(cur, schema: str, table: str) -> bool:
    cur.execute("select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
                [schema, table])
    return bool(cur.fetchone()[0])
