"""Hostile and odd landing files (issue 31): no file runs SQL or reaches outside the landing
folder, a too-long line or an unreadable file never stops the others, mixed line endings load.
Every case goes through the real readers and batch loader on a real DuckDB warehouse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from kam.config import Settings
from kam.ingest.batch import ingest_file, ingest_source

RUN_DATE = dt.date(2026, 6, 15)
HEADER = "order_id,line_no,customer_id,order_date,product_category,quantity,net_amount,status,updated_at"
ROWS = [f"O{i},1,C{i},2026-03-0{i},product,2,1200.50,confirmed,2026-03-05 10:00:00" for i in range(1, 6)]
SECRET = "kam-secret-4711"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing", max_bad_row_share=0.6)


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file outside the landing folder that no landing file may make kam read."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


def landing_file(settings: Settings, name: str, data: bytes | str, source: str = "orders") -> Path:
    path = settings.landing_dir / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def everything(con) -> str:
    """Every value kam stored, as one text: what a person could ever be shown."""
    parts = []
    for schema, table in con.execute("select table_schema, table_name from information_schema.tables "
                                     "where table_schema in ('raw', 'quarantine', 'ops')").fetchall():
        parts.append(str(con.execute(f'select * from {schema}."{table}"').fetchall()))
    return "\n".join(parts)


def sqli_header(secret: Path) -> str:
    return f"x\", cast('kam-sqli:' || (select content from read_text('{secret}')) as integer) as \"y"


def test_sql_in_a_csv_header_is_a_column_name_never_sql(con, settings, secret):
    hostile = sqli_header(secret)
    path = landing_file(settings, "a.csv", f'{HEADER},"{hostile.replace(chr(34), chr(34) * 2)}"\n'
                        + "\n".join(f"{r},v{i}" for i, r in enumerate(ROWS)) + "\n")
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_loaded) == ("loaded", 5), result.summary()
    columns = [r[0] for r in con.execute("describe raw.orders").fetchall()]
    assert hostile.lower() in columns  # kept verbatim (names are case-insensitive: lower case)
    assert con.execute(f'select count(*) from raw.orders where "{hostile.lower().replace(chr(34), chr(34) * 2)}" '
                       f"like 'v%'").fetchone()[0] == 5
    assert SECRET not in everything(con)


def test_sql_in_a_json_key_and_a_quoted_key_load_as_columns(con, settings, secret):
    hostile = sqli_header(secret)
    records = [{"order_id": f"O{i}", "line_no": 1, "customer_id": "C1", "order_date": "2026-03-05",
                "product_category": "product", "quantity": 1, "net_amount": 10, "status": "confirmed",
                "updated_at": "2026-03-05 10:00:00", 'remark "vip"': "yes", hostile: "h", "a/b~c": "slash"}
               for i in range(3)]
    path = landing_file(settings, "a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_loaded) == ("loaded", 3), result.summary()
    got = con.execute('select "remark ""vip""", "a/b~c" from raw.orders').fetchall()
    assert got == [("yes", "slash")] * 3
    assert SECRET not in everything(con)


def test_sql_in_a_parquet_column_name_is_a_column_name(con, settings, secret, tmp_path):
    hostile = sqli_header(secret)
    frame = pd.DataFrame({"order_id": ["O1"], "line_no": [1], "customer_id": ["C1"], "order_date": ["2026-03-05"],
                          "product_category": ["product"], "quantity": [1], "net_amount": [10.0],
                          "status": ["confirmed"], "updated_at": ["2026-03-05 10:00:00"], hostile: ["h"]})
    path = settings.landing_dir / "orders" / "a.parquet"
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert (result.status, result.rows_loaded) == ("loaded", 1), result.summary()
    assert SECRET not in everything(con)


