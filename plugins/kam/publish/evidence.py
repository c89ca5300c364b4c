"""Proof that a run published: its publication is recorded in ``ops.publications`` and served.

A DAG run that Airflow calls successful is not yet a publication: ``kam run`` and the
publish task itself (under a scheduler) accept a run only when the ledger holds a
'published' row for that run and the served marts (the DuckDB file, or the server's
``analytics`` schema) carry that very publication id (DESIGN.md "Evidence, not assumption").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Protocol

from kam.config import Settings
from kam.errors import KamError


class PublicationNotProven(KamError):
    """The run claims a publication that the ledger or the served marts do not show."""


@dataclass(frozen=True)
class ProvenPublication:
    publication_id: int
    run_id: str
    run_date: dt.date
    row_counts: dict[str, int]
    served_at: str  # the published file, or the schema on the server
    rules_version: str | None = None  # the rules the marts were scored under (kam.rules)

    def describe(self) -> str:
        marts = "\n".join(f"  {name:<24} {rows:>12,}" for name, rows in self.row_counts.items())
        rules = f", rules version {self.rules_version}" if self.rules_version else ""
        return (f"published: publication #{self.publication_id} (run date {self.run_date}{rules}, "
                f"Airflow run {self.run_id})\n  served at {self.served_at}\nrows per mart:\n{marts}")


class Served(Protocol):
    """What the proof asks of the target (:class:`kam.targets.base.Target`)."""

    def served_publication_id(self) -> int | None: ...

    def served_at(self) -> str: ...


def prove_publication(settings: Settings, run_id: str | None, target: Served, read_only: bool = True,
                      served_id: int | None = None) -> ProvenPublication:
    """The publication the DAG run ``run_id`` made, checked in the ledger and where BI reads it;
    raises :class:`PublicationNotProven` saying what did not happen. ``read_only=False`` inside
    the pipeline's own process (the publish task), which is the warehouse's writer anyway.
    ``served_id``: what the served marts name as read back by the publisher after its switch
    (the Spark target's publishing job; :class:`kam.publish.ledger.Publication`), else asked here.
    ``kam run`` always asks anew, after the DAG run."""
    from kam.warehouse import warehouse

    if not run_id:
        raise PublicationNotProven("build_and_publish left no Airflow run id, so no publication can be "
                                   "traced to this run")
    import duckdb

    if not settings.warehouse_path.exists():
        raise PublicationNotProven(f"no warehouse at {settings.warehouse_path}: nothing was built or published")
    with warehouse(settings, read_only=read_only) as con:
        try:
            rows = con.execute(
                "select publication_id, status, run_date, row_counts, reason, rules_version from ops.publications "
                "where run_id = ? order by publication_id desc", [run_id]).fetchall()
        except duckdb.CatalogException:
            rows = []
    if not rows:
        raise PublicationNotProven(
            f"build_and_publish run {run_id} recorded no publication in ops.publications: "
            f"nothing was published by this run, the served marts are unchanged")
    pub_id, status, run_date, row_counts, reason, version = rows[0]
    if status != "published":
        raise PublicationNotProven(f"publication #{pub_id} of run {run_id} is '{status}', not published"
                                   + (f": {reason}" if reason else ""))
    served = served_id if served_id is not None else target.served_publication_id()
    where = target.served_at()
    if served != pub_id:
        raise PublicationNotProven(
            f"publication #{pub_id} of run {run_id} is recorded as published, but {where} serves "
            f"{'no publication' if served is None else f'publication #{served}'}")
    counts = json.loads(row_counts or "{}")
    if not counts:
        raise PublicationNotProven(f"publication #{pub_id} of run {run_id} recorded no row counts")
    return ProvenPublication(pub_id, run_id, run_date, counts, where, version)
