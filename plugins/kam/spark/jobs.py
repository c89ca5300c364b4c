"""The Spark jobs of the Spark target, run in a child process: ``python -m kam.spark.jobs <job> <json> <out>``.

``served``: the publication database ``analytics`` serves, and the latest month's tiers (for
the tier log). ``audit``: the reconciliations, GX mart suites and drift checks on Spark.
``publish``: a new versioned database ``analytics_v<id>``, checked, mirrored into a local
DuckDB snapshot (report and Parquet copies), then served by pointing the views of
``analytics`` at it. ``publication``: a whole publication in one JVM (``served``, the ledger,
``publish``, the report and Parquet copies: kam.publish.spark). The result (or the job's
error) is written as JSON to ``<out>``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

from kam.config import Settings, load_settings
from kam.faults import checkpoint
from kam.marts import OPS_PUBLISHED as OPS_TABLES
from kam.marts import PUBLISHED_MARTS

log = logging.getLogger("kam.spark.jobs")

SERVED_DB = "analytics"
VERSION_PREFIX = "analytics_v"


class SparkCursor:
    """The few DB-API calls kam's portable checks make, on Spark SQL (``?`` parameters)."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self._rows: list[tuple] = []

    def execute(self, sql: str, params=()) -> None:
        self._rows = [tuple(r) for r in self.spark.sql(sql, args=list(params) or None).collect()]

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return self._rows


def served_publication(spark) -> int | None:
    if not spark.catalog.tableExists(f"{SERVED_DB}.publications"):
        return None
    return spark.sql(f"select max(publication_id) from {SERVED_DB}.publications "
                     f"where status = 'published'").collect()[0][0]


def _counts(spark, database: str) -> dict[str, int]:
    return {t: spark.table(f"{database}.{t}").count() for t in (*PUBLISHED_MARTS, *OPS_TABLES)}


def served(settings: Settings, spark, tiers_out: str | None = None, with_counts: bool = False) -> dict:
    """What ``analytics`` serves now (with ``with_counts``, the rows of every table it serves); with
    ``tiers_out``, the marts' latest tiers as a Parquet file (the publisher's tier log)."""
    pub_id = served_publication(spark)
    missing = [m for m in PUBLISHED_MARTS if not spark.catalog.tableExists(f"marts.{m}")]
    if tiers_out and not missing:
        spark.sql("select as_of_month, customer_id, tier from marts.customer_value_monthly where as_of_month = "
                  "(select max(as_of_month) from marts.customer_value_monthly)").toPandas().to_parquet(tiers_out)
    return {"publication_id": pub_id, "missing_marts": missing,
            "counts": _counts(spark, SERVED_DB) if pub_id is not None and with_counts else None}


def audit(settings: Settings, spark, run_date: str) -> dict:
    """The audit of kam.quality.audit on the marts Spark built: the same checks, in Spark SQL."""
    from kam.quality.audit import AuditResult, _gx_parameters, _reconcile, _record_drift, _record_gx, mart_suites
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

    from kam.quality.audit import SAMPLE_BUCKETS, sample_threshold
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


def documented_columns(settings: Settings) -> dict[str, list[str]]:
    """Each published mart's columns in their documented order (the BI contract; Spark moves
    partition columns last), from the manifest of the build being published."""
    from kam.transform.runner import target_dir

    nodes = json.loads((target_dir(settings) / "manifest.json").read_text())["nodes"]
    return {mart: list(nodes[f"model.kam.{mart}"]["columns"]) for mart in PUBLISHED_MARTS}


