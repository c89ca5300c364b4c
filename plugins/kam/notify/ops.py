"""Operations alerts through Airflow's notifier interface: a failed task, a refused publication.

:class:`OnCallNotifier` is every kam task's ``on_failure_callback`` (``kam.airflow.dag_defaults``).
It logs the failure, then tells the ``on_call`` routes of notify.yml (any channel type), or, without
a notify.yml, posts ``{"text": …}`` to ``KAM_ALERT_WEBHOOK`` (a Slack-compatible webhook) when that
is set. A publication refused by dbt's tests or the audit is said as such, with its reason; a
delivery problem is logged, never raised (the task has failed already).

Light at import: DAG files import this module when they are parsed.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class OnCallNotifier(BaseNotifier):
    """Tell the people on call that a kam task failed (and whether a publication was refused)."""

    template_fields = ()

    def notify(self, context: dict[str, Any]) -> None:
        from kam.notify.render import ops_text

        ti = context.get("task_instance") or context.get("ti")
        task, dag = getattr(ti, "task_id", "?"), getattr(ti, "dag_id", "?")
        error = str(context.get("exception") or "")
        run_id = getattr(context.get("dag_run"), "run_id", None) or context.get("run_id") or "?"
        refused = "publication refused" in error
        title = (f"kam: publication REFUSED ({dag}.{task}, run {run_id})" if refused
                 else "kam: NO PUBLICATION by the deadline" if dag == "publication_deadline"
                 else f"kam: task {task} of DAG {dag} failed (run {run_id})")
        lines = [error[:1500]] + (["The served marts are unchanged; see `kam status`."] if refused else [])
        log.error("%s: %s", title, error)
        send_on_call(ops_text(title, lines))


def send_on_call(message) -> list[str]:
    """Deliver an operations message to the on-call routes; returns what could not be delivered."""
    from kam.config import load_settings
    from kam.notify.channels import AnyAnswerWebhook, channel
    from kam.notify.config import ChannelSpec, load_notify

    problems = []
    config, webhook = None, None
    try:
        settings = load_settings()
        webhook = settings.alert_webhook
        config = load_notify(settings.notify_path)
    except Exception as exc:  # noqa: BLE001 - a broken setting or notify.yml must not hide the failure reported
        log.error("cannot read the settings or the notify configuration: %s", exc)
    routes = config.on_call if config else {}
    targets = [(channel(config.channels[name]), addresses) for name, addresses in routes.items()] if config else []
    if not targets and webhook:
        targets = [(AnyAnswerWebhook(ChannelSpec("KAM_ALERT_WEBHOOK", "slack", webhook="env:KAM_ALERT_WEBHOOK")), ())]
    for target, addresses in targets:
        try:
            target.send(message, addresses)
        except Exception as exc:  # noqa: BLE001 - logged, not raised: the task has failed already
            problems.append(f"{target.spec.name}: {exc}")
            log.error("could not tell on-call via %s: %s", target.spec.name, exc)
    return problems
