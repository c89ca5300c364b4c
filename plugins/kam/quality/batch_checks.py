"""The row checks of a raw batch: its GX suite as SQL over every row, GX on a sample that must agree.

Fills the temp table ``_batch_reasons`` (``_row_number``, ``_reason``) with every row that
could not be parsed or fails ``expectations/raw_<source>.json``
(:mod:`kam.quality.row_checks` compiles the suite).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

import duckdb
import pandas as pd

from kam.config import Settings
from kam.contract import SourceContract
from kam.contract import quote_ident as _q

log = logging.getLogger(__name__)


def suite_parameters(settings: Settings, run_date: dt.date) -> dict[str, str]:
    """The raw suites' run-time bounds: no business date before KAM_MIN_BUSINESS_DATE, none after
    the run date's next day."""
    return {"min_date": settings.min_business_date.isoformat(),
            "max_date": (run_date + dt.timedelta(days=1)).isoformat()}


def row_reasons(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
                 run_date: dt.date) -> tuple[int, str | None, int]:
    """Fill temp table ``_batch_reasons`` (``_row_number``, ``_reason``) with every row that could
    not be parsed or fails the raw suite; return how many, the link to the GX result and how
    many rows GX validated.

    The suite runs as SQL over every row and as GX over a bounded sample that must agree with
    it (``kam.quality.row_checks``); a suite the compiler does not cover runs in GX entirely."""
    from kam.quality.gx_suites import validate_frame
    from kam.quality.row_checks import NotCompilable, compile_suite, disagreements, failing_rows_sql, sample_sql

    suite = settings.expectations_dir / f"raw_{contract.name}.json"
    try:
        checks = compile_suite(suite, {c.name: c.type for c in contract.columns}, suite_parameters(settings, run_date))
    except NotCompilable as exc:
        log.warning("%s: %s cannot run as SQL (%s): GX validates the whole batch as a DataFrame",
                    contract.name, suite.name, exc)
        return _row_reasons_in_gx(con, settings, contract, run_date)
    con.execute(f"create or replace temp table _batch_checks as {failing_rows_sql(checks, '_batch_typed')}")
    failing = con.sql("select count(*) from _batch_checks").fetchone()[0]
    limit = settings.gx_batch_sample_rows
    frame = con.sql(sample_sql("_batch_typed", "_batch_checks", failing, contract.column_names, limit)).df()
    outcome = validate_frame(frame, suite, parameters=suite_parameters(settings, run_date),
                             index_columns=["_row_number"], docs_root=settings.gx_dir)
    sql_failed = dict(con.sql(f"select _row_number, _failed from _batch_checks order by _row_number "
                              f"limit {int(limit)}").fetchall())
    problems = disagreements(checks, sql_failed, outcome.failures, set(frame["_row_number"].tolist()),
                             whole_groups=failing <= limit)
    if problems:
        raise RuntimeError(f"{suite.name}: the SQL compiled from the suite and GX disagree on "
                           f"{len(problems)} sampled row check(s), e.g. {'; '.join(problems[:5])}")
    con.execute("create or replace temp table _batch_reasons as select _row_number, _reason from _batch_checks")
    return failing, outcome.docs_url, len(frame)


def _row_reasons_in_gx(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
                       run_date: dt.date) -> tuple[int, str | None, int]:
    """The whole batch through GX as a pandas DataFrame (suites the SQL compiler does not cover):
    row number -> failed expectations, and the link to the GX result (Data Docs)."""
    from kam.quality.gx_suites import validate_frame

    frame = con.sql(
        f"select {', '.join(_q(c) for c in contract.column_names)}, _row_number from _batch_typed"
    ).df()
    outcome = validate_frame(frame, settings.expectations_dir / f"raw_{contract.name}.json",
                             parameters=suite_parameters(settings, run_date), index_columns=["_row_number"],
                             docs_root=settings.gx_dir)
    reasons: dict[int, list[str]] = defaultdict(list)
    for failure in outcome.failures:
        if failure.error:
            raise RuntimeError(f"GX suite raw_{contract.name}: {failure.describe()}")
        values = failure.unexpected_values or [None] * len(failure.row_indices)
        for index, value in zip(failure.row_indices, values, strict=False):
            row = index if not isinstance(index, dict) else index["_row_number"]
            shown = f", got {value!r}" if value is not None and not isinstance(value, dict) else ""
            reasons[int(row)].append(f"{failure.describe()}{shown}")
    for row, text in con.execute(
        "select _row_number, _parse_errors from _batch_typed where _parse_errors <> ''"
    ).fetchall():
        parsed_cols = {part.split(":", 1)[0] for part in text.split("; ")}
        # a value that could not be parsed is also null: keep only the parse reason
        reasons[row] = [text] + [
            r for r in reasons.get(row, [])
            if not any(r.startswith(f"{col}: expect_column_values_to_not_be_null")
                       for col in parsed_cols)
        ]
    bad = pd.DataFrame(
        {"_row_number": list(reasons), "_reason": ["; ".join(v) for v in reasons.values()]},
        columns=["_row_number", "_reason"],
    ).astype({"_row_number": "int64", "_reason": "string"})
    con.register("_batch_reasons_frame", bad)
    con.execute("create or replace temp table _batch_reasons as select * from _batch_reasons_frame")
    con.unregister("_batch_reasons_frame")
    return len(bad), outcome.docs_url, len(frame)
