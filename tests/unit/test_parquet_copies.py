"""The Parquet copies of a publication (kam.publish.parquet), on real files and real publications.

``parquet/<mart>`` links to one complete version per mart; a publication writes only the
month files that changed and hard-links the others; a reader of the previous version
keeps a whole, consistent set of files."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest
from conftest import parquet_rows, published_tables

from kam.config import Settings
from kam.publish.duckdb_file import publish
from kam.publish.parquet import MARKER, VERSIONS, part_file, served_version
from kam.warehouse import warehouse

D = dt.date(2026, 10, 14)


@pytest.fixture
def settings(small_marts):
    return small_marts


def _every_copy_equals_the_served_file(settings: Settings) -> None:
    served = published_tables(settings.published_path)
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        for (table,) in con.execute("show tables").fetchall():
            rows = served[table][1] if table in served else con.execute(
                f"select * from {table} order by all").fetchall()
            assert parquet_rows(settings.parquet_dir, table) == rows, table


def _files(folder) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in folder.glob("*.parquet")}


def test_a_publication_writes_only_the_changed_months_and_links_the_others(settings):
    publish(settings, "r1", D)
    _every_copy_equals_the_served_file(settings)
    first, first_pub = served_version(settings.parquet_dir, "fct_order_lines")
    assert first_pub == 1 and (settings.parquet_dir / "fct_order_lines").is_symlink()
    before = _files(first)
    assert sorted(before) == [part_file("fct_order_lines", f"2026-{m:02d}-01") for m in range(1, 11)]

    with warehouse(settings) as con:  # one month changed, one month new
        con.execute("update marts.fct_order_lines set amount = -amount where order_month = date '2026-03-01'")
        con.execute("insert into marts.fct_order_lines values ('C1', date '2026-11-01', 999, 'A')")
    publish(settings, "r2", D)
    _every_copy_equals_the_served_file(settings)
    second, second_pub = served_version(settings.parquet_dir, "fct_order_lines")
    assert second != first and second_pub == 2
    after = _files(second)
    rewritten = {"fct_order_lines.2026-03-01.parquet", "fct_order_lines.2026-11-01.parquet"}
    assert {n for n in after if after[n] != before.get(n)} == rewritten  # the rest are the same files
    # an unchanged mart keeps its version, now marked with the new publication
    visits, visits_pub = served_version(settings.parquet_dir, "fct_visits")
    assert visits_pub == 2 and (visits / MARKER).exists()
    assert len(list((settings.parquet_dir / VERSIONS / "fct_visits").iterdir())) == 1

    publish_month_dropped(settings)
    third, _ = served_version(settings.parquet_dir, "fct_order_lines")
    assert "fct_order_lines.2026-05-01.parquet" not in _files(third)
    # the version before stays for readers still listing it; older ones are removed
    assert sorted(p.name for p in (settings.parquet_dir / VERSIONS / "fct_order_lines").iterdir()) == \
        sorted([second.name, third.name])


def publish_month_dropped(settings: Settings) -> None:
    with warehouse(settings) as con:
        con.execute("delete from marts.fct_order_lines where order_month = date '2026-05-01'")
    publish(settings, "r3", D)
    _every_copy_equals_the_served_file(settings)


def test_a_reader_of_the_previous_version_keeps_a_whole_set_of_files(settings):
    publish(settings, "r1", D)
    listed = sorted((settings.parquet_dir / "customer_value_monthly").resolve().glob("*.parquet"))
    old_rows = parquet_rows(settings.parquet_dir, "customer_value_monthly")
    with warehouse(settings) as con:
        con.execute("update marts.customer_value_monthly set amount = amount + 1000")
    publish(settings, "r2", D)
    read_later = duckdb.sql(f"select * from read_parquet({[str(p) for p in listed]}) order by all").fetchall()
    assert read_later == old_rows  # the files it listed still hold the old publication, all of them
    assert parquet_rows(settings.parquet_dir, "customer_value_monthly") != old_rows


def test_a_file_written_from_scratch_still_changes_only_the_changed_months_of_the_copies(settings):
    settings = settings.with_overrides(publish_full_every=2)  # r1 from scratch, r2 a delta, r3 from scratch
    publish(settings, "r1", D)
    publish(settings, "r2", D)
    visits, _ = served_version(settings.parquet_dir, "fct_visits")
    lines, _ = served_version(settings.parquet_dir, "fct_order_lines")
    before = _files(lines)
    with warehouse(settings) as con:
        con.execute("update marts.fct_order_lines set amount = -amount where order_month = date '2026-04-01'")
    third = publish(settings, "r3", D)
    assert set(third.written.values()) == {"copied"}  # the DuckDB file: from scratch
    _every_copy_equals_the_served_file(settings)
    assert served_version(settings.parquet_dir, "fct_visits") == (visits, 3)  # kept, marked
    after = _files(served_version(settings.parquet_dir, "fct_order_lines")[0])
    assert {n for n in after if after[n] != before.get(n)} == {"fct_order_lines.2026-04-01.parquet"}


def test_copies_that_do_not_hold_the_served_publication_are_written_whole(settings):
    publish(settings, "r1", D)
    folder, _ = served_version(settings.parquet_dir, "fct_complaints")
    (folder / MARKER).write_text("99\n")  # e.g. copies left behind by another publication
    inodes = _files(folder)
    with warehouse(settings) as con:
        con.execute("update marts.fct_complaints set amount = 0 where opened_month = date '2026-02-01'")
    publish(settings, "r2", D)
    _every_copy_equals_the_served_file(settings)
    now = _files(served_version(settings.parquet_dir, "fct_complaints")[0])
    assert not set(now.values()) & set(inodes.values())


def test_a_folder_of_files_from_before_versions_is_replaced_by_a_versioned_one(settings):
    legacy = settings.parquet_dir / "dim_customers"
    legacy.mkdir(parents=True)
    (legacy / "dim_customers.parquet").write_bytes(b"old")
    publish(settings, "r1", D)
    assert legacy.is_symlink()
    _every_copy_equals_the_served_file(settings)


def test_an_empty_partitioned_mart_is_one_file_with_its_columns(settings):
    with warehouse(settings) as con:
        con.execute("delete from marts.customer_alerts")
    publish(settings, "r1", D)
    files = list((settings.parquet_dir / "customer_alerts").glob("*.parquet"))
    assert [f.name for f in files] == ["customer_alerts.parquet"]
    described = duckdb.sql(f"describe select * from read_parquet('{files[0]}')").fetchall()
    assert [r[0] for r in described] == ["customer_id", "as_of_month", "amount", "tier"]
    with warehouse(settings) as con:  # the first alerts arrive: month files replace the empty one
        con.execute("insert into marts.customer_alerts values ('C1', date '2026-10-01', 1, 'A')")
    publish(settings, "r2", D)
    assert [f.name for f in (settings.parquet_dir / "customer_alerts").glob("*.parquet")] == \
        ["customer_alerts.2026-10-01.parquet"]
    _every_copy_equals_the_served_file(settings)


def test_rows_without_a_month_have_their_own_file(settings):
    with warehouse(settings) as con:
        con.execute("update marts.fct_visits set visit_month = null where amount < 3")
    publish(settings, "r1", D)
    assert (settings.parquet_dir / "fct_visits" / "fct_visits.none.parquet").exists()
    _every_copy_equals_the_served_file(settings)
    with warehouse(settings) as con:
        con.execute("update marts.fct_visits set amount = -1 where visit_month is null")
    assert publish(settings, "r2", D).written["fct_visits"] == "1 of 11 months rewritten"
    _every_copy_equals_the_served_file(settings)


def test_month_file_names(settings):
    assert part_file("customer_value_monthly", "2026-03-01") == "customer_value_monthly.2026-03-01.parquet"
    assert part_file("customer_tier_changes", "2026-03-01 00:00:00") == "customer_tier_changes.2026-03-01.parquet"
    assert part_file("fct_visits", "") == "fct_visits.none.parquet"
    assert part_file("dim_customers", "") == "dim_customers.parquet"
    assert os.sep not in part_file("fct_visits", "2026-03-01 12:30:00")


# --- the publish task's DuckDB memory limit (KAM_PUBLISH_MEMORY_LIMIT) ----------------------


def test_publish_memory_limit_defaults_to_2gb_and_is_read_from_the_environment(monkeypatch):
    from kam.config import load_settings

    monkeypatch.delenv("KAM_PUBLISH_MEMORY_LIMIT", raising=False)
    assert load_settings().publish_memory_limit == "2GB"
    monkeypatch.setenv("KAM_PUBLISH_MEMORY_LIMIT", "1500MB")
    settings = load_settings()
    assert settings.publish_memory_limit == "1500MB"
    assert settings.env()["KAM_PUBLISH_MEMORY_LIMIT"] == "1500MB"  # Airflow's tasks see it


def test_the_publication_runs_under_its_own_limit_and_refuses_a_bad_one(small_marts):
    import dataclasses

    from kam.publish.duckdb_file import limit_memory

    with warehouse(small_marts) as con:
        before = con.execute("select current_setting('memory_limit')").fetchone()[0]
        limit_memory(con, dataclasses.replace(small_marts, publish_memory_limit="1GB"))
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "953.6 MiB" != before
    bad = dataclasses.replace(small_marts, publish_memory_limit="lots")
    with pytest.raises(ValueError, match="KAM_PUBLISH_MEMORY_LIMIT='lots' is not a DuckDB memory limit"):
        publish(bad, "r1", D)
    assert not bad.published_path.exists()
    with duckdb.connect(str(bad.warehouse_path), read_only=True) as con:  # nothing was started
        assert con.execute("select count(*) from ops.publications").fetchone()[0] == 0
