"""The raw suites compiled to SQL agree with GX row for row (real DuckDB, real GX, real suites).

Generated batches are damaged at random (nulls, unknown codes, negative amounts, dates out of
range, unreadable values, duplicated keys); each is ingested with the SQL checks, and the
quarantined rows and reasons must equal what GX finds validating the whole batch as a DataFrame.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kam.config import Settings
from kam.contract import contract_for
from kam.ingest.batch import ingest_file
from kam.ingest.readers import read_batch
from kam.quality.batch_checks import row_reasons_in_gx
from kam.quality.gx_suites import CheckFailure
from kam.quality.row_checks import NotCompilable, compile_suite, disagreements
from kam.warehouse import OPS_DDL

RUN_DATE = dt.date(2026, 6, 15)
SOURCES = ("customers", "orders", "complaints", "visits")
EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    from kam.generate import generate

    out = tmp_path_factory.mktemp("landing")
    generate(out, customers=30, months=13, seed=5, end_date=RUN_DATE)
    return out


def settings_for(tmp_path: Path, **kw) -> Settings:
    return Settings(**{"kam_home": tmp_path / "home", "landing_dir": tmp_path / "landing", "max_bad_row_share": 1.0,
                       **kw})


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    settings.kam_home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(OPS_DDL)
    return con


def damaged_csv(landing: Path, source: str, out: Path, seed: int) -> Path:
    """The source's largest generated file as text, with about a third of its rows damaged."""
    con = duckdb.connect()
    read_batch(con, max((landing / source).iterdir(), key=lambda p: p.stat().st_size), "_t")
    frame = con.sql("select * exclude (_kam_row) from _t order by _kam_row").df().astype(object)
    rng = np.random.default_rng(seed)
    contract = contract_for(source)
    damage = {
        "enum": ["bogus", None], "int": ["-5", "abc", None], "decimal": ["-12.5", "1,2x", None],
        "date": ["2099-01-01", "1990-02-03", "2026-13-45", None],
        "timestamp": ["2099-01-01 10:00:00", "1999-12-31 23:00:00", "yesterday", None],
        "text": [None], "bool": ["maybe", None],
    }
    for row in rng.choice(len(frame), size=len(frame) // 3, replace=False):
        column = contract.columns[rng.integers(len(contract.columns))]
        if column.name in frame.columns:
            frame.at[row, column.name] = rng.choice(damage[column.type])
    dupes = frame.sample(n=min(3, len(frame)), random_state=seed)  # the same key twice
    frame = pd.concat([frame, dupes], ignore_index=True)
    path = out / source / f"damaged_{seed}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def reasons(con) -> dict[int, set[str]]:
    """Row -> its reasons without the value shown (GX and SQL print values differently)."""
    return {row: {re.sub(r", got .*$", "", part) for part in text.split("; ")}
            for row, text in con.sql("select _row_number, _reason from _batch_reasons").fetchall()}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("seed", [1, 2])
def test_sql_checks_quarantine_exactly_what_gx_finds(landing, tmp_path, source, seed):
    settings = settings_for(tmp_path)
    con = connect(settings)
    path = damaged_csv(landing, source, tmp_path / "landing", seed)
    result = ingest_file(con, settings, source, path, RUN_DATE)
    assert result.error is None and result.status == "partial", result.summary()
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    assert result.gx_rows == result.rows_read  # small batch: GX saw every row too
    in_sql = reasons(con)
    assert len(in_sql) == result.rows_quarantined > 0
    # the same typed batch, validated by GX as a whole DataFrame
    bad, _, gx_rows = row_reasons_in_gx(con, settings, contract_for(source), RUN_DATE)
    assert gx_rows == result.rows_read and bad == len(in_sql)
    assert reasons(con) == in_sql
    con.close()


def test_a_batch_larger_than_the_sample_is_checked_in_full_and_gx_sees_the_sample(landing, tmp_path):
    settings = settings_for(tmp_path, gx_batch_sample_rows=25)
    con = connect(settings)
    path = damaged_csv(landing, "orders", tmp_path / "landing", 3)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "partial" and result.rows_read > 100
    assert result.gx_rows == 25
    # every row was checked: the same quarantine as GX on the whole batch
    in_sql = reasons(con)
    row_reasons_in_gx(con, settings, contract_for("orders"), RUN_DATE)
    assert reasons(con) == in_sql
    (gx_rows,) = con.sql("select gx_rows from ops.ingest_batches").fetchone()
    assert gx_rows == 25
    con.close()


def test_every_shipped_raw_suite_compiles():
    params = {"min_date": "2000-01-01", "max_date": "2026-06-16"}
    for source in SOURCES:
        suite = EXPECTATIONS / f"raw_{source}.json"
        checks = compile_suite(suite, {c.name: c.type for c in contract_for(source).columns}, params)
        assert len(checks) == len(json.loads(suite.read_text())["expectations"])


def test_a_suite_the_compiler_does_not_know_is_validated_by_gx_as_a_whole(landing, tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    for f in EXPECTATIONS.glob("*.json"):
        (suites / f.name).write_text(f.read_text())
    suite = json.loads((suites / "raw_visits.json").read_text())
    suite["expectations"].append({"type": "expect_column_value_lengths_to_be_between",
                                  "kwargs": {"column": "visit_id", "max_value": 3}})
    (suites / "raw_visits.json").write_text(json.dumps(suite))
    with pytest.raises(NotCompilable, match="expect_column_value_lengths_to_be_between"):
        compile_suite(suites / "raw_visits.json", {c.name: c.type for c in contract_for("visits").columns},
                      {"min_date": "2000-01-01", "max_date": "2026-06-16"})
    settings = settings_for(tmp_path, expectations_override=suites, landing_dir=landing)
    con = connect(settings)
    path = sorted((landing / "visits").iterdir())[0]
    result = ingest_file(con, settings, "visits", path, RUN_DATE)
    # generated visit ids are longer than 3 characters: GX quarantined every row
    assert result.status == "partial" and result.rows_loaded == 0
    assert result.gx_rows == result.rows_read
    assert "visit_id: expect_column_value_lengths_to_be_between" in \
        con.sql("select any_value(_reason) from quarantine.visits").fetchone()[0]
    con.close()


def test_a_difference_between_sql_and_gx_is_reported_row_by_row():
    params = {"min_date": "2000-01-01", "max_date": "2026-06-16"}
    checks = compile_suite(EXPECTATIONS / "raw_complaints.json",
                           {c.name: c.type for c in contract_for("complaints").columns}, params)
    severity = next(i for i, c in enumerate(checks) if c.failure.column == "severity"
                    and c.failure.expectation == "expect_column_values_to_be_between")
    gx = [CheckFailure("expect_column_values_to_be_between", "severity", None,
                       {"column": "severity", "min_value": 1.0, "max_value": 4.0},
                       row_indices=[{"_row_number": 7}])]
    assert disagreements(checks, {7: [severity]}, gx, {7, 8}, whole_groups=True) == []
    assert disagreements(checks, {}, gx, {7, 8}, whole_groups=True) == [
        f"row 7: {checks[severity].reason} (GX only)"]
    assert disagreements(checks, {7: [severity], 8: [severity]}, gx, {7, 8}, whole_groups=True) == [
        f"row 8: {checks[severity].reason} (SQL only)"]
