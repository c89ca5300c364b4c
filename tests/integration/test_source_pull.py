"""Pulls straight from the ERP's database (kam.ingest.pull), against the real PostgreSQL server: an
ERP-like schema with Chinese table and column names, read through a source mapping; each pull is
one batch with the manifest, lineage and quarantine of a file; the watermark reads only what is
new; the connection string comes from the environment and appears in no message."""

from __future__ import annotations

import datetime as dt
import textwrap

import duckdb
import pytest

from kam.config import Settings
from kam.errors import ConfigError
from kam.ingest.batch import ingest_source
from kam.sources import load_mappings

RUN_DATE = dt.date(2026, 6, 15)
MAPPING = """
    sources:
      orders:
        query:
          connection: env:KAM_TEST_ERP_DSN
          sql: select * from erp."销售订单明细" where "单据状态" <> '草稿'
          watermark: 修改时间
        columns:
          order_id: 订单编号
          line_no: 行号
          customer_id: 客户编码
          order_date: 单据日期
          product_category: {from: 产品类别, values: {产品: product, 服务: service}}
          quantity: 数量
          net_amount: {from: 含税金额（万元）, multiply: 10000}
          status: {from: 单据状态, values: {已审核: confirmed, 已作废: cancelled}}
          updated_at: 修改时间
"""
ROWS = [
    ("SO-1", 1, "C000001", "2026-03-05", "产品", 2, 0.12345, "已审核", "2026-03-05 10:00:00"),
    ("SO-1", 2, "C000001", "2026-03-05", "服务", 1, 1.5, "已审核", "2026-03-05 10:00:00"),
    ("SO-2", 1, "C000002", "2026-03-06", "产品", 1, 2.0, "已作废", "2026-03-06 09:30:00"),
    ("SO-9", 1, "C000009", "2026-03-07", "产品", 1, 9.0, "草稿", "2026-03-07 09:30:00"),  # filtered by the query
]


@pytest.fixture
def erp(pg_database, monkeypatch):
    import psycopg2

    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('drop schema if exists erp cascade; create schema erp; create table erp."销售订单明细" ('
                    '"订单编号" text, "行号" int, "客户编码" text, "单据日期" date, "产品类别" text, '
                    '"数量" numeric(12,2), "含税金额（万元）" numeric(14,6), "单据状态" text, "修改时间" timestamp)')
        cur.executemany('insert into erp."销售订单明细" values (%s, %s, %s, %s, %s, %s, %s, %s, %s)', ROWS)
    monkeypatch.setenv("KAM_TEST_ERP_DSN", pg_database)
    yield conn
    conn.close()


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "landing").mkdir()
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing")


def mappings(tmp_path, text: str = MAPPING):
    path = tmp_path / "sources.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_mappings(path)


def warehouse_rows(settings, sql):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.postgres
def test_a_pull_is_a_batch_and_the_watermark_reads_only_what_is_new(erp, settings, tmp_path):
    m = mappings(tmp_path)
    from kam.ingest.preview import check_sources

    said: list[str] = []
    assert check_sources(settings, m, RUN_DATE, echo=said.append) == 0  # kam sources check: nothing loaded
    text = "\n".join(said)
    assert "pull with env:KAM_TEST_ERP_DSN: 3 row(s), watermark 修改时间 up to 2026-03-06 09:30:00" in text, text
    assert "含税金额（万元） → net_amount" in text and "would be quarantined: none" in text, text
    assert not settings.warehouse_path.exists() and not (settings.kam_home / "pulls").exists()
    first = ingest_source(settings, "orders", RUN_DATE, mappings=m)
    assert [(r.status, r.rows_read, r.rows_loaded) for r in first] == [("loaded", 3, 3)], [r.summary() for r in first]
    assert first[0].path.parent == settings.kam_home / "pulls" / "orders" and first[0].path.suffix == ".parquet"
    assert warehouse_rows(settings, "select order_id, line_no, product_category, net_amount, status, _source_file "
                                    "from raw.orders order by 1, 2") == [
        ("SO-1", 1, "product", 1234.50, "confirmed", str(first[0].path)),
        ("SO-1", 2, "service", 15000, "confirmed", str(first[0].path)),
        ("SO-2", 1, "product", 20000, "cancelled", str(first[0].path)),
    ]
    assert warehouse_rows(settings, "select watermark_column, watermark, rows_pulled from ops.source_pulls") == [
        ("修改时间", "2026-03-06 09:30:00", 3)]
    # nothing new: no batch, no file
    assert ingest_source(settings, "orders", RUN_DATE, mappings=m) == []
    assert len(list((settings.kam_home / "pulls" / "orders").iterdir())) == 1
    # a correction of SO-1 line 1 and a new order arrive: only they are pulled
    with erp.cursor() as cur:
        cur.execute('update erp."销售订单明细" set "含税金额（万元）" = 0.2, "修改时间" = %s '
                    'where "订单编号" = %s and "行号" = 1', ("2026-06-01 08:00:00", "SO-1"))
        cur.execute('insert into erp."销售订单明细" values (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
                    ("SO-3", 1, "C000003", "2026-06-01", "产品", 1, 3.0, "已审核", "2026-06-01 09:00:00"))
    third = ingest_source(settings, "orders", RUN_DATE, mappings=m)
    assert [(r.status, r.rows_read, r.rows_loaded) for r in third] == [("loaded", 2, 2)]
    assert warehouse_rows(settings, "select watermark from ops.source_pulls order by batch_id") == [
        ("2026-03-06 09:30:00",), ("2026-06-01 09:00:00",)]
    batches = warehouse_rows(settings, "select batch_id, file_format, rows_read, rows_loaded, status "
                                       "from ops.ingest_batches order by 1")
    assert batches == [(1, "parquet", 3, 3, "loaded"), (2, "parquet", 2, 2, "loaded")]


