"""Your own exports as they are (issue "your own exports"), end to end through the DAGs.

The small landing folder is rewritten as a Chinese supplier delivers it: every orders file as an
ERP workbook (a title row, Chinese headers, status and category codes, 单据日期 as 2026年3月5日
or as an Excel serial day, 含税金额 in 万元, a 合计 row), the customer master as a GB18030 CSV
with Chinese headers, 是/否, the budget in 万元 with thousands separators and a "共 N 条" footer,
the complaints as the ticketing system's table with Chinese column names in a PostgreSQL
database (pulled with a watermark); visits stay as delivered. `kam run --sources` with one mapping file publishes
the very marts the contract-shaped files publish (``first_run``), row for row, and every
workbook's footer is counted as skipped, not lost.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import END_DATE, published_tables, run_kam

MAPPING = """
    version: 1
    sources:
      orders:
        files: erp/销售订单_*.xlsx
        header_row: 3
        skip_rows_matching: "^(合计|总计)"
        columns:
          order_id: 订单编号
          line_no: 行号
          customer_id: 客户编码
          order_date: {from: 单据日期, formats: ["%Y年%m月%d日", excel]}
          product_id: 物料编码
          product_category:
            from: 产品类别
            values: {产品: product, 服务: service, 解决方案: solution, 备件: spare_parts}
          quantity: 数量
          list_price: 单价
          net_amount: {from: 含税金额（万元）, multiply: 10000}
          cost: 成本
          currency: 币种
          status: {from: 单据状态, values: {已审核: confirmed, 已作废: cancelled, 已退货: returned}}
          invoice_due_date: 到期日
          paid_amount: 已收金额
          paid_date: 收款日期
          updated_at: 修改时间
      complaints:
        query:
          connection: env:KAM_TEST_ERP_DSN
          sql: select * from erp."客诉工单"
          watermark: 修改时间
        columns:
          complaint_id: 投诉编号
          customer_id: 客户编码
          opened_at: 投诉时间
          channel: 渠道
          category: 投诉类别
          severity: 严重程度
          status: 处理状态
          first_response_at: 首次响应时间
          resolved_at: 解决时间
          satisfaction: 满意度
          updated_at: 修改时间
      customers:
        files: crm/客户档案_*.csv
        encoding: gb18030
        skip_footer: 1
        columns:
          customer_id: 客户编码
          customer_name: 客户名称
          industry: 所属行业
          region: 销售大区
          employee_count: 员工人数
          annual_budget: {from: 年度预算（万元）, multiply: 10000}
          account_manager: 客户经理
          is_strategic_partner: 战略客户
          contact_name: 联系人
          contact_phone: 联系电话
          created_at: 建档日期
          updated_at: 修改时间
