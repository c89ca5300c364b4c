"""Write-audit-publish on the Spark target: a versioned database, then the views of ``analytics`` switched.

dbt builds database ``marts`` on Spark, the audit checks it there (kam.spark_job). A
publication copies every published mart, in its documented column order, into a new
database ``analytics_v<id>`` with ``publications`` and ``tier_publication_log`` (written
from kam's ops tables as Parquet), counts every table there, mirrors it into a local
DuckDB snapshot (``$KAM_HOME/spark/snapshots/publication-<id>.duckdb``: the report and the
Parquet copies are written from it, so BI files look the same on every target), stages
the report, and only then points each view of ``analytics`` at the new version. The
versions before are kept (``KAM_KEEP_PUBLICATIONS``) and older ones dropped. A crash
before the switch leaves ``analytics`` on the previous version, whole.

Spark's catalog has no transaction over several views: each view switches at once, the
set of them within milliseconds. A reader that must see one publication across marts
reads ``analytics_v<id>`` (``analytics.publications`` names it) or the Parquet copies,
which switch per mart like the DuckDB target's. docs/spark.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kam.config import Settings
from kam.faults import checkpoint
from kam.marts import OPS_PUBLISHED as OPS_TABLES
from kam.marts import PUBLISHED_MARTS, SERVED_NAME
from kam.publish.ledger import (
    DataInterval,
    Publication,
    mark_published,
    settle_stuck,
    start_publication,
)
from kam.spark.session import run_job
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


def served_at(settings: Settings) -> str:
    return f"database analytics on Spark ({settings.spark_master}, metastore {settings.spark_dir / 'metastore_db'})"


def snapshot_path(settings: Settings, publication_id: int) -> Path:
    return settings.spark_dir / "snapshots" / f"publication-{int(publication_id)}.duckdb"


def served_snapshot(settings: Settings) -> Path | None:
    """The newest local snapshot of a publication the ledger calls published (kam report, kam status)."""
    with warehouse(settings, read_only=True) as con:
        ids = [r[0] for r in con.execute("select publication_id from ops.publications where status = 'published' "
                                         "order by publication_id desc").fetchall()]
    for pub_id in ids:
        if snapshot_path(settings, pub_id).exists():
            return snapshot_path(settings, pub_id)
    return None


def _write_parquet_copies(settings: Settings, pub_id: int) -> None:
    from kam.publish.parquet import write_copies

    tables = (*PUBLISHED_MARTS, *OPS_TABLES)
    write_copies(snapshot_path(settings, pub_id), settings.parquet_dir, pub_id, {t: None for t in tables}, None,
                 settings.publish_memory_limit)


def _recover(settings: Settings, con, served: dict) -> None:
    """Settle publications a crash left in 'publishing': served by ``analytics`` (finish the Parquet
    copies from its snapshot) or never switched to (failed)."""
    def finish(pub_id: int) -> dict[str, int]:
        if snapshot_path(settings, pub_id).exists():
            _write_parquet_copies(settings, pub_id)
        return served["counts"] or {}

    settle_stuck(con, served["publication_id"], finish, "recovered after an interruption following the switch",
                 "interrupted before analytics was switched to it")


SERVED_DB = SERVED_NAME
VERSION_PREFIX = "analytics_v"


# --- steps inside a Spark job's session (kam.spark_job) ----------------------------------------

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


def documented_columns(settings: Settings) -> dict[str, list[str]]:
    """Each published mart's columns in their documented order (the BI contract; Spark moves
    partition columns last), from the manifest of the build being published."""
    nodes = json.loads((settings.dbt_target_dir / "manifest.json").read_text())["nodes"]
    return {mart: list(nodes[f"model.kam.{mart}"]["columns"]) for mart in PUBLISHED_MARTS}


@dataclass
class Staging:
    """A publication being made inside a Spark job: ``analytics_v<id>`` and its local mirror."""

    settings: Settings
    spark: Any  # the job's SparkSession
    publication_id: int
    run_date: dt.date
    work: Path  # the job's scratch folder (the ledger's tables as Parquet, the export)
    ops_counts: dict[str, int]
    expected: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    report: object = None  # the staged report (kam.report.publication)

    @property
    def version(self) -> str:
        return f"{VERSION_PREFIX}{int(self.publication_id)}"

    @property
    def snapshot(self) -> Path:
        return snapshot_path(self.settings, self.publication_id)


# The steps of a publication on Spark (kam.publish.steps), in one Spark job so one JVM start: begin, then
# STEPS. The versions kept for rollback are the versions before (KAM_KEEP_PUBLICATIONS): record drops older.
def begin(settings: Settings, spark, run_id: str | None, run_date: dt.date, audit_summary: dict | None,
          interval: DataInterval) -> Staging:
    """What ``analytics`` serves now; the ledger's 'publishing' row (after settling one a crash left); the
    ledger's tables as this publication will serve them, as Parquet for Spark to read."""
    started = dt.datetime.now()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".kam-spark-publish-", dir=settings.tmp_dir))
    try:
        now = served(settings, spark, tiers_out=str(work / "tiers.parquet"), with_counts=True)
        if now["missing_marts"]:
            raise RuntimeError(f"cannot publish: marts missing on Spark: {now['missing_marts']}")
        with warehouse(settings) as con:
            _recover(settings, con, now)
            pub_id = start_publication(con, run_id, run_date, audit_summary, served_at(settings), started,
                                       interval, f"select * from read_parquet('{work / 'tiers.parquet'}')")
            checkpoint("publish.after_log")
            ops_counts = {}
            for table in OPS_TABLES:  # as served: this publication already 'published'
                (work / "ops" / table).mkdir(parents=True)
                status = (f"case when publication_id = {int(pub_id)} then 'published' else status end as status"
                          if table == "publications" else None)
                select = "*" if status is None else f"* replace ({status})"
                con.execute(f"copy (select {select} from ops.{table} order by all) to "
                            f"'{work / 'ops' / table / 'part.parquet'}' (format parquet)")
                ops_counts[table] = con.execute(f"select count(*) from ops.{table}").fetchone()[0]
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Staging(settings, spark, pub_id, run_date, work, ops_counts)


