"""The audit on the Spark target, inside a Spark job's session (``kam.spark_job audit``): the same
reconciliations, GX mart suites and drift checks as :mod:`kam.quality.audit`, in Spark SQL."""

from __future__ import annotations

import datetime as dt

from kam.config import Settings
from kam.marts import SERVED_NAME as SERVED_DB
from kam.quality.audit import (
    SAMPLE_BUCKETS,
    AuditResult,
    _gx_parameters,
    _reconcile,
    _record_drift,
    _record_gx,
    mart_suites,
    sample_threshold,
)
from kam.spark.session import SparkCursor


def audit_in_session(settings: Settings, spark, run_date: str) -> dict:
    """The audit of kam.quality.audit on the marts Spark built: the same checks, in Spark SQL."""
    from kam.quality.drift import DriftReport, compare
    from kam.quality.gx_suites import data_docs_once, validate_frame

    day = dt.date.fromisoformat(run_date)
    suites = mart_suites(settings)
    result = AuditResult()
    cur = SparkCursor(spark)

    def fetchone(sql: str):
        cur.execute(sql)
        return cur.fetchone()

    _reconcile(fetchone, day, result)
    with data_docs_once(settings.gx_dir):
        for mart, suite in suites:
            frame = _mart_frame(spark, mart, suite, settings.gx_max_rows, result)
            _record_gx(result, suite, validate_frame(frame, suite, parameters=_gx_parameters(settings, day),
                                                     docs_root=settings.gx_dir))
    limits = settings.expectations_dir / "drift.json"
    if spark.catalog.tableExists(f"{SERVED_DB}.publications"):
        def rows(sql: str, params=()) -> list[tuple]:
            cur.execute(sql, params)
            return cur.fetchall()

        drift = compare(rows, SERVED_DB, limits, dialect="spark")
    else:
        drift = DriftReport()
        drift.measures["note"] = "no previous publication: nothing to compare"
    _record_drift(result, drift)
    return result.summary()


def _mart_frame(spark, mart: str, suite, max_rows: int, result):
    """As kam.quality.audit._mart_frame: the suite's columns, a repeatable hash sample above
    ``max_rows``; dates as pandas datetimes, as GX sees them on the DuckDB target."""
    import pandas as pd

    from kam.quality.gx_suites import suite_columns

    table = spark.table(f"marts.{mart}")
    columns = suite_columns(suite) or table.columns
    total = table.count()
    if total > max_rows:
        table = table.where(f"pmod(hash({', '.join(f'`{c}`' for c in table.columns)}), {SAMPLE_BUCKETS}) "
                            f"< {sample_threshold(total, max_rows)}")
    table = table.select(*[f"`{c}`" for c in columns])
    frame = table.toPandas()
    for name, kind in table.dtypes:
        if kind == "date":
            frame[name] = pd.to_datetime(frame[name])
    if total > max_rows:
        result.sampled[mart] = {"validated_rows": len(frame), "rows": int(total)}
    return frame
