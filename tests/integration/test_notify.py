"""Digests that reach the people who act (issue 34), on real servers on the loopback: mail to an SMTP
server (aiosmtpd) through Airflow's SMTP provider, the chat robots to an HTTP server (pytest-httpserver).

The published state is written here, small and exact (the real Parquet layout of a publication, the
real ledger), so each rule is pinned by its own numbers: what is new, what is worse, the cap, who
gets what, once per publication, recipient and channel, retries, and what a person reads when a
delivery fails. ``tests/e2e/test_notify_dag.py`` runs the notify DAG after a real publication.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import subprocess
import urllib.parse
from pathlib import Path

import duckdb
import pytest
from conftest import KAM, kam_env

from kam.config import load_settings
from kam.notify.channels import LIMITS, dingtalk_sign, feishu_sign
from kam.notify.config import LEADERSHIP, NotifyConfigError, load_notify
from kam.notify.deliver import NotifyFailed, notify_publication
from kam.publish.parquet import write_copies
from kam.warehouse import warehouse

MONTH = dt.date(2026, 6, 1)
SCORES = ("financial", "sales", "customer", "service")


def customer(cid, manager, tier, revenue, **values):
    size = {"A": "key", "B": "key", "C": "small", "D": "small", "P": "potential", "X": "inactive"}[tier]
    labels = {"A": ("A级大客户", "Key account A"), "B": ("B级大客户", "Key account B"),
              "C": ("C级小客户", "Small account C"), "D": ("D级小客户", "Small account D")}[tier]
    return {"customer_id": cid, "manager": manager, "tier": tier, "size_class": size, "revenue": revenue,
            "tier_label_zh": labels[0], "tier_label_en": labels[1], **values}


def publish_state(home: Path, pub: int, customers: list[dict], alerts: list[tuple[str, str, str]],
                  previous_scores: dict[str, dict] | None = None) -> None:
    """A served publication #pub: its Parquet copies (customer_alerts, customer_value_monthly,
    dim_customers) and its ledger row, as the publish step leaves them."""
    home.mkdir(parents=True, exist_ok=True)
    src = home / f"pub{pub}.duckdb"
    con = duckdb.connect(str(src))
    con.execute("create table dim_customers (customer_id varchar, customer_name varchar, account_manager varchar)")
    con.execute("create table customer_value_monthly (customer_id varchar, as_of_month date, tier varchar, "
                "tier_label_zh varchar, tier_label_en varchar, size_class varchar, revenue decimal(18, 2), "
                "previous_revenue decimal(18, 2), revenue_growth double, recent_complaints integer, "
                "severe_complaints_past_sla integer, overdue_past_limit_amount decimal(18, 2), "
                "overdue_amount decimal(18, 2), margin_floor double, gross_margin double, "
                + ", ".join(f"{s}_score double" for s in SCORES) + ")")
    con.execute("create table customer_alerts (customer_id varchar, as_of_month date, alert_type varchar, "
                "reason varchar)")
    for c in customers:
        con.execute("insert into dim_customers values (?, ?, ?)", [c["customer_id"], f"{c['customer_id']} 有限公司",
                                                                   c["manager"]])
        before = customer(c["customer_id"], c["manager"], c.get("previous_tier", c["tier"]), 0)
        for month, scores, tier in ((MONTH, c.get("scores", {}), c),
                                    (dt.date(2026, 5, 1), (previous_scores or {}).get(c["customer_id"], {}), before)):
            con.execute("insert into customer_value_monthly values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "?, ?, ?, ?)",
                        [c["customer_id"], month, tier["tier"], tier["tier_label_zh"], tier["tier_label_en"],
                         tier["size_class"],
                         c["revenue"], c.get("previous_revenue"), c.get("revenue_growth"),
                         c.get("recent_complaints", 0), c.get("severe", 0), c.get("overdue"), c.get("overdue"),
                         0.2, c.get("gross_margin", 0.3), *(scores.get(s, 50.0) for s in SCORES)])
    for cid, kind, reason in alerts:
        con.execute("insert into customer_alerts values (?, ?, ?, ?)", [cid, MONTH, kind, reason])
    con.close()
    write_copies(src, home / "published" / "parquet", pub,
                 {t: None for t in ("dim_customers", "customer_value_monthly", "customer_alerts")}, None, "1GB")
    settings = load_settings()
    with warehouse(settings) as wh:
        wh.execute("insert into ops.publications (publication_id, run_date, status, started_at, finished_at) "
                   "values (?, ?, 'published', now(), now())", [pub, MONTH])


@pytest.fixture
def home(tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("KAM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "notify.yml"
    path.write_text(text, encoding="utf-8")
    return path


MAIL = """
cap: {cap}
retries: 0
channels:
  mail: {{type: email, connection: kam_smtp, from: kam@example.com}}
