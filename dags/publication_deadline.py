"""
### publication_deadline — on call hears when no publication happened by the deadline

Scheduled by `KAM_PUBLICATION_DEADLINE` (a cron expression such as `0 7 * * *`, in
`KAM_PUBLICATION_DEADLINE_TZ`, default UTC; unset: not scheduled). Its one task succeeds when a
publication finished today; otherwise it fails saying what was published last and what was
refused today, and the failure notifier (`kam.notify.ops.OnCallNotifier`) tells the `on_call`
routes of notify.yml. A publication is asset-triggered (no logical date for Airflow's own
`DeadlineAlert` to count from), so the deadline is this daily check. Logic: `kam.airflow.tasks`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from kam.airflow.dag_defaults import default_args, publication_deadline, start_date


@dag(
    dag_id="publication_deadline",
    schedule=publication_deadline(),
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "notify"],
    default_args={**default_args(), "retries": 1},
)
def publication_deadline_dag():
    @task
    def check_publication(**context):
        from kam.airflow.tasks import deadline_task

        return deadline_task(context)

    check_publication()


publication_deadline_dag()
