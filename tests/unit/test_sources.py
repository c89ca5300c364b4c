"""Source mappings (kam.sources, kam.ingest.mapping) and workbooks, on real files: a supplier's own
exports as they are (Chinese headers, codes, 万元, 2024年3月5日 and Excel serial dates, a title row,
a 合计 row) load through a mapping into the same raw rows as a contract-shaped file; every bad
case names what to fix, and no row is lost (read = loaded + quarantined + skipped)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from kam.config import Settings
from kam.errors import ConfigError
from kam.ingest.batch import ingest_file
from kam.sources import header_key, load_mappings

RUN_DATE = dt.date(2026, 6, 15)
ORDERS_MAPPING = """
    version: 1
    sources:
      orders:
        files: erp/销售订单*.xlsx
        sheet: 销售订单
        header_row: 3
        skip_rows_matching: "^(合计|总计)"
        columns:
          order_id: 订单编号
          line_no: 行号
          customer_id: 客户编码
          order_date: {from: 单据日期, formats: ["%Y年%m月%d日", excel]}
          product_category: {from: 产品类别, values: {产品: product, 服务: service, 解决方案: solution}}
          quantity: 数量
          net_amount: {from: 含税金额（万元）, multiply: 10000}
          status: {from: 单据状态, values: {已审核: confirmed, 已作废: cancelled}}
          updated_at: 修改时间
          currency: {value: CNY}
"""
HEADERS = ["订单编号", "行号", "客户编码", "单据日期", "产品类别", "数量", "含税金额（万元）", "单据状态", "修改时间"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing", max_bad_row_share=0.6)


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def workbook(path: Path, rows: list[list], sheet: str = "销售订单", title: bool = True, total: bool = True) -> Path:
    """An ERP export as Kingdee or Yonyou write it: a title row, an empty row, the header, the rows
    (Excel datetimes for 修改时间), an empty row and a 合计 row."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet(sheet)
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    top = 0
    if title:
        ws.write_row(0, 0, ["销售订单明细表（2026年6月）"])
        top = 2
    ws.write_row(top, 0, HEADERS)
    for i, row in enumerate(rows, start=top + 1):
        for j, value in enumerate(row):
            if isinstance(value, dt.datetime):
                ws.write_datetime(i, j, value, stamp)
            elif value is not None:
                ws.write(i, j, value)
    if total:
        ws.write_row(top + len(rows) + 2, 0, ["合计", None, None, None, None, None,
                                              sum(r[6] for r in rows if isinstance(r[6], float))])
    book.close()
    return path


ROWS = [
    ["SO-1", 1, "C000001", "2026年3月5日", "产品", 2, 0.12345, "已审核", dt.datetime(2026, 3, 5, 10, 0)],
    ["SO-1", 2, "C000001", 46086, "服务", 1, 1.5, "已审核", dt.datetime(2026, 3, 5, 10, 0)],  # serial 2026-03-05
    ["SO-2", 1, "C000002", "2026年3月6日", "解决方案", 1, 2.0, "已作废", dt.datetime(2026, 3, 6, 9, 30)],
]


def test_an_erp_workbook_loads_through_the_mapping(con, settings, tmp_path):
    mappings = load_mappings(mapping_file(tmp_path, ORDERS_MAPPING))
    path = workbook(settings.landing_dir / "erp" / "销售订单2026-06.xlsx", ROWS)
    assert mappings.get("orders").files_under(settings.landing_dir) == [path]
    result = ingest_file(con, settings, "orders", path, RUN_DATE, mapping=mappings.get("orders"))
    assert result.status == "loaded", result.summary()
    # the 合计 row is not data: counted as skipped, so read = loaded + quarantined + skipped
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (4, 3, 0, 1)
    assert any("row(s) skipped as not data (row 4: 合计 | 3.62345)" in w for w in result.warnings), result.warnings
    rows = con.sql("select order_id, line_no, order_date, product_category, quantity, net_amount, status, "
                   "currency, updated_at from raw.orders order by order_id, line_no").fetchall()
    assert rows == [
        ("SO-1", 1, dt.date(2026, 3, 5), "product", 2, 1234.50, "confirmed", "CNY", dt.datetime(2026, 3, 5, 10)),
        ("SO-1", 2, dt.date(2026, 3, 5), "service", 1, 15000, "confirmed", "CNY", dt.datetime(2026, 3, 5, 10)),
        ("SO-2", 1, dt.date(2026, 3, 6), "solution", 1, 20000, "cancelled", "CNY", dt.datetime(2026, 3, 6, 9, 30)),
    ]
    manifest = con.sql("select file_format, rows_read, rows_loaded, rows_quarantined, rows_skipped "
                       "from ops.ingest_batches").fetchone()
    assert manifest == ("xlsx", 4, 3, 0, 1)


