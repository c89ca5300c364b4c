"""The audit on the Spark target, inside a Spark job's session (``kam.spark_job audit``): the same
reconciliations, GX mart suites and drift checks as :mod:`kam.quality.audit`, in Spark SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kam.config import Settings
from kam.marts import SERVED_NAME as SERVED_DB
from kam.quality.audit import SAMPLE_BUCKETS, AuditResult, check_marts, sample_threshold
from kam.spark.session import SparkCursor


@dataclass
class SparkReads:
    """The marts Spark built, in the job's session: Spark SQL, GX on a frame of each, drift in Spark SQL."""

    settings: Settings
    spark: Any

    def __post_init__(self) -> None:
        self.cur = SparkCursor(self.spark)

    def fetchone(self, sql: str) -> tuple:
        self.cur.execute(sql)
        return self.cur.fetchone()

    def validate(self, mart: str, suite, parameters: dict, result: AuditResult):
        from kam.quality.gx_suites import validate_then_explain

        frame = _mart_frame(self.spark, mart, suite, self.settings.gx_max_rows, result)
        return validate_then_explain(frame, suite, parameters=parameters, docs_root=self.settings.gx_dir)

    def drift(self):
        from kam.quality.drift import DriftReport, compare

        if not self.spark.catalog.tableExists(f"{SERVED_DB}.publications"):
            drift = DriftReport()
            drift.measures["note"] = "no previous publication: nothing to compare"
            return drift

        def rows(sql: str, params=()) -> list[tuple]:
            self.cur.execute(sql, params)
            return self.cur.fetchall()

        return compare(rows, SERVED_DB, self.settings.expectations_dir / "drift.json", dialect="spark")


def audit_in_session(settings: Settings, spark, run_date: str) -> dict:
    """The audit of kam.quality.audit (:func:`check_marts`) on the marts Spark built, in Spark SQL."""
    return check_marts(settings, dt.date.fromisoformat(run_date), SparkReads(settings, spark)).summary()


def _mart_frame(spark, mart: str, suite, max_rows: int, result):
    """As kam.quality.audit._mart_frame: the suite's columns, a repeatable hash sample above
    ``max_rows``; dates as pandas datetimes, as GX sees them on the DuckDB target."""
    import pandas as pd

    from kam.quality.gx_suites import suite_columns

    table = spark.table(f"marts.{mart}")
    columns = suite_columns(suite) or table.columns
    total = table.count()
    if total > max_rows:
        table = table.where(f"pmod(hash({', '.join(f'`{c}`' for c in columns)}), {SAMPLE_BUCKETS}) "
                            f"< {sample_threshold(total, max_rows)}")
    table = table.select(*[f"`{c}`" for c in columns])
    frame = table.toPandas()
    for name, kind in table.dtypes:
        if kind == "date":
            frame[name] = pd.to_datetime(frame[name])
    if total > max_rows:
        result.sampled[mart] = {"validated_rows": len(frame), "rows": int(total)}
    return frame
