"""
### ingest — landing files into the raw and quarantine tables

Every day (`KAM_INGEST_SCHEDULE`, default `@daily`; and on demand), for each source (customers, orders, complaints,
visits): discover new files under the landing folder, read them (CSV in UTF-8
or GB18030, Parquet, JSON Lines), validate each batch with its GX suite
(`expectations/raw_<source>.json`), load good rows to `raw.<source>` and bad
rows to `quarantine.<source>` with a reason, and record the batch in
`ops.ingest_batches`. A file already loaded (same sha256) loads nothing; a
refused file is logged and the others go on.

Each task emits the asset `kam.raw.<source>`, which schedules
`build_and_publish`. Logic: `kam.airflow.tasks.ingest_task`.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from kam.airflow.dag_defaults import RAW_SOURCES, default_args, ingest_schedule, start_date


@dag(
    dag_id="ingest",
    schedule=ingest_schedule(),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "ingest"],
    default_args=default_args(),
)
def ingest():
    for source in RAW_SOURCES:

        @task(task_id=f"ingest_{source}", outlets=[Asset(f"kam.raw.{source}")])
        def ingest_one(source: str = source, **context):
            from kam.airflow.tasks import ingest_task

            return ingest_task(source, context)

        ingest_one()


ingest()
