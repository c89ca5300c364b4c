"""Target ``duckdb`` (the default): dbt builds in the embedded warehouse file, BI reads the published
DuckDB file and its Parquet copies (kam.publish.duckdb_file)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from kam.targets.base import Target


class DuckDBTarget(Target):
    name = "duckdb"
    keeps_fact_lineage: ClassVar[bool] = True  # the facts' lineage columns are read in the same file
    previews_whatif: ClassVar[bool] = True

    def write_run_context(self, statements: list[str], run_date: dt.date,
                          rebuild_from_month: dt.date | None) -> None:
        from kam.warehouse import warehouse

        with warehouse(self.settings) as con:
            for sql in statements:
                con.execute(sql)

    def audit_marts(self, run_date: dt.date):
        from kam.quality.audit import audit_duckdb

        return audit_duckdb(self.settings, run_date)

    def publish(self, run_id, run_date, audit_summary, interval):
        from kam.publish.duckdb_file import publish

        return publish(self.settings, run_id, run_date, audit_summary, interval)

    def served_publication_id(self) -> int | None:
        from kam.publish.duckdb_file import file_publication_id

        return file_publication_id(self.settings.published_path)

    def served_at(self) -> str:
        return str(self.settings.published_path)
