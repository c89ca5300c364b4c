"""What every kam DAG declares alike. Light on purpose: DAG files import it at parse time."""

from __future__ import annotations

import pendulum

from kam.config import SOURCES, load_settings, min_business_date_from_env
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
    return load_settings().ingest_schedule


def publication_deadline():
    """When the ``publication_deadline`` DAG checks that a publication happened today:
    ``KAM_PUBLICATION_DEADLINE`` (a cron expression, e.g. ``0 7 * * *``) in
    ``KAM_PUBLICATION_DEADLINE_TZ`` (default UTC, e.g. Asia/Shanghai); unset: never (None)."""
    settings = load_settings()
    if settings.publication_deadline is None:
        return None
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(settings.publication_deadline, timezone=settings.publication_deadline_tz)


def default_args() -> dict:
    return {
        "owner": "kam",
        # kam run (airflow dags test) sets KAM_TASK_RETRIES=0: a retry there only waits
        "retries": load_settings().task_retries,
        "retry_delay": pendulum.duration(minutes=2),
        "pool": "kam_warehouse",  # one writer at a time for the DuckDB warehouse
        # Airflow's notifier interface: logs, then tells notify.yml's on_call routes (or KAM_ALERT_WEBHOOK)
        "on_failure_callback": OnCallNotifier(),
    }
