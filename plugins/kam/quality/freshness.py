"""Are the sources fresh? What ``dbt source freshness`` found (run by the build task,
:func:`kam.transform.freshness.check_freshness`), recorded in ``ops.source_freshness``; the audit reads
it (a stale source warns, or refuses the publication with ``KAM_STALE_SOURCES=refuse``) and ``kam
status`` shows it.

The rule is dbt's own: each source declares ``loaded_at_field: _loaded_at`` and ``freshness:
warn_after`` (and optionally ``error_after``) in its ``_<source>__sources.yml``; a source whose
newest row was loaded longer ago than that is stale. A check dbt cannot make (the warehouse
unreadable, a source not yet loaded) is recorded as ``runtime error`` and warns: it never fails
the build.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from kam.config import Settings
from kam.warehouse import warehouse

log = logging.getLogger(__name__)

STALE = ("warn", "error")  # dbt's statuses of a source past warn_after, past error_after


@dataclass(frozen=True)
class SourceFreshness:
    source: str  # e.g. erp.orders
    status: str  # pass | warn | error | runtime error
    max_loaded_at: dt.datetime | None
    age_hours: float | None
    criteria: str  # e.g. "warn after 2 days"
    message: str = ""

    def describe(self) -> str:
        if self.status == "runtime error":
            return f"source {self.source}: freshness not checked: {self.message}"
        age = "never loaded" if self.age_hours is None else f"last loaded {_age(self.age_hours)} ago"
        return f"source {self.source}: {age} ({self.criteria})"


def _age(hours: float) -> str:
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours" if hours >= 1 \
        else f"{hours * 60:.0f} min"


def _criteria(criteria: dict) -> str:
    said = [f"{kind.replace('_', ' ')} {rule['count']} {rule['period']}{'s' if rule['count'] != 1 else ''}"
            for kind in ("warn_after", "error_after")
            if (rule := criteria.get(kind) or {}).get("count") is not None]
    return ", ".join(said) or "no limit"


def parse(results: list[dict]) -> list[SourceFreshness]:
    """The results of dbt's ``sources.json``, one per source table."""
    checked = []
    for r in results:
        source = r["unique_id"].split(".", 2)[2]  # source.kam.erp.orders
        loaded = r.get("max_loaded_at")
        age = r.get("max_loaded_at_time_ago_in_s")
        checked.append(SourceFreshness(
            source=source, status=r["status"],
            max_loaded_at=dt.datetime.fromisoformat(loaded).astimezone(dt.UTC).replace(tzinfo=None)
            if loaded else None,
            age_hours=round(age / 3600, 3) if age is not None else None,
            criteria=_criteria(r.get("criteria") or {}), message=(r.get("error") or r.get("message") or "")))
    return sorted(checked, key=lambda c: c.source)


def record(settings: Settings, run_id: str | None, checked: list[SourceFreshness]) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with warehouse(settings) as con:
        con.executemany("insert into ops.source_freshness values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [[run_id, now, c.source, c.status, c.max_loaded_at, c.age_hours, c.criteria,
                          c.message or None] for c in checked])


def latest_check(con, run_id: str | None = None) -> list[SourceFreshness]:
    """The last freshness check recorded in the warehouse (``con``: a DuckDB connection to it); with
    ``run_id``, the last one that DAG run made (none when it made none)."""
    if not con.execute("select 1 from information_schema.tables "
                       "where table_schema = 'ops' and table_name = 'source_freshness'").fetchone():
        return []  # a warehouse from before this table
    run = "run_id = ?" if run_id is not None else "true"
    params = [run_id, run_id] if run_id is not None else []
    rows = con.execute(f"""
        select source, status, max_loaded_at, age_hours, criteria, coalesce(message, '')
        from ops.source_freshness
        where {run} and checked_at = (select max(checked_at) from ops.source_freshness where {run})
        order by source""", params).fetchall()
    return [SourceFreshness(*row) for row in rows]


def stale(checked: list[SourceFreshness]) -> list[SourceFreshness]:
    return [c for c in checked if c.status in STALE]
