"""What every kam DAG declares alike. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

import os

import pendulum

from kam.config import SOURCES, min_business_date_from_env
from kam.notify.ops import OnCallNotifier


def start_date() -> pendulum.DateTime:
    """The DAGs' start_date: the earliest plausible business date (``KAM_MIN_BUSINESS_DATE``,
    default 1970-01-01). Airflow creates no task instance for a run dated before a DAG's
    start_date, so a later start_date would silently drop backfills of an old ERP history
    (``kam run`` then fails, naming it). ``catchup=False`` keeps a new scheduler from
    creating runs for the past."""
    first = min_business_date_from_env()
    return pendulum.datetime(first.year, first.month, first.day, tz="UTC")


RAW_SOURCES = SOURCES  # one asset kam.raw.<source> per landing source


def ingest_schedule() -> str | None:
    """When ``ingest`` runs: ``KAM_INGEST_SCHEDULE`` (a cron expression or preset such as
    ``0 6 * * *``; ``none`` for manual/REST triggers only), default ``@daily``."""
    value = os.environ.get("KAM_INGEST_SCHEDULE", "@daily").strip()
    return None if value.lower() in ("", "none", "manual") else value


def publication_deadline():
    """When the ``publication_deadline`` DAG checks that a publication happened today:
    ``KAM_PUBLICATION_DEADLINE`` (a cron expression, e.g. ``0 7 * * *``) in
    ``KAM_PUBLICATION_DEADLINE_TZ`` (default UTC, e.g. Asia/Shanghai); unset: never (None)."""
    cron = os.environ.get("KAM_PUBLICATION_DEADLINE", "").strip()
    if not cron or cron.lower() == "none":
        return None
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(cron, timezone=os.environ.get("KAM_PUBLICATION_DEADLINE_TZ", "UTC").strip() or "UTC")


def default_args() -> dict:
    return {
        "owner": "kam",
        # kam run (airflow dags test) sets KAM_TASK_RETRIES=0: a retry there only waits
        "retries": int(os.environ.get("KAM_TASK_RETRIES", "2")),
        "retry_delay": pendulum.duration(minutes=2),
        "pool": "kam_warehouse",  # one writer at a time for the DuckDB warehouse
        # Airflow's notifier interface: logs, then tells notify.yml's on_call routes (or KAM_ALERT_WEBHOOK)
        "on_failure_callback": OnCallNotifier(),
    }
