"""What every kam DAG declares alike. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

import os

import pendulum

START_DATE = pendulum.datetime(2024, 1, 1, tz="UTC")
RAW_SOURCES = ("customers", "orders", "complaints", "visits")


def ingest_schedule() -> str | None:
    """When ``ingest`` runs: ``KAM_INGEST_SCHEDULE`` (a cron expression or preset such as
    ``0 6 * * *``; ``none`` for manual/REST triggers only), default ``@daily``."""
    value = os.environ.get("KAM_INGEST_SCHEDULE", "@daily").strip()
    return None if value.lower() in ("", "none", "manual") else value


def notify_failure(context) -> None:
    """on_failure_callback: the work is in kam.tasks (imported only when a task fails)."""
    from kam.tasks import notify_failure as notify

    notify(context)


def default_args() -> dict:
    return {
        "owner": "kam",
        # kam run (airflow dags test) sets KAM_TASK_RETRIES=0: a retry there only waits
        "retries": int(os.environ.get("KAM_TASK_RETRIES", "2")),
        "retry_delay": pendulum.duration(minutes=2),
        "pool": "kam_warehouse",  # one writer at a time for the DuckDB warehouse
        "on_failure_callback": notify_failure,
    }
