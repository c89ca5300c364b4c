"""Run the Great Expectations suites stored in ``expectations/`` on DataFrames.

GX 1.x has no DuckDB SQL data source, so batches and marts are validated as
pandas DataFrames (DESIGN.md §5). With a ``docs_root`` (``$KAM_HOME/gx``) the
validation runs as a GX Checkpoint in a file context, so every result is
stored and rendered into GX Data Docs (``UpdateDataDocsAction``, which only
renders the new result and the index); ``kam status`` links to them. The
pipeline has one writer at a time (Airflow pool), so the file context is
never written by two processes at once. Without a root (unit tests) the
context is ephemeral and nothing is written.

Suites may use ``{"$PARAMETER": name}`` for values known only at run time
(e.g. ``max_date`` = run date + 1 day). Date parameters are passed as
``pandas.Timestamp`` so they compare with datetime columns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from contextlib import contextmanager
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
                parts.append(f"{label} {_show(k[key])}")
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


def _show(value: Any) -> str:
    """A bound as a reason shows it: ``0`` (not ``0.0``), ``2026-06-16`` (not a midnight timestamp)."""
    if isinstance(value, dict):
        return str(value.get("$PARAMETER", value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    return str(value)


@dataclass
class ValidationOutcome:
    suite: str
    success: bool
    evaluated: int
    failures: list[CheckFailure]
    result: dict[str, Any]
    docs_url: str | None = None


@cache
def _context(docs_root: str | None = None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if docs_root:
        context = gx.get_context(mode="file", project_root_dir=docs_root)
    else:
        context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    try:
        source = context.data_sources.get("kam")
    except (KeyError, ValueError, LookupError):
        source = context.data_sources.add_pandas("kam")
    try:
        asset = source.get_asset("frames")
    except LookupError:
        asset = source.add_dataframe_asset("frames")
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    return context, batch_definition


def docs_index(docs_root: Path) -> Path:
    """Where GX writes the Data Docs site under ``docs_root``."""
    return docs_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def load_suite(path: Path):
    import great_expectations as gx

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"expectation suite not found: {path}") from None
    return gx.ExpectationSuite(
        name=data["name"], expectations=data["expectations"], meta=data.get("meta", {})
    )


# expectations that read only the columns their kwargs name (column, column_A/B, column_list)
COLUMN_EXPECTATIONS = ("expect_column", "expect_compound_columns", "expect_multicolumn", "expect_select_column")


def suite_columns(path: Path) -> list[str] | None:
    """The columns a suite reads (from its expectations' column kwargs), in first-use
    order; None when some expectation may read others (a row condition, a table-wide
    expectation), so the caller must fetch every column."""
    columns: dict[str, None] = {}
    for exp in json.loads(Path(path).read_text(encoding="utf-8")).get("expectations", []):
        kwargs = exp.get("kwargs", {})
        if "row_condition" in kwargs or not exp.get("type", "").startswith(COLUMN_EXPECTATIONS):
            return None
        names = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        names += list(kwargs.get("column_list") or [])
        if not names:
            return None
        columns.update(dict.fromkeys(names))
    return list(columns)


def _parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    return {
        k: (pd.Timestamp(v) if isinstance(v, str) and k.endswith("_date") else v)
        for k, v in (parameters or {}).items()
    }


def validate_frame(
    frame: pd.DataFrame,
    suite_path: Path,
    parameters: dict[str, Any] | None = None,
    index_columns: list[str] | None = None,
    docs_root: Path | None = None,
    detail: str = "COMPLETE",
) -> ValidationOutcome:
    """Validate ``frame`` against the suite file; unexpected rows come back by index.

    With ``docs_root`` the result is stored and rendered into GX Data Docs. ``detail``: GX's result
    format; COMPLETE (every unexpected row, by index), SUMMARY (counts and 20 values) or
    BOOLEAN_ONLY (pass or fail per expectation: the cheapest, see :func:`validate_then_explain`).
    """
    context, batch_definition = _context(str(docs_root) if docs_root else None)
    suite = load_suite(suite_path)
    params = _parameters(parameters)
    result_format = {"result_format": detail, "partial_unexpected_count": 0 if detail == "COMPLETE" else 20,
                     **({"unexpected_index_column_names": index_columns} if index_columns else {})}
    docs_url = None
    batch_parameters = {"dataframe": frame}
    if docs_root:
        result, docs_url = _run_checkpoint(context, batch_definition, suite, batch_parameters, params,
                                           result_format)
    else:
        batch = batch_definition.get_batch(batch_parameters=batch_parameters)
        result = batch.validate(suite, result_format=result_format, expectation_parameters=params)
    return _outcome(suite, result, docs_url)


def validate_then_explain(frame: pd.DataFrame, suite_path: Path, parameters: dict[str, Any] | None = None,
                          docs_root: Path | None = None) -> ValidationOutcome:
    """Validate ``frame`` asking GX only whether each expectation holds (BOOLEAN_ONLY); when one does
    not, validate again with counts and example values (SUMMARY), which is what is reported and shown
    in Data Docs beside the first result. A passing suite costs about half of a COMPLETE validation (at
    10,000 customers, customer_value_monthly's 34 expectations on its 250,000-row sample of the 28 columns
    they read: 1.0 s instead of 2.0 s); a failing one about one and a half."""
    outcome = validate_frame(frame, suite_path, parameters=parameters, docs_root=docs_root, detail="BOOLEAN_ONLY")
    if outcome.success:
        return outcome
    return validate_frame(frame, suite_path, parameters=parameters, docs_root=docs_root, detail="SUMMARY")


# GX reads the server's URL from this variable at run time (``${...}`` in its
# config), so the password is never written into the GX project on disk.
PG_URL_VARIABLE = "KAM_GX_PG_URL"


def validate_table(schema: str, table: str, suite_path: Path, pg_dsn: str,
                   parameters: dict[str, Any] | None = None,
                   docs_root: Path | None = None) -> ValidationOutcome:
    """Validate a PostgreSQL table in SQL (GX's Postgres data source): nothing is read into pandas."""
    from kam.postgres.connection import sqlalchemy_url

    os.environ[PG_URL_VARIABLE] = sqlalchemy_url(pg_dsn)
    context, _ = _context(str(docs_root) if docs_root else None)
    try:
        source = context.data_sources.get("kam_pg")
    except (KeyError, ValueError, LookupError):
        source = context.data_sources.add_postgres("kam_pg", connection_string="${" + PG_URL_VARIABLE + "}")
    asset_name = f"{schema}.{table}"
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_table_asset(asset_name, table_name=table, schema_name=schema)
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError, LookupError):
        batch_definition = asset.add_batch_definition_whole_table("whole")
    suite = load_suite(suite_path)
    params = _parameters(parameters)
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
    docs_url = None
    if docs_root:
        result, docs_url = _run_checkpoint(context, batch_definition, suite, None, params, result_format,
                                           name=f"{suite.name}_postgres")
    else:
        result = batch_definition.get_batch().validate(suite, result_format=result_format,
                                                       expectation_parameters=params)
    return _outcome(suite, result, docs_url)


def _outcome(suite, result, docs_url: str | None) -> ValidationOutcome:
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
                unexpected_values=list(r.result.get("unexpected_list")
                                       or r.result.get("partial_unexpected_list") or []),
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
        docs_url=docs_url,
    )
    log.info("GX suite %s: %d expectations, %d failed", suite.name, outcome.evaluated, len(failures))
    return outcome