def publish(settings: Settings, spark, publication_id: int, run_date: str, ops_dir: str, ops_counts: dict,
            export_dir: str, snapshot: str) -> dict:
    """Build ``analytics_v<id>``, check it, mirror it into ``snapshot``, stage the report, then serve it."""
    import duckdb

    from kam.report.publication import stage_report
    from kam.report.source import duckdb_file

    version = f"{VERSION_PREFIX}{int(publication_id)}"
    spark.sql(f"drop database if exists {version} cascade")
    spark.sql(f"create database {version}")
    expected: dict[str, int] = {}
    documented = documented_columns(settings)
    for i, mart in enumerate(PUBLISHED_MARTS):
        if i == len(PUBLISHED_MARTS) // 2:
            checkpoint("publish.mid_copy")
        columns = documented[mart]
        built = spark.table(f"marts.{mart}").columns
        if sorted(columns) != sorted(built):
            raise RuntimeError(f"marts.{mart} has columns {built}, its documentation {columns}: "
                               f"document every published column (models/marts/*.yml)")
        spark.sql(f"create table {version}.{mart} using parquet as select "
                  f"{', '.join(f'`{c}`' for c in columns)} from marts.{mart}")
        expected[mart] = spark.table(f"marts.{mart}").count()
    for table in OPS_TABLES:
        spark.read.parquet(f"{ops_dir}/{table}").write.format("parquet").saveAsTable(f"{version}.{table}")
        expected[table] = int(ops_counts[table])
    counts = {t: spark.table(f"{version}.{t}").count() for t in expected}  # what BI will read, counted
    wrong = {t: (counts[t], expected[t]) for t in expected if counts[t] != expected[t]}
    if wrong:
        raise RuntimeError(f"{version}: row counts differ from what was written: {wrong}")
    for table in expected:  # the local mirror: the report and the Parquet copies are written from it
        spark.table(f"{version}.{table}").write.mode("overwrite").parquet(f"{export_dir}/{table}")
    tmp = Path(snapshot).with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for table in expected:
            con.execute(f'create table "{table}" as select * from read_parquet(\'{export_dir}/{table}/*.parquet\')')
    tmp.rename(snapshot)
    checkpoint("publish.after_verify")
    with duckdb_file(Path(snapshot)) as src:
        staged = stage_report(settings, src, publication_id, dt.date.fromisoformat(run_date))
    spark.sql(f"create database if not exists {SERVED_DB}")
    for table in expected:  # the switch: each view at once; the versions stay whole behind them
        spark.sql(f"create or replace view {SERVED_DB}.{table} as select * from {version}.{table}")
    dropped = _drop_old_versions(spark, int(publication_id), settings.keep_publications)
    return {"counts": counts, "report": str(staged) if staged else None, "dropped": dropped}


def _drop_old_versions(spark, served_id: int, keep: int) -> list[str]:
    """Keep the served version and the ``keep`` before it (for rollback); drop older ones."""
    versions = sorted((int(r[0].removeprefix(VERSION_PREFIX)) for r in spark.sql("show databases").collect()
                       if r[0].startswith(VERSION_PREFIX) and r[0].removeprefix(VERSION_PREFIX).isdigit()),
                      reverse=True)
    older = [v for v in versions if v < served_id][keep:]
    for v in older:
        spark.sql(f"drop database {VERSION_PREFIX}{v} cascade")
    return [f"{VERSION_PREFIX}{v}" for v in older]


def publication(settings: Settings, spark, **payload) -> dict:
    """A whole publication (kam.publish.spark.publish_in_session): the served state, the ledger,
    :func:`publish`, the report and Parquet copies, and what ``analytics`` serves afterwards."""
    from kam.publish.spark import publish_in_session

    return publish_in_session(settings, spark, **payload)


JOBS = {"served": served, "audit": audit, "publish": publish, "publication": publication}


def main(argv: list[str]) -> int:
    from kam.spark.session import spark_session

    job, payload, out = argv[1], json.loads(argv[2]), Path(argv[3])
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    settings = load_settings()
    try:
        with spark_session(settings) as spark:
            result = JOBS[job](settings, spark, **payload)
    except Exception as exc:
        log.exception("spark job %s failed", job)
        out.write_text(json.dumps({"error": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}))
        return 1
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