"""
ORDER_HEADERS = {"order_id": "订单编号", "line_no": "行号", "customer_id": "客户编码", "order_date": "单据日期",
                 "product_id": "物料编码", "product_category": "产品类别", "quantity": "数量", "list_price": "单价",
                 "net_amount": "含税金额（万元）", "cost": "成本", "currency": "币种",
                 "status": "单据状态", "invoice_due_date": "到期日",
                 "paid_amount": "已收金额", "paid_date": "收款日期", "updated_at": "修改时间"}
CUSTOMER_HEADERS = {"customer_id": "客户编码", "customer_name": "客户名称", "industry": "所属行业",
                    "region": "销售大区", "employee_count": "员工人数", "annual_budget": "年度预算（万元）",
                    "account_manager": "客户经理",
                    "is_strategic_partner": "战略客户", "contact_name": "联系人", "contact_phone": "联系电话",
                    "created_at": "建档日期", "updated_at": "修改时间"}
# the ticketing system's table, in the supplier's own database: (header, SQL type) per contract column
COMPLAINT_COLUMNS = {"complaint_id": ("投诉编号", "text"), "customer_id": ("客户编码", "text"),
                     "opened_at": ("投诉时间", "timestamp"), "channel": ("渠道", "text"),
                     "category": ("投诉类别", "text"), "severity": ("严重程度", "numeric(4, 1)"),
                     "status": ("处理状态", "text"), "first_response_at": ("首次响应时间", "timestamp"),
                     "resolved_at": ("解决时间", "timestamp"), "satisfaction": ("满意度", "numeric(4, 1)"),
                     "updated_at": ("修改时间", "timestamp")}
CODES = {"status": {"confirmed": "已审核", "cancelled": "已作废", "returned": "已退货"},
         "product_category": {"product": "产品", "service": "服务", "solution": "解决方案", "spare_parts": "备件"}}
EXCEL_EPOCH = dt.date(1899, 12, 30)


def _as_read(path: Path) -> tuple[list[str], list[dict]]:
    """A landing file's records as text, as kam's reader sees them."""
    from kam.ingest.readers import read_batch

    con = duckdb.connect()
    try:
        read = read_batch(con, path, "_batch_text")
        rows = con.execute("select * exclude (_kam_row) from _batch_text order by _kam_row").fetchall()
        return read.columns, [dict(zip(read.columns, r, strict=True)) for r in rows]
    finally:
        con.close()


def _wan(text: str | None) -> str | None:
    """An amount in 万元, as an export writes it (exactly: 1234.5 is 0.12345)."""
    return None if text is None else str(Decimal(text.replace(",", "")) / 10000)


def _order_cell(column: str, text: str | None, i: int):
    if text is None:
        return None
    if column in CODES:
        return CODES[column][text]
    if column == "net_amount":
        return float(_wan(text))
    if column in ("line_no", "quantity", "list_price", "cost", "paid_amount"):
        return float(text.replace(",", ""))
    if column == "order_date":
        day = dt.datetime.strptime(text.split()[0].split("T")[0].replace("/", "-"), "%Y-%m-%d").date()
        return f"{day.year}年{day.month}月{day.day}日" if i % 2 else (day - EXCEL_EPOCH).days  # a serial day
    return text


def _erp_workbook(source: Path, out: Path) -> int:
    import xlsxwriter

    columns, rows = _as_read(source)
    book = xlsxwriter.Workbook(str(out))
    ws = book.add_worksheet("销售订单")
    ws.write_row(0, 0, [f"销售订单明细表（{source.stem}）"])
    ws.write_row(2, 0, [ORDER_HEADERS[c] for c in columns])
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            value = _order_cell(column, row[column], i)
            if value is not None:
                ws.write(3 + i, j, value)
    total = sum(Decimal(_wan(r["net_amount"])) for r in rows if r["net_amount"])
    ws.write_row(4 + len(rows), 0, ["合计"])
    ws.write(4 + len(rows), columns.index("net_amount"), float(total))
    book.close()
    return len(rows)


def _crm_csv(source: Path, out: Path) -> int:
    import csv
    import io

    columns, rows = _as_read(source)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([CUSTOMER_HEADERS[c] for c in columns])
    for row in rows:
        cells = dict(row)
        if cells.get("annual_budget") is not None:
            cells["annual_budget"] = f"{Decimal(_wan(cells['annual_budget'])):,}"
        if cells.get("is_strategic_partner") is not None:
            cells["is_strategic_partner"] = "是" if cells["is_strategic_partner"].lower() == "true" else "否"
        writer.writerow(["" if cells[c] is None else cells[c] for c in columns])
    writer.writerow([f"共 {len(rows)} 条"] + [""] * (len(columns) - 1))
    out.write_bytes(buffer.getvalue().encode("gb18030"))
    return len(rows)


def _ticketing_database(small_landing: Path, dsn: str) -> int:
    """The complaints as the ticketing system's table with Chinese column names, in PostgreSQL."""
    import psycopg2

    rows = [row for path in sorted((small_landing / "complaints").iterdir()) for row in _as_read(path)[1]]
    columns = list(COMPLAINT_COLUMNS)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute('create schema erp; create table erp."客诉工单" ('
                        + ", ".join(f'"{h}" {t}' for h, t in COMPLAINT_COLUMNS.values()) + ")")
            cur.executemany(f'insert into erp."客诉工单" values ({", ".join(["%s"] * len(columns))})',
                            [[row.get(c) for c in columns] for row in rows])
    finally:
        conn.close()
    return len(rows)


@pytest.fixture(scope="module")
def exports(small_landing, tmp_path_factory, pg_database):
    landing = tmp_path_factory.mktemp("own_exports")
    (landing / "erp").mkdir()
    (landing / "crm").mkdir()
    workbooks = {}
    for path in sorted((small_landing / "orders").iterdir()):
        workbooks[f"销售订单_{path.stem}.xlsx"] = _erp_workbook(path, landing / "erp" / f"销售订单_{path.stem}.xlsx")
    for path in sorted((small_landing / "customers").iterdir()):
        _crm_csv(path, landing / "crm" / f"客户档案_{path.stem}.csv")
    shutil.copytree(small_landing / "visits", landing / "visits")
    complaints = _ticketing_database(small_landing, pg_database)
    mapping = landing.parent / "sources.yml"
    mapping.write_text(textwrap.dedent(MAPPING), encoding="utf-8")
    return {"landing": landing, "mapping": mapping, "workbooks": workbooks, "complaints": complaints,
            "env": {"KAM_TEST_ERP_DSN": pg_database}}