def stage(staging: Staging) -> None:
    """``analytics_v<id>``: every published mart in its documented column order, and the ledger's tables."""
    spark, version = staging.spark, staging.version
    spark.sql(f"drop database if exists {version} cascade")
    spark.sql(f"create database {version}")
    documented = documented_columns(staging.settings)
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
        staging.expected[mart] = spark.table(f"marts.{mart}").count()
    for table in OPS_TABLES:
        spark.read.parquet(str(staging.work / "ops" / table)).write.format("parquet") \
            .saveAsTable(f"{version}.{table}")
        staging.expected[table] = int(staging.ops_counts[table])


def verify(staging: Staging) -> None:
    """What BI will read, counted in ``analytics_v<id>``."""
    staging.counts = {t: staging.spark.table(f"{staging.version}.{t}").count() for t in staging.expected}
    wrong = {t: (staging.counts[t], staging.expected[t]) for t in staging.expected
             if staging.counts[t] != staging.expected[t]}
    if wrong:
        raise RuntimeError(f"{staging.version}: row counts differ from what was written: {wrong}")


def stage_report(staging: Staging) -> None:
    """The version mirrored into a local DuckDB snapshot (the report and the Parquet copies are written
    from it, so BI files look the same on every target); the report staged from it."""
    import duckdb

    from kam.report.publication import stage_report as stage_page
    from kam.report.source import duckdb_file

    export = staging.work / "export"
    for table in staging.expected:
        staging.spark.table(f"{staging.version}.{table}").write.mode("overwrite").parquet(str(export / table))
    staging.snapshot.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging.snapshot.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        for table in staging.expected:
            con.execute(f'create table "{table}" as select * from read_parquet(\'{export / table}/*.parquet\')')
    tmp.rename(staging.snapshot)
    checkpoint("publish.after_verify")
    with duckdb_file(staging.snapshot) as src:
        staging.report = stage_page(staging.settings, src, staging.publication_id, staging.run_date)