def test_the_ingest_connection_reaches_only_the_landing_and_spill_folders(settings, secret):
    """Were SQL from a file ever executed, the connection that reads landing files could not read
    outside them: ingest_source confines it (DuckDB's allowed_directories, external access off)."""
    from kam.ingest import batch

    seen = {}
    original = batch.prepare  # where each file is read, on the connection (cursor) given

    def probe(con, *args, **kwargs):  # the real ingest, plus a look at the connection it was given
        for name, sql in (("outside", f"select content from read_text('{secret}')"),
                          ("write", f"copy (select 1) to '{secret.parent / 'x.csv'}'"),
                          ("reopen", "set enable_external_access = true")):
            try:
                con.execute(sql)
                seen[name] = "allowed"
            except duckdb.Error as exc:
                seen[name] = str(exc)
        seen["landing"] = con.execute(f"select count(*) from read_text('{args[2]}')").fetchone()[0]
        return original(con, *args, **kwargs)

    landing_file(settings, "a.csv", HEADER + "\n" + ROWS[0] + "\n")
    batch.prepare = probe
    try:
        results = ingest_source(settings, "orders", RUN_DATE)
    finally:
        batch.prepare = original
    assert [r.status for r in results] == ["loaded"]
    assert "disabled by configuration" in seen["outside"] and "disabled by configuration" in seen["write"]
    assert "Cannot enable external access" in seen["reopen"]
    assert seen["landing"] == 1
    assert not (secret.parent / "x.csv").exists()


def test_symbolic_links_are_refused_naming_where_they_point(settings, secret, tmp_path):
    good = landing_file(settings, "b_good.csv", HEADER + "\n" + ROWS[0] + "\n")
    outside_orders = tmp_path / "outside" / "orders.csv"
    outside_orders.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n")
    (settings.landing_dir / "orders" / "a_outside.csv").symlink_to(outside_orders)
    (settings.landing_dir / "orders" / "c_secret.csv").symlink_to(secret)
    (settings.landing_dir / "orders" / "d_inside.csv").symlink_to(good)
    (settings.landing_dir / "orders" / "e_broken.csv").symlink_to(tmp_path / "nowhere.csv")
    results = {r.path.name: r for r in ingest_source(settings, "orders", RUN_DATE)}
    assert {n: r.status for n, r in results.items()} == {
        "a_outside.csv": "refused", "b_good.csv": "loaded", "c_secret.csv": "refused",
        "d_inside.csv": "refused", "e_broken.csv": "refused"}
    assert f"symbolic link to {outside_orders} (outside the landing folder" in results["a_outside.csv"].error
    assert f"symbolic link to {good} (inside the landing folder" in results["d_inside.csv"].error
    assert "KAM_LANDING_LINKS=inside" in results["c_secret.csv"].error
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == 1
    assert con.execute("select count(*) from quarantine.orders").fetchone()[0] == 0
    assert con.execute("select count(*) from ops.ingest_batches where status = 'refused'").fetchone()[0] == 4
    assert SECRET not in everything(con)
    con.close()
    # recorded once: the next run skips the same links
    again = ingest_source(settings, "orders", RUN_DATE)
    assert {r.status for r in again} == {"skipped"}

    # a setting follows the links that stay inside the landing folder, and only those
    inside = Settings(kam_home=tmp_path / "home2", landing_dir=settings.landing_dir, landing_links="inside")
    results = {r.path.name: r.status for r in ingest_source(inside, "orders", RUN_DATE)}
    assert results == {"a_outside.csv": "refused", "b_good.csv": "loaded", "c_secret.csv": "refused",
                       "d_inside.csv": "duplicate", "e_broken.csv": "refused"}


