"""Idempotency through the real DAGs: reruns, re-deliveries and late corrections."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest
from conftest import END_DATE, free_port, ingest_batches, kam_env, run_kam, warehouse_rows
from pytest_httpserver import HTTPServer

from kam.config import REPO_ROOT

pytestmark = pytest.mark.slow

HEADER = ("order_id,line_no,customer_id,order_date,product_category,quantity,net_amount,status,"
          "updated_at,cost,list_price")


def _last_publication(home) -> tuple[str, str]:
    return warehouse_rows(home, "select status, reason from ops.publications order by publication_id desc limit 1")[0]


def refused_run(home, landing, suites, **env):
    """`kam run` with other suites must fail, leave the served file as it was and record why."""
    published = home / "published" / "analytics.duckdb"
    inode, content = published.stat().st_ino, published.read_bytes()
    proc = run_kam(["run", "--landing", str(landing), "--date", END_DATE.isoformat()], home,
                   check=False, KAM_EXPECTATIONS_DIR=str(suites), **env)
    assert proc.returncode == 1
    assert "FAILED: DAG build_and_publish" in proc.stderr and "published:" not in proc.stdout
    assert published.stat().st_ino == inode and published.read_bytes() == content
    status, reason = _last_publication(home)
    assert status == "refused"
    return proc, reason


def _last_dag_run(home) -> str:
    import sqlite3

    con = sqlite3.connect(f"file:{home / 'airflow' / 'airflow.db'}?mode=ro", uri=True)
    try:
        return con.execute("select max(run_after) from dag_run").fetchone()[0]
    finally:
        con.close()


def _airflow_db(home):
    return {p.name: p.read_bytes() for p in (home / "airflow").glob("airflow.db*")}


def test_rerun_with_a_resent_file_and_a_correction(first_run, copy_of_first_run, small_landing, tmp_path):
    """(The same interval run again loads nothing and publishes the same marts: the notify DAG's run,
    test_notify_dag.py.)"""
    home = copy_of_first_run
    published = home / "published" / "analytics.duckdb"
    batches_before = ingest_batches(home)
    original_airflow_db = _airflow_db(first_run)

    # 2. a file re-delivered under another name loads nothing
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    original = sorted((landing / "orders").glob("*.parquet"))[0]
    shutil.copy(original, landing / "orders" / f"resent_{original.name}")
    # 3. a corrected line (same key, later updated_at) replaces the earlier version
    con = duckdb.connect(str(published), read_only=True)
    order_id, line_no, customer_id, order_date, amount = con.execute(
        "select order_id, line_no, customer_id, order_date, net_amount from fct_order_lines "
        "where status = 'confirmed' and order_date < ? order by order_line_id limit 1",
        [END_DATE.replace(day=1)]).fetchone()
    total_before = con.execute("select sum(net_amount) from fct_order_lines where is_revenue").fetchone()[0]
    con.close()
    correction = landing / "orders" / "zz_correction.csv"
    # 4. schema drift: the ERP export grew a column; it is kept in raw and ignored downstream
    correction.write_text(
        HEADER + ",sales_office\n" + f"{order_id},{line_no},{customer_id},{order_date},product,1,12345.67,"
        f"confirmed,{END_DATE} 08:00:00,10000,12345.67,上海\n", encoding="utf-8")

    run_kam(["run", "--landing", str(landing), "--date", END_DATE.isoformat()], home)
    new = ingest_batches(home)[len(batches_before):]
    statuses = {(source, status) for source, _, status, _ in new}
    assert ("orders", "duplicate") in statuses and ("orders", "loaded") in statuses
    assert sum(rows for *_, rows in new) == 1  # only the correction

    con = duckdb.connect(str(published), read_only=True)
    try:
        got = con.execute("select net_amount, count(*) over () from fct_order_lines "
                          "where order_id = ? and line_no = ?", [order_id, line_no]).fetchone()
        assert float(got[0]) == 12345.67 and got[1] == 1
        total_after = con.execute("select sum(net_amount) from fct_order_lines where is_revenue").fetchone()[0]
        assert float(total_after - total_before) == pytest.approx(12345.67 - float(amount), abs=0.01)
        assert "sales_office" not in [r[0] for r in con.execute("describe fct_order_lines").fetchall()]
    finally:
        con.close()
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert wh.execute("select count(*) from raw.orders where order_id = ? and line_no = ?",
                          [order_id, line_no]).fetchone()[0] >= 2
        assert wh.execute("select sales_office from raw.orders where sales_office is not null").fetchall() \
            == [("上海",)]
    finally:
        wh.close()
    # the copy ran on its own Airflow metadata DB, not on the one its airflow.cfg names (the original's)
    assert _airflow_db(first_run) == original_airflow_db
    assert _last_dag_run(home) > _last_dag_run(first_run)  # the copy's runs are in the copy's DB


def test_failed_audit_refuses_publication_and_leaves_the_served_file(copy_of_first_run, small_landing, tmp_path):
    home = copy_of_first_run
    # a GX suite that the data cannot pass (fault injection through KAM_EXPECTATIONS_DIR)
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    (suites / "mart_fct_visits.json").write_text(
        '{"name": "mart_fct_visits", "expectations": [{"type": "expect_table_row_count_to_equal", '
        '"kwargs": {"value": 1}, "meta": {}}]}', encoding="utf-8")
    # on call is told of the refusal by the failure notifier, through a webhook on the loopback
    notify = tmp_path / "notify.yml"
    notify.write_text("channels:\n  ops: {type: slack, webhook: env:KAM_TEST_ONCALL}\non_call: {ops: true}\n")
    with HTTPServer(host="127.0.0.1", port=free_port()) as on_call:
        on_call.expect_request("/oncall").respond_with_data("ok")
        proc, reason = refused_run(home, small_landing, suites, KAM_NOTIFY=str(notify),
                                   KAM_TEST_ONCALL=on_call.url_for("/oncall"))
        told = [json.loads(request.data)["text"] for request, _ in on_call.log]
    assert "expect_table_row_count_to_equal" in proc.stderr
    assert "task audit did not succeed: failed" in proc.stderr
    assert "mart_fct_visits" in reason
    # the failure notifier told on call once, saying the publication was refused and why
    [told] = told
    assert told.startswith("kam: publication REFUSED (build_and_publish.audit, run ")
    assert "mart_fct_visits" in told and "expect_table_row_count_to_equal" in told
    assert "served marts are unchanged" in told


def test_a_mart_without_its_suite_refuses_the_publication_naming_it(copy_of_first_run, monkeypatch, tmp_path):
    """The audit task's own body (what the DAG's audit task runs) on a copy of the first run: a published
    mart without its GX suite is refused before any check, named in the failure and in the ledger. (How
    a refused audit reaches `kam run`'s output and on call: the test above, through the DAGs.)"""
    from airflow.sdk.exceptions import AirflowFailException

    from kam.airflow.tasks import audit_task

    home = copy_of_first_run
    published = home / "published" / "analytics.duckdb"
    content = published.read_bytes()
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    (suites / "mart_customer_alerts.json").unlink()
    for name, value in kam_env(home, KAM_EXPECTATIONS_DIR=str(suites)).items():
        if name.startswith("KAM_"):
            monkeypatch.setenv(name, value)
    with pytest.raises(AirflowFailException) as refused:
        audit_task(context={"conf": {"run_date": END_DATE.isoformat()}, "run_id": "manual__missing_suite"})
    assert str(refused.value).startswith("audit configuration error, publication refused: "
                                         "no GX suite for published mart(s) customer_alerts (")
    status, reason = _last_publication(home)
    assert status == "refused" and "no GX suite for published mart(s) customer_alerts" in reason
    assert published.read_bytes() == content


def test_failing_dbt_test_refuses_publication_naming_the_test(copy_of_first_run, small_landing, tmp_path):
    """A bad row that gets past a (relaxed) raw suite is caught by a dbt test on the mart."""
    home = copy_of_first_run
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    raw = json.loads((suites / "raw_orders.json").read_text(encoding="utf-8"))
    raw["expectations"] = [e for e in raw["expectations"]
                           if not (e["kwargs"].get("column") == "quantity" and "min_value" in e["kwargs"])]
    (suites / "raw_orders.json").write_text(json.dumps(raw), encoding="utf-8")
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    (landing / "orders" / "zz_negative.csv").write_text(
        HEADER + "\nNEG1,1,C000010,2026-05-04,product,-3,100,confirmed,2026-05-04 08:00:00,50,100\n",
        encoding="utf-8")
    _, reason = refused_run(home, landing, suites)
    assert "fct_order_lines_confirmed_quantity_not_negative" in reason
    status_text = run_kam(["status"], home).stdout
    assert "last refused" in status_text and "fct_order_lines_confirmed_quantity_not_negative" in status_text