def test_a_code_without_a_value_map_entry_is_quarantined_naming_the_value_and_the_map(con, settings, tmp_path):
    mappings = load_mappings(mapping_file(tmp_path, ORDERS_MAPPING))
    rows = [*ROWS, ["SO-3", 1, "C000003", "2026年3月7日", "产品", 1, 1.0, "已挂起", dt.datetime(2026, 3, 7, 8)]]
    earlier = workbook(settings.landing_dir / "erp" / "销售订单2026-06.xlsx", ROWS[:1])
    assert ingest_file(con, settings, "orders", earlier, RUN_DATE, mapping=mappings.get("orders")).status == "loaded"
    path = workbook(settings.landing_dir / "erp" / "销售订单2026-07.xlsx", rows)  # the next batch, same connection
    result = ingest_file(con, settings, "orders", path, RUN_DATE, mapping=mappings.get("orders"))
    assert (result.status, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == ("partial", 3, 1, 1)
    reason, status = con.sql("select _reason, status from quarantine.orders").fetchone()
    assert "status: value '已挂起' is not in the value map sources.orders.columns.status.values" in reason
    assert status == "已挂起"  # the value as delivered


def test_a_required_column_missing_after_the_mapping_names_the_headers_and_the_key(con, settings, tmp_path):
    text = ORDERS_MAPPING.replace("order_date: {from: 单据日期", "order_date: {from: 业务日期")
    mappings = load_mappings(mapping_file(tmp_path, text))
    path = workbook(settings.landing_dir / "erp" / "销售订单2026-08.xlsx", ROWS)
    result = ingest_file(con, settings, "orders", path, RUN_DATE, mapping=mappings.get("orders"))
    assert result.status == "refused"
    assert "order_date: header '业务日期' (mapped by sources.orders.columns.order_date) is not in the file" \
        in result.error
    assert "单据日期" in result.error and "sources.yml" in result.error
    # nothing is lost: the rows are in quarantine, the footer counted as skipped
    assert (result.rows_read, result.rows_quarantined, result.rows_skipped) == (4, 3, 1)


def test_a_gb18030_csv_with_its_own_headers_delimiter_and_units(con, settings, tmp_path):
    mappings = load_mappings(mapping_file(tmp_path, """
        sources:
          customers:
            files: ["crm/*.csv"]
            encoding: gb18030
            delimiter: ";"
            decimal: ","
            thousands: "."
            skip_footer: 1
            columns:
              customer_id: 客户编码
              customer_name: 客户名称
              annual_budget: {from: 年度预算（万元）, multiply: 10000}
              is_strategic_partner: {from: 战略客户, values: {是: "true", 否: "false"}}
              created_at: {from: 建档日期, formats: ["%Y年%m月%d日"]}
              updated_at: {from: 修改日期, formats: ["%Y年%m月%d日 %H:%M"]}
    """))
    path = settings.landing_dir / "crm" / "客户档案.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes("\n".join([
        "客户编码;客户名称;年度预算（万元）;战略客户;建档日期;修改日期;销售大区",
        "C1;苏州精工机械有限公司;1.234,5;是;2020年1月2日;2024年1月1日 08:30;华东",
        "C2;无锡重型装备厂;¥ 12,5;否;2021年5月6日;2024年2月1日 17:00;华东",
        "共 2 条;;;;;;",
    ]).encode("gb18030"))
    result = ingest_file(con, settings, "customers", path, RUN_DATE, mapping=mappings.get("customers"))
    assert (result.status, result.rows_loaded, result.rows_skipped) == ("loaded", 2, 1), result.summary()
    rows = con.sql("select customer_id, customer_name, annual_budget, is_strategic_partner, created_at, updated_at, "
                   "\"销售大区\" from raw.customers order by 1").fetchall()
    assert rows == [
        ("C1", "苏州精工机械有限公司", 12345000, True, dt.datetime(2020, 1, 2), dt.datetime(2024, 1, 1, 8, 30), "华东"),
        ("C2", "无锡重型装备厂", 125000, False, dt.datetime(2021, 5, 6), dt.datetime(2024, 2, 1, 17), "华东"),
    ]