def test_a_linked_source_folder_is_refused(settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.csv").write_text(HEADER + "\n" + ROWS[0] + "\n")
    settings.landing_dir.mkdir()
    (settings.landing_dir / "orders").symlink_to(elsewhere)
    [result] = ingest_source(settings, "orders", RUN_DATE)
    assert result.status == "refused" and f"resolves to {elsewhere / 'a.csv'}, outside the landing folder" \
        in result.error


@pytest.mark.parametrize("fill", ["z", "中"])
def test_a_line_too_long_is_quarantined_and_the_other_rows_load(con, settings, fill):
    limit = 4096
    long_value = fill * (3 * limit // len(fill.encode()))
    lines = [HEADER, ROWS[0], ROWS[1], ROWS[2].replace("product", long_value), ROWS[3], ROWS[4]]
    path = landing_file(settings, "a.csv", "\n".join(lines) + "\n")
    strict = Settings(kam_home=settings.kam_home, landing_dir=settings.landing_dir, max_line_bytes=limit)
    result = ingest_file(con, strict, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == \
        ("partial", 5, 4, 1), result.summary()
    assert con.execute("select list(_row_number order by _row_number) from raw.orders").fetchone()[0] == [1, 2, 4, 5]
    number, reason, raw_line = con.execute("select _row_number, _reason, _raw_line from quarantine.orders").fetchone()
    size = len(lines[3].encode())
    assert number == 3 and f"{size:,} bytes, over the limit of {limit:,} (KAM_MAX_LINE_BYTES)" in reason, reason
    assert "(line 4)" in reason and raw_line.startswith("O3,1,C3")


def test_a_jsonl_line_too_long_is_quarantined_and_the_others_load(con, settings):
    record = {"order_id": "O1", "line_no": 1, "customer_id": "C1", "order_date": "2026-03-05",
              "product_category": "product", "quantity": 1, "net_amount": 10, "status": "confirmed",
              "updated_at": "2026-03-05 10:00:00"}
    lines = [json.dumps({**record, "order_id": f"O{i}", "remark": "中" * (5000 if i == 2 else 1)},
                        ensure_ascii=False) for i in range(1, 4)]
    path = landing_file(settings, "a.jsonl", "\n".join(lines) + "\n")
    strict = Settings(kam_home=settings.kam_home, landing_dir=settings.landing_dir, max_line_bytes=4096)
    result = ingest_file(con, strict, "orders", path, RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("partial", 3, 2, 1)
    assert con.execute("select list(_row_number order by 1) from raw.orders").fetchone()[0] == [1, 3]
    assert "over the limit of 4,096" in con.execute("select _reason from quarantine.orders").fetchone()[0]


def test_a_long_multi_line_record_in_chinese_is_quarantined(settings):
    """A quoted field spanning many short lines, longer than the limit in all, in Chinese: DuckDB
    cuts the record (possibly inside a character); it is quarantined and the other rows load."""
    limit = 1024
    field = "\n".join(["中" * 100] * 20)  # 20 lines of 300 bytes: each short, the record long
    landing_file(settings, "a.csv", HEADER + "\n" + ROWS[0] + "\n" +
                 ROWS[1].replace("product", f'"{field}"') + "\n" + ROWS[2] + "\n")
    strict = Settings(kam_home=settings.kam_home, landing_dir=settings.landing_dir, max_line_bytes=limit)
    [result] = ingest_source(strict, "orders", RUN_DATE)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("partial", 3, 2, 1)
    con = duckdb.connect(str(strict.warehouse_path), read_only=True)
    assert "LINE SIZE OVER MAXIMUM" in con.execute("select _reason from quarantine.orders").fetchone()[0]
    con.close()


def test_an_unexpected_error_reading_one_file_refuses_it_and_the_task_goes_on(settings, monkeypatch):
    """Whatever fails while one file is read (here an injected OSError) refuses that file with the
    full reason in the manifest; the other files load and the ingest task succeeds."""
    from kam.airflow.tasks import ingest_task

    for name, row in (("a.csv", ROWS[0]), ("b.csv", ROWS[1]), ("c.csv", ROWS[2])):
        landing_file(settings, name, HEADER + "\n" + row + "\n")
    monkeypatch.setenv("KAM_HOME", str(settings.kam_home))
    monkeypatch.setenv("KAM_LANDING", str(settings.landing_dir))
    monkeypatch.setenv("KAM_FAULT_FAIL_READ", "b.csv")
    summary = ingest_task("orders", {"params": {}, "dag_run": None, "run_id": "test",
                                     "logical_date": None, "conf": {"run_date": RUN_DATE.isoformat()}})
    assert summary["batches"] == {"a.csv": "loaded", "b.csv": "refused", "c.csv": "loaded"}
    assert summary["rows_loaded"] == 2
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    error = con.execute("select error from ops.ingest_batches where source_file like '%b.csv'").fetchone()[0]
    con.close()
    assert error == "unexpected error while reading (OSError): fault injected while reading b.csv " \
                    "(KAM_FAULT_FAIL_READ)"


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_mixed_line_endings_and_a_one_row_file_load(con, settings, ending):
    """A Windows export's CRLF header, then a row appended with echo (LF); and a one-row file."""
    mixed = landing_file(settings, "mixed.csv", (HEADER + ending + ROWS[0] + "\r\n" + ROWS[1] + "\n").encode())
    one = landing_file(settings, "one.csv", HEADER + ending + ROWS[2] + ending)
    for path, rows in ((mixed, 2), (one, 1)):
        result = ingest_file(con, settings, "orders", path, RUN_DATE)
        assert (result.status, result.rows_loaded) == ("loaded", rows), result.summary()
    assert con.execute("select list(status order by order_id) from raw.orders").fetchone()[0] == ["confirmed"] * 3


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_missing_required_column_is_named_in_every_format(con, settings, fmt):
    frame = pd.DataFrame({"order_id": ["O1"], "line_no": ["1"], "customer_id": ["C1"], "order_date": ["2026-03-05"],
                          "product_category": ["product"], "quantity": ["1"], "status": ["confirmed"],
                          "updated_at": ["2026-03-05 10:00:00"]})  # no net_amount
    path = settings.landing_dir / "orders" / f"a.{fmt}"
    path.parent.mkdir(parents=True)
    if fmt == "csv":  # mixed endings too: the sniffer once gave up before the columns were named
        path.write_bytes(frame.to_csv(index=False, lineterminator="\r\n").encode() + b"O2,1,C2,2026-03-05,"
                         b"product,1,confirmed,2026-03-05 10:00:00\n")
    elif fmt == "jsonl":
        path.write_text(frame.to_json(orient="records", lines=True))
    else:
        frame.to_parquet(path)
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "refused" and "missing required column(s): net_amount" in result.error, result.error
    assert result.rows_read == result.rows_quarantined > 0


def test_duckdb_messages_are_kept_whole(con, settings):
    path = landing_file(settings, "a.parquet", b"PAR1 this is not parquet")
    result = ingest_file(con, settings, "orders", path, RUN_DATE)
    assert result.status == "refused" and result.error.startswith("cannot read as Parquet: ")
    assert " | " in result.error or len(result.error) > 60  # more than DuckDB's first line


def test_kam_landing_links_is_checked(monkeypatch, tmp_path):
    from kam.config import load_settings

    monkeypatch.setenv("KAM_HOME", str(tmp_path))
    monkeypatch.setenv("KAM_LANDING_LINKS", "always")
    with pytest.raises(ValueError, match="KAM_LANDING_LINKS='always' must be one of refuse, inside"):
        load_settings()
    monkeypatch.setenv("KAM_LANDING_LINKS", "inside")
    monkeypatch.setenv("KAM_MAX_LINE_BYTES", "5000000")
    s = load_settings()
    assert (s.landing_links, s.max_line_bytes) == ("inside", 5_000_000)
    assert s.env()["KAM_LANDING_LINKS"] == "inside" and s.env()["KAM_MAX_LINE_BYTES"] == "5000000"



def test_a_file_name_with_glob_characters_is_read_as_that_one_file(settings):
    """DuckDB's readers take ``*``, ``?`` and ``[`` as a glob: ``b*.csv`` once loaded ``bb.csv`` too."""
    landing_file(settings, "a[1].csv", HEADER + "\n" + ROWS[0] + "\n")
    landing_file(settings, "b*.csv", HEADER + "\n" + ROWS[1] + "\n")
    landing_file(settings, "bb.csv", HEADER + "\n" + ROWS[2] + "\n" + ROWS[3] + "\n")
    frame = pd.DataFrame({"order_id": ["O9"], "line_no": ["1"], "customer_id": ["C9"], "order_date": ["2026-03-05"],
                          "product_category": ["product"], "quantity": ["1"], "net_amount": ["5"],
                          "status": ["confirmed"], "updated_at": ["2026-03-05 10:00:00"]})
    frame.to_parquet(settings.landing_dir / "orders" / "c?.parquet")
    frame.assign(order_id="O8").to_parquet(settings.landing_dir / "orders" / "cc.parquet")
    results = {r.path.name: (r.status, r.rows_read) for r in ingest_source(settings, "orders", RUN_DATE)}
    assert results == {"a[1].csv": ("loaded", 1), "b*.csv": ("loaded", 1), "bb.csv": ("loaded", 2),
                       "c?.parquet": ("loaded", 1), "cc.parquet": ("loaded", 1)}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    spill = list(settings.tmp_dir.iterdir()) if settings.tmp_dir.exists() else []
    assert con.execute("select count(*), count(distinct order_id) from raw.orders").fetchone() == (6, 6)
    con.close()
    assert spill == []  # the links made for reading are gone
