"""What a warehouse target provides to the pipeline's stages (DESIGN.md §5).

A target is where dbt builds and what BI reads: the embedded DuckDB file (``duckdb``), a
PostgreSQL server (``postgres``) or Spark (``spark``). The stages (the Airflow tasks, ``kam``'s
commands, the digests) ask :func:`kam.targets.target_of` for the settings' target and call these
methods; none of them branches on a target's name. Adding a target is one module here and its tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from kam.config import Settings
from kam.errors import ConfigError

if TYPE_CHECKING:
    import duckdb

    from kam.publish.ledger import Publication
    from kam.quality.audit import AuditResult
    from kam.report.source import Source


class NotOnThisTarget(ConfigError):
    """What a command asks cannot be done on this target (the message says what to do instead)."""


class Target:
    name: ClassVar[str]
    # the build may find the orders a batch touched from the facts' lineage (kam.transform.mode)
    keeps_fact_lineage: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check_machine(self) -> None:
        """Raise naming what this machine lacks for this target (before any DAG runs)."""

    # --- ingest --------------------------------------------------------------------------------
    def sync_raw(self, source: str) -> dict[str, int]:
        """Copy the new raw batches of ``source`` to where dbt reads them; rows copied per table."""
        return {}

    # --- transform -----------------------------------------------------------------------------
    def prepare_dbt(self) -> None:
        """Whatever dbt needs on this target before it runs (folders, Java)."""

    def write_run_context(self, statements: list[str], run_date: dt.date,
                          rebuild_from_month: dt.date | None) -> None:
        """Write the run context dbt reads (``ops.kam_run_context``): ``statements`` on a SQL target."""
        raise NotImplementedError

    # --- audit ---------------------------------------------------------------------------------
    def audit(self, run_date: dt.date, run_id: str | None = None) -> AuditResult:
        """The audit before publication (kam.quality.audit): this target's checks of the marts, then the
        checks that read kam's own records (the source freshness check of DAG run ``run_id``'s build)."""
        from kam.quality.audit import run_audit

        return run_audit(self.settings, run_date, self.audit_marts, run_id)

    def audit_marts(self, run_date: dt.date) -> AuditResult:
        """Reconciliation, the GX suites and drift, on the marts where dbt built them."""
        raise NotImplementedError

    # --- publish -------------------------------------------------------------------------------
    def publish(self, run_id: str | None, run_date: dt.date, audit_summary: dict | None,
                interval: tuple[dt.datetime | None, dt.datetime | None]) -> Publication:
        """Stage, verify and switch what BI reads to this run's marts; the ledger records it."""
        raise NotImplementedError

    def served_publication_id(self) -> int | None:
        """The publication BI is served now (None before the first)."""
        raise NotImplementedError

    def served_at(self) -> str:
        """Where BI reads the published marts, for people (no password)."""
        raise NotImplementedError

    def served_sources(self, marts: tuple[str, ...]) -> tuple[int, duckdb.DuckDBPyConnection, dict[str, str]]:
        """The served publication, a DuckDB connection and, per mart of ``marts``, the relation to read
        (the digests, kam.notify): the publication's Parquet copies, the same on every target that has them."""
        from kam.publish.parquet import parquet_sources

        return parquet_sources(self.settings.parquet_dir, marts)

    # --- what people read ----------------------------------------------------------------------
    def published_snapshot(self) -> Path:
        """A DuckDB file holding the served publication (``kam explain``, ``kam report``);
        NotOnThisTarget before the first publication."""
        path = self.settings.published_path
        if not path.exists():
            raise NotOnThisTarget(f"nothing published yet at {path} (run `kam run` first)")
        return path

    @contextlib.contextmanager
    def report_source(self) -> Iterator[Source]:
        """The served marts as ``kam report`` reads them; NotOnThisTarget before the first publication."""
        from kam.report.source import duckdb_file

        with duckdb_file(self.published_snapshot()) as source:
            yield source

    def check_rollback(self) -> None:
        """Raise NotOnThisTarget when ``kam rollback`` cannot serve an earlier publication here."""

    # --- what-if -------------------------------------------------------------------------------
    previews_whatif: ClassVar[bool] = False  # kam whatif builds its copies from this target's warehouse

    def check_whatif(self) -> None:
        """Raise NotOnThisTarget when ``kam whatif`` cannot build its copies from this target."""
        if not self.previews_whatif:
            raise NotOnThisTarget(
                f"kam whatif builds on the embedded DuckDB warehouse; target {self.name} keeps its marts "
                f"elsewhere (run it with KAM_TARGET=duckdb on a copy of the landing folder)")
