"""A publication copies the served file and rewrites only what changed (kam.publish).

A real warehouse file with small marts, real publications; what is served must always
equal the warehouse's marts, whichever way it was written."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from conftest import parquet_rows, published_tables

from kam.marts import PUBLISHED_MARTS
from kam.publish.duckdb_file import publish
from kam.warehouse import warehouse

D = dt.date(2026, 10, 14)


@pytest.fixture
def settings(small_marts):
    return small_marts


def _warehouse_marts(settings) -> dict:
    out = {}
    with warehouse(settings, read_only=True) as con:
        for mart in PUBLISHED_MARTS:
            cols = [r[0] for r in con.execute(f"describe marts.{mart}").fetchall()]
            out[mart] = [cols, con.execute(f"select {', '.join(cols)} from marts.{mart} order by all").fetchall()]
    return out


def _served(settings) -> dict:
    tables = published_tables(settings.published_path)
    return {k: v for k, v in tables.items() if k in PUBLISHED_MARTS}


def test_an_unchanged_mart_is_not_rewritten_and_a_changed_month_is(settings):
    first = publish(settings, "r1", D)
    assert set(first.written.values()) == {"copied"}
    assert _served(settings) == _warehouse_marts(settings)
    parquet = settings.parquet_dir / "dim_customers" / "dim_customers.parquet"
    written_at = parquet.stat().st_mtime_ns

    second = publish(settings, "r2", D)
    assert set(second.written.values()) == {"unchanged"}
    assert _served(settings) == _warehouse_marts(settings)
    assert parquet.stat().st_mtime_ns == written_at  # an unchanged mart's Parquet file is kept

    with warehouse(settings) as con:  # one month changed, one month new, one row gone
        con.execute("update marts.fct_order_lines set amount = amount + 1 where order_month = date '2026-03-01'")
        con.execute("insert into marts.fct_order_lines values ('C1', date '2026-11-01', 999, 'A')")
        con.execute("delete from marts.customer_value_monthly where amount = 5")
        con.execute("update marts.dim_customers set tier = 'A' where amount = 0")
    third = publish(settings, "r3", D)
    assert third.written["fct_order_lines"] == "2 of 11 months rewritten"  # every row of one, a new one
    assert third.written["customer_value_monthly"] == "1 of 10 months rewritten, 1 by changed rows"  # 1 of 20
    assert third.written["dim_customers"] == "copied"  # not partitioned: whole
    assert third.written["fct_visits"] == "unchanged"
    assert _served(settings) == _warehouse_marts(settings)
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        assert con.execute("select count(*) from publications where status = 'published'").fetchone()[0] == 3
    assert parquet_rows(settings.parquet_dir, "fct_order_lines") == _served(settings)["fct_order_lines"][1]


def test_a_month_with_few_changed_rows_is_brought_up_to_date_row_by_row(settings, caplog):
    """Only the rows that differ are deleted and inserted; where that cannot give the warehouse's
    month (a row twice: rows are matched by their hash), the month is rewritten whole, with a warning."""
    publish(settings, "r1", D)
    with warehouse(settings) as con:  # in March: one row changed, one gone, one new
        con.execute("update marts.fct_visits set tier = 'A' where amount = 2")
        con.execute("delete from marts.fct_visits where amount = 12")
        con.execute("insert into marts.fct_visits values ('C8', date '2026-03-01', 1000, 'B')")
    assert publish(settings, "r2", D).written["fct_visits"] == "1 of 10 months rewritten, 1 by changed rows"
    assert _served(settings) == _warehouse_marts(settings)
    assert parquet_rows(settings.parquet_dir, "fct_visits") == _served(settings)["fct_visits"][1]

    with warehouse(settings) as con:  # a row twice: the same hash, so row by row cannot add it
        con.execute("insert into marts.fct_visits select * from marts.fct_visits where amount = 22")
    with caplog.at_level("WARNING", logger="kam.publish.duckdb_file"):
        assert publish(settings, "r3", D).written["fct_visits"] == "1 of 10 months rewritten"
    assert "brought up to date row by row do not match the warehouse" in caplog.text
    assert _served(settings) == _warehouse_marts(settings)


def test_a_mart_whose_columns_changed_is_copied_whole(settings):
    publish(settings, "r1", D)
    with warehouse(settings) as con:
        con.execute("alter table marts.fct_visits add column note varchar default 'x'")
    pub = publish(settings, "r2", D)
    assert pub.written["fct_visits"] == "copied"
    assert _served(settings) == _warehouse_marts(settings)


def test_every_nth_publication_is_written_from_scratch(settings):
    settings = settings.with_overrides(publish_full_every=3)  # KAM_PUBLISH_FULL_EVERY
    kinds = []
    for i in range(5):
        with warehouse(settings) as con:
            con.execute(f"insert into marts.fct_order_lines values ('C9', date '2026-12-01', {i}, 'C')")
        kinds.append(publish(settings, f"r{i}", D).written["fct_order_lines"])
        assert _served(settings) == _warehouse_marts(settings)
    # the new month: 1 row, then 2 (half or more new: whole), 3 and 5 (one new: by changed rows)
    assert kinds == ["copied", "1 of 11 months rewritten", "1 of 11 months rewritten, 1 by changed rows", "copied",
                     "1 of 11 months rewritten, 1 by changed rows"]


def test_without_the_served_publications_fingerprints_it_is_written_from_scratch(settings):
    publish(settings, "r1", D)
    with warehouse(settings) as con:
        con.execute("delete from ops.publication_fingerprints")
        con.execute("update marts.fct_complaints set amount = -amount")
    pub = publish(settings, "r2", D)
    assert set(pub.written.values()) == {"copied"}
    assert _served(settings) == _warehouse_marts(settings)


def test_with_no_report_asked_a_publication_leaves_no_report_of_an_earlier_one(settings):
    assert settings.report_months == 0
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    settings.report_path.write_text("<html>publication #0</html>")
    publish(settings, "r1", D)
    assert not settings.report_path.exists()
    assert not list(settings.published_dir.glob(".report.*"))
