"""Row-level checks of a raw batch in DuckDB SQL, compiled from the batch's GX suite.

``expectations/raw_<source>.json`` stays the one definition of a good row. Validating a
whole batch as a pandas DataFrame costs about 50 µs a row (4.4 s for 92k order lines, plus
the copy into pandas); the same expectations as SQL predicates cost DuckDB well under 1 µs a
row. So ingest

1. compiles the suite (:func:`compile_suite`) into one statement that gives every failing row
   its reasons, worded as GX's (``quantity: expect_column_values_to_be_between(min 0) when
   status=="confirmed", got -4.0``), and runs it over every row of the batch;
2. validates with GX a bounded DataFrame: every failing row (up to the sample size) and a
   repeatable sample of the others (:func:`sample_sql`). GX writes the batch's Data Docs page
   from it, and :func:`disagreements` proves the SQL and GX agree on every row of it: a
   difference stops the batch (a bug must never let a bad row through or drop a good one).

A batch no larger than the sample is validated by GX entirely. A suite the compiler does not
know (other expectation types, ``mostly``, a row condition other than ``column == value``)
raises :class:`NotCompilable`; such a batch is validated by GX on pandas as a whole (slower,
same result).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kam.contract import quote_ident as _q
from kam.quality.gx_suites import CheckFailure

NUMERIC = {"int", "decimal"}
TEMPORAL = {"date", "timestamp"}
_COMMON = {"row_condition", "condition_parser", "mostly", "result_format", "catch_exceptions", "meta",
           "notes", "description", "id"}
KNOWN = {
    "expect_column_values_to_not_be_null": {"column"},
    "expect_column_values_to_be_in_set": {"column", "value_set"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
    "expect_compound_columns_to_be_unique": {"column_list", "ignore_row_if"},
}
_CONDITION = re.compile(r"""^\s*(\w+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)'|(-?\d+(?:\.\d+)?))\s*$""")


class NotCompilable(ValueError):
    """The suite uses something the SQL compiler does not cover: validate with GX instead."""


@dataclass(frozen=True)
class RowCheck:
    """One expectation as SQL over the typed batch."""

    failure: CheckFailure  # its wording (``describe()``) is the quarantine reason
    fails: str             # SQL: true when GX would count the row unexpected (never null)
    shown: str | None      # SQL: the offending value as text, or None (compound checks)
    window: str | None = None  # SQL: a window column the predicate reads (uniqueness)
    quiet: str = "false"   # SQL: true when another reason already says it (a parse error)
    key: tuple = ()        # the expectation's identity, to match GX's results (``_key``)

    @property
    def reason(self) -> str:
        return self.failure.describe()


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _condition(kwargs: dict, types: dict[str, str]) -> str:
    """GX's pandas row condition ``status=="confirmed"`` as SQL (a row it excludes never fails)."""
    condition = kwargs.get("row_condition")
    if not condition:
        return "true"
    if kwargs.get("condition_parser") not in ("pandas", None) or not isinstance(condition, str):
        raise NotCompilable(f"row condition {condition!r} (parser {kwargs.get('condition_parser')!r})")
    match = _CONDITION.match(condition)
    if not match or match.group(1) not in types:
        raise NotCompilable(f"row condition {condition!r}")
    column, op, dq, sq, number = match.groups()
    value = number if number is not None else _lit(dq if dq is not None else sq)
    return f"coalesce({_q(column)} {'=' if op == '==' else '<>'} {value}, false)"


def _resolved(value: Any, parameters: dict[str, Any]) -> Any:
    """A ``{"$PARAMETER": name}`` bound replaced by its value (dates as datetimes), as GX reports it."""
    if isinstance(value, dict) and set(value) == {"$PARAMETER"} and value["$PARAMETER"] in parameters:
        value = parameters[value["$PARAMETER"]]
        try:
            return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        except ValueError:
            return value
    return value


def _bound(value: Any, column_type: str, parameters: dict[str, Any]) -> str:
    if isinstance(value, dict):
        if set(value) != {"$PARAMETER"} or value["$PARAMETER"] not in parameters:
            raise NotCompilable(f"bound {value!r}: unknown parameter")
        value = parameters[value["$PARAMETER"]]
    if column_type in TEMPORAL:
        return f"timestamp {_lit(str(value))}"
    if column_type in NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    raise NotCompilable(f"bound {value!r} for a {column_type} column")


