"""The publications ledger (``ops.publications`` and ``ops.tier_publication_log``), for every target.

Every publication, refusal, failure and rollback is a row: a publication is recorded as
'publishing' with the tiers it will show before anything is written, and settled as
'published' or 'failed' afterwards, also after a crash (:func:`settle_stuck`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


@dataclass
class Publication:
    publication_id: int
    status: str
    path: Path | None
    row_counts: dict[str, int]
    reason: str | None = None
    written: dict[str, str] = field(default_factory=dict)  # mart -> copied | unchanged | N of M months
    # the publication the served marts name, read back by the publisher after its switch where reading
    # it anew is costly (Spark: in the publishing job's own session, not in another JVM); None: ask
    served_id: int | None = None


DataInterval = tuple[dt.datetime | None, dt.datetime | None]


def insert_publication(con: duckdb.DuckDBPyConnection, **row: object) -> int:
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
        pub_id = insert_publication(
            con, run_id=run_id, run_date=run_date, status="refused", reason=reason[:4000],
            audit_summary=json.dumps(audit_summary or {}, default=str), started_at=now, finished_at=now,
            data_interval_start=interval[0], data_interval_end=interval[1])
    log.error("publication %s refused: %s", pub_id, reason)
    return pub_id


def start_publication(con: duckdb.DuckDBPyConnection, run_id: str | None, run_date: dt.date,
                      audit_summary: dict | None, published_to: str, started: dt.datetime,
                      interval: DataInterval, latest_tiers_sql: str) -> int:
    """Record a publication as 'publishing' with the tiers it will show, in one transaction.

    ``latest_tiers_sql`` returns (as_of_month, customer_id, tier) of the latest
    month: what sales sees after this publication (DOMAIN §7).
    """
    con.execute("begin transaction")
    version = built_rules_version(con)
    pub_id = insert_publication(
        con, run_id=run_id, run_date=run_date, status="publishing",
        audit_summary=json.dumps(audit_summary or {}, default=str),
        published_path=published_to, started_at=started,
        data_interval_start=interval[0], data_interval_end=interval[1], rules_version=version)
    con.execute("insert into ops.tier_publication_log "
                "(publication_id, published_at, as_of_month, customer_id, tier, rules_version) "
                f"select ?, ?, as_of_month, customer_id, tier, ? from ({latest_tiers_sql}) as latest",
                [pub_id, started, version])
    con.execute("commit")
    return pub_id


def built_rules_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The rules version the marts being published were scored under: the last good build's."""
    row = con.execute("select rules_version from ops.dbt_builds where success "
                      "order by finished_at desc limit 1").fetchone()
    return row[0] if row else None


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


def settle_stuck(con: duckdb.DuckDBPyConnection, served: int | None,
                 served_counts: Callable[[int], dict[str, int]], served_reason: str, unserved_reason: str) -> None:
    """Settle the publications a crash left in 'publishing' (every target alike).

    One that is served (``served``) *was* published, the crash came after the switch:
    ``served_counts(pub_id)`` finishes what remains (e.g. the Parquet copies) and gives its
    row counts, and it is marked published. Any other never reached readers: marked failed,
    its tier log rows (which describe something nobody saw) dropped.
    """
    for pub_id in stuck_publications(con):
        if pub_id == served:
            mark_published(con, pub_id, served_counts(pub_id), served_reason)
            log.warning("publication %s was served before an interruption: marked published", pub_id)
        else:
            mark_failed(con, pub_id, unserved_reason)


def last_publications(settings: Settings) -> tuple[dict | None, dict | None]:
    """The latest published and the latest refused or failed publication (None when there is none)."""
    if not settings.warehouse_path.exists():
        return None, None
    with warehouse(settings, read_only=True) as con:
        def latest(statuses: str) -> dict | None:
            try:
                cur = con.execute("select publication_id, run_date, status, reason, finished_at from ops.publications "
                                  f"where status in ({statuses}) order by publication_id desc limit 1")
            except duckdb.CatalogException:
                return None
            row = cur.fetchone()
            return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

        return latest("'published'"), latest("'refused', 'failed'")
