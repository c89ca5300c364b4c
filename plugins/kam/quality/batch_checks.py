"""The row checks of a raw batch: its GX suite as SQL over every row, GX on a sample that must agree.

Fills the temp table ``_batch_reasons`` (``_row_number``, ``_reason``) with every row that
could not be parsed or fails ``expectations/raw_<source>.json``
(:mod:`kam.quality.row_checks` compiles the suite).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

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


# GX validates the samples of a group of batches (:func:`agree`) in one validation: each call costs
# ~0.7 s whatever its size (GX builds its metric graph for every expectation), which made many small
# files 3.7 times as slow as the same rows in a few. A group shares one sample budget; each of its
# batches still gets every failing row (up to that budget) and at least this many others.
MIN_SAMPLE_SHARE = 250


@dataclass
class SqlChecks:
    """A batch's raw suite compiled to SQL and run over every row: its connection's temp table
    ``_batch_checks`` holds the failing rows (``_row_number``, ``_failed``, ``_reason``)."""

    suite: Path
    checks: list
    failing: int


def sql_checks(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
               run_date: dt.date) -> SqlChecks | None:
    """Run the batch's raw suite as SQL over every row of ``_batch_typed``; None when the suite
    uses expectations the compiler does not cover (then :func:`row_reasons_in_gx` validates the
    whole batch in GX)."""
    from kam.quality.row_checks import NotCompilable, compile_suite, failing_rows_sql

    suite = settings.expectations_dir / f"raw_{contract.name}.json"
    try:
        checks = compile_suite(suite, {c.name: c.type for c in contract.columns}, suite_parameters(settings, run_date))
    except NotCompilable as exc:
        log.warning("%s: %s cannot run as SQL (%s): GX validates the whole batch as a DataFrame",
                    contract.name, suite.name, exc)
        return None
    con.execute(f"create or replace temp table _batch_checks as {failing_rows_sql(checks, '_batch_typed')}")
    return SqlChecks(suite, checks, con.sql("select count(*) from _batch_checks").fetchone()[0])


@dataclass
class Agreement:
    """GX's word on one batch's sample: where it and the SQL differ (empty: they agree), the link
    to the GX result and how many of the batch's rows GX saw."""

    problems: list[str]
    docs_url: str | None
    gx_rows: int


def agree(settings: Settings, contract: SourceContract, run_date: dt.date,
          batches: list[tuple[duckdb.DuckDBPyConnection, SqlChecks]]) -> list[Agreement]:
    """GX over the samples of ``batches`` (each on its own connection, with its ``_batch_typed``
    and ``_batch_checks``) in one validation, compared with the SQL batch by batch; on agreement
    each connection's ``_batch_reasons`` is filled from its ``_batch_checks``.

    The batches share ``KAM_GX_BATCH_SAMPLE_ROWS``: each gets its failing rows first, then a
    repeatable sample of the others, up to ``max(budget / batches, MIN_SAMPLE_SHARE)`` rows (a batch
    alone gets the whole budget, as before). Uniqueness is the SQL's per batch; GX sees the group's
    rows together, so a key found in two batches of the group (a correction of a line delivered in
    an earlier file) is left out of the comparison of that check."""
    import pyarrow as pa

    from kam.quality.gx_suites import validate_frame
    from kam.quality.row_checks import disagreements, sample_sql

    suite = batches[0][1].suite
    budget = settings.gx_batch_sample_rows
    share = budget if len(batches) == 1 else max(budget // len(batches), MIN_SAMPLE_SHARE)
    tables, sql_failed = [], []
    for k, (con, sql) in enumerate(batches):
        sample = sample_sql("_batch_typed", "_batch_checks", sql.failing, contract.column_names, share)
        tables.append(con.sql(f"select *, {k} as _kam_batch from ({sample})").to_arrow_table())
        sql_failed.append(dict(con.sql(f"select _row_number, _failed from _batch_checks order by _row_number "
                                       f"limit {int(share)}").fetchall()))
    with duckdb.connect() as scratch:  # DuckDB's own conversion to pandas, as for one batch
        frame = scratch.from_arrow(pa.concat_tables(tables)).df()
    outcome = validate_frame(frame, suite, parameters=suite_parameters(settings, run_date),
                             index_columns=["_kam_batch", "_row_number"], docs_root=settings.gx_dir)
    checks = batches[0][1].checks
    per_batch = _failures_by_batch(outcome.failures, len(batches))
    shared = _keys_in_two_batches(frame, checks) if len(batches) > 1 else {}
    agreements = []
    for k, (con, sql) in enumerate(batches):
        rows = frame.loc[frame["_kam_batch"] == k, "_row_number"]
        problems = disagreements(checks, sql_failed[k], per_batch[k], set(rows.tolist()),
                                 whole_groups=sql.failing <= share, ignore=shared.get(k, set()))
        if not problems:
            con.execute("create or replace temp table _batch_reasons as select _row_number, _reason from _batch_checks")
        else:
            problems = [f"{suite.name}: the SQL compiled from the suite and GX disagree on {len(problems)} sampled "
                        f"row check(s), e.g. {'; '.join(problems[:5])}"]
        agreements.append(Agreement(problems, outcome.docs_url, len(rows)))
    return agreements


def _failures_by_batch(failures: list, batches: int) -> list[list]:
    """GX's failures of a group's frame, split by the batch each unexpected row came from (a
    failure without rows goes to every batch)."""
    from dataclasses import replace

    per_batch: list[list] = [[] for _ in range(batches)]
    for failure in failures:
        if not failure.row_indices:
            for found in per_batch:
                found.append(failure)
            continue
        picked: dict[int, list[int]] = defaultdict(list)
        for i, row in enumerate(failure.row_indices):
            picked[int(row["_kam_batch"])].append(i)
        values = failure.unexpected_values
        for k, indices in picked.items():
            per_batch[k].append(replace(
                failure, row_indices=[failure.row_indices[i] for i in indices],
                unexpected_values=[values[i] for i in indices if i < len(values)], unexpected_count=len(indices)))
    return per_batch


def _keys_in_two_batches(frame: pd.DataFrame, checks: list) -> dict[int, set[tuple[int, int]]]:
    """Per batch, the (row, check) pairs of uniqueness checks whose key the frame holds in more
    than one batch: GX, seeing the group at once, counts them duplicates; the SQL, per batch, not."""
    shared: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for index, check in enumerate(checks):
        if check.window is None:
            continue
        kwargs = check.failure.kwargs
        columns = list(kwargs.get("column_list") or [kwargs["column"]])
        batches = frame.groupby(columns, dropna=False)["_kam_batch"].transform("nunique")
        for k, row in frame.loc[batches > 1, ["_kam_batch", "_row_number"]].itertuples(index=False, name=None):
            shared[int(k)].add((int(row), index))
    return shared


def row_reasons_in_gx(con: duckdb.DuckDBPyConnection, settings: Settings, contract: SourceContract,
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