managers:
  王磊: {{mail: [wang.lei@example.com]}}
  刘芳: {{mail: [liu.fang@example.com, sales.east@example.com]}}
default: {{mail: [sales-ops@example.com]}}
leadership: {{mail: [vp.sales@example.com]}}
"""

FIRST = [customer("C1", "王磊", "A", 900_000, previous_revenue=1_500_000, revenue_growth=-0.4,
                  scores={"financial": 40.0}),
         customer("C2", "王磊", "C", 50_000, recent_complaints=3),
         customer("C3", "王磊", "B", 300_000, overdue=20_000),
         customer("C4", "刘芳", "D", 10_000),
         customer("C5", "赵敏", "C", 80_000, recent_complaints=2),
         customer("C7", "刘芳", "C", 200_000, previous_tier="B"),
         customer("C8", "刘芳", "D", 20_000, previous_tier="C")]
FIRST_ALERTS = [("C1", "churn_risk", "revenue 900000 vs 1500000 (-40.0%)"),
                ("C2", "complaint_spike", "3 complaints in the last 90 days"),
                ("C3", "overdue_payment", "20000 overdue by more than 30 days"),
                ("C4", "rising_star", "tier D customer: revenue growth 80%"),
                ("C5", "complaint_spike", "2 severe complaints open"),
                ("C7", "tier_downgrade", "tier B -> C"),
                ("C8", "tier_downgrade", "tier C -> D")]


def test_a_digest_tells_each_manager_what_is_new_then_only_what_is_new_or_worse(home, monkeypatch, smtp_server):
    monkeypatch.setenv("AIRFLOW_CONN_KAM_SMTP", smtp_server.conn)
    config = load_notify(write_config(home, MAIL.format(cap=2)))
    publish_state(home, 1, FIRST, FIRST_ALERTS, previous_scores={"C1": {"financial": 52.5}})
    result = notify_publication(load_settings(), config)
    by_recipient = {d.recipient: d for d in result.digests}
    wang = by_recipient["王磊"]
    # ordered by what is at stake (revenue), capped at 2, the rest counted
    assert [(i.customer_id, i.alert_type, i.news) for i in wang.items] == [
        ("C1", "churn_risk", "new"), ("C3", "overdue_payment", "new")]
    assert wang.more == 1 and wang.open_alerts == 3
    assert wang.items[0].driver == "financial -12.5"  # the dimension that fell most
    # leadership: the key accounts' alerts (C1 A, C3 B) and a key account's downgrade (C7 B -> C),
    # not the small accounts' alerts nor a small account's downgrade (C8 C -> D)
    leaders = by_recipient[LEADERSHIP]
    assert [i.customer_id for i in leaders.items] == ["C1", "C3"] and leaders.more == 1  # C7, past the cap
    assert leaders.open_alerts == 3
    assert [i.customer_id for i in by_recipient["刘芳"].items] == ["C7", "C8"] and by_recipient["刘芳"].more == 1
    assert "赵敏" in result.from_default  # no entry: told through default, and said so
    mails = {m["To"]: m for m in smtp_server.messages}
    assert set(mails) == {"wang.lei@example.com", "liu.fang@example.com, sales.east@example.com",
                          "sales-ops@example.com", "vp.sales@example.com"}
    wang_mail = mails["wang.lei@example.com"]
    assert "王磊" in wang_mail["Subject"] and "3 条新增或加重 / new or worse" in wang_mail["Subject"]
    text = wang_mail.get_body(("plain",)).get_content()
    html = wang_mail.get_body(("html",)).get_content()
    for part in (text, html):
        assert "C1 有限公司" in part and "A级大客户 / Key account A" in part and "¥900,000" in part
        assert "流失风险 / churn risk" in part and "revenue 900000 vs 1500000 (-40.0%)" in part
        assert "另有 1 条未列出，见报告 / 1 more in the report" in part
    assert text.index("C1 有限公司") < text.index("C3 有限公司")

    # the next publication: C1 worse (revenue lost grew by more than 10%), C3 unchanged, C2 resolved
    # but reappears as new later; a new alert for C6; C5 no longer alerted
    second = [customer("C1", "王磊", "A", 700_000, previous_revenue=1_500_000, revenue_growth=-0.53),
              customer("C3", "王磊", "B", 300_000, overdue=20_500),
              customer("C6", "王磊", "D", 5_000, recent_complaints=4),
              customer("C4", "刘芳", "D", 10_000)]
    publish_state(home, 2, second, [("C1", "churn_risk", "revenue 700000 vs 1500000 (-53.3%)"),
                                    ("C3", "overdue_payment", "20500 overdue"),
                                    ("C6", "complaint_spike", "4 complaints in the last 90 days"),
                                    ("C4", "rising_star", "tier D customer: revenue growth 80%")])
    before = len(smtp_server.envelopes)
    result = notify_publication(load_settings(), config)
    wang = {d.recipient: d for d in result.digests}["王磊"]
    assert [(i.customer_id, i.news) for i in wang.items] == [("C1", "worse"), ("C6", "new")]
    assert {d.recipient: len(d.items) for d in result.digests}["刘芳"] == 0  # nothing new: no mail
    sent = smtp_server.messages[before:]
    assert sorted(m["To"] for m in sent) == ["vp.sales@example.com", "wang.lei@example.com"]
    assert "(1 加重 / worse)" in next(m for m in sent if m["To"] == "wang.lei@example.com")["Subject"]


def test_every_digest_is_delivered_once_per_publication_recipient_and_channel(home, monkeypatch, smtp_server):
    monkeypatch.setenv("AIRFLOW_CONN_KAM_SMTP", smtp_server.conn)
    config = load_notify(write_config(home, MAIL.format(cap=20)))
    publish_state(home, 1, FIRST, FIRST_ALERTS)
    first = notify_publication(load_settings(), config)
    count = len(smtp_server.envelopes)
    assert count == len(first.sent) == 4
    again = notify_publication(load_settings(), config, publication_id=1)  # a rerun, a retried task
    assert len(smtp_server.envelopes) == count and again.sent == [] and again.already_sent == 4
    proc = subprocess.run([KAM, "notify"], env=kam_env(home, AIRFLOW_CONN_KAM_SMTP=smtp_server.conn),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "sent 0 message(s), 4 already sent before" in proc.stdout
    assert len(smtp_server.envelopes) == count
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select recipient, channel, status, attempts from ops.notifications order by 1").fetchall()
    assert rows == sorted([(r, "mail", "sent", 1) for r in (LEADERSHIP, "刘芳", "王磊", "赵敏")])
    refused = subprocess.run([KAM, "notify", "--publication", "7"], env=kam_env(home), capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2 and "publication #7 is not the one served (#1)" in refused.stderr
    dry = subprocess.run([KAM, "notify", "--dry-run"], env=kam_env(home), capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "--- 王磊 via mail" not in dry.stdout  # already sent: nothing to show


ROBOTS = """
retries: 0
cap: 50
channels:
  wx: {type: wecom, webhook: env:KAM_TEST_WECOM}
  ding: {type: dingtalk, webhook: env:KAM_TEST_DING, secret: env:KAM_TEST_DING_SECRET}
  fs: {type: feishu, webhook: env:KAM_TEST_FEISHU, secret: env:KAM_TEST_FEISHU_SECRET}
  slack: {type: slack, webhook: env:KAM_TEST_SLACK}
