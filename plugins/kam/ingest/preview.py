"""``kam sources check`` and ``kam sources init``: a source mapping tried on the files, nothing loaded.

``check`` reads every file a mapping covers (in an in-memory DuckDB: the warehouse is not
touched) the way ingest would, and says per file the header found, the contract column each
header maps to, the required columns still missing with the key that would fix them, a few
parsed rows, and the rows that would be quarantined with their reasons (parse, value map and
the raw suite's row checks, as SQL) or skipped as not data.

``init`` proposes a mapping from the headers it sees: each header is looked up in a dictionary
of the names Chinese ERP, ticketing and CRM exports use for each contract column
(:data:`SYNONYMS`), units (万元) and date spellings (2024年3月5日, Excel serial days) are
recognised from the header and the values, and every guess is marked for a person to confirm.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.contract import CONTRACTS, SourceContract
from kam.contract import quote_ident as _q
from kam.errors import BatchRefused
from kam.ingest.mapping import MAP_ERRORS, map_batch
from kam.ingest.parse import typed_select
from kam.ingest.readers import ReadOptions, ReadResult, read_batch
from kam.sources import Mappings, SourceMapping, header_key

# The names a contract column goes by in Chinese suppliers' exports (Kingdee, Yonyou, SAP Business
# One, ticketing and CRM systems), besides its own name. Compared with kam.sources.header_key; a
# header that only contains one of these (含税金额（万元）) is a weaker guess.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "customer_id": ("客户编码", "客户编号", "客户代码", "客户id", "客户号", "customer code", "customer no"),
        "customer_name": ("客户名称", "客户全称", "公司名称", "单位名称", "客户", "customer"),
        "industry": ("行业", "所属行业", "行业分类"),
        "region": ("区域", "地区", "销售大区", "大区", "销售区域", "所属区域"),
        "employee_count": ("员工人数", "人数", "企业人数", "员工数"),
        "annual_budget": ("年度预算", "采购预算", "年采购额"),
        "account_manager": ("客户经理", "销售负责人", "负责人", "业务员", "销售员", "归属销售"),
        "is_strategic_partner": ("战略客户", "是否战略客户", "战略合作"),
        "contact_name": ("联系人", "联系人姓名"),
        "contact_phone": ("联系电话", "电话", "手机", "联系方式"),
        "created_at": ("建档日期", "创建时间", "创建日期", "建档时间"),
        "updated_at": ("修改时间", "最后修改时间", "更新时间", "修改日期"),
    },
    "orders": {
        "order_id": ("订单编号", "订单号", "单据编号", "销售订单号", "单号", "order no", "order number"),
        "line_no": ("行号", "明细行号", "分录号", "序号"),
        "customer_id": ("客户编码", "客户编号", "客户代码", "客户id"),
        "order_date": ("单据日期", "订单日期", "下单日期", "业务日期", "日期"),
        "product_id": ("物料编码", "产品编码", "存货编码", "商品编码"),
        "product_category": ("产品类别", "物料类别", "存货分类", "产品分类", "产品大类"),
        "quantity": ("数量", "销售数量", "订货数量", "qty"),
        "list_price": ("单价", "含税单价", "标准价", "价格"),
        "net_amount": ("含税金额", "价税合计", "销售金额", "订单金额", "成交金额", "金额"),
        "cost": ("成本", "成本金额"),
        "currency": ("币种", "币别", "货币"),
        "status": ("单据状态", "订单状态", "审核状态", "状态"),
        "invoice_due_date": ("到期日", "应收到期日", "收款到期日"),
        "paid_amount": ("已收金额", "回款金额", "收款金额", "已回款"),
        "paid_date": ("收款日期", "回款日期"),
        "updated_at": ("修改时间", "最后修改时间", "更新时间", "修改日期"),
    },
    "complaints": {
        "complaint_id": ("投诉编号", "工单编号", "工单号", "投诉单号"),
        "customer_id": ("客户编码", "客户编号", "客户代码"),
        "opened_at": ("投诉时间", "受理时间", "登记时间", "创建时间"),
        "channel": ("渠道", "投诉渠道", "来源"),
        "category": ("投诉类别", "问题类型", "类别"),
        "severity": ("严重程度", "等级", "优先级"),
        "status": ("处理状态", "工单状态", "状态"),
        "first_response_at": ("首次响应时间", "响应时间"),
        "resolved_at": ("解决时间", "关闭时间", "完成时间"),
        "satisfaction": ("满意度", "评分"),
        "updated_at": ("修改时间", "最后修改时间", "更新时间"),
    },
    "visits": {
        "visit_id": ("拜访编号", "拜访记录号", "记录编号"),
        "customer_id": ("客户编码", "客户编号", "客户代码"),
        "visit_date": ("拜访日期", "日期"),
        "visit_type": ("拜访方式", "拜访类型"),
        "sales_rep": ("拜访人", "销售代表", "业务员"),
        "buyer_role": ("对接人角色", "联系人角色", "角色"),
        "sales_stage": ("销售阶段", "商机阶段"),
        "relationship_level": ("关系等级", "关系程度"),
        "notes": ("备注", "拜访内容", "纪要"),
        "updated_at": ("修改时间", "最后修改时间", "更新时间"),
    },
}

# Codes a Chinese export writes for the contract's enum values (DOMAIN.md's vocabularies).
VALUE_SYNONYMS: dict[str, dict[str, str]] = {
    "status": {"已审核": "confirmed", "已确认": "confirmed", "已完成": "confirmed", "已生效": "confirmed",
               "已作废": "cancelled", "作废": "cancelled", "已取消": "cancelled", "取消": "cancelled",
               "已退货": "returned", "退货": "returned", "处理中": "open", "待处理": "open",
               "已解决": "resolved", "已关闭": "closed"},
    "product_category": {"产品": "product", "服务": "service", "解决方案": "solution", "备件": "spare_parts"},
}
UNITS = {"万元": 10000, "千元": 1000, "亿元": 100000000}
CHINESE_DATE = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")
FOOTER = re.compile(r"^(合计|总计|小计|共\s*\d+\s*条)")  # the rows under an export's data


@dataclass
class FileCheck:
    path: Path
    read: ReadResult | None = None
    refused: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    quarantined_count: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


def check_file(settings: Settings, source: str, path: Path, mapping: SourceMapping | None, run_date: dt.date,
               sample_rows: int = 3, shown_reasons: int = 5) -> FileCheck:
    """One file through the mapping, as ingest would read it, in memory: nothing is loaded."""
    from kam.ingest.batch import read_options
    from kam.quality.batch_checks import suite_parameters
    from kam.quality.row_checks import NotCompilable, compile_suite, failing_rows_sql

    contract = CONTRACTS[source]
    out = FileCheck(path)
    con = duckdb.connect()
    try:
        reshaped = mapping is not None and mapping.reshapes
        try:
            read = read_batch(con, path, "_batch_src" if reshaped else "_batch_text", settings.max_line_bytes,
                              read_options(mapping))
        except BatchRefused as exc:
            out.refused = exc.reason
            return out
        if reshaped:
            mapped = map_batch(con, mapping, contract, read)
            out.sources, out.skipped = mapped.sources, mapped.skipped_rows
            out.missing = [c for c, _ in mapped.missing if c in contract.required]
            read = mapped.read
        else:
            out.sources = {c: c for c in contract.column_names if c in read.columns}
            out.missing = [c for c in contract.required if c not in read.columns]
        out.read = read
        out.extras = [c for c in read.columns if c not in contract.column_names]
        con.execute(f"create temp table _batch_typed as select _kam_row as _row_number, "
                    f"{typed_select(contract, read.columns, MAP_ERRORS if reshaped else None)} from _batch_text")
        cols = [c.name for c in contract.columns if c.name in out.sources]
        out.rows = [dict(zip(cols, r, strict=True)) for r in con.execute(
            f"select {', '.join(_q(c) for c in cols)} from _batch_typed where _parse_errors = '' "
            f"order by _row_number limit {int(sample_rows)}").fetchall()] if cols else []
        try:
            checks = compile_suite(settings.expectations_dir / f"raw_{source}.json",
                                   {c.name: c.type for c in contract.columns}, suite_parameters(settings, run_date))
            failing = failing_rows_sql(checks, "_batch_typed")
        except NotCompilable:  # the suite runs in GX at ingest; here the parse and map reasons only
            failing = "select _row_number, _parse_errors as _reason from _batch_typed where _parse_errors <> ''"
        con.execute(f"create temp table _failing as {failing}")
        out.quarantined_count = con.sql("select count(*) from _failing").fetchone()[0] + len(read.rejects)
        out.quarantined = [(r.row_number, f"cannot split into columns: {r.error}") for r in read.rejects]
        out.quarantined += [(int(n), reason) for n, reason in con.execute(
            f"select _row_number, _reason from _failing order by _row_number limit {int(shown_reasons)}").fetchall()]
        return out
    finally:
        con.close()


def check_sources(settings: Settings, mappings: Mappings, run_date: dt.date, echo=print) -> int:
    """Print what ingest would do with every file of every source; 0 when nothing would be refused
    and no required column is missing, else 1."""
    from kam.ingest.batch import source_files

    problems = 0
    echo(f"landing {settings.landing_dir}" + (f", source mapping {mappings.path}" if mappings.path else
                                              ", no source mapping (contract column names)"))
    for source, contract in CONTRACTS.items():
        mapping = mappings.get(source)
        files = source_files(settings, source, mapping)
        where = ", ".join(mapping.files) if mapping and mapping.files else f"{source}/*"
        echo(f"\n{source}: {len(files)} file(s) ({where})")
        if mapping is not None and mapping.query is not None:
            problems += _check_pull(settings, source, mapping, run_date, contract, echo)
        for path in files:
            found = check_file(settings, source, path, mapping, run_date)
            problems += _echo_file(found, contract, settings.landing_dir, echo)
    return 1 if problems else 0


def _check_pull(settings: Settings, source: str, mapping: SourceMapping, run_date: dt.date, contract, echo) -> int:
    """The whole query (no watermark) pulled into a temporary file and checked like a file."""
    import tempfile

    from kam.errors import ConfigError
    from kam.ingest.pull import pull

    with tempfile.TemporaryDirectory(prefix="kam-sources-check-") as folder:
        try:
            result = pull(settings, mapping, None, Path(folder))
        except ConfigError as exc:
            echo(f"  pull with {mapping.query.connection}: FAILED: {exc}")
            return 1
        echo(f"  pull with {mapping.query.connection}: {result.rows} row(s)"
             + (f", watermark {mapping.query.watermark} up to {result.watermark}" if mapping.query.watermark else ""))
        if result.path is None:
            return 0
        found = check_file(settings, source, result.path, mapping, run_date)
        return _echo_file(found, contract, Path(folder), echo)


def _echo_file(found: FileCheck, contract: SourceContract, landing: Path, echo) -> int:
    name = found.path.relative_to(landing) if found.path.is_relative_to(landing) else found.path
    if found.refused:
        echo(f"  {name}: REFUSED: {found.refused}")
        return 1
    read = found.read
    assert read is not None
    echo(f"  {name} ({read.file_format}{', ' + read.encoding if read.encoding else ''}: {read.rows_read} record(s)"
         + (f", {read.skipped} not data" if read.skipped else "") + ")")
    for note in read.notes:
        echo(f"    {note}")
    echo("    header → contract column:")
    for column in contract.column_names:
        if column in found.sources:
            echo(f"      {found.sources[column]} → {column}")
    if found.extras:
        echo(f"    kept as extra columns (not in the contract): {', '.join(found.extras)}")
    key = f"sources.{contract.name}.columns"
    if found.missing:
        echo("    MISSING required column(s): " + "; ".join(
            f"{c} (set {key}.{c}: <the file's header>)" for c in found.missing))
    for number, text in found.skipped[:3]:
        echo(f"    skipped as not data: row {number}: {text}")
    for row in found.rows:
        echo("    parsed: " + ", ".join(f"{k}={v}" for k, v in row.items() if v is not None))
    if found.quarantined_count:
        echo(f"    would be quarantined: {found.quarantined_count} row(s), e.g.")
        for number, reason in found.quarantined[:5]:
            echo(f"      row {number}: {reason[:300]}")
    else:
        echo("    would be quarantined: none")
    return 1 if found.missing else 0


# --- kam sources init ----------------------------------------------------------------------------

@dataclass
class Guess:
    column: str
    header: str
    sure: bool  # the header is a known name of the column, not only contains one
    extra: dict = field(default_factory=dict)  # formats, multiply, values


def _match(header: str, source: str) -> tuple[str, bool] | None:
    key = header_key(header)
    best: tuple[int, str, bool] | None = None
    for column, names in SYNONYMS[source].items():
        for name in (column, *names):
            k = header_key(name)
            if key == k:
                return column, True
            if len(k) >= 2 and k in key and (best is None or len(k) > best[0]):
                best = (len(k), column, False)
    return (best[1], best[2]) if best else None


def propose(path: Path, source: str | None = None, header_row: int | None = None) -> tuple[str, dict]:
    """The source a file most likely is (``source``: as given) and a mapping entry for it, guessed
    from its headers and values (:data:`SYNONYMS`)."""
    con = duckdb.connect()
    try:
        row = header_row or _header_row(path)
        read = read_batch(con, path, "_batch_src", 2_000_000, ReadOptions(header_row=row))
        values = {c: [v for (v,) in con.execute(f"select distinct {_q(c)} from _batch_src where {_q(c)} is not null "
                                                 f"limit 50").fetchall()] for c in read.columns}
    finally:
        con.close()
    headers = read.columns
    scored = {s: [g for g in (_match(h, s) for h in headers) if g] for s in SYNONYMS}
    chosen = source or max(scored, key=lambda s: (sum(2 if sure else 1 for _, sure in scored[s]),
                                                  -list(SYNONYMS).index(s)))
    guesses: dict[str, Guess] = {}
    for header in headers:
        match = _match(header, chosen)
        if not match:
            continue
        column, sure = match
        if column in guesses and (guesses[column].sure or not sure):
            continue
        guesses[column] = Guess(column, header, sure, _extras(CONTRACTS[chosen], column, header, values[header]))
    first_values = values[headers[0]] if headers else []
    footer = FOOTER.pattern if any(FOOTER.search(v) for v in first_values) else None
    spec: dict = {"files": f"{path.parent.name}/{path.name}", "header_row": row, "guesses": guesses,
                  "format": read.file_format, "encoding": read.encoding, "footer": footer}
    return chosen, spec


def _extras(contract: SourceContract, column: str, header: str, values: list[str]) -> dict:
    kind = {c.name: c.type for c in contract.columns}[column]
    extra: dict = {}
    if kind in ("date", "timestamp"):
        formats = []
        if any(CHINESE_DATE.match(v) for v in values):
            formats.append("%Y年%m月%d日")
        if any(re.fullmatch(r"\d{5}(\.\d+)?", v) for v in values):
            formats.append("excel")
        if formats:
            extra["formats"] = formats
    if kind in ("decimal", "int"):
        for unit, factor in UNITS.items():
            if unit in header:
                extra["multiply"] = factor
    if kind == "enum" and column in VALUE_SYNONYMS and any(re.search(r"[\u4e00-\u9fff]", v) for v in values):
        known = VALUE_SYNONYMS[column]
        extra["values"] = {v: known.get(v, "TODO") for v in sorted(values)}
    return extra


def _header_row(path: Path) -> int:
    """The first row of a workbook or CSV that looks like a header: as many non-empty cells as the
    widest of the first 20 rows (a title row above it has one)."""
    from kam.ingest.readers import FORMATS, cell_text

    if FORMATS.get(path.suffix.lower()) in ("xlsx", "xls"):
        from python_calamine import CalamineWorkbook

        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)[:20]
        counts = [sum(1 for c in r if cell_text(c)) for r in rows]
    elif FORMATS.get(path.suffix.lower()) == "csv":
        import csv

        from kam.ingest.readers import scan_text

        encoding = scan_text(path, 2_000_000).encoding
        with path.open(encoding=encoding, newline="") as fh:
            counts = [sum(1 for c in row if c.strip()) for _, row in zip(range(20), csv.reader(fh), strict=False)]
    else:
        return 1
    widest = max(counts, default=0)
    return next((i + 1 for i, n in enumerate(counts) if n == widest and widest), 1)


def init_mapping(paths: list[Path], source: str | None = None) -> str:
    """A sources.yml proposed for ``paths`` (YAML text with a comment on every guess to confirm)."""
    import yaml

    lines = ["# Proposed by `kam sources init`: check every line marked GUESS or TODO, then",
             "# `kam sources check --sources <this file> <landing>` (docs/sources.md).", "version: 1", "sources:"]
    seen: set[str] = set()
    for path in paths:
        chosen, spec = propose(path, source)
        if chosen in seen:  # one entry per source: its files glob covers the others
            lines.append(f"  # {path.name} looks like {chosen} too: widen that entry's files glob to cover it")
            continue
        seen.add(chosen)
        guesses: dict[str, Guess] = spec["guesses"]
        missing = [c for c in CONTRACTS[chosen].required if c not in guesses]
        lines += [f"  {chosen}:  # from {path.name}", f"    files: {_scalar(spec['files'])}"]
        if spec["header_row"] != 1:
            lines.append(f"    header_row: {spec['header_row']}  # GUESS: the title rows above are not data")
        if spec["footer"]:
            lines.append(f"    skip_rows_matching: {_scalar(spec['footer'])}  # GUESS: rows that are not data")
        if spec["format"] == "csv" and spec["encoding"] not in (None, "utf-8"):
            lines.append(f"    encoding: {spec['encoding']}")
        lines.append("    columns:" if guesses else "    columns: {}  # no header looked like a contract column")
        for column in CONTRACTS[chosen].column_names:
            if column not in guesses:
                continue
            g = guesses[column]
            note = "" if g.sure and not g.extra else "  # GUESS: confirm"
            if not g.extra:
                lines.append(f"      {column}: {_scalar(g.header)}{note}")
                continue
            parts = [f"from: {_scalar(g.header)}"]
            if "formats" in g.extra:
                parts.append("formats: [" + ", ".join(_scalar(f) for f in g.extra["formats"]) + "]")
            if "multiply" in g.extra:
                parts.append(f"multiply: {g.extra['multiply']}")
            if "values" in g.extra:
                pairs = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in g.extra["values"].items())
                parts.append("values: {" + pairs + "}")
                note = "  # GUESS: confirm" + (", replace every TODO" if "TODO" in g.extra["values"].values() else "")
            lines.append(f"      {column}: {{{', '.join(parts)}}}{note}")
        for column in missing:
            lines.append(f"      # TODO {column}: <the export's header> (required; no header looked like it)")
    text = "\n".join(lines) + "\n"
    yaml.safe_load(text)  # what is proposed is YAML
    return text


def _scalar(value) -> str:
    """A value as YAML writes it in flow style: plain when it can be, quoted when it must."""
    import yaml

    text = yaml.safe_dump(value, allow_unicode=True, width=10_000, default_flow_style=True).strip()
    return text.removesuffix("\n...").strip()
