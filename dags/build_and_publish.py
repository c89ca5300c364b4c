"""
### build_and_publish — dbt build, audit, publish (write-audit-publish)

Runs when every raw table has been refreshed (all four `kam.raw.*` assets
updated since the last run, i.e. once per `ingest` run; the run date comes
from the asset events):

1. `dbt_build` — `dbt build` on the working warehouse: seeds, staging,
   intermediate and marts, with every dbt test.
2. `audit` — a GX suite for every published mart (`expectations/mart_<mart>.json`;
   a mart without one refuses the publication as a configuration error; large marts
   validated on a repeatable sample, every row by the dbt tests), rendered into GX
   Data Docs; reconciliation with raw; drift against the served publication.
3. `publish` — write a complete new `published/analytics.duckdb` (+ Parquet),
   check it, rename it over the served file, then prove it: the task succeeds only
   when `publications` records this run's publication and the served file holds it;
   emits `kam.published_marts`.

`publish` runs only if both checks succeeded (default `all_success`); a
failure is recorded in `publications` as a refusal, the served file is left
untouched and the failed task alerts. Logic: `kam.airflow.tasks`.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from kam.airflow.dag_defaults import RAW_SOURCES, default_args, start_date

RAW_ASSETS = [Asset(f"kam.raw.{s}") for s in RAW_SOURCES]


@dag(
    dag_id="build_and_publish",
    schedule=(RAW_ASSETS[0] & RAW_ASSETS[1] & RAW_ASSETS[2] & RAW_ASSETS[3]),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "publish"],
    default_args=default_args(),
)
def build_and_publish():
    @task
    def dbt_build(**context):
        from kam.airflow.tasks import dbt_build_task

        return dbt_build_task(context)

    @task
    def audit(build_summary: dict, **context):
        from kam.airflow.tasks import audit_task

        return audit_task(context)

    @task(outlets=[Asset("kam.published_marts")])
    def publish(audit_summary: dict, **context):
        from kam.airflow.tasks import publish_task

        return publish_task(audit_summary, context)

    publish(audit(dbt_build()))


build_and_publish()
