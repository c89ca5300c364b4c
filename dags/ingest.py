"""
### ingest — landing files into the raw and quarantine tables

Every day (and on demand), for each source (customers, orders, complaints,
visits): discover new files under the landing folder, read them (CSV in UTF-8
or GB18030, Parquet, JSON Lines), validate each batch with its GX suite
(`expectations/raw_<source>.json`), load good rows to `raw.<source>` and bad
rows to `quarantine.<source>` with a reason, and record the batch in
`ops.ingest_batches`. A file already loaded (same sha256) loads nothing; a
refused file is logged and the others go on.

Each task emits the asset `kam.raw.<source>`, which schedules
`build_and_publish`. Logic: `kam.tasks.ingest_task`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, dag, task

SOURCES = ("customers", "orders", "complaints", "visits")


@dag(
    dag_id="ingest",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "ingest"],
    default_args={
        "owner": "kam",
        # kam run (airflow dags test) sets KAM_TASK_RETRIES=0: a retry there only waits
        "retries": int(os.environ.get("KAM_TASK_RETRIES", "2")),
        "retry_delay": pendulum.duration(minutes=2),
        "pool": "kam_warehouse",
    },
)
def ingest():
    for source in SOURCES:

        @task(task_id=f"ingest_{source}", outlets=[Asset(f"kam.raw.{source}")],
              on_failure_callback=_notify)
        def ingest_one(source: str = source, **context):
            from kam.tasks import ingest_task

            return ingest_task(source, context)

        ingest_one()


def _notify(context):
    from kam.tasks import notify_failure

    notify_failure(context)


ingest()