def swap(staging: Staging) -> None:
    """Each view of ``analytics`` switched to the version (the versions stay whole behind them); then the
    report is renamed in."""
    from kam.report.publication import serve_report

    staging.spark.sql(f"create database if not exists {SERVED_DB}")
    for table in staging.expected:
        staging.spark.sql(f"create or replace view {SERVED_DB}.{table} as select * from {staging.version}.{table}")
    checkpoint("publish.after_replace")
    serve_report(staging.settings, staging.report)


def copies(staging: Staging) -> None:
    """The Parquet copies, written from the snapshot."""
    _write_parquet_copies(staging.settings, staging.publication_id)
    checkpoint("publish.after_parquet")


def record(staging: Staging) -> None:
    """The ledger says 'published'; versions and snapshots older than the kept ones are dropped."""
    with warehouse(staging.settings) as con:
        mark_published(con, staging.publication_id, staging.counts)
    _drop_old_versions(staging.spark, staging.publication_id, staging.settings.keep_publications)
    _drop_old_snapshots(staging.settings, staging.publication_id)


STEPS: tuple[Callable[[Staging], None], ...] = (stage, verify, stage_report, swap, copies, record)


def _drop_old_versions(spark, served_id: int, keep: int) -> list[str]:
    """Keep the served version and the ``keep`` before it (for rollback); drop older ones."""
    versions = sorted((int(r[0].removeprefix(VERSION_PREFIX)) for r in spark.sql("show databases").collect()
                       if r[0].startswith(VERSION_PREFIX) and r[0].removeprefix(VERSION_PREFIX).isdigit()),
                      reverse=True)
    older = [v for v in versions if v < served_id][keep:]
    for v in older:
        spark.sql(f"drop database {VERSION_PREFIX}{v} cascade")
    return [f"{VERSION_PREFIX}{v}" for v in older]


def publish_spark(settings: Settings, run_id: str | None, run_date: dt.date, audit_summary: dict | None = None,
                  interval: DataInterval = (None, None)) -> Publication:
    """The whole publication in one Spark job, so in one JVM (each start costs ~10 s): :func:`begin` and
    :data:`STEPS` (:func:`publish_in_session`), and what ``analytics`` serves afterwards, asked of the catalog
    in the same session."""
    result = run_job(settings, "publication", {
        "run_id": run_id, "run_date": run_date.isoformat(), "audit_summary": audit_summary,
        "interval": [d.isoformat() if d else None for d in interval]})
    return Publication(int(result["publication_id"]), "published", None,
                       {k: int(v) for k, v in result["counts"].items()}, served_id=result["served_id"])


def publish_in_session(settings: Settings, spark, run_id: str | None, run_date: str, audit_summary: dict | None,
                       interval: list[str | None]) -> dict:
    """The Spark job ``publication`` (kam.spark_job), in the job's process and Spark session."""
    data_interval = tuple(dt.datetime.fromisoformat(d) if d else None for d in interval)
    staging = begin(settings, spark, run_id, dt.date.fromisoformat(run_date), audit_summary, data_interval)
    try:
        for step in STEPS:
            step(staging)
    finally:
        shutil.rmtree(staging.work, ignore_errors=True)
    log.info("publication %s: %s (%s)", staging.publication_id, served_at(settings),
             ", ".join(f"{k} {v}" for k, v in staging.counts.items()))
    return {"publication_id": staging.publication_id, "counts": staging.counts, "served_id": served_publication(spark)}


def _drop_old_snapshots(settings: Settings, served_id: int) -> None:
    folder = settings.spark_dir / "snapshots"
    ids = sorted((int(p.stem.removeprefix("publication-")) for p in folder.glob("publication-*.duckdb")),
                 reverse=True)
    for old in [i for i in ids if i < served_id][settings.keep_publications:]:
        snapshot_path(settings, old).unlink(missing_ok=True)
