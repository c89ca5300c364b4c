"""A source mapping applied in SQL: the batch as read (``_batch_src``, the export's own headers)
becomes the batch of contract columns (``_batch_text``), still text, that parsing and the row
checks read as they read any file.

Per contract column (:class:`kam.sources.ColumnMap`): the export's header it comes from (headers
compared by :func:`kam.sources.header_key`), or a constant; then the value map (a value not in
it is a reason to quarantine the row, naming the value and the map), the date formats (and
Excel's serial days) written out as ISO 8601, and numbers cleaned (currency signs and spaces,
the thousands separator, the decimal separator) and multiplied by the unit. A value a rule cannot
read is passed on as delivered, so parsing names it. Rows that are not data (a footer counted from
the end, rows whose first non-empty cell matches a pattern) are skipped and counted. The
export's other columns are kept as extra columns, as a contract-shaped file's are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import duckdb

from kam.contract import SourceContract, sql_string
from kam.contract import quote_ident as _q
from kam.ingest.readers import ReadResult, _drop_temp
from kam.sources import EXCEL, ColumnMap, SourceMapping, header_key

MAP_ERRORS = "_kam_map_errors"  # the mapping's reasons per row, merged into _parse_errors
CURRENCY_AND_SPACE = r"[\s¥￥$€£]"
OUT_FORMATS = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%d %H:%M:%S"}


@dataclass
class Mapped:
    read: ReadResult  # as read, with the contract's columns and the rows that are data
    sources: dict[str, str] = field(default_factory=dict)  # contract column -> the export's header
    missing: list[tuple[str, str | None]] = field(default_factory=list)  # (column, header not found)
    skipped_rows: list[tuple[int, str]] = field(default_factory=list)  # (row, its first cells)


def _number(v: str, mapping: SourceMapping, how: ColumnMap | None) -> str:
    cleaned = f"regexp_replace({v}, {sql_string(CURRENCY_AND_SPACE)}, '', 'g')"
    if mapping.thousands:
        cleaned = f"replace({cleaned}, {sql_string(mapping.thousands)}, '')"
    if mapping.decimal != ".":
        cleaned = f"replace({cleaned}, {sql_string(mapping.decimal)}, '.')"
    if how is not None and how.multiply is not None:
        product = f"try_cast({cleaned} as decimal(38, 10)) * {how.multiply}"
        return f"coalesce(cast({product} as varchar), {v})"
    return f"coalesce(nullif({cleaned}, ''), {v})"


def _dated(v: str, kind: str, formats: tuple[str, ...]) -> str:
    out = sql_string(OUT_FORMATS[kind])
    parts = []
    named = [f for f in formats if f != EXCEL]
    if named:
        parts.append(f"strftime(try_strptime({v}, [{', '.join(sql_string(f) for f in named)}]), {out})")
    if EXCEL in formats:  # Excel's serial day numbers: day 1 is 1900-01-01, counted from 1899-12-30
        serial = f"try_cast({v} as double)"
        parts.append(f"case when regexp_full_match({v}, '\\d{{1,6}}(\\.\\d+)?') and {serial} between 1 and 2958465 "
                     f"then strftime(timestamp '1899-12-30' + to_microseconds(cast(round({serial} * 86400000000) "
                     f"as bigint)), {out}) end")
    return f"coalesce({', '.join(parts)}, {v})"


def _value_map(v: str, how: ColumnMap) -> str:
    cases = " ".join(f"when {sql_string(k.strip().lower())} then {sql_string(val)}" for k, val in how.values.items())
    return f"case lower(trim({v})) {cases} else {v} end"


def _value_map_error(v: str, how: ColumnMap, mapping: SourceMapping) -> str:
    keys = ", ".join(sql_string(k.strip().lower()) for k in how.values)
    key = f"{mapping.key_for(how.column)}.values"
    return (f"case when {v} is not null and lower(trim({v})) not in ({keys}) then "
            f"{sql_string(how.column + ': value ')} || '''' || {v} || '''' || "
            f"{sql_string(f' is not in the value map {key} (add it there, or correct the export)')} end")


def map_batch(con: duckdb.DuckDBPyConnection, mapping: SourceMapping, contract: SourceContract,
              read: ReadResult, src: str = "_batch_src", out: str = "_batch_text") -> Mapped:
    """Make ``out`` from ``src`` by ``mapping``: the contract's columns (a required one whose
    header is missing is listed in :attr:`Mapped.missing`, and null), the export's other
    columns, ``_kam_row`` and :data:`MAP_ERRORS`; rows that are not data left out and counted."""
    by_key: dict[str, str] = {}
    for name in read.columns:
        by_key.setdefault(header_key(name), name)
    used: set[str] = set()
    selects: list[str] = []
    errors: list[str] = []
    result = Mapped(read)
    for column in contract.columns:
        how = mapping.columns.get(column.name)
        if how is not None and how.value is not None:
            selects.append(f"{sql_string(how.value)} as {_q(column.name)}")
            result.sources[column.name] = f"(constant {how.value})"
            continue
        header = how.source if how is not None else column.name
        found = by_key.get(header_key(header))
        if found is None:
            if how is not None or column.required:
                result.missing.append((column.name, how.source if how is not None else None))
            selects.append(f"cast(null as varchar) as {_q(column.name)}")
            continue
        used.add(found)
        result.sources[column.name] = found
        v = _q(found)
        expr = v
        if how is not None and how.values:
            expr = _value_map(v, how)
            errors.append(_value_map_error(v, how, mapping))
        if column.type in ("date", "timestamp"):
            formats = (how.formats if how is not None and how.formats else ()) or mapping.date_formats
            if formats:
                expr = _dated(expr, column.type, formats)
        elif column.type in ("decimal", "int"):
            expr = _number(expr, mapping, how)
        selects.append(f"{expr} as {_q(column.name)}")
    extras = []
    for name in read.columns:
        if name in used:
            continue
        alias = name if name not in contract.column_names else f"source_{name}"  # the contract's is mapped
        extras.append(alias)
        selects.append(f"{_q(name)} as {_q(alias)}")
    error_sql = f"concat_ws('; ', {', '.join(errors)})" if errors else "''"

    skip = _skip_condition(mapping, read, src)
    con.execute(f"create or replace temp table _batch_skipped as select _kam_row from {src} where {skip}")
    result.skipped_rows = [
        (int(n), first or "") for n, first in con.execute(
            f"select _kam_row, left(concat_ws(' | ', {', '.join(_q(c) for c in read.columns)}), 120) "
            f"from {src} where _kam_row in (select _kam_row from _batch_skipped) order by _kam_row").fetchall()]
    _drop_temp(con, out)  # the previous batch's: a table (mapped) or a view (read as it was)
    con.execute(f"create temp table {out} as select _kam_row, {', '.join(selects)}, {error_sql} as {MAP_ERRORS} "
                f"from {src} where _kam_row not in (select _kam_row from _batch_skipped) order by _kam_row")
    skipped = len(result.skipped_rows)
    result.read = replace(read, columns=[c.name for c in contract.columns] + extras, rows=read.rows - skipped,
                          skipped=read.skipped + skipped)
    return result


def _skip_condition(mapping: SourceMapping, read: ReadResult, src: str) -> str:
    conditions = []
    if mapping.skip_footer:
        conditions.append(f"_kam_row in (select _kam_row from {src} order by _kam_row desc "
                          f"limit {int(mapping.skip_footer)})")
    if mapping.skip_rows_matching:
        first_cell = f"coalesce({', '.join(_q(c) for c in read.columns)})"
        conditions.append(f"coalesce(regexp_matches({first_cell}, {sql_string(mapping.skip_rows_matching)}), false)")
    return " or ".join(conditions) if conditions else "false"
