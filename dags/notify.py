"""
### notify — each account manager's warnings, after every publication

Runs when `build_and_publish` has published (the `kam.published_marts` asset): one digest per
account manager with the alerts of that manager's customers that are new or worse since the
manager's previous digest, and one for leadership, by mail and the chat robots configured in
`notify.yml` (`KAM_NOTIFY`, default `$KAM_HOME/notify.yml`; without one, the task does nothing).
Each digest is delivered once per publication, recipient and channel (`ops.notifications`): a
rerun or a retried task sends nothing twice. A delivery that fails after its retries fails the
task with the recipient and the server's answer. Logic: `kam.notify`, docs/notify.md.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from kam.airflow.dag_defaults import default_args, start_date


@dag(
    dag_id="notify",
    schedule=[Asset("kam.published_marts")],
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["kam", "notify"],
    default_args=default_args(),
)
def notify():
    @task
    def deliver_digests(**context):
        from kam.airflow.tasks import notify_task

        return notify_task(context)

    deliver_digests()


notify()