@pytest.mark.postgres
def test_a_code_without_a_map_entry_is_quarantined_and_the_watermark_moves_with_the_batch(erp, settings, tmp_path):
    with erp.cursor() as cur:
        cur.execute('insert into erp."销售订单明细" values (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
                    ("SO-4", 1, "C000004", "2026-03-08", "产品", 1, 1.0, "已挂起", "2026-03-08 09:00:00"))
    result = ingest_source(settings, "orders", RUN_DATE, mappings=mappings(tmp_path))
    assert [(r.status, r.rows_loaded, r.rows_quarantined) for r in result] == [("partial", 3, 1)]
    reason = warehouse_rows(settings, "select _reason from quarantine.orders")[0][0]
    assert "status: value '已挂起' is not in the value map sources.orders.columns.status.values" in reason
    assert warehouse_rows(settings, "select watermark from ops.source_pulls") == [("2026-03-08 09:00:00",)]


@pytest.mark.postgres
def test_connection_problems_name_the_key_never_the_connection_string(erp, pg_database, settings, tmp_path,
                                                                       monkeypatch):
    monkeypatch.delenv("KAM_TEST_ERP_DSN")
    with pytest.raises(ConfigError, match="sources.orders.query.connection: the environment variable "
                                          "KAM_TEST_ERP_DSN is not set"):
        ingest_source(settings, "orders", RUN_DATE, mappings=mappings(tmp_path))
    secret = "postgresql://postgres:s3cret-pw@127.0.0.1:5432/kam_no_such_database"
    monkeypatch.setenv("KAM_TEST_ERP_DSN", secret)
    with pytest.raises(ConfigError) as err:
        ingest_source(settings, "orders", RUN_DATE, mappings=mappings(tmp_path))
    assert "sources.orders.query: cannot connect with env:KAM_TEST_ERP_DSN" in str(err.value)
    assert "s3cret-pw" not in str(err.value)
    monkeypatch.setenv("KAM_TEST_ERP_DSN", pg_database)
    bad = MAPPING.replace('select * from erp."销售订单明细"', 'select * from erp."没有这张表"')
    with pytest.raises(ConfigError, match="the database refused the query"):
        ingest_source(settings, "orders", RUN_DATE, mappings=mappings(tmp_path, bad))


MARIADB = "mysql://root@127.0.0.1:3306/test"


def test_a_pull_from_mysql_or_mariadb(settings, tmp_path, monkeypatch):
    """The same mapping on MySQL's dialect (the MariaDB server on this machine; DuckDB's mysql
    scanner both sets the table up and reads it)."""
    import uuid

    from conftest import missing

    from kam.ingest.pull import load_scanner

    table = f"kam_erp_{uuid.uuid4().hex[:8]}"
    con = duckdb.connect()
    try:
        load_scanner(con, MARIADB, "sources.orders.query.connection")
        try:
            con.execute(f"attach '{MARIADB}' as setup (type mysql)")
        except duckdb.Error as exc:
            missing(f"MariaDB/MySQL not reachable at {MARIADB}: {exc}")
        con.execute(f"call mysql_execute('setup', 'create table {table} (`订单编号` varchar(20), `行号` int, "
                    "`客户编码` varchar(20), `单据日期` date, `产品类别` varchar(10), `数量` decimal(12,2), "
                    "`含税金额（万元）` decimal(14,6), `单据状态` varchar(10), `修改时间` datetime) "
                    "character set utf8mb4')")
        values = ", ".join("(" + ", ".join(repr(v) for v in row) + ")" for row in ROWS)
        con.execute(f"call mysql_execute('setup', {duckdb_literal(f'insert into {table} values {values}')})")
        monkeypatch.setenv("KAM_TEST_ERP_DSN", MARIADB)
        text = MAPPING.replace('select * from erp."销售订单明细" where "单据状态" <> \'草稿\'',
                               f"select * from {table} where `单据状态` <> '草稿'")
        result = ingest_source(settings, "orders", RUN_DATE, mappings=mappings(tmp_path, text))
        assert [(r.status, r.rows_loaded) for r in result] == [("loaded", 3)], [r.summary() for r in result]
        assert warehouse_rows(settings, "select sum(net_amount) from raw.orders") == [(36234.50,)]
        assert warehouse_rows(settings, "select watermark from ops.source_pulls") == [("2026-03-06 09:30:00",)]
    finally:
        try:
            con.execute(f"call mysql_execute('setup', 'drop table if exists {table}')")
        except duckdb.Error:
            pass
        con.close()


def duckdb_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