def test_headers_match_whatever_the_case_spaces_and_full_width_forms():
    assert header_key(" 含税金额(万元) ") == header_key("含税金额（万元）") == header_key("含税 金额（万元）")
    assert header_key("Order ID") == header_key("order id") == header_key("ORDER\u3000ID")


@pytest.mark.parametrize(("text", "message"), [
    ("sources:\n  orders:\n    colums: {}\n", "line 3: sources.orders: unknown key 'colums'"),
    ("sources:\n  orders:\n    header_row: top\n", "line 3: sources.orders.header_row: 'top' is not of type 'integer'"),
    ("sources:\n  invoices: {}\n", "line 2: sources: unknown key 'invoices' (known here: customers, orders"),
    ("sources:\n  orders:\n    columns:\n      net_amt: 金额\n",
     "line 4: sources.orders.columns.net_amt: 'net_amt' is not a column of the orders contract"),
    ("sources:\n  orders:\n    columns:\n      status: {values: {已审核: confirmed}}\n",
     "line 4: sources.orders.columns.status: needs from (the export's header) or value (a constant)"),
    ("sources:\n  orders:\n    columns:\n      order_date: {from: 日期, formats: [\"YYYY-MM-DD\"]}\n",
     "line 4: sources.orders.columns.order_date.formats: 'YYYY-MM-DD' is not a date format"),
    ("sources:\n  orders:\n    columns:\n      status: {from: 状态, multiply: 100}\n",
     "line 4: sources.orders.columns.status.multiply: multiply applies to numbers"),
    ("sources:\n  orders:\n    skip_rows_matching: \"([\"\n",
     "line 3: sources.orders.skip_rows_matching: not a regular"),
    ("sources: [orders\n", "not valid YAML"),
])
def test_a_bad_mapping_is_refused_naming_the_line(tmp_path, text, message):
    path = tmp_path / "sources.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mappings(path)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_an_encrypted_or_corrupt_workbook_is_refused_naming_the_file(con, settings, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = workbook(tmp_path / "plain.xlsx", ROWS)
    locked = settings.landing_dir / "orders" / "locked.xlsx"
    locked.parent.mkdir(parents=True)
    with plain.open("rb") as src, locked.open("wb") as dst:
        OOXMLFile(src).encrypt("secret", dst)
    broken = settings.landing_dir / "orders" / "broken.xlsx"
    broken.write_bytes(plain.read_bytes()[:2000])
    for path, why in ((locked, "it is encrypted (password-protected"), (broken, "cannot read as a workbook")):
        result = ingest_file(con, settings, "orders", path, RUN_DATE)
        assert result.status == "refused" and why in result.error, result.error
        assert str(path) in result.summary() or path.name in result.summary()