managers:
  王磊: {wx: true, ding: true, fs: true, slack: true}
"""


def test_chat_robots_get_their_documented_payloads_signed_and_split_within_their_limits(home, monkeypatch,
                                                                                         httpserver):
    secret_ding, secret_fs = "SECdingtalk-test-secret", "feishu-test-secret"
    monkeypatch.setenv("KAM_TEST_WECOM", httpserver.url_for("/cgi-bin/webhook/send?key=wecom-key"))
    monkeypatch.setenv("KAM_TEST_DING", httpserver.url_for("/robot/send?access_token=ding-token"))
    monkeypatch.setenv("KAM_TEST_DING_SECRET", secret_ding)
    monkeypatch.setenv("KAM_TEST_FEISHU", httpserver.url_for("/open-apis/bot/v2/hook/fs-hook"))
    monkeypatch.setenv("KAM_TEST_FEISHU_SECRET", secret_fs)
    monkeypatch.setenv("KAM_TEST_SLACK", httpserver.url_for("/services/T0/B0/slack"))
    httpserver.expect_request("/cgi-bin/webhook/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    httpserver.expect_request("/open-apis/bot/v2/hook/fs-hook").respond_with_json({"code": 0, "msg": "success"})
    httpserver.expect_request("/services/T0/B0/slack").respond_with_data("ok")
    # 40 customers with long Chinese reasons: more than one WeCom message (4,096 bytes)
    many = [customer(f"C{n:03d}", "王磊", "B", 1_000_000 - n) for n in range(40)]
    reasons = [(c["customer_id"], "complaint_spike", "投诉激增：近90天投诉" + "很多" * 30) for c in many]
    publish_state(home, 1, many, reasons)
    result = notify_publication(load_settings(), load_notify(write_config(home, ROBOTS)))
    calls = {}
    for request, _ in httpserver.log:
        calls.setdefault(request.path, []).append(request)
    wecom = [json.loads(r.data) for r in calls["/cgi-bin/webhook/send"]]
    assert len(wecom) > 1 and all(p["msgtype"] == "markdown" for p in wecom)
    assert all(len(p["markdown"]["content"].encode()) <= LIMITS["wecom"] for p in wecom)
    assert f"(part 1/{len(wecom)})" in wecom[0]["markdown"]["content"]
    joined = "\n".join(p["markdown"]["content"] for p in wecom)
    assert all(f"C{n:03d} " in joined for n in range(40))  # split, never cut short
    assert calls["/cgi-bin/webhook/send"][0].args["key"] == "wecom-key"
    # DingTalk: signed URL (timestamp in ms, sign = Base64(HMAC-SHA256(secret, "ts\nsecret")))
    ding = calls["/robot/send"][0]
    ts = int(ding.args["timestamp"])
    assert abs(ts / 1000 - dt.datetime.now().timestamp()) < 600
    expected = base64.b64encode(hmac.new(secret_ding.encode(), f"{ts}\n{secret_ding}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert ding.args["sign"] == expected == dingtalk_sign(secret_ding, ts)
    assert "sign=" + urllib.parse.quote_plus(expected) in ding.query_string.decode()
    body = json.loads(ding.data)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("kam 客户预警")
    # Feishu: body carries timestamp (s) and sign = Base64(HMAC-SHA256(key "ts\nsecret", empty message))
    fs = json.loads(calls["/open-apis/bot/v2/hook/fs-hook"][0].data)
    assert fs["msg_type"] == "text" and "C000" in fs["content"]["text"]
    assert fs["sign"] == base64.b64encode(hmac.new(f"{fs['timestamp']}\n{secret_fs}".encode(), b"",
                                                   hashlib.sha256).digest()).decode() == \
        feishu_sign(secret_fs, int(fs["timestamp"]))
    assert all(len(r.data) <= 20_000 for r in calls["/open-apis/bot/v2/hook/fs-hook"])
    slack = json.loads(calls["/services/T0/B0/slack"][0].data)
    assert set(slack) == {"text"} and "王磊" in slack["text"]
    # markdown where the robot renders it (WeCom, DingTalk), plain text where it shows text as it is
    assert wecom[0]["markdown"]["content"].startswith("**kam 客户预警") and body["markdown"]["text"].startswith("**")
    assert "**" not in fs["content"]["text"] and "**" not in slack["text"]
    assert len(result.sent) == len(wecom) + len(calls["/robot/send"]) + len(calls["/open-apis/bot/v2/hook/fs-hook"]) \
        + len(calls["/services/T0/B0/slack"])


def test_a_refused_delivery_is_retried_with_back_off_then_named_and_later_completed(home, monkeypatch, httpserver):
    monkeypatch.setenv("KAM_TEST_WECOM", httpserver.url_for("/cgi-bin/webhook/send?key=the-secret-key"))
    config = load_notify(write_config(home, """
