"""`kam run` through the real Airflow DAGs, dbt on DuckDB and GX, checked against the landing files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import END_DATE, parquet_rows
from landing_truth import latest_by_key, latest_orders

pytestmark = pytest.mark.slow

BASE_MARTS = {"dim_customers", "fct_order_lines", "fct_complaints", "fct_visits",
              "publications", "tier_publication_log"}


@pytest.fixture(scope="module")
def published(first_run):
    return first_run / "published" / "analytics.duckdb"


@pytest.fixture(scope="module")
def pub(published):
    con = duckdb.connect(str(published), read_only=True)
    yield con
    con.close()


def test_published_file_opens_read_only_from_another_process(published):
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(con.execute('select count(*) from fct_order_lines').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(published)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 1000


def test_every_mart_is_published_also_as_parquet(first_run, pub):
    tables = {r[0] for r in pub.execute("show tables").fetchall()}
    assert BASE_MARTS <= tables
    for table in tables:
        served = pub.execute(f"select * from {table} order by all").fetchall()
        assert parquet_rows(first_run / "published" / "parquet", table) == served, table
    months = sorted(p.name for p in (first_run / "published" / "parquet" / "fct_order_lines").glob("*.parquet"))
    assert len(months) > 1 and all(re.fullmatch(r"fct_order_lines\.\d{4}-\d{2}-01(\.\d+)?\.parquet", m) for m in months)


def test_order_lines_and_revenue_match_the_landing_files(small_landing, pub):
    truth = latest_orders(small_landing, END_DATE)
    count, revenue = pub.execute(
        "select count(*), sum(net_amount) filter (where is_revenue) from fct_order_lines").fetchone()
    assert count == len(truth)
    expected = truth.loc[truth["status"] != "cancelled", "net_amount"].sum()
    assert float(revenue) == pytest.approx(expected, abs=0.01)


def test_complaints_visits_and_customers_match_the_landing_files(small_landing, pub):
    complaints = latest_by_key(small_landing, "complaints", "complaint_id")
    visits = latest_by_key(small_landing, "visits", "visit_id")
    master = latest_by_key(small_landing, "customers", "customer_id")
    assert pub.execute("select count(*) from fct_complaints").fetchone()[0] == len(complaints)
    assert pub.execute("select count(*) from fct_visits").fetchone()[0] == len(visits)
    fact_ids = set(latest_orders(small_landing, END_DATE)["customer_id"]) | set(complaints["customer_id"]) \
        | set(visits["customer_id"])
    assert pub.execute("select count(*) from dim_customers").fetchone()[0] == len(set(master["customer_id"]) | fact_ids)
    # latest master version wins: the changes file re-assigned account managers
    expected = master.set_index("customer_id")["account_manager"].to_dict()
    got = dict(pub.execute("select customer_id, account_manager from dim_customers where not is_inferred").fetchall())
    assert got == {k: expected[k] for k in got}


def test_customer_missing_from_master_is_an_inferred_member(pub):
    row = pub.execute("select is_inferred, customer_name from dim_customers where customer_id = 'C000009'").fetchone()
    assert row[0] is True and "unknown" in row[1]
    assert pub.execute("select count(*) from fct_order_lines where customer_id = 'C000009'").fetchone()[0] > 0


def test_no_published_table_carries_personal_contact_data(pub):
    cols = pub.execute("select table_name, column_name from information_schema.columns").fetchall()
    assert not [c for c in cols if c[1] in ("contact_name", "contact_phone")]


def test_the_published_file_lists_its_own_publication(pub):
    status, run_date, run_id = pub.execute(
        "select status, run_date, run_id from publications order by publication_id desc limit 1").fetchone()
    assert status == "published"
    assert run_date == END_DATE
    assert run_id.startswith("manual__")  # the Airflow run that published it


def test_status_reports_the_publication(first_run):
    from conftest import run_kam

    out = run_kam(["status", "--json"], first_run).stdout
    report = json.loads(out)
    assert report["last_publication"]["status"] == "published"
    assert json.loads(report["last_publication"]["row_counts"])["fct_order_lines"] > 0
    assert report["quarantine"] == {"customers": 0, "orders": 0, "complaints": 0, "visits": 0}


def test_every_validation_is_rendered_in_gx_data_docs_linked_from_status(first_run):
    from conftest import run_kam

    report = json.loads(run_kam(["status", "--json"], first_run).stdout)
    index = Path(report["gx_data_docs"].removeprefix("file://"))
    assert index.is_file()
    pages = {p.parent.parent.parent.name for p in (index.parent / "validations").rglob("*.html")}
    from kam.marts import PUBLISHED_MARTS

    # one page per validated raw source and per mart suite: every published mart is audited
    assert {"raw_customers", "raw_orders", "raw_complaints", "raw_visits"} <= pages
    assert {f"mart_{mart}" for mart in PUBLISHED_MARTS} <= pages
    docs = report["last_publication"]["audit_summary"]["gx_docs"]
    assert set(docs) == {f"mart_{mart}.json" for mart in PUBLISHED_MARTS}
    assert set(report["last_publication"]["audit_summary"]["suites"].values()) == {"passed"}
    assert all(Path(url.removeprefix("file://")).is_file() for url in docs.values())
    con = duckdb.connect(str(first_run / "warehouse.duckdb"), read_only=True)
    try:
        (missing,) = con.execute("select count(*) from ops.ingest_batches where status in ('loaded', 'partial') "
                                 "and gx_docs is null").fetchone()
        batch_pages = [u for (u,) in con.execute("select gx_docs from ops.ingest_batches where gx_docs is not null")
                       .fetchall()]
    finally:
        con.close()
    assert missing == 0
    # every batch's page was rendered (ingest renders them together when a source is done)
    assert batch_pages and all(Path(u.removeprefix("file://")).is_file() for u in batch_pages)