def _shown(column: str, column_type: str) -> str:
    """The value as GX's reason shows it (the repr of the pandas value)."""
    v = _q(column)
    if column_type in NUMERIC:
        return f"cast(cast({v} as double) as varchar)"
    return f"'''' || cast({v} as varchar) || ''''"


def compile_suite(path: Path, types: dict[str, str], parameters: dict[str, Any]) -> list[RowCheck]:
    """The suite's expectations as :class:`RowCheck` s. ``types``: column -> contract type."""
    suite = json.loads(Path(path).read_text(encoding="utf-8"))
    checks: list[RowCheck] = []
    for number, exp in enumerate(suite.get("expectations", [])):
        kind, kwargs = exp.get("type"), dict(exp.get("kwargs", {}))
        if kind not in KNOWN:
            raise NotCompilable(f"expectation type {kind}")
        unknown = set(kwargs) - KNOWN[kind] - _COMMON
        if unknown:
            raise NotCompilable(f"{kind} with {', '.join(sorted(unknown))}")
        if kwargs.get("mostly", 1) != 1:  # a failing row may then still pass: GX decides
            raise NotCompilable(f"{kind} with mostly={kwargs['mostly']}")
        columns = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list") or [])
        missing = [c for c in columns if c not in types]
        if missing or not columns:
            raise NotCompilable(f"{kind} on unknown column(s) {missing or columns}")
        when = _condition(kwargs, types)
        failure = CheckFailure(expectation=kind, column=kwargs.get("column"),
                               rule=(exp.get("meta") or {}).get("rule"),
                               kwargs={k: _resolved(v, parameters) for k, v in kwargs.items() if k != "meta"})
        column = columns[0]
        v, column_type = _q(column), types[column]
        if kind == "expect_column_values_to_not_be_null":
            # a value that could not be parsed is null too: its parse error is the reason then
            quiet = f"strpos('; ' || _parse_errors, {_lit('; ' + column + ': ')}) > 0"
            checks.append(RowCheck(failure, f"{v} is null and {when}", None, quiet=quiet))
        elif kind == "expect_column_values_to_be_in_set":
            values = ", ".join(_lit(x) for x in kwargs["value_set"])
            fails = f"coalesce({v} not in ({values}), false)" if values else f"{v} is not null"
            fails += f" and {when}"
            checks.append(RowCheck(failure, fails, _shown(column, column_type)))
        elif kind == "expect_column_values_to_be_between":
            value = f"cast({v} as timestamp)" if column_type in TEMPORAL else v
            parts = []
            if kwargs.get("min_value") is not None:
                op = "<=" if kwargs.get("strict_min") else "<"
                parts.append(f"{value} {op} {_bound(kwargs['min_value'], column_type, parameters)}")
            if kwargs.get("max_value") is not None:
                op = ">=" if kwargs.get("strict_max") else ">"
                parts.append(f"{value} {op} {_bound(kwargs['max_value'], column_type, parameters)}")
            if not parts:
                raise NotCompilable(f"{kind} without bounds")
            fails = f"coalesce({' or '.join(parts)}, false) and {when}"
            checks.append(RowCheck(failure, fails, _shown(column, column_type)))
        else:  # expect_compound_columns_to_be_unique: every row of a duplicated key fails
            ignore = kwargs.get("ignore_row_if", "all_values_are_missing")
            nulls = [f"{_q(c)} is null" for c in columns]
            ignored = {"all_values_are_missing": " and ".join(nulls), "any_value_is_missing": " or ".join(nulls),
                       "never": "false"}.get(ignore)
            if ignored is None:
                raise NotCompilable(f"{kind} with ignore_row_if={ignore!r}")
            domain = f"not ({ignored}) and {when}"
            name = f"_kam_dup_{number}"
            window = (f"count(*) filter (where {domain}) over (partition by "
                      f"{', '.join(_q(c) for c in columns)}) as {name}")
            checks.append(RowCheck(failure, f"{domain} and {name} > 1", None, window))
    return [dataclasses.replace(c, key=_key(c.failure)) for c in checks]