retries: 2
backoff_seconds: 0.2
channels:
  wx: {type: wecom, webhook: env:KAM_TEST_WECOM}
managers:
  王磊: {wx: true}
"""))
    publish_state(home, 1, FIRST[:1], FIRST_ALERTS[:1])
    httpserver.expect_request("/cgi-bin/webhook/send").respond_with_json(
        {"errcode": 93000, "errmsg": "invalid webhook url"})
    started = dt.datetime.now()
    with pytest.raises(NotifyFailed) as failed:
        notify_publication(load_settings(), config)
    assert (dt.datetime.now() - started).total_seconds() >= 0.6  # waited 0.2 s, then 0.4 s
    assert len(httpserver.log) == 3
    message = str(failed.value)
    assert "王磊 via wx" in message and "HTTP 200" in message and "93000" in message
    assert "the-secret-key" not in message
    status = subprocess.run([KAM, "status"], env=kam_env(home), capture_output=True, text=True, timeout=300).stdout
    assert "王磊 via wx: failed after 3 attempt(s)" in status and "93000" in status
    assert "the-secret-key" not in status
    httpserver.clear()
    httpserver.expect_request("/cgi-bin/webhook/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    done = notify_publication(load_settings(), config)
    assert done.sent == ["王磊 via wx"] and len(httpserver.log) == 1
    status = subprocess.run([KAM, "status"], env=kam_env(home), capture_output=True, text=True, timeout=300).stdout
    assert "publication #1: 1 message(s) sent" in status and "failed after" not in status


def test_a_manager_nobody_can_tell_is_reported_never_skipped_in_silence(home, monkeypatch, smtp_server):
    monkeypatch.setenv("AIRFLOW_CONN_KAM_SMTP", smtp_server.conn)
    config = load_notify(write_config(home, """
