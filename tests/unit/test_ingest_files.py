"""Readers and the batch loader on real files, a real DuckDB and the real GX suites."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kam.config import Settings
from kam.ingest.batch import ingest_file

RUN_DATE = dt.date(2026, 6, 15)
HEADER = "order_id,line_no,customer_id,order_date,product_category,quantity,net_amount,status,updated_at"
GOOD = [
    "O1,1,C1,2026-03-05,product,2,1200.50,confirmed,2026-03-05 10:00:00",
    "O1,2,C1,2026/3/5,service,1,300,confirmed,2026-03-05T10:00:00",
    "O2,1,C2,2026-03-06,solution,1,\"1,234,567.80\",confirmed,2026/3/6 09:30:00",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path, max_bad_row_share=0.6)


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def raw_orders(con) -> pd.DataFrame:
    return con.sql("select * from raw.orders order by order_id, line_no").df()


def test_csv_utf8_parses_dates_and_thousands_separators(con, settings, tmp_path):
    path = write(tmp_path / "orders" / "a.csv", [HEADER, *GOOD])
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 3, 3, 0)
    df = raw_orders(con)
    assert list(df["order_date"].astype(str)) == ["2026-03-05", "2026-03-05", "2026-03-06"]
    assert float(df.loc[2, "net_amount"]) == 1234567.80
    assert str(df.loc[2, "updated_at"]) == "2026-03-06 09:30:00"
    assert list(df["_row_number"]) == [1, 2, 3]
    assert set(df["_source_file"]) == {str(path)}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_csv_bom_and_gb18030_keep_chinese_text(con, settings, tmp_path, encoding):
    lines = ["customer_id,customer_name,created_at,updated_at,region",
             "C1,苏州精工机械有限公司,2020/1/2,2024-01-01,华东"]
    path = write(tmp_path / "customers" / f"c_{encoding}.csv", lines, encoding)
    result = ingest_file(con, settings, "customers", path, RUN_DATE)
    assert result.status == "loaded", result.summary()
    name, region = con.sql("select customer_name, region from raw.customers").fetchone()
    assert (name, region) == ("苏州精工机械有限公司", "华东")
    assert con.sql("select encoding from ops.ingest_batches").fetchone()[0] == (
        "utf-8" if encoding == "utf-8-sig" else "gb18030")


def test_gb18030_csv_is_read_through_a_utf8_copy_that_is_removed(con, settings, tmp_path):
    """A GB18030 file is transcoded to a UTF-8 copy in the spill folder for DuckDB's reader: a
    record that cannot be split keeps its Chinese text in quarantine, errors name the delivered
    file, and the copy is gone afterwards."""
    lines = [HEADER, GOOD[0], "O3,1,C3,2026-03-07,product,1,500,confirmed,2026-03-07 08:00:00,多余,字段", GOOD[1]]
    path = write(tmp_path / "orders" / "gb.csv", [lines[0], *(x.replace("C1", "客户1") for x in lines[1:])],
                 "gb18030")
    spill = Path(con.execute("select current_setting('temp_directory')").fetchone()[0]).resolve()
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("partial", 3, 2, 1)
    assert [r[0] for r in con.sql("select customer_id from raw.orders order by line_no").fetchall()] == ["客户1"] * 2
    raw_line, source = con.sql("select _raw_line, _source_file from quarantine.orders").fetchone()
    assert "多余,字段" in raw_line and source == str(path)
    assert spill.is_dir() and not list(spill.glob(".kam-utf8-*"))  # made for the copy, then emptied
    broken = write(tmp_path / "orders" / "gb_broken.csv", [HEADER, '"O1,1,客户1'], "gb18030")
    refused = ingest_file(con, settings, "orders", broken, RUN_DATE)  # its one record is unterminated
    reasons = [r for (r,) in con.execute("select _reason from quarantine.orders where _source_file = ?",
                                     [str(broken)]).fetchall()]
    assert refused.rows_loaded == 0 and refused.rows_quarantined == 1 and len(reasons) == 1, refused.summary()
    assert ".kam-" not in (refused.error or "") + reasons[0], (refused.error, reasons)


def test_parquet_and_jsonl_load_the_same_rows(con, settings, tmp_path):
    frame = pd.DataFrame({"visit_id": ["V1", "V2"], "customer_id": ["C1", "C2"],
                          "visit_date": [dt.date(2026, 1, 5), dt.date(2026, 2, 1)],
                          "visit_type": ["onsite", "phone"], "buyer_role": ["economic", None],
                          "updated_at": pd.to_datetime(["2026-01-05 12:00", "2026-02-01 09:00"])})
    (tmp_path / "visits").mkdir()
    frame.to_parquet(tmp_path / "visits" / "v.parquet")
    jsonl = frame.assign(visit_id=["V3", "V4"], visit_date=frame["visit_date"].astype(str),
                         updated_at=frame["updated_at"].astype(str))
    jsonl.to_json(tmp_path / "visits" / "v.jsonl", orient="records", lines=True, force_ascii=False)
    for name in ("v.parquet", "v.jsonl"):
        result = ingest_file(con, settings, "visits", tmp_path / "visits" / name, RUN_DATE)
        assert result.status == "loaded", result.summary()
    rows = con.sql("select visit_id, visit_date, visit_type from raw.visits order by visit_id").fetchall()
    assert [r[0] for r in rows] == ["V1", "V2", "V3", "V4"]
    assert rows[0][1] == rows[2][1] == dt.date(2026, 1, 5)


def test_missing_required_column_refuses_the_batch_naming_it(con, settings, tmp_path):
    header = HEADER.replace(",net_amount", "")
    lines = [header] + [",".join(p for i, p in enumerate(g.split(",")) if i != 6) for g in GOOD[:2]]
    path = write(tmp_path / "orders" / "no_amount.csv", lines)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "refused"
    assert "missing required column(s): net_amount" in result.error
    assert con.sql("select count(*) from raw.orders").fetchone()[0] == 0
    # nothing lost: the refused rows are kept in quarantine with the reason
    reasons = [r[0] for r in con.sql("select _reason from quarantine.orders").fetchall()]
    assert len(reasons) == 2 and all("net_amount" in r for r in reasons)
    status, error = con.sql("select status, error from ops.ingest_batches").fetchone()
    assert status == "refused" and "net_amount" in error


def test_bad_rows_go_to_quarantine_with_row_column_and_reason(con, settings, tmp_path):
    bad = [
        "O3,1,C3,2026-13-45,product,1,10,confirmed,2026-03-01",       # impossible date
        "O4,1,C3,2026-03-01,gadget,1,10,confirmed,2026-03-01",        # unknown enum
        "O5,1,C3,2026-03-01,product,-4,10,confirmed,2026-03-01",      # negative qty, confirmed
        "O6,1,C3,2026-03-01,product,1",                               # truncated line
    ]
    path = write(tmp_path / "orders" / "mixed.csv", [HEADER, *GOOD, *bad])
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("partial", 7, 3, 4)
    q = dict(con.sql("select _row_number, _reason from quarantine.orders").fetchall())
    assert "order_date: cannot read '2026-13-45' as a date" in q[4]
    assert "product_category" in q[5] and "gadget" in q[5]
    assert "quantity" in q[6] and "confirmed" in q[6]
    assert "line 8" in q[7]
    assert con.sql("select _raw_line from quarantine.orders where _row_number = 7").fetchone()[0] \
        == "O6,1,C3,2026-03-01,product,1"


def test_dates_after_the_run_date_are_quarantined(con, settings, tmp_path):
    future = "O9,1,C1,2026-09-01,product,1,10,confirmed,2026-09-01"
    path = write(tmp_path / "orders" / "future.csv", [HEADER, *GOOD, future])
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.rows_quarantined == 1
    assert "order_date" in con.sql("select _reason from quarantine.orders").fetchone()[0]


def test_bad_row_share_above_threshold_refuses_the_batch(con, settings, tmp_path):
    strict = Settings(kam_home=settings.kam_home, landing_dir=settings.landing_dir, max_bad_row_share=0.2,
                      min_bad_rows_to_refuse=1)
    path = write(tmp_path / "orders" / "bad.csv",
                 [HEADER, GOOD[0], "O3,1,C3,not-a-date,product,1,10,confirmed,2026-03-01"])
    result = ingest_file(con, strict, "orders", path, RUN_DATE)
    assert result.status == "refused" and "KAM_MAX_BAD_ROW_SHARE" in result.error
    assert con.sql("select count(*) from raw.orders").fetchone()[0] == 0
    assert con.sql("select count(*) from quarantine.orders").fetchone()[0] == 2


BAD_DATE = "X{n},1,C3,not-a-date,product,1,10,confirmed,2026-03-01"


def correction_file(tmp_path: Path, good: int, bad: int) -> Path:
    """``good`` valid order lines and ``bad`` lines with an unparseable order_date."""
    lines = [f"K{n},1,C1,2026-03-{1 + n % 28:02d},product,1,{10 + n},confirmed,2026-06-01" for n in range(good)]
    lines += [BAD_DATE.format(n=n) for n in range(bad)]
    return write(tmp_path / "orders" / f"correction_{good}_{bad}.csv", [HEADER, *lines])


def rule(settings: Settings, min_bad_rows: int) -> Settings:
    """The default share rule (10 %), applied from ``min_bad_rows`` bad rows."""
    return settings.with_overrides(max_bad_row_share=0.10, min_bad_rows_to_refuse=min_bad_rows)


def test_small_correction_file_below_the_minimum_bad_count_keeps_its_good_rows(con, settings, tmp_path):
    # 6 rows, 3 bad: 50 % is far above the share limit, but 3 bad rows are below the minimum of 10
    result = ingest_file(con, rule(settings, 10), "orders", correction_file(tmp_path, 3, 3), RUN_DATE)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("partial", 3, 3)
    assert con.sql("select count(*) from raw.orders").fetchone()[0] == 3
    reasons = [r[0] for r in con.sql("select _reason from quarantine.orders").fetchall()]
    assert len(reasons) == 3 and all("order_date" in r and "not-a-date" in r for r in reasons)


def test_share_rule_refuses_from_the_minimum_bad_count_on(con, settings, tmp_path):
    # at the boundary: exactly the minimum count of bad rows (3 of 6) is refused whole ...
    at = ingest_file(con, rule(settings, 3), "orders", correction_file(tmp_path, 3, 3), RUN_DATE)
    assert at.status == "refused" and at.rows_loaded == 0 and at.rows_quarantined == 6
    assert "KAM_MIN_BAD_ROWS_TO_REFUSE" in at.error and "3 of 6 rows" in at.error
    # ... one bad row fewer than the minimum is not
    below = ingest_file(con, rule(settings, 4), "orders", correction_file(tmp_path, 4, 3), RUN_DATE)
    assert (below.status, below.rows_loaded, below.rows_quarantined) == ("partial", 4, 3)


def test_share_rule_still_refuses_a_real_batch_with_many_bad_rows(con, settings, tmp_path):
    # the default minimum (10) is reached and 12 of 100 rows (12 %) pass the 10 % share
    result = ingest_file(con, rule(settings, 10), "orders", correction_file(tmp_path, 88, 12), RUN_DATE)
    assert result.status == "refused" and "12 of 100 rows" in result.error
    # 10 of 100 rows (10 %) do not pass the share: loaded, the bad rows quarantined
    ok = ingest_file(con, rule(settings, 10), "orders", correction_file(tmp_path, 90, 10), RUN_DATE)
    assert (ok.status, ok.rows_loaded, ok.rows_quarantined) == ("partial", 90, 10)


def test_dates_before_the_earliest_business_date_are_quarantined_naming_column_value_and_limit(
        con, settings, tmp_path):
    lines = ["H1,1,C1,1992-03-05,product,2,1200.50,confirmed,1992-03-05",  # an old ERP history loads
             "H2,1,C1,1969-12-31,product,1,10,confirmed,1970-01-02"]       # before the default limit
    result = ingest_file(con, settings, "orders", write(tmp_path / "orders" / "old.csv", [HEADER, *lines]),
                         dt.date(1999, 12, 31))
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert con.sql("select order_id from raw.orders").fetchall() == [("H1",)]
    reason = con.sql("select _reason from quarantine.orders").fetchone()[0]
    assert "order_date" in reason and "1969-12-31" in reason and "1970-01-01" in reason, reason


def test_the_earliest_business_date_is_one_setting(con, settings, tmp_path, monkeypatch):
    from kam.config import load_settings

    monkeypatch.setenv("KAM_MIN_BUSINESS_DATE", "1995-01-01")
    monkeypatch.setenv("KAM_HOME", str(settings.kam_home))
    monkeypatch.setenv("KAM_LANDING", str(settings.landing_dir))
    configured = load_settings()
    assert configured.min_business_date == dt.date(1995, 1, 1)
    assert configured.env()["KAM_MIN_BUSINESS_DATE"] == "1995-01-01"  # Airflow and its tasks see it
    line = "H1,1,C1,1992-03-05,product,2,1200.50,confirmed,1992-03-05"
    result = ingest_file(con, configured, "orders", write(tmp_path / "orders" / "old.csv", [HEADER, line]),
                         dt.date(1999, 12, 31))
    assert result.rows_quarantined == 1
    assert "1995-01-01" in con.sql("select _reason from quarantine.orders").fetchone()[0]
    monkeypatch.setenv("KAM_MIN_BUSINESS_DATE", "1995-13-01")
    with pytest.raises(ValueError, match="KAM_MIN_BUSINESS_DATE"):
        load_settings()


def test_extra_columns_are_kept_in_raw(con, settings, tmp_path):
    path = write(tmp_path / "orders" / "extra.csv",
                 [HEADER + ",Sales Office ", *(g + ",上海" for g in GOOD)])
    ingest_file(con, settings, "orders", path, RUN_DATE)
    assert con.sql('select distinct "sales office" from raw.orders').fetchall() == [("上海",)]


def test_same_file_under_another_name_loads_nothing(con, settings, tmp_path):
    first = write(tmp_path / "orders" / "a.csv", [HEADER, *GOOD])
    second = write(tmp_path / "orders" / "copy_of_a.csv", [HEADER, *GOOD])
    assert ingest_file(con, settings, "orders", first, RUN_DATE).status == "loaded"
    again = ingest_file(con, settings, "orders", second, RUN_DATE)
    assert again.status == "duplicate" and again.rows_loaded == 0
    assert ingest_file(con, settings, "orders", first, RUN_DATE).status == "skipped"
    assert con.sql("select count(*) from raw.orders").fetchone()[0] == 3


def test_an_unchanged_file_is_not_hashed_again_and_a_rewritten_one_is_read(con, settings, tmp_path, monkeypatch):
    import os

    import kam.ingest.batch as batch

    path = write(tmp_path / "orders" / "a.csv", [HEADER, *GOOD])
    assert ingest_file(con, settings, "orders", path, RUN_DATE).status == "loaded"
    hashed = []
    real = batch.sha256_of
    monkeypatch.setattr(batch, "sha256_of", lambda p: hashed.append(p) or real(p))  # counts, still hashes
    again = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert again.status == "skipped" and "same size and mtime" in again.error and hashed == []
    # rewritten in place with new content (same size, new mtime): read and loaded as a new batch
    write(path, [HEADER, *GOOD[:2], GOOD[2].replace("O2,1,C2", "O9,1,C2")])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "loaded" and hashed == [path]
    assert con.sql("select count(distinct order_id) from raw.orders").fetchone()[0] == 3


@pytest.mark.parametrize("name,content,expected", [
    ("empty.csv", b"", "empty"),
    ("header_only.csv", (HEADER + "\n").encode(), "no data rows"),
    ("orders.xlsx", b"PK\x03\x04", "cannot read as a workbook: invalid Zip archive"),  # a broken workbook
    ("orders.numbers", b"PK\x03\x04", "unknown file extension '.numbers'"),
    ("latin.csv", (HEADER + "\n").encode() + b"O1,1,C1,2026-03-05,product,1,\xff\xfe\x00,confirmed,x\n",
     "neither UTF-8 nor GB18030"),
])
def test_unreadable_files_are_refused_with_a_clear_message(con, settings, tmp_path, name, content, expected):
    path = tmp_path / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "refused"
    assert expected in result.error
    assert con.sql("select status from ops.ingest_batches").fetchone()[0] == "refused"


# --- faults on real files (issue "write-audit-publish under faults", tests 5, 6, 9) -----------------


def test_five_percent_malformed_rows_are_quarantined_and_nothing_is_lost(con, settings, tmp_path):
    lines = [HEADER] + [f"M{i},1,C{i % 7},2026-03-{1 + i % 28:02d},product,{1 + i % 5},{100 + i}.50,confirmed,"
                        f"2026-03-{1 + i % 28:02d} 08:00:00" for i in range(100)]
    broken = {
        11: "M10,1,C3,2026-02-30,product,1,100,confirmed,2026-03-01 08:00:00",    # impossible date
        23: "M22,1,C1,2026-03-02,product,1,12x,confirmed,2026-03-01 08:00:00",    # not a number
        38: "M37,1,C1,2026-03-02,gizmo,1,100,confirmed,2026-03-01 08:00:00",      # unknown enum
        57: "M56,1,,2026-03-02,product,1,100,confirmed,2026-03-01 08:00:00",      # key missing
        90: "M89,1,C1,2026-03-02",                                                # cut short
    }
    for line_index, text in broken.items():
        lines[line_index] = text
    path = write(tmp_path / "orders" / "five_percent.csv", lines)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("partial", 100, 95, 5)
    loaded = con.sql("select count(*) from raw.orders").fetchone()[0]
    quarantined = con.sql("select _source_file, _row_number, _reason from quarantine.orders "
                          "order by _row_number").fetchall()
    assert loaded + len(quarantined) == 100
    assert [row for _, row, _ in quarantined] == sorted(broken)  # row number = line index (header is line 1)
    assert {file for file, _, _ in quarantined} == {str(path)}
    for (_, row, reason), column in zip(quarantined, ["order_date", "net_amount", "product_category",
                                                      "customer_id", "line"], strict=True):
        assert reason.startswith(f"orders row {row}") and column in reason, reason
    batch = con.sql("select rows_read, rows_loaded, rows_quarantined, status from ops.ingest_batches").fetchone()
    assert batch == (100, 95, 5, "partial")


def test_truncated_files_lose_nothing_or_are_refused_clearly(con, settings, tmp_path):
    # a CSV cut in the middle of its last line: the full lines load, the stub is quarantined
    csv = write(tmp_path / "orders" / "cut.csv", [HEADER, *GOOD])
    csv.write_bytes(csv.read_bytes() + b"O9,1,C1,2026-03-0")
    result = ingest_file(con, settings, "orders", csv, RUN_DATE)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    assert "O9,1,C1,2026-03-0" in con.sql("select _raw_line from quarantine.orders").fetchone()[0]

    # a Parquet file cut short cannot be read at all: refused, with the reader's reason
    frame = pd.DataFrame([g.split(",", 8) for g in GOOD[:1]], columns=HEADER.split(","))
    pq = tmp_path / "orders" / "cut.parquet"
    frame.to_parquet(pq)
    pq.write_bytes(pq.read_bytes()[: pq.stat().st_size // 2])
    result = ingest_file(con, settings, "orders", pq, RUN_DATE)
    assert result.status == "refused" and "cannot read as Parquet" in result.error

    # a JSON Lines file cut in the middle of an object: the whole lines load, the stub is quarantined
    jl = tmp_path / "orders" / "cut.jsonl"
    record = dict(zip(HEADER.split(","), GOOD[0].split(","), strict=True))
    text = pd.Series([record, {**record, "order_id": "O7"}]).map(lambda r: pd.io.json.ujson_dumps(r)).tolist()
    jl.write_text(text[0] + "\n" + text[1][:25], encoding="utf-8")
    result = ingest_file(con, settings, "orders", jl, RUN_DATE)
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("partial", 1, 1)
    assert con.sql("select _row_number from quarantine.orders "
                   "where _source_file like '%cut.jsonl'").fetchall() == [(2,)]


def test_a_refused_file_does_not_stop_the_others(settings, tmp_path):
    from kam.ingest.batch import ingest_source

    landing = settings.landing_dir / "orders"
    write(landing / "a_good.csv", [HEADER, *GOOD])
    write(landing / "b_renamed.csv", [HEADER.replace("net_amount", "net_amt"), *GOOD])
    (landing / "c_empty.csv").write_bytes(b"")
    (landing / "d_orders.xlsx").write_bytes(b"PK\x03\x04")
    write(landing / "e_more.csv", [HEADER, GOOD[0].replace("O1,1", "O8,1")])
    results = {r.path.name: r for r in ingest_source(settings, "orders", RUN_DATE)}
    assert {n: r.status for n, r in results.items()} == {
        "a_good.csv": "loaded", "b_renamed.csv": "refused", "c_empty.csv": "refused",
        "d_orders.xlsx": "refused", "e_more.csv": "loaded"}
    # the renamed column is named, with the column that looks like it
    assert "net_amount" in results["b_renamed.csv"].error and "net_amt" in results["b_renamed.csv"].error
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.sql("select count(*) from raw.orders").fetchone()[0] == 4
        recorded = dict(con.sql("select source_file, status from ops.ingest_batches").fetchall())
        assert len(recorded) == 5 and list(recorded.values()).count("refused") == 3
    finally:
        con.close()


def test_a_fixed_file_delivered_again_is_loaded(con, settings, tmp_path):
    broken = write(tmp_path / "orders" / "batch.csv", [HEADER.replace("status", "state"), *GOOD])
    assert ingest_file(con, settings, "orders", broken, RUN_DATE).status == "refused"
    fixed = write(tmp_path / "orders" / "batch_fixed.csv", [HEADER, *GOOD])
    result = ingest_file(con, settings, "orders", fixed, RUN_DATE)
    assert (result.status, result.rows_loaded) == ("loaded", 3)
    assert con.sql("select count(*) from raw.orders").fetchone()[0] == 3


def test_lineage_row_numbers_stay_right_after_a_rejected_record(con, settings, tmp_path):
    lines = [HEADER] + [f"R{i},1,C1,2026-03-02,product,1,100,confirmed,2026-03-01 08:00:00" for i in range(1, 9)]
    lines[3] = "R3,1,C1"        # row 3 cannot be split into columns
    lines[6] = "R6,1,C1,x"      # nor row 6
    path = write(tmp_path / "orders" / "gaps.csv", lines)
    ingest_file(con, settings, "orders", path, RUN_DATE)
    loaded = con.sql("select _row_number, order_id from raw.orders order by _row_number").fetchall()
    assert loaded == [(i, f"R{i}") for i in (1, 2, 4, 5, 7, 8)]
    assert [r for (r,) in con.sql("select _row_number from quarantine.orders order by 1").fetchall()] == [3, 6]


def test_kam_quarantine_lists_and_shows_rejected_rows_with_their_reasons(settings, tmp_path):
    import subprocess
    import sys

    from kam.ingest.batch import ingest_source

    write(settings.landing_dir / "orders" / "mixed.csv",
          [HEADER, *GOOD, "O7,1,C1,2026-03-05,gadget,1,10,confirmed,2026-03-05 10:00:00"])
    ingest_source(settings, "orders", RUN_DATE)
    kam = [str(Path(sys.executable).parent / "kam")]
    env = {"KAM_HOME": str(settings.kam_home), "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([*kam, "quarantine", "list"], env=env, capture_output=True, text=True, check=True)
    assert "mixed.csv" in listed.stdout and "1 row(s)" in listed.stdout and "gadget" in listed.stdout
    shown = subprocess.run([*kam, "quarantine", "show", "1"], env=env, capture_output=True, text=True, check=True)
    assert "mixed.csv row 4" in shown.stdout and "product_category" in shown.stdout and "O7" in shown.stdout
    missing = subprocess.run([*kam, "quarantine", "show", "99"], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "no quarantined rows in batch 99" in missing.stderr


def test_small_files_are_checked_by_gx_a_group_at_a_time_each_still_its_own_batch(settings, tmp_path):
    """ingest_source reads and checks consecutive files in SQL, then GX validates their samples in one
    validation (one result, one Data Docs page, for the group) and each file commits as its own batch,
    numbered in file order. A file with the content of one not yet committed ends the group first."""
    from kam.ingest.batch import ingest_source

    landing = settings.landing_dir / "orders"
    write(landing / "a.csv", [HEADER, *GOOD])
    write(landing / "b.csv", [HEADER, GOOD[0].replace("O1,1", "O3,1"),
                              "O4,1,C3,2026-03-01,gadget,1,10,confirmed,2026-03-01"])  # an unknown category
    write(landing / "c.csv", [HEADER, *GOOD])  # a's content again: a duplicate, recorded after a and b commit
    write(landing / "d.csv", [HEADER, GOOD[2].replace("O2,1", "O5,1"), *[GOOD[0].replace("O1,1", "O9,1")] * 2])
    # O1,1 of a's version again: a key in two batches of the group, fine for each batch (GX sees them together)
    write(landing / "e.csv", [HEADER, GOOD[0], GOOD[0].replace("O1,1", "O7,1")])
    started = time.monotonic()
    results = ingest_source(settings, "orders", RUN_DATE)
    elapsed = time.monotonic() - started
    assert [(r.path.name, r.status, r.batch_id) for r in results] == [
        ("a.csv", "loaded", 1), ("b.csv", "partial", 2), ("c.csv", "duplicate", 3), ("d.csv", "partial", 4),
        ("e.csv", "loaded", 5)], [r.summary() for r in results]
    assert "same content (sha256) as batch 1" in results[2].error
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        batches = con.sql("select parse_filename(source_file), rows_read, rows_loaded, rows_quarantined, gx_rows, "
                          "gx_docs from ops.ingest_batches order by batch_id").fetchall()
        reasons = dict(con.sql("select parse_filename(_source_file) || ':' || _row_number, _reason "
                               "from quarantine.orders").fetchall())
        raw = con.sql("select count(*) from raw.orders").fetchone()[0]
    finally:
        con.close()
    counts = {name: (read, loaded, bad, gx) for name, read, loaded, bad, gx, _ in batches}
    assert counts == {"a.csv": (3, 3, 0, 3), "b.csv": (2, 1, 1, 2), "c.csv": (0, 0, 0, None),
                      "d.csv": (3, 1, 2, 3), "e.csv": (2, 2, 0, 2)}
    assert raw == 3 + 1 + 1 + 2
    assert "product_category" in reasons["b.csv:2"] and "gadget" in reasons["b.csv:2"]
    assert "unique" in reasons["d.csv:2"] and "unique" in reasons["d.csv:3"]
    # each batch's own work (its share of the group's GX validation included) adds up to no more than the
    # ingest took, though the batches of a group overlap between their started_at and finished_at
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        seconds = [r[0] for r in con.sql("select seconds from ops.ingest_batches order by batch_id").fetchall()]
    assert all(s > 0 for s in seconds) and sum(seconds) <= elapsed, (seconds, elapsed)
    docs = {name: link for name, *_, link in batches}
    assert docs["a.csv"] and docs["a.csv"] == docs["b.csv"]  # one GX validation for a and b
    assert docs["d.csv"] and docs["d.csv"] == docs["e.csv"] != docs["a.csv"]  # another for d and e
