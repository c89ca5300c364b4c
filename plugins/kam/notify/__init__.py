"""Warnings that reach the people who act (DOMAIN.md §8, docs/notify.md).

After every publication, one digest per account manager with the alerts of that manager's
customers that are new or worse since the manager's previous digest, and one for leadership
(key accounts' alerts, tier downgrades), delivered by mail (Airflow's SMTP provider) and by the
chat robots sales teams use (WeCom, DingTalk, Feishu/Lark, Slack-compatible), each exactly once
per publication, recipient and channel (``ops.notifications``).

* :mod:`kam.notify.config` — who gets what through which channel (``notify.yml``), secrets by reference;
* :mod:`kam.notify.digest` — what is news for whom, from the served publication;
* :mod:`kam.notify.render` — plain text, HTML and chat markdown, bilingual, split to a channel's limit;
* :mod:`kam.notify.channels` — one interface, five services;
* :mod:`kam.notify.deliver` — the ledger, retries with back-off, ``kam notify``;
* :mod:`kam.notify.ops` — operations alerts (a failed task, a refused publication) as an Airflow notifier.
"""
