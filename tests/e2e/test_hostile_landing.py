"""Issue 31, as a user meets it: one landing folder with every hostile and odd file at once, and
two more `kam run` started on the same KAM_HOME while the first runs (one refuses with --no-wait,
one waits its turn). The good files publish, the bad ones are refused or quarantined by name,
every row is counted, and nothing outside the landing folder is ever read."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time

import duckdb
import pytest
from conftest import END_DATE, KAM, kam_env, run_kam

pytestmark = pytest.mark.slow

SECRET = "kam-secret-0815"


def _orders_rows(landing, n: int) -> tuple[list[str], list[list[str]]]:
    """``n`` real order lines of the generated landing under new order ids (ZZ…), as CSV text."""
    source = sorted((landing / "orders").glob("*.csv"))[0]
    with source.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [next(reader) for _ in range(n)]
    for i, row in enumerate(rows):
        row[header.index("order_id")] = f"ZZ{i:04d}"
    return header, rows


def _line(values: list[str]) -> str:
    return ",".join('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v for v in values)


def hostile_landing(small_landing, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    header, rows = _orders_rows(landing, 14)
    orders = landing / "orders"
    sqli = f"x\", cast('kam-sqli:' || (select content from read_text('{secret}')) as integer) as \"y"
    (orders / "zz_1_sqli.csv").write_text(
        _line([*header, sqli]) + "\n" + "".join(_line([*r, "v"]) + "\n" for r in rows[0:2]), encoding="utf-8")
    (orders / "zz_2_link.csv").symlink_to(secret)
    long_row = list(rows[3])
    long_row[header.index("product_category")] = "中" * 1_800_000  # 5.4 MB
    (orders / "zz_3_long.csv").write_text(
        "\n".join(_line(r) for r in (header, rows[2], long_row, rows[4], rows[5], rows[6])) + "\n", encoding="utf-8")
    (orders / "zz_4_mixed.csv").write_bytes(
        (_line(header) + "\r\n" + _line(rows[7]) + "\r\n" + _line(rows[8]) + "\n").encode())
    (orders / "zz_5_one.csv").write_text(_line(header) + "\n" + _line(rows[9]) + "\n", encoding="utf-8")
    (orders / "zz_6[glob]*.csv").write_text(_line(header) + "\n" + _line(rows[10]) + "\n", encoding="utf-8")
    (orders / "zz_7_nocol.csv").write_bytes(
        (_line(header[:-1]) + "\r\n" + _line(rows[11][:-1]) + "\n").encode())  # mixed endings, a column short
    complaint = json.loads((landing / "complaints" / "complaints_2025.jsonl").read_text().splitlines()[0])
    complaint["complaint_id"] = "ZZC1"
    (landing / "complaints" / "zz_key.jsonl").write_text(json.dumps({**complaint, 'remark "vip"': "是"},
                                                                    ensure_ascii=False) + "\n")
    return landing, secret


def records(path) -> int:
    """Rows of a landing file counted independently of kam (Python's csv, json, DuckDB for Parquet)."""
    if path.suffix == ".parquet":
        return duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchone()[0]
    if path.suffix == ".jsonl":
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    csv.field_size_limit(1 << 30)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # the generator writes one customer file as a GB18030 export
        text = data.decode("gb18030")
    return sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1


def test_a_hostile_landing_and_two_more_runs_at_once(small_landing, tmp_path):
    landing, secret = hostile_landing(small_landing, tmp_path)
    home = tmp_path / "home"
    args = ["run", "--landing", str(landing), "--date", END_DATE.isoformat()]
    env = kam_env(home, landing)
    first = subprocess.Popen([KAM, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ((home / "run.lock").exists() and (home / "run.lock").read_text()):
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.2)
    # a second run with --no-wait refuses at once, naming the first
    refused = run_kam([*args, "--no-wait"], home, landing, check=False, timeout=60)
    assert refused.returncode == 3
    assert f"(pid {first.pid}, started " in refused.stderr and f"run date {END_DATE})" in refused.stderr
    # a third waits for it (through the first run's `airflow db migrate` on this fresh home)
    third = subprocess.Popen([KAM, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, out + err
    third_out, third_err = third.communicate(timeout=900)
    assert third.returncode == 0, third_out + third_err
    assert f"waiting for kam run (pid {first.pid}" in third_out

    # the first run published and named every refused file; the third found nothing new
    assert "published #1" in out or "publication #1" in out, out
    for name in ("zz_2_link.csv", "zz_7_nocol.csv"):
        assert name in out + err, out + err
    assert f"symbolic link to {secret}" in out + err
    assert "zz_7_nocol.csv" in out and "missing required column(s): updated_at" in out, out
    logs = sorted((home / "logs").glob("ingest_*.log"))
    assert len(logs) == 2  # one per run: the names never collide

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        batches = {name: (status, read, loaded, quarantined) for name, status, read, loaded, quarantined in
                   con.execute("select regexp_extract(source_file, '[^/]+$'), status, rows_read, rows_loaded, "
                               "rows_quarantined from ops.ingest_batches").fetchall()}
        assert batches["zz_1_sqli.csv"] == ("loaded", 2, 2, 0)
        assert batches["zz_2_link.csv"][0] == "refused"
        assert batches["zz_3_long.csv"] == ("partial", 5, 4, 1)
        assert batches["zz_4_mixed.csv"] == ("loaded", 2, 2, 0)
        assert batches["zz_5_one.csv"] == ("loaded", 1, 1, 0)
        assert batches["zz_6[glob]*.csv"] == ("loaded", 1, 1, 0)
        assert batches["zz_7_nocol.csv"] == ("refused", 1, 0, 1)
        assert batches["zz_key.jsonl"] == ("loaded", 1, 1, 0)
        # every row of every regular file is counted, and sits in raw or quarantine
        for path in sorted(p for p in landing.rglob("*") if p.is_file() and not p.is_symlink()):
            status, read, loaded, quarantined = batches[path.name]
            assert read == records(path) == loaded + quarantined, path.name
        per_batch = con.execute("""
            select b.rows_loaded, b.rows_quarantined,
                   (select count(*) from raw.orders r where r._batch_id = b.batch_id),
                   (select count(*) from quarantine.orders q where q._batch_id = b.batch_id)
            from ops.ingest_batches b where b.source = 'orders'""").fetchall()
        assert all(loaded == in_raw and quarantined == in_q for loaded, quarantined, in_raw, in_q in per_batch)
        reason = con.execute("select _reason from quarantine.orders where _source_file like '%zz_3_long.csv'"
                             ).fetchone()[0]
        assert "row 2 (line 3)" in reason and "over the limit of 2,000,000 (KAM_MAX_LINE_BYTES)" in reason
        stored = str(con.execute("select * from ops.ingest_batches").fetchall())
    finally:
        con.close()
    published = duckdb.connect(str(home / "published" / "analytics.duckdb"), read_only=True)
    try:
        loaded_lines = published.execute("select count(*) from fct_order_lines where order_id like 'ZZ%'").fetchone()[0]
    finally:
        published.close()
    assert loaded_lines == 2 + 4 + 2 + 1 + 1  # sqli, long, mixed, one, glob
    status = run_kam(["status"], home, landing)
    for text in (out, err, third_out, third_err, status.stdout, stored):
        assert SECRET not in text