def test_own_exports_publish_the_same_marts_as_contract_shaped_files(exports, first_run, tmp_path):
    home = tmp_path / "home"
    proc = run_kam(["run", "--landing", str(exports["landing"]), "--date", END_DATE.isoformat(),
                    "--sources", str(exports["mapping"])], home, **exports["env"])
    assert f"source mapping {exports['mapping']}" in proc.stdout
    lineage = ("source_batch_id",)
    ours = published_tables(home / "published" / "analytics.duckdb", lineage)
    theirs = published_tables(first_run / "published" / "analytics.duckdb", lineage)
    assert ours.keys() == theirs.keys()
    for table in theirs:
        assert ours[table] == theirs[table], f"{table} differs from the contract-shaped files' publication"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as wh:
        batches = wh.execute("select source, parse_filename(source_file), file_format, encoding, rows_read, "
                             "rows_loaded, rows_quarantined, rows_skipped from ops.ingest_batches "
                             "where source in ('orders', 'customers') order by batch_id").fetchall()
    orders = [b for b in batches if b[0] == "orders"]
    assert {b[1]: b[5] for b in orders} == exports["workbooks"]  # every record of every workbook loaded
    for _, _, fmt, _, read, loaded, quarantined, skipped in orders:
        assert fmt == "xlsx" and skipped == 1 and read == loaded + quarantined + skipped  # the 合计 row
    customers = [b for b in batches if b[0] == "customers"]
    assert customers and all(b[3] == "gb18030" and b[7] == 1 for b in customers)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as wh:
        pulled = wh.execute("select b.rows_read, b.rows_loaded, p.watermark_column, p.rows_pulled "
                            "from ops.ingest_batches b join ops.source_pulls p using (batch_id) "
                            "where b.source = 'complaints'").fetchall()
    assert pulled == [(exports["complaints"], exports["complaints"], "修改时间", exports["complaints"])]
    status = run_kam(["status"], home).stdout  # a later `kam status` says which mapping the run used
    assert f"source mapping  {exports['mapping']}  (of the last run)" in status, status


def test_sources_check_and_init_on_the_exports(exports, tmp_path):
    landing = exports["landing"]
    check = run_kam(["sources", "check", "--sources", str(exports["mapping"]), "--date", END_DATE.isoformat(),
                     str(landing)], tmp_path / "home", **exports["env"])
    out = check.stdout
    assert "含税金额（万元） → net_amount" in out and "单据状态 → status" in out, out
    assert "would be quarantined: none" in out and "MISSING" not in out and "REFUSED" not in out, out
    assert "skipped as not data: row" in out and "合计" in out
    assert f"pull with env:KAM_TEST_ERP_DSN: {exports['complaints']} row(s)" in out and "投诉编号 → complaint_id" in out
    workbook = sorted((landing / "erp").iterdir())[0]
    proposal = tmp_path / "proposed.yml"
    run_kam(["sources", "init", str(workbook), str(sorted((landing / "crm").iterdir())[0]),
             "--out", str(proposal)], tmp_path / "home")
    from kam.sources import load_mappings

    proposed = load_mappings(proposal)  # what init proposes is a valid mapping
    orders, customers = proposed.get("orders"), proposed.get("customers")
    assert orders.header_row == 3
    expected = {"order_id": "订单编号", "line_no": "行号", "customer_id": "客户编码", "order_date": "单据日期",
                "quantity": "数量", "net_amount": "含税金额（万元）", "status": "单据状态", "updated_at": "修改时间"}
    assert {c: orders.columns[c].source for c in expected} == expected
    assert orders.columns["net_amount"].multiply == 10000
    assert set(orders.columns["order_date"].formats) == {"%Y年%m月%d日", "excel"}
    assert orders.columns["status"].values["已审核"] == "confirmed"
    assert customers.columns["customer_name"].source == "客户名称"
    assert customers.columns["annual_budget"].multiply == 10000
