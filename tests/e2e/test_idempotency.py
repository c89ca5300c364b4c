"""Idempotency through the real DAGs: reruns, re-deliveries and late corrections."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from conftest import END_DATE, published_tables, run_kam

from kam.config import REPO_ROOT

pytestmark = pytest.mark.slow

HEADER = ("order_id,line_no,customer_id,order_date,product_category,quantity,net_amount,status,"
          "updated_at,cost,list_price")


def batches(home):
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select source, source_file, status, rows_loaded from ops.ingest_batches "
                           "order by batch_id").fetchall()
    finally:
        con.close()


def test_rerun_with_a_resent_file_and_a_correction(copy_of_first_run, small_landing, tmp_path):
    home = copy_of_first_run
    published = home / "published" / "analytics.duckdb"
    before = published_tables(published)
    batches_before = batches(home)

    # 1. the same run again: nothing new is loaded and the marts are identical
    run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home)
    assert batches(home) == batches_before
    assert published_tables(published) == before

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
    correction.write_text(
        HEADER + "\n" + f"{order_id},{line_no},{customer_id},{order_date},product,1,12345.67,confirmed,"
        f"{END_DATE} 08:00:00,10000,12345.67\n", encoding="utf-8")

    run_kam(["run", "--landing", str(landing), "--date", END_DATE.isoformat()], home)
    new = batches(home)[len(batches_before):]
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
    finally:
        con.close()
    wh = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert wh.execute("select count(*) from raw.orders where order_id = ? and line_no = ?",
                          [order_id, line_no]).fetchone()[0] >= 2
    finally:
        wh.close()


def test_failed_audit_refuses_publication_and_leaves_the_served_file(copy_of_first_run, small_landing, tmp_path):
    home = copy_of_first_run
    published = home / "published" / "analytics.duckdb"
    inode, content = published.stat().st_ino, published.read_bytes()
    # a GX suite that the data cannot pass (fault injection through KAM_EXPECTATIONS_DIR)
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    (suites / "mart_fct_visits.json").write_text(
        '{"name": "mart_fct_visits", "expectations": [{"type": "expect_table_row_count_to_equal", '
        '"kwargs": {"value": 1}, "meta": {}}]}', encoding="utf-8")
    proc = run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home,
                   check=False, KAM_EXPECTATIONS_DIR=str(suites))
    assert proc.returncode == 1
    assert "expect_table_row_count_to_equal" in proc.stderr
    assert published.stat().st_ino == inode and published.read_bytes() == content
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        status, reason = con.execute("select status, reason from ops.publications "
                                     "order by publication_id desc limit 1").fetchone()
    finally:
        con.close()
    assert status == "refused" and "mart_fct_visits" in reason
