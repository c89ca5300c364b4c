"""Parse the text columns of a batch into the contract's types, in SQL.

A value that is present but unreadable (``2024-13-45`` as a date, ``abc`` as
an amount) becomes null in the typed column and a reason in ``_parse_errors``
naming the column and the value, so the row can go to quarantine.
Accepted forms (DESIGN.md §3): ISO 8601 and ``YYYY/M/D`` dates, thousands
separators in amounts, common boolean spellings (true/false, 1/0, yes/no, 是/否).
"""

from __future__ import annotations

from kam.contract import DUCKDB_TYPES, Column, SourceContract
from kam.contract import quote_ident as _q

_TRUE = "('true', 't', '1', 'yes', 'y', '是')"
_FALSE = "('false', 'f', '0', 'no', 'n', '否')"
_SLASH_FORMATS = "['%Y/%m/%d', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S']"


def parse_expression(column: Column) -> str:
    """SQL that turns the text column into the contract type (null if unreadable)."""
    v = _q(column.name)
    number = f"replace({v}, ',', '')"
    match column.type:
        case "text":
            return v
        case "enum":
            return f"lower({v})"
        case "int":  # a whole number, also written "2.0" (never rounded: "2.5" is unreadable)
            d = f"try_cast({number} as double)"
            return f"case when {d} = trunc({d}) and abs({d}) < 9007199254740992 then cast({d} as bigint) end"
        case "decimal":
            return f"try_cast({number} as {DUCKDB_TYPES['decimal']})"
        case "date":
            return (
                f"coalesce(try_cast({v} as date), cast(try_cast({v} as timestamp) as date), "
                f"cast(try_strptime({v}, {_SLASH_FORMATS}) as date))"
            )
        case "timestamp":
            return f"coalesce(try_cast({v} as timestamp), try_strptime({v}, {_SLASH_FORMATS}))"
        case "bool":
            return f"case when lower({v}) in {_TRUE} then true when lower({v}) in {_FALSE} then false end"
    raise ValueError(f"no parser for type {column.type!r}")


def parse_error_expression(column: Column) -> str:
    """SQL giving a reason when the value is present but could not be parsed."""
    v = _q(column.name)
    readable = {"int": "an integer", "decimal": "a number", "date": "a date",
                "timestamp": "a timestamp", "bool": "true/false"}.get(column.type)
    if readable is None:
        return "null"
    return (
        f"case when {v} is not null and ({parse_expression(column)}) is null "
        f"then '{column.name}: cannot read ''' || {v} || ''' as {readable}' end"
    )


def typed_select(contract: SourceContract, present: list[str], reasons_column: str | None = None) -> str:
    """Select list for the typed batch: contract columns typed, extras kept as text.
    ``reasons_column``: a text column of reasons found before parsing (a source mapping's)."""
    parts: list[str] = []
    for column in contract.columns:
        if column.name in present:
            parts.append(f"{parse_expression(column)} as {_q(column.name)}")
        else:  # optional column absent from this file
            parts.append(f"cast(null as {DUCKDB_TYPES[column.type]}) as {_q(column.name)}")
    extras = [c for c in present if c not in contract.column_names]
    parts.extend(_q(c) for c in extras)
    errors = [parse_error_expression(c) for c in contract.columns if c.name in present]
    errors = [e for e in errors if e != "null"]
    if reasons_column is not None:
        errors.insert(0, f"nullif({_q(reasons_column)}, '')")
    parts.append(f"concat_ws('; ', {', '.join(errors)}) as _parse_errors" if errors
                 else "'' as _parse_errors")
    return ", ".join(parts)