# Checkpoints already stored in this process, by what defines them: storing one again
# (suite, validation definition, checkpoint JSON files) on every batch costs ~0.5 s.
_checkpoints: dict[tuple, Any] = {}
# While ``data_docs_once`` is active: the results whose Data Docs pages are still to render.
_deferred: list | None = None


@contextmanager
def data_docs_once(docs_root: Path):
    """Validations inside the block store their results at once and their Data Docs pages are
    rendered together when it ends (one site build instead of one per batch: ~1 s each).
    Links returned inside the block point at pages that exist once it has ended."""
    global _deferred
    if _deferred is not None:  # nested: the outer block renders
        yield
        return
    _deferred = []
    try:
        yield
    finally:
        identifiers, _deferred = _deferred, None
        if identifiers:
            context, _ = _context(str(docs_root))
            context.build_data_docs(resource_identifiers=identifiers)


def _run_checkpoint(context, batch_definition, suite, batch_parameters, params, result_format,
                    name: str | None = None):
    """Validate through a stored Checkpoint whose action renders the result into Data Docs
    (or, inside ``data_docs_once``, whose result is rendered when the block ends)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    deferred = _deferred is not None
    key = (id(context), name or suite.name, json.dumps(suite.to_json_dict(), sort_keys=True, default=str),
           json.dumps(result_format, sort_keys=True), deferred)
    checkpoint = _checkpoints.get(key)
    if checkpoint is None:
        stored = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name or stored.name, data=batch_definition, suite=stored))
        checkpoint = _checkpoints[key] = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"kam_{name or stored.name}", validation_definitions=[definition],
            actions=[] if deferred else [UpdateDataDocsAction(name="data_docs")],
            result_format=result_format))
    outcome = checkpoint.run(batch_parameters=batch_parameters, expectation_parameters=params)
    (identifier, run_result), = outcome.run_results.items()
    if deferred:
        _deferred.append(identifier)
    docs_url = None
    for action in (run_result.get("actions_results") or {}).values() if isinstance(run_result, dict) else ():
        site = (action or {}).get("local_site") if isinstance(action, dict) else None
        docs_url = docs_url or site
    if docs_url is None:
        try:
            docs_url = context.get_docs_sites_urls(resource_identifier=identifier,  # rendered later if deferred
                                                   only_if_exists=not deferred)[0]["site_url"]
        except Exception:  # noqa: BLE001 - a missing link must not fail a validation
            docs_url = None
    result = run_result if not isinstance(run_result, dict) else run_result["validation_result"]
    return result, docs_url