def test_a_workbook_with_contract_headers_needs_no_mapping_and_several_sheets_are_one_batch(con, settings):
    import xlsxwriter

    path = settings.landing_dir / "customers" / "customers.xlsx"
    path.parent.mkdir(parents=True)
    book = xlsxwriter.Workbook(str(path))
    for sheet, customer in (("华东", "C1"), ("华南", "C2")):
        ws = book.add_worksheet(sheet)
        ws.write_row(0, 0, ["customer_id", "customer_name", "created_at", "updated_at"])
        ws.write_row(1, 0, [customer, f"客户{customer}", "2020-01-02", "2024-01-01 00:00:00"])
    book.close()
    first = ingest_file(con, settings, "customers", path, RUN_DATE)
    assert (first.status, first.rows_loaded) == ("loaded", 1), first.summary()  # the first sheet by default
    con.execute("delete from ops.ingest_batches; delete from raw.customers")
    mappings = load_mappings(mapping_file(settings.landing_dir.parent, 'sources:\n  customers:\n    sheet: "*"\n'))
    both = ingest_file(con, settings, "customers", path, RUN_DATE, mapping=mappings.get("customers"))
    assert (both.status, both.rows_loaded) == ("loaded", 2), both.summary()
    assert "sheet '华南': records 2-2 (header on row 1)" in both.warnings
    assert con.sql("select list(customer_id order by _row_number) from raw.customers").fetchone()[0] == ["C1", "C2"]


@pytest.mark.parametrize(("page", "marker"), [("README.md", "# sources.yml"), ("docs/sources.md", "version: 1")])
def test_the_mappings_the_docs_show_are_valid(tmp_path, page, marker):
    """README's and docs/sources.md's examples load as they are written."""
    from kam.config import REPO_ROOT

    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    block = next(b.split("\n", 1)[1] for b in text.split("```yaml")[1:] if marker in b.split("```")[0])
    mappings = load_mappings(mapping_file(tmp_path, block.split("```")[0]))
    assert mappings.get("orders").columns["net_amount"].multiply == 10000


def test_an_old_xls_workbook_loads_through_the_mapping(con, settings, tmp_path):
    """Excel 97-2003 (.xls, as older Kingdee and Yonyou versions export), written by xlwt, with
    a serial date-time in a cell that has no date format."""
    import xlwt

    mappings = load_mappings(mapping_file(tmp_path, """
        sources:
          customers:
            columns:
              customer_id: 客户编码
              customer_name: 客户名称
              created_at: {from: 建档日期, formats: ["%Y年%m月%d日"]}
              updated_at: {from: 修改时间, formats: [excel]}
    """))
    path = settings.landing_dir / "customers" / "客户档案.xls"
    path.parent.mkdir(parents=True)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    for row, values in enumerate([["客户编码", "客户名称", "建档日期", "修改时间"],
                                  ["C1", "苏州精工机械有限公司", "2020年1月2日", 45292.5]]):
        for col, value in enumerate(values):
            sheet.write(row, col, value)
    book.save(str(path))
    result = ingest_file(con, settings, "customers", path, RUN_DATE, mapping=mappings.get("customers"))
    assert (result.status, result.rows_loaded) == ("loaded", 1), result.summary()
    assert con.sql("select customer_name, created_at, updated_at from raw.customers").fetchone() == (
        "苏州精工机械有限公司", dt.datetime(2020, 1, 2), dt.datetime(2024, 1, 1, 12))
    assert con.sql("select file_format from ops.ingest_batches").fetchone()[0] == "xls"


def test_kam_run_refuses_a_bad_mapping_before_any_dag_runs(tmp_path):
    import subprocess

    from conftest import KAM, kam_env

    bad = mapping_file(tmp_path, "sources:\n  orders:\n    colums: {}\n")
    (tmp_path / "landing").mkdir()
    proc = subprocess.run([KAM, "run", "--landing", str(tmp_path / "landing"), "--sources", str(bad)],
                          env=kam_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {bad} line 3: sources.orders: unknown key 'colums'" in proc.stderr
    assert not (tmp_path / "home" / "airflow").exists()  # no DAG, not even Airflow's set-up
