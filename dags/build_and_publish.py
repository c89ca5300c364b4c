"""
### build_and_publish — dbt build, audit, publish (write-audit-publish)

Runs whenever a raw table changes (any `kam.raw.*` asset):

1. `dbt_build` — `dbt build` on the working warehouse: seeds, staging,
   intermediate and marts, with every dbt test.
2. `audit` — a GX suite per published mart plus reconciliation with raw.
3. `publish` — write a complete new `published/analytics.duckdb` (+ Parquet),
   check it, rename it over the served file; emits `kam.published_marts`.

`publish` runs only if both checks succeeded (default `all_success`); a
failure is recorded in `publications` as a refusal, the served file is left
untouched and the failed task alerts. Logic: `kam.tasks`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, dag, task

RAW_ASSETS = [Asset(f"kam.raw.{s}") for s in ("customers", "orders", "complaints", "visits")]


def _notify(context):
    from kam.tasks import notify_failure

    notify_failure(context)


@dag(
    dag_id="build_and_publish",
    schedule=(RAW_ASSETS[0] | RAW_ASSETS[1] | RAW_ASSETS[2] | RAW_ASSETS[3]),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "publish"],
    default_args={
        "owner": "kam",
        # kam run (airflow dags test) sets KAM_TASK_RETRIES=0: a retry there only waits
        "retries": int(os.environ.get("KAM_TASK_RETRIES", "2")),
        "retry_delay": pendulum.duration(minutes=2),
        "pool": "kam_warehouse",
        "on_failure_callback": _notify,
    },
)
def build_and_publish():
    @task
    def dbt_build(**context):
        from kam.tasks import dbt_build_task

        return dbt_build_task(context)

    @task
    def audit(build_summary: dict, **context):
        from kam.tasks import audit_task

        return audit_task(context)

    @task(outlets=[Asset("kam.published_marts")])
    def publish(audit_summary: dict, **context):
        from kam.tasks import publish_task

        return publish_task(audit_summary, context)

    publish(audit(dbt_build()))


build_and_publish()
