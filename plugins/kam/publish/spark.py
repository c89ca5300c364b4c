"""Write-audit-publish on the Spark target: a versioned database, then the views of ``analytics`` switched.

dbt builds database ``marts`` on Spark, the audit checks it there (kam.spark.jobs). A
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
import logging
import shutil
import tempfile
from pathlib import Path

from kam.config import Settings
from kam.faults import checkpoint
from kam.marts import OPS_PUBLISHED as OPS_TABLES
from kam.marts import PUBLISHED_MARTS
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


def publish_spark(settings: Settings, run_id: str | None, run_date: dt.date, audit_summary: dict | None = None,
                  interval: DataInterval = (None, None)) -> Publication:
    """The whole publication in one Spark job, so in one JVM (each start costs ~10 s): what
    ``analytics`` serves, the ledger, ``analytics_v<id>``, the switch, the report, the Parquet
    copies, and what ``analytics`` serves afterwards, asked of the catalog in the same session."""
    result = run_job(settings, "publication", {
        "run_id": run_id, "run_date": run_date.isoformat(), "audit_summary": audit_summary,
        "interval": [d.isoformat() if d else None for d in interval]})
    return Publication(int(result["publication_id"]), "published", None,
                       {k: int(v) for k, v in result["counts"].items()}, served_id=result["served_id"])


def publish_in_session(settings: Settings, spark, run_id: str | None, run_date: str, audit_summary: dict | None,
                       interval: list[str | None]) -> dict:
    """The Spark job ``publication`` (kam.spark.jobs), in the job's process and Spark session."""
    from kam.report.publication import serve_report
    from kam.spark import jobs

    day = dt.date.fromisoformat(run_date)
    data_interval = tuple(dt.datetime.fromisoformat(d) if d else None for d in interval)
    started = dt.datetime.now()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".kam-spark-publish-", dir=settings.tmp_dir))
    try:
        served = jobs.served(settings, spark, tiers_out=str(work / "tiers.parquet"), with_counts=True)
        if served["missing_marts"]:
            raise RuntimeError(f"cannot publish: marts missing on Spark: {served['missing_marts']}")
        with warehouse(settings) as con:
            _recover(settings, con, served)
            pub_id = start_publication(con, run_id, day, audit_summary, served_at(settings), started, data_interval,
                                       f"select * from read_parquet('{work / 'tiers.parquet'}')")
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
        snapshot = snapshot_path(settings, pub_id)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        result = jobs.publish(settings, spark, publication_id=pub_id, run_date=run_date, ops_dir=str(work / "ops"),
                              ops_counts=ops_counts, export_dir=str(work / "export"), snapshot=str(snapshot))
        checkpoint("publish.after_replace")
        serve_report(settings, Path(result["report"]) if result["report"] else None)
        _write_parquet_copies(settings, pub_id)
        checkpoint("publish.after_parquet")
        counts = {k: int(v) for k, v in result["counts"].items()}
        with warehouse(settings) as con:
            mark_published(con, pub_id, counts)
        _drop_old_snapshots(settings, pub_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("publication %s: %s (%s)", pub_id, served_at(settings), ", ".join(f"{k} {v}" for k, v in counts.items()))
    return {"publication_id": pub_id, "counts": counts, "served_id": jobs.served_publication(spark)}


def _drop_old_snapshots(settings: Settings, served_id: int) -> None:
    folder = settings.spark_dir / "snapshots"
    ids = sorted((int(p.stem.removeprefix("publication-")) for p in folder.glob("publication-*.duckdb")),
                 reverse=True)
    for old in [i for i in ids if i < served_id][settings.keep_publications:]:
        snapshot_path(settings, old).unlink(missing_ok=True)
