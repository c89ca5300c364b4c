"""A run reports only what happened (issue: evidence, not assumption), through the real DAGs.

One KAM_HOME on an old ERP history (orders dated 1992-1999, the shape of a long-lived ERP,
not the recent months the other tests use), run three times:

1. with a run date before the DAGs' start_date: Airflow finishes both runs 'success' without a
   single task instance; ``kam run`` must fail and say so;
2. with the publish task skipped: Airflow calls the DAG run a success; ``kam run`` must not;
3. normally: every line published, totals reconcile with the landing files, and the output
   and ``kam status`` show the publication, its run date, the landing folder and the counts.

(A refused audit, a published mart without its suite and the failure notifier telling on call:
``test_idempotency.py``, on copies of the shared first run.)
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from conftest import run_kam
from landing_truth import latest_by_key, latest_orders

pytestmark = pytest.mark.slow

OLD_END = dt.date(1999, 6, 30)
OLD = {"customers": 40, "months": 90, "seed": 5}  # 1992-01 .. 1999-06


@pytest.fixture(scope="module")
def old_history(tmp_path_factory):
    from kam.generate import generate

    landing = tmp_path_factory.mktemp("old_landing")
    generate(landing, end_date=OLD_END, **OLD)
    home = tmp_path_factory.mktemp("old_home")

    def run(date: dt.date, **env: str):
        return run_kam(["run", "--landing", str(landing), "--date", date.isoformat()], home, check=False, **env)

    runs = {
        "before_start": run(dt.date(1969, 12, 31)),
        "publish_skipped": run(OLD_END, KAM_FAULT_SKIP_TASK="publish"),
        "normal": run(OLD_END),
    }
    status = run_kam(["status"], home)
    return {"landing": landing, "home": home, "runs": runs, "status": status.stdout}


def test_landing_is_old_history(old_history):
    truth = latest_orders(old_history["landing"], OLD_END)
    assert truth["order_date"].min().year == 1992 and truth["order_date"].max().year == 1999


def test_a_run_date_before_the_dags_start_date_runs_no_task_and_fails_saying_so(old_history):
    proc = old_history["runs"]["before_start"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: DAG ingest" in proc.stderr
    assert "ran no task for 1969-12-31" in proc.stderr
    assert "before the DAG's start_date 1970-01-01 (KAM_MIN_BUSINESS_DATE)" in proc.stderr
    assert "published:" not in proc.stdout


def test_a_skipped_publish_is_a_failure_not_a_success(old_history):
    proc = old_history["runs"]["publish_skipped"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "task publish did not succeed: skipped" in proc.stderr
    assert "published:" not in proc.stdout


def test_the_normal_run_publishes_every_line_of_the_old_history(old_history):
    proc = old_history["runs"]["normal"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    home, landing = old_history["home"], old_history["landing"]
    con = duckdb.connect(str(home / "published" / "analytics.duckdb"), read_only=True)
    try:
        count, revenue, first = con.execute(
            "select count(*), sum(net_amount) filter (where is_revenue), min(order_date) "
            "from fct_order_lines").fetchone()
        complaints = con.execute("select count(*) from fct_complaints").fetchone()[0]
        visits = con.execute("select count(*) from fct_visits").fetchone()[0]
        months = con.execute("select min(as_of_month), max(as_of_month) from customer_value_monthly").fetchone()
        pubs = con.execute("select publication_id, run_date, status from publications order by 1").fetchall()
    finally:
        con.close()
    truth = latest_orders(landing, OLD_END)
    assert count == len(truth) and first.year == 1992
    assert float(revenue) == pytest.approx(truth.loc[truth["status"] != "cancelled", "net_amount"].sum(), abs=0.01)
    assert complaints == len(latest_by_key(landing, "complaints", "complaint_id"))
    assert visits == len(latest_by_key(landing, "visits", "visit_id"))
    # a customer's months start with its master's created_at, years before the first order here
    assert months[0] <= dt.date(1992, 1, 1) and months[1] == dt.date(1999, 6, 1)
    # the skipped publication left no publication behind: only the last run published
    assert [(status, run_date) for _, run_date, status in pubs] == [("published", OLD_END)]
    # nothing was quarantined: every row of the 1990s is within the earliest business date
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as wh:
        assert wh.execute("select sum(rows_quarantined) from ops.ingest_batches").fetchone()[0] == 0


def test_the_run_prints_the_publication_its_run_date_and_the_row_counts(old_history):
    out = old_history["runs"]["normal"].stdout
    assert "published: publication #1 (run date 1999-06-30" in out
    for mart in ("fct_order_lines", "customer_value_monthly", "customer_alerts", "publications"):
        assert mart in out
    truth = latest_orders(old_history["landing"], OLD_END)
    assert f"{len(truth):,}" in out


def test_status_shows_the_landing_and_run_date_of_the_last_run(old_history):
    status = old_history["status"]
    assert f"landing         {old_history['landing']}" in status
    assert "last run        run date 1999-06-30" in status and "published #1" in status
    record = json.loads((old_history["home"] / "last_run.json").read_text())
    assert record["landing"] == str(old_history["landing"]) and record["success"] is True
