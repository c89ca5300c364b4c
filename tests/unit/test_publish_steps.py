"""A publication on the DuckDB target is a sequence of named steps (kam.publish.duckdb_file.STEPS), each
run alone here on a real warehouse: what each step changes, and that BI's file changes only at swap."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from conftest import published_tables

from kam.marts import OPS_PUBLISHED, PUBLISHED_MARTS
from kam.publish import duckdb_file as pub
from kam.warehouse import warehouse

D = dt.date(2026, 10, 14)


def _ledger(settings) -> list[tuple]:
    with warehouse(settings, read_only=True) as con:
        return con.execute("select publication_id, status from ops.publications order by 1").fetchall()


def test_every_target_publishes_in_the_one_order_of_steps():
    from kam.publish import postgres, spark
    from kam.publish.steps import STEP_ORDER, in_step_order

    duckdb_steps = ["begin", *(s.__name__ for s in pub.STEPS)]
    assert duckdb_steps == list(STEP_ORDER)
    server_steps = ["begin", *(s.__name__ for s in postgres.STEPS)]
    assert in_step_order(server_steps) and server_steps == ["begin", "stage", "verify", "stage_report", "swap",
                                                            "record"]
    spark_steps = ["begin", *(s.__name__ for s in spark.STEPS)]
    assert in_step_order(spark_steps) and "keep_history" not in spark_steps  # versions kept: record drops older
    assert not in_step_order(["stage", "swap", "verify"]) and not in_step_order(["stage", "unknown"])


def test_the_steps_in_order_each_doing_its_part(small_marts):
    settings = small_marts
    assert [s.__name__ for s in pub.STEPS] == ["stage", "verify", "stage_report", "keep_history", "swap",
                                               "copies", "record"]
    first = pub.publish(settings, "run-1", D)
    served_before = published_tables(settings.published_path)
    with warehouse(settings) as con:  # one month of one mart changes
        con.execute("update marts.customer_value_monthly set tier = 'A' where as_of_month = date '2026-03-01'")

    staging = pub.begin(settings, "run-2", D, None, (None, None))
    assert _ledger(settings) == [(first.publication_id, "published"), (staging.publication_id, "publishing")]
    assert staging.delta and not staging.path.exists()

    pub.stage(staging)
    assert staging.path.exists() and staging.written["customer_value_monthly"] == "1 of 10 months rewritten"
    assert staging.written["dim_customers"] == "unchanged"
    assert set(staging.counts) == {*PUBLISHED_MARTS, *OPS_PUBLISHED}
    assert published_tables(settings.published_path) == served_before  # BI still reads the old file

    pub.verify(staging)
    con = duckdb.connect(str(staging.path))
    con.execute("delete from visit_coverage where rowid = 0")
    con.close()
    with pytest.raises(RuntimeError, match=r"visit_coverage has 199 rows, expected 200"):
        pub.verify(staging)
    con = duckdb.connect(str(staging.path))
    con.execute("insert into visit_coverage select * from (select 'C0' as customer_id, date '2026-01-01', 0, 'B')")
    con.close()
    pub.verify(staging)

    pub.stage_report(staging)
    pub.keep_history(staging)
    kept = list(settings.history_dir.glob("analytics.before-*.duckdb"))
    assert [p.name for p in kept] == [f"analytics.before-{staging.publication_id:06d}.duckdb"]
    assert pub.file_publication_id(settings.published_path) == first.publication_id

    pub.swap(staging)
    assert not staging.path.exists()
    assert pub.file_publication_id(settings.published_path) == staging.publication_id
    assert _ledger(settings)[-1] == (staging.publication_id, "publishing")  # served, not yet recorded

    pub.copies(staging)
    assert {c.table for c in staging.copies} == {*PUBLISHED_MARTS, *OPS_PUBLISHED}
    pub.record(staging)
    assert _ledger(settings)[-1] == (staging.publication_id, "published")
    served = duckdb.connect(str(settings.published_path), read_only=True)
    assert served.execute("select count(*) from customer_value_monthly where tier = 'A'").fetchone()[0] == 20
    served.close()