channels:
  mail: {type: email, connection: kam_smtp}
managers:
  王磊: {mail: [wang.lei@example.com]}
"""))
    publish_state(home, 1, FIRST, FIRST_ALERTS)
    proc = subprocess.run([KAM, "notify"], env=kam_env(home, AIRFLOW_CONN_KAM_SMTP=smtp_server.conn),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "no recipient (no entry in notify.yml and no default): 刘芳, 赵敏" in proc.stdout
    assert [m["To"] for m in smtp_server.messages] == ["wang.lei@example.com"]
    status = subprocess.run([KAM, "status"], env=kam_env(home), capture_output=True, text=True, timeout=300).stdout
    assert "publication #1: 刘芳, 赵敏: no recipient (no entry in notify.yml and no default)" in status
    assert config.routes_for("赵敏") == ({}, True)


@pytest.mark.parametrize(("text", "message"), [
    ("channels: {}\n", "channels: at least one channel is needed"),
    ("chanels: {}\n", "chanels: unknown key"),
    ("channels:\n  wx: {type: wecom, webhook: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc'}\n",
     "channels.wx: `webhook` must be a reference, env:NAME or airflow:CONN_ID"),
    ("channels:\n  m: {type: email}\nmanagers:\n  王磊: {mail: [a@example.com]}\n",
     "managers.王磊.mail: no such channel (channels: m)"),
    ("channels:\n  m: {type: email}\ndefault: {m: []}\n", "default.m: an e-mail channel needs one or more addresses"),
    ("channels:\n  m: {type: pager}\n", "channels.m: `type` must be one of email, wecom, dingtalk, feishu, slack"),
    ("channels:\n  m: {type: email}\ncap: 0\n", "cap: expected a whole number of at least 1"),
])
def test_a_notify_yml_that_cannot_work_is_refused_naming_the_key(tmp_path, text, message):
    path = tmp_path / "notify.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotifyConfigError) as exc:
        load_notify(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)
    assert "abc" not in str(exc.value).removeprefix(f"{path}: ")


def test_on_call_hears_of_a_refused_publication_through_airflows_notifier(home, monkeypatch, httpserver):
    from types import SimpleNamespace

    from kam.airflow.dag_defaults import default_args

    monkeypatch.setenv("KAM_TEST_SLACK", httpserver.url_for("/services/oncall"))
    write_config(home, "channels:\n  ops: {type: slack, webhook: env:KAM_TEST_SLACK}\non_call: {ops: true}\n")
    httpserver.expect_request("/services/oncall").respond_with_data("ok")
    notifier = default_args()["on_failure_callback"]
    ti = SimpleNamespace(task_id="audit", dag_id="build_and_publish")
    notifier({"task_instance": ti, "run_id": "manual__1",
              "exception": RuntimeError("audit failed, publication refused: customer_alerts: 3 unexpected rows")})
    text = json.loads(httpserver.log[0][0].data)["text"]
    assert text.startswith("kam: publication REFUSED (build_and_publish.audit, run manual__1)")
    assert "customer_alerts: 3 unexpected rows" in text and "served marts are unchanged" in text
    # without notify.yml, KAM_ALERT_WEBHOOK still hears of a failed task (any HTTP 200 is taken)
    (home / "notify.yml").unlink()
    monkeypatch.setenv("KAM_ALERT_WEBHOOK", httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("accepted")
    notifier({"task_instance": SimpleNamespace(task_id="ingest_orders", dag_id="ingest"), "run_id": "r2",
              "exception": OSError("disk full")})
    assert json.loads(httpserver.log[-1][0].data)["text"] == \
        "kam: task ingest_orders of DAG ingest failed (run r2)\ndisk full"


def test_no_publication_by_the_deadline_fails_the_check_and_on_call_hears_it(home, monkeypatch, httpserver):
    from types import SimpleNamespace

    from kam.airflow.dag_defaults import default_args
    from kam.airflow.tasks import deadline_task

    monkeypatch.setenv("KAM_TEST_SLACK", httpserver.url_for("/services/oncall"))
    write_config(home, "channels:\n  ops: {type: slack, webhook: env:KAM_TEST_SLACK}\non_call: {ops: true}\n")
    httpserver.expect_request("/services/oncall").respond_with_data("ok")
    with pytest.raises(Exception, match="no publication today by the deadline .*nothing has ever been published"):
        deadline_task({})
    publish_state(home, 1, FIRST[:1], FIRST_ALERTS[:1])
    with warehouse(load_settings()) as con:  # published yesterday; refused this morning
        con.execute("update ops.publications set finished_at = now() - interval 1 day")
        con.execute("insert into ops.publications (publication_id, run_date, status, reason, started_at, "
                    "finished_at) values (2, ?, 'refused', 'audit failed: customer_alerts', now(), now())", [MONTH])
    with pytest.raises(Exception, match=r"the last is #1 of .* refused since: #2 at .*audit failed") as late:
        deadline_task({})
    default_args()["on_failure_callback"]({
        "task_instance": SimpleNamespace(task_id="check_publication", dag_id="publication_deadline"),
        "run_id": "scheduled__1", "exception": late.value})
    text = json.loads(httpserver.log[0][0].data)["text"]
    assert text.startswith("kam: NO PUBLICATION by the deadline\n") and "the last is #1 of" in text
    with warehouse(load_settings()) as con:
        con.execute("update ops.publications set finished_at = now() where publication_id = 1")
    assert deadline_task({})["publication_id"] == 1


def test_what_nobody_heard_is_still_news_in_the_next_digest(home, monkeypatch, httpserver):
    monkeypatch.setenv("KAM_TEST_WECOM", httpserver.url_for("/cgi-bin/webhook/send?key=k"))
    config = load_notify(write_config(home, "retries: 0\nchannels:\n  wx: {type: wecom, webhook: env:KAM_TEST_WECOM}\n"
                                            "managers:\n  王磊: {wx: true}\n"))
    publish_state(home, 1, FIRST[:1], FIRST_ALERTS[:1])
    httpserver.expect_request("/cgi-bin/webhook/send").respond_with_json({"errcode": 45009, "errmsg": "api freq"})
    with pytest.raises(NotifyFailed, match="45009"):
        notify_publication(load_settings(), config)
    httpserver.clear()
    httpserver.expect_request("/cgi-bin/webhook/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    publish_state(home, 2, FIRST[:1], FIRST_ALERTS[:1])  # the same alert, unchanged
    result = notify_publication(load_settings(), config)
    assert [(i.customer_id, i.news) for i in result.digests[0].items] == [("C1", "new")]
    assert result.sent == ["王磊 via wx"]
    publish_state(home, 3, FIRST[:1], FIRST_ALERTS[:1])  # heard now: not repeated
    assert notify_publication(load_settings(), config).digests[0].items == []


@pytest.mark.postgres
def test_on_the_postgres_target_the_digest_reads_what_the_server_serves(home, monkeypatch, smtp_server, pg_database):
    """Target postgres has no Parquet copies: the digest reads schema analytics on the server."""
    from kam.contract import sql_string
    from kam.ingest.pull import load_scanner

    monkeypatch.setenv("AIRFLOW_CONN_KAM_SMTP", smtp_server.conn)
    monkeypatch.setenv("KAM_TARGET", "postgres")
    monkeypatch.setenv("KAM_PG_DSN", pg_database)
    publish_state(home, 3, FIRST, FIRST_ALERTS)  # the marts as a publication holds them
    con = duckdb.connect()
    attach, _ = load_scanner(con, pg_database, "KAM_PG_DSN")
    con.execute(f"attach {sql_string(str(home / 'pub3.duckdb'))} as pub (read_only)")
    con.execute(f"attach {sql_string(pg_database)} as pg (type {attach})")
    con.execute("create schema pg.analytics")
    for mart in ("dim_customers", "customer_value_monthly", "customer_alerts"):
        con.execute(f"create table pg.analytics.{mart} as select * from pub.{mart}")
    con.execute("create table pg.analytics.publications as select 3 as publication_id, 'published' as status")
    con.close()
    import shutil

    shutil.rmtree(home / "published")  # nothing to read but the server
    config = load_notify(write_config(home, MAIL.format(cap=20)))
    result = notify_publication(load_settings(), config)
    assert result.publication_id == 3
    wang = {d.recipient: d for d in result.digests}["王磊"]
    assert [(i.customer_id, i.alert_type) for i in wang.items] == [
        ("C1", "churn_risk"), ("C3", "overdue_payment"), ("C2", "complaint_spike")]
    assert len(smtp_server.envelopes) == len(result.sent) == 4


def test_a_robot_can_live_in_an_airflow_connection(home, monkeypatch, httpserver):
    """``airflow:CONN_ID``: the connection's host is the webhook URL, its password the signing secret."""
    monkeypatch.setenv("AIRFLOW_CONN_KAM_DING", json.dumps({
        "conn_type": "http", "host": httpserver.url_for("/robot/send?access_token=tok"), "password": "SECconn"}))
    config = load_notify(write_config(home, """
retries: 0
channels:
  ding: {type: dingtalk, webhook: airflow:kam_ding, secret: airflow:kam_ding}
managers:
  王磊: {ding: true}
"""))
    httpserver.expect_request("/robot/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    publish_state(home, 1, FIRST[:1], FIRST_ALERTS[:1])
    assert notify_publication(load_settings(), config).sent == ["王磊 via ding"]
    request = httpserver.log[0][0]
    assert request.args["access_token"] == "tok"
    assert request.args["sign"] == dingtalk_sign("SECconn", int(request.args["timestamp"]))
    monkeypatch.delenv("AIRFLOW_CONN_KAM_DING")
    publish_state(home, 2, FIRST[:2], FIRST_ALERTS[:2])  # news for 王磊 (C2), and no connection to send it by
    with pytest.raises(NotifyFailed, match="the Airflow connection 'kam_ding' cannot be read"):
        notify_publication(load_settings(), config)
