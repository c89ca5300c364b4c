"""The benchmark's fair engine floor (DESIGN.md §6, issue 22): the hand-written DuckDB script gives
the published customer_value_monthly and customer_tier_history row for row, from the landing files
the pipeline read, and its rules are the project's configuration. And the small-files measurement
ingests both file sets completely."""

from __future__ import annotations

import copy

import duckdb
import pytest
from conftest import END_DATE

from kam.bench import series
from kam.bench.fair_floor import compare, fair_floor, project_rules
from kam.config import REPO_ROOT, load_settings

pytestmark = pytest.mark.slow
PROJECT = REPO_ROOT / "dbt_project"


def test_fair_floor_gives_the_published_marts_row_for_row(first_run, small_landing, tmp_path):
    db = tmp_path / "fair.duckdb"
    counts = fair_floor(small_landing, END_DATE, db, PROJECT, "2GB", str(tmp_path))
    agreement = compare(db, first_run / "published" / "analytics.duckdb")
    for mart, a in agreement.items():
        assert a["pipeline_rows"] > 0 and a["floor_rows"] == a["pipeline_rows"] == counts[mart], (mart, a)
        assert a["share_equal"] == 1.0 and a["columns_differ"] == {}, (mart, a)
    with duckdb.connect(str(db), read_only=True) as con:  # persisted, with counts stored narrow
        types = dict(con.execute("select column_name, data_type from duckdb_columns() "
                                 "where table_name = 'customer_value_monthly'").fetchall())
    assert types["order_count"] == "BIGINT" and types["revenue"] == "DECIMAL(18,2)"


def test_fair_floor_follows_the_configured_rules(first_run, small_landing, tmp_path):
    """Moving a tier threshold moves the floor's tiers away from the published ones (and compare sees it)."""
    rules = copy.deepcopy(project_rules(PROJECT))
    rules["tier_thresholds"]["C"] = rules["tier_thresholds"]["C"] + 15
    db = tmp_path / "fair.duckdb"
    fair_floor(small_landing, END_DATE, db, PROJECT, "2GB", str(tmp_path), rules=rules)
    agreement = compare(db, first_run / "published" / "analytics.duckdb")
    monthly = agreement["customer_value_monthly"]
    assert monthly["share_equal"] < 1.0 and "tier" in monthly["columns_differ"], monthly
    assert set(monthly["columns_differ"]) <= {"tier", "tier_label_en", "tier_label_zh", "computed_tier", "raw_tier",
                                              "score_tier", "size_class", "profit_role", "value_type"}, monthly


def test_small_files_ingest_every_line_of_both_file_sets(small_landing, tmp_path, monkeypatch):
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "home"))
    settings = load_settings()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    figures = series.small_files(settings, tmp_path / "work", small_landing, many=6, few=2, lines=400,
                                 run_date=END_DATE, echo=lambda *_: None)
    assert figures["lines"] == 2400 and figures["many_files"] == 6 and figures["few_files"] == 2
    assert figures["many_seconds"] > 0 and figures["few_seconds"] > 0
    assert figures["ratio"] == pytest.approx(figures["many_seconds"] / figures["few_seconds"])
    assert "6 Parquet files ingested in" in series.small_files_markdown(figures)
