"""Target ``spark``: raw batches are written to the raw lake as Parquet, dbt builds Parquet tables
through Spark, BI reads database ``analytics`` (views over the published version); ``kam report``
and ``kam explain`` read a local DuckDB snapshot of it (kam.spark, kam.publish.spark)."""

from __future__ import annotations

import datetime as dt

from kam.targets.base import NotOnThisTarget, Target


class SparkTarget(Target):
    name = "spark"

    def check_machine(self) -> None:
        """Java (Spark runs in a JVM)."""
        from kam.spark.session import require_java

        require_java()

    def sync_raw(self, source: str) -> dict[str, int]:
        """Write this source's new raw batches into the raw lake as Parquet (kam.spark.lake)."""
        from kam.spark.lake import export_new_batches
        from kam.warehouse import warehouse

        with warehouse(self.settings, read_only=True) as con:
            return export_new_batches(con, self.settings.lake_dir, [source])

    def prepare_dbt(self) -> None:
        """Java checked, Spark's folders made under KAM_HOME."""
        from kam.spark.session import prepare

        prepare(self.settings)

    def write_run_context(self, statements: list[str], run_date: dt.date,
                          rebuild_from_month: dt.date | None) -> None:
        """A file in the lake, read by Spark as ``ops.kam_run_context``."""
        from kam.spark.lake import write_run_context

        write_run_context(self.settings.lake_dir, run_date, rebuild_from_month)

    def audit_marts(self, run_date: dt.date):
        from kam.quality.audit import audit_spark

        return audit_spark(self.settings, run_date)

    def publish(self, run_id, run_date, audit_summary, interval):
        from kam.publish.spark import publish_spark

        return publish_spark(self.settings, run_id, run_date, audit_summary, interval)

    def served_publication_id(self) -> int | None:
        """Asked of Spark's catalog, in a Spark job (a few seconds)."""
        from kam.spark.session import run_job

        return run_job(self.settings, "served")["publication_id"]

    def served_at(self) -> str:
        from kam.publish.spark import served_at

        return served_at(self.settings)

    def published_snapshot(self):
        """The local snapshot of the last publication (kam.publish.spark)."""
        from kam.publish.spark import served_snapshot

        snapshot = served_snapshot(self.settings) if self.settings.warehouse_path.exists() else None
        if snapshot is None:
            raise NotOnThisTarget("nothing published on Spark yet (run `kam run --target spark` first)")
        return snapshot

    def check_rollback(self) -> None:
        raise NotOnThisTarget("kam rollback serves an earlier published DuckDB file; on the Spark target point the "
                              "views of database analytics at a kept analytics_v<id> instead (docs/spark.md)")
