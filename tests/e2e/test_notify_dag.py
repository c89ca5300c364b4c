"""The notify DAG after a real publication (issue 34): `kam run` with a notify.yml runs ingest,
build_and_publish and notify through Airflow; every account manager with alerts gets a digest by
mail on a real SMTP server on the loopback, with every alert of the month (the first digest: all
are news), and a second `kam notify` sends nothing twice. The run is the shared first run's interval
again, on a copy of its home: it loads nothing new, and the marts it publishes are those published
before, row for row (a rerun is idempotent)."""

from __future__ import annotations

import duckdb
import pytest
from conftest import END_DATE, ingest_batches, published_tables, run_kam

pytestmark = pytest.mark.slow

CONFIG = """
cap: 5
retries: 1
backoff_seconds: 1
channels:
  mail: {{type: email, connection: kam_smtp, from: kam@example.com}}
managers:
  {manager}: {{mail: [first.manager@example.com]}}
default: {{mail: [sales-ops@example.com]}}
leadership: {{mail: [vp.sales@example.com]}}
"""


def test_a_publication_is_followed_by_each_managers_digest_once(copy_of_first_run, small_landing, smtp_server):
    home = copy_of_first_run
    with duckdb.connect(str(home / "published" / "analytics.duckdb"), read_only=True) as con:
        per_manager = dict(con.execute(
            "select coalesce(d.account_manager, '(no account manager)'), count(*) from customer_alerts a "
            "left join dim_customers d using (customer_id) "
            "where a.as_of_month = (select max(as_of_month) from customer_value_monthly) group by 1").fetchall())
    first = sorted(m for m in per_manager if not m.startswith("("))[0]
    (home / "notify.yml").write_text(CONFIG.format(manager=first), encoding="utf-8")
    published, batches_before = published_tables(home / "published" / "analytics.duckdb"), ingest_batches(home)
    proc = run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()],
                   home, AIRFLOW_CONN_KAM_SMTP=smtp_server.conn)
    assert "running DAGs ingest, build_and_publish, notify" in proc.stdout
    # the same interval again: nothing new is loaded, an incremental build, and the marts are identical
    assert ingest_batches(home) == batches_before
    assert published_tables(home / "published" / "analytics.duckdb") == published
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        mode, reason = con.execute("select mode, reason from ops.dbt_builds "
                                   "order by finished_at desc limit 1").fetchone()
    assert mode == "incremental", reason
    # the models did not change: dbt's documentation site is not made again (kam.transform.docs)
    build_log = max((home / "logs").glob("build_and_publish_*.log")).read_text(encoding="utf-8")  # this run's
    assert "dbt docs: unchanged since the last build of these models" in build_log
    assert "notify succeeded" in proc.stdout and "published: publication #2" in proc.stdout
    mails = smtp_server.messages
    assert f"digests: {len(mails) } message(s) sent for publication #2" in proc.stdout
    # one mail per manager with alerts (+ leadership), each counting every alert of the month as news
    by_manager = {}
    for mail in mails:
        who = mail["Subject"].split(" — ", 1)[1].split(": ", 1)[0]
        by_manager[who] = mail
    assert set(by_manager) == {*per_manager, "管理层 leadership"}
    for manager, count in per_manager.items():
        assert f": {count} 条新增或加重 / new or worse" in by_manager[manager]["Subject"], manager
    assert by_manager[first]["To"] == "first.manager@example.com"
    assert {by_manager[m]["To"] for m in per_manager if m != first} == {"sales-ops@example.com"}
    assert "managers without an entry in notify.yml, told through default" in proc.stdout
    body = by_manager[first].get_body(("plain",)).get_content()
    assert "publication #2" in body and "revenue" in body
    # a second delivery of the same publication (a rerun, kam notify) sends nothing twice
    again = run_kam(["notify"], home, AIRFLOW_CONN_KAM_SMTP=smtp_server.conn)
    assert f"sent 0 message(s), {len(mails)} already sent before" in again.stdout
    assert len(smtp_server.envelopes) == len(mails)
    status = run_kam(["status"], home).stdout
    assert f"digests         publication #2: {len(mails)} message(s) sent" in status