def failing_rows_sql(checks: list[RowCheck], table: str) -> str:
    """Rows of ``table`` that fail a check or could not be parsed: ``_row_number``, ``_failed``
    (the indexes of the checks failed), ``_reason`` (parse errors first, then the checks').
    Each predicate is evaluated once per row (into ``_failed``); the reasons read that list."""
    windows = "".join(f", {c.window}" for c in checks if c.window)
    failed = ", ".join(f"case when {c.fails} then {i} end" for i, c in enumerate(checks)) or "null"
    quiet = ", ".join(f"({c.quiet}) as _kam_quiet_{i}" for i, c in enumerate(checks) if c.quiet != "false")
    reasons = ", ".join(
        f"case when list_contains(_failed, {i})"
        + (f" and not _kam_quiet_{i}" if c.quiet != "false" else "")
        + f" then {_lit(c.reason)}"
        + (f" || coalesce(', got ' || {c.shown}, '')" if c.shown else "") + " end"
        for i, c in enumerate(checks)) or "null"
    return (
        f"select _row_number, _failed, concat_ws('; ', nullif(_parse_errors, ''), {reasons}) as _reason "
        f"from (select *, list_filter([{failed}], x -> x is not null) as _failed"
        f"{', ' + quiet if quiet else ''} from (select *{windows} from {table})) "
        f"where _parse_errors <> '' or len(_failed) > 0"
    )


def sample_sql(table: str, failing: str, failing_rows: int, columns: list[str], rows: int,
               seed: int = 42) -> str:
    """At most ``rows`` rows of ``table`` for GX: the failing rows first (by row number, at most
    ``rows``), then a repeatable sample of the others filling the rest."""
    projection = ", ".join([*(_q(c) for c in columns), "_row_number"])
    others = max(int(rows) - int(failing_rows), 0)
    return (
        f"(select {projection} from {table} where _row_number in "
        f"(select _row_number from {failing} order by _row_number limit {int(rows)})) "
        f"union all (select {projection} from {table} anti join {failing} using (_row_number) "
        f"using sample reservoir({others} rows) repeatable ({seed}))"
    )


def disagreements(checks: list[RowCheck], sql_failed: dict[int, list[int]], gx_failures: list[CheckFailure],
                  sampled_rows: set[int], whole_groups: bool, ignore: set[tuple[int, int]] = frozenset()) -> list[str]:
    """Where GX and the SQL differ on the sampled rows: ``row N: <check> (GX|SQL only)``.

    ``whole_groups``: every row of a duplicated key is in the sample (so uniqueness within the
    sample is uniqueness within the batch); otherwise uniqueness checks are not compared.
    ``ignore``: (row, check index) pairs not compared (a key GX saw in another batch of its frame).
    """
    by_key = {c.key: i for i, c in enumerate(checks)}
    compared = {i for i, c in enumerate(checks) if whole_groups or c.window is None}
    gx: set[tuple[int, int]] = set()
    for failure in gx_failures:
        if failure.error:
            raise RuntimeError(f"GX could not evaluate {failure.describe()}")
        index = by_key.get(_key(failure))
        if index is None:
            return [f"GX reports a failure the compiled suite does not know: {failure.describe()}"]
        for row in failure.row_indices:
            gx.add((int(row["_row_number"] if isinstance(row, dict) else row), index))
    sql = {(row, i) for row, failed in sql_failed.items() if row in sampled_rows for i in failed}
    differ = {pair for pair in gx ^ sql if pair[1] in compared and pair not in ignore}
    return [f"row {row}: {checks[i].reason} ({'GX' if (row, i) in gx else 'SQL'} only)"
            for row, i in sorted(differ)]


def _norm(value: Any) -> Any:
    """One form for a kwarg as written in the suite and as GX reports it (``0``/``0.0``,
    ``"2026-06-16"``/``Timestamp('2026-06-16 00:00:00')``)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).replace(tzinfo=None).isoformat()
        except ValueError:
            return value
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(sorted(map(str, value)))
    return str(value)


def _key(failure: CheckFailure) -> tuple:
    """An expectation's identity, from the compiled suite or from GX's result."""
    k = failure.kwargs
    condition = k.get("row_condition")
    if isinstance(condition, dict):  # GX 1.x reports a string condition as a pass-through filter
        condition = condition.get("pass_through_filter", condition)
    return (failure.expectation, failure.column, _norm(k.get("column_list")), _norm(k.get("value_set")),
            _norm(k.get("min_value")), _norm(k.get("max_value")), bool(k.get("strict_min")),
            bool(k.get("strict_max")), _norm(condition))
