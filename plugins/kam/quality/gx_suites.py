"""Run the Great Expectations suites stored in ``expectations/`` on DataFrames.

GX 1.x has no DuckDB SQL data source, so batches and marts are validated as
pandas DataFrames (DESIGN.md §5). One ephemeral context per process: file
contexts are hard to share between Airflow workers.

Suites may use ``{"$PARAMETER": name}`` for values known only at run time
(e.g. ``max_date`` = run date + 1 day). Date parameters are passed as
``pandas.Timestamp`` so they compare with datetime columns.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)
os.environ.setdefault("TQDM_DISABLE", "1")  # GX's metric progress bars flood task logs
logging.getLogger("great_expectations").setLevel(logging.WARNING)


@dataclass
class CheckFailure:
    """One failed expectation: which rule, on which column, on which rows."""

    expectation: str
    column: str | None
    rule: str | None
    kwargs: dict[str, Any]
    row_indices: list[Any] = field(default_factory=list)
    unexpected_values: list[Any] = field(default_factory=list)
    unexpected_count: int = 0
    error: str | None = None

    @property
    def name(self) -> str:
        target = self.column or ",".join(self.kwargs.get("column_list", []) or [])
        return f"{self.expectation}({target})"

    def describe(self) -> str:
        """E.g. ``quantity: expect_column_values_to_be_between(min 0) when status=="confirmed"``."""
        k = self.kwargs
        parts = []
        for key, label in (("min_value", "min"), ("max_value", "max")):
            if k.get(key) is not None:
                value = k[key]
                parts.append(f"{label} {value.get('$PARAMETER') if isinstance(value, dict) else value}")
        if k.get("value_set") is not None:
            parts.append("one of " + "|".join(map(str, k["value_set"])))
        text = f"{self.column}: " if self.column else ""
        text += f"{self.expectation}({', '.join(parts)})" if parts else self.name
        condition = k.get("row_condition")
        if condition:
            cond = condition.get("pass_through_filter") if isinstance(condition, dict) else condition
            text += f" when {cond}"
        if self.error:
            return f"{text}: could not be evaluated: {self.error}"
        return text


@dataclass
class ValidationOutcome:
    suite: str
    success: bool
    evaluated: int
    failures: list[CheckFailure]
    result: dict[str, Any]


@cache
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("kam").add_dataframe_asset("frames")
    return context, asset.add_batch_definition_whole_dataframe("whole")


def load_suite(path: Path):
    import great_expectations as gx

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"expectation suite not found: {path}") from None
    return gx.ExpectationSuite(
        name=data["name"], expectations=data["expectations"], meta=data.get("meta", {})
    )


def validate_frame(
    frame: pd.DataFrame,
    suite_path: Path,
    parameters: dict[str, Any] | None = None,
    index_columns: list[str] | None = None,
) -> ValidationOutcome:
    """Validate ``frame`` against the suite file; unexpected rows come back by index."""
    _, batch_definition = _context()
    suite = load_suite(suite_path)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    params = {
        k: (pd.Timestamp(v) if isinstance(v, str) and k.endswith("_date") else v)
        for k, v in (parameters or {}).items()
    }
    result = batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "partial_unexpected_count": 0,
                       **({"unexpected_index_column_names": index_columns} if index_columns else {})},
        expectation_parameters=params,
    )
    failures: list[CheckFailure] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
        error = None
        if r.exception_info and r.exception_info.get("raised_exception"):
            error = r.exception_info.get("exception_message")
        else:
            for info in (r.exception_info or {}).values():
                if isinstance(info, dict) and info.get("raised_exception"):
                    error = info.get("exception_message")
        failures.append(
            CheckFailure(
                expectation=cfg.type,
                column=kwargs.get("column"),
                rule=(cfg.meta or {}).get("rule"),
                kwargs=kwargs,
                row_indices=list(r.result.get("unexpected_index_list") or []),
                unexpected_values=list(r.result.get("unexpected_list") or []),
                unexpected_count=int(r.result.get("unexpected_count") or 0),
                error=error,
            )
        )
    outcome = ValidationOutcome(
        suite=suite.name,
        success=bool(result.success),
        evaluated=len(result.results),
        failures=failures,
        result=result.describe_dict() if hasattr(result, "describe_dict") else {},
    )
    log.info("GX suite %s: %d expectations, %d failed", suite.name, outcome.evaluated, len(failures))
    return outcome
