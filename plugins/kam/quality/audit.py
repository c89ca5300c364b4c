"""The audit before publication: GX suites on the marts and cross-layer reconciliation.

dbt's own tests run inside ``dbt build`` (a failing test fails the build);
this module adds what dbt does not see: a GX suite for every published mart
(``expectations/mart_<mart>.json``; a mart without one stops the audit as a
configuration error before anything else runs; validated on the mart read through
Arrow, a repeatable sample above ``KAM_GX_MAX_ROWS``, results rendered into GX Data
Docs), reconciliation of the marts against the raw layer, and drift against the last publication (``quality/drift.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kam.config import Settings
from kam.contract import quote_ident
from kam.errors import ConfigError
from kam.marts import PUBLISHED_MARTS
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


@dataclass
class AuditResult:
    checks: int = 0
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suites: dict[str, str] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    sampled: dict = field(default_factory=dict)  # mart -> rows validated by GX of rows
    freshness: dict = field(default_factory=dict)  # source -> status of the build's freshness check

    @property
    def success(self) -> bool:
        return not self.failed

    def summary(self) -> dict:
        return {"checks": self.checks, "failed": self.failed, "warnings": self.warnings,
                "suites": self.suites, "gx_docs": self.docs, "drift": self.drift,
                "gx_sampled": self.sampled, "source_freshness": self.freshness}


# (name, SQL returning one row: (expected, actual)) — raw after dedupe vs marts.
# Portable SQL (DuckDB and PostgreSQL): subqueries aliased, ``{run_date}`` is a date literal.
RECONCILIATIONS = {
    "order_lines_count_raw_vs_fct": """
        select
            (select count(*) from (select distinct order_id, line_no from raw.orders
                                   where order_date <= {run_date}) as keys_),
            (select count(*) from marts.fct_order_lines)
    """,
    "revenue_raw_vs_fct": """
        select
            (select coalesce(sum(net_amount), 0) from (
                select net_amount, status, order_date, row_number() over (
                    partition by order_id, line_no
                    order by updated_at desc, _batch_id desc, _row_number desc) as rk
                from raw.orders) as ranked_ where rk = 1 and status <> 'cancelled'
                and order_date <= {run_date}),
            (select coalesce(sum(net_amount), 0) from marts.fct_order_lines where is_revenue)
    """,
    "complaints_count_raw_vs_fct": """
        select
            (select count(distinct complaint_id) from raw.complaints
             where cast(opened_at as date) <= {run_date}),
            (select count(*) from marts.fct_complaints)
    """,
    "visits_count_raw_vs_fct": """
        select
            (select count(distinct visit_id) from raw.visits where visit_date <= {run_date}),
            (select count(*) from marts.fct_visits)
    """,
    # the two below join the distinct customers (customer-months) of the order lines, not every line:
    # at 100k customers 0.1 s and 1.3 s instead of 0.7 s and 2.5 s
    "customers_with_orders_in_dim": """
        select
            (select count(*) from (select distinct customer_id from marts.fct_order_lines) as buyers_),
            (select count(*) from (select distinct customer_id from marts.fct_order_lines) as f
             join marts.dim_customers d on d.customer_id = f.customer_id)
    """,
    "customers_with_orders_have_monthly_rows": """
        select
            (select count(distinct customer_id) from marts.fct_order_lines),
            (select count(*) from (
                select f.customer_id
                from (select distinct customer_id, date_trunc('month', order_date) as order_month
                      from marts.fct_order_lines) as f
                join marts.customer_value_monthly m
                  on m.customer_id = f.customer_id and m.as_of_month = f.order_month
                group by f.customer_id) as matched_)
    """,
}


def _reconcile(fetchone, run_date: dt.date, result: AuditResult) -> None:
    """Run every reconciliation through ``fetchone(sql) -> row`` (any engine)."""
    literal = f"date '{run_date.isoformat()}'"
    for name, sql in RECONCILIATIONS.items():
        result.checks += 1
        expected, actual = fetchone(sql.format(run_date=literal))
        if expected != actual:
            result.failed.append(f"reconciliation {name}: raw {expected} != mart {actual}")


def _record_gx(result: AuditResult, suite, outcome) -> None:
    result.checks += outcome.evaluated
    result.suites[suite.name] = "passed" if outcome.success else "failed"
    if outcome.docs_url:
        result.docs[suite.name] = outcome.docs_url
    for failure in outcome.failures:
        count = f" ({failure.unexpected_count} rows)" if failure.unexpected_count else ""
        result.failed.append(f"gx {outcome.suite}: {failure.describe()}{count}")


def _record_drift(result: AuditResult, drift) -> None:
    result.checks += 1
    result.drift = drift.summary()
    result.failed.extend(drift.failures)
    result.warnings.extend(drift.warnings)


def mart_suites(settings: Settings) -> list[tuple[str, Path]]:
    """The GX suite of every published mart, ``expectations/mart_<mart>.json``. A published mart
    without one is a configuration error: nothing is published unaudited (DESIGN.md §2)."""
    suites = [(mart, settings.expectations_dir / f"mart_{mart}.json") for mart in PUBLISHED_MARTS]
    missing = [f"{mart} ({path})" for mart, path in suites if not path.is_file()]
    if missing:
        raise ConfigError(f"no GX suite for published mart(s) {', '.join(missing)}: every published mart "
                          f"must have its suite, so nothing is published unaudited")
    return suites


def _gx_parameters(settings: Settings, run_date: dt.date) -> dict[str, str]:
    """The mart suites' run-time bounds: business dates from KAM_MIN_BUSINESS_DATE to the run date."""
    return {"min_date": settings.min_business_date.isoformat(), "run_date": run_date.isoformat()}


def run_audit(settings: Settings, run_date: dt.date, audit_marts: Callable[[dt.date], AuditResult],
              run_id: str | None = None) -> AuditResult:
    """The audit: ``audit_marts`` (the target's checks of the marts where dbt built them:
    :func:`audit_duckdb`, :func:`audit_postgres`, :func:`audit_spark`, called by kam.targets), then
    what kam's own records say: the source freshness check of DAG run ``run_id``'s build (without a run
    id, as by hand: the last check recorded)."""
    result = audit_marts(run_date)
    _record_freshness(settings, result, run_id)
    log.info("audit: %d checks, %d failed, %d warnings", result.checks, len(result.failed),
             len(result.warnings))
    return result


def _record_freshness(settings: Settings, result: AuditResult, run_id: str | None) -> None:
    """The build's ``dbt source freshness`` check (kam.quality.freshness): a stale source is a warning,
    or with ``KAM_STALE_SOURCES=refuse`` a failure; a check that could not be made warns."""
    from kam.quality.freshness import latest_check, stale

    with warehouse(settings, read_only=True) as con:
        checked = latest_check(con, run_id)
    if not checked:
        said = f"by run {run_id}" if run_id else "yet"
        result.warnings.append(f"source freshness: no check recorded {said} (the build checks it before dbt build)")
        return
    result.checks += 1
    result.freshness = {c.source: c.status for c in checked}
    refuse = settings.stale_sources == "refuse"
    for c in checked:
        if c.status == "runtime error":
            result.warnings.append(c.describe())
    for c in stale(checked):
        said = f"stale {c.describe()}"
        if refuse:
            result.failed.append(f"{said}; KAM_STALE_SOURCES=refuse")
        else:
            result.warnings.append(said)


class MartReads(Protocol):
    """How the audit reads the marts where one engine built them (DuckDB, PostgreSQL, Spark)."""

    def fetchone(self, sql: str) -> tuple:
        """One row of a portable SQL query (the reconciliations)."""

    def validate(self, mart: str, suite, parameters: dict, result: AuditResult):
        """The GX suite ``suite`` on ``mart``: its outcome (kam.quality.gx_suites)."""

    def drift(self):
        """The marts against the served publication (kam.quality.drift): a DriftReport."""


def check_marts(settings: Settings, run_date: dt.date, reads: MartReads) -> AuditResult:
    """The audit's checks of the marts, written once for every engine: the reconciliations with raw,
    the GX suite of every published mart (a mart without one stops here, before any check), drift."""
    from kam.quality.gx_suites import data_docs_once

    suites = mart_suites(settings)
    result = AuditResult()
    _reconcile(reads.fetchone, run_date, result)
    with data_docs_once(settings.gx_dir):
        for mart, suite in suites:
            _record_gx(result, suite, reads.validate(mart, suite, _gx_parameters(settings, run_date), result))
    _record_drift(result, reads.drift())
    return result


@dataclass
class DuckDBReads:
    """The marts in the embedded warehouse: GX on an Arrow frame of each, drift against the served file."""

    settings: Settings
    con: Any  # a DuckDB connection to the warehouse

    def fetchone(self, sql: str) -> tuple:
        return self.con.execute(sql).fetchone()

    def validate(self, mart: str, suite, parameters: dict, result: AuditResult):
        from kam.quality.gx_suites import validate_then_explain

        frame = _mart_frame(self.con, mart, suite, self.settings.gx_max_rows, result)
        return validate_then_explain(frame, suite, parameters=parameters, docs_root=self.settings.gx_dir)

    def drift(self):
        from kam.quality.drift import check_drift

        return check_drift(self.con, self.settings.published_path, self.settings.expectations_dir / "drift.json")


def audit_duckdb(settings: Settings, run_date: dt.date) -> AuditResult:
    with warehouse(settings) as con:
        return check_marts(settings, run_date, DuckDBReads(settings, con))


# the sample is the rows whose hash falls under a threshold: parallel, one pass, and the
# same rows for the same content (a reservoir sample is single-threaded); Spark's audit too
SAMPLE_BUCKETS = 1_000_000


def sample_threshold(total: int, max_rows: int) -> int:
    """The hash bucket below which a row is in the sample of about ``max_rows`` of ``total``."""
    return max(1, int(SAMPLE_BUCKETS * max_rows / total))


def _mart_frame(con, mart: str, suite, max_rows: int, result: AuditResult):
    """The mart as GX validates it: only the columns its suite reads, and above
    ``max_rows`` (KAM_GX_MAX_ROWS) a repeatable sample of about that many rows. Every row
    is still checked by the dbt tests in the database (unique, not null, accepted values,
    ranges) before the audit runs; the sample keeps the GX pass bounded in time and memory."""
    from kam.quality.gx_suites import suite_columns

    columns = suite_columns(suite)
    projection = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    total = con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
    where = ""
    if total > max_rows:  # hashing only the columns read: the same rows for the same content of them
        hashed = projection if columns else "t"
        where = f" where hash({hashed}) % {SAMPLE_BUCKETS} < {sample_threshold(total, max_rows)}"
    frame = con.sql(f"select {projection} from marts.{mart} t{where}").arrow().read_all() \
        .to_pandas(date_as_object=False)
    if where:
        result.sampled[mart] = {"validated_rows": len(frame), "rows": int(total)}
        log.info("GX on %s: a sample of %d of %d rows (full checks: dbt tests)", mart, len(frame), total)
    return frame


def audit_spark(settings: Settings, run_date: dt.date) -> AuditResult:
    """The same checks on Spark, in a Spark job (kam.spark.jobs.audit): reconciliation and drift in
    Spark SQL, GX on the marts read through Spark (sampled as on DuckDB)."""
    from kam.spark.session import run_job

    mart_suites(settings)  # a mart without its suite: refused before Spark starts
    s = run_job(settings, "audit", {"run_date": run_date.isoformat()})
    return AuditResult(checks=s["checks"], failed=s["failed"], warnings=s["warnings"], suites=s["suites"],
                       docs=s["gx_docs"], drift=s["drift"], sampled=s["gx_sampled"])


@dataclass
class PostgresReads:
    """The marts on the server: SQL on one read-only transaction, GX through its SQL data source."""

    settings: Settings
    cur: Any  # a psycopg2 cursor on KAM_PG_DSN

    def fetchone(self, sql: str) -> tuple:
        self.cur.execute(sql)
        return self.cur.fetchone()

    def validate(self, mart: str, suite, parameters: dict, result: AuditResult):
        from kam.quality.gx_suites import validate_table

        return validate_table("marts", mart, suite, self.settings.pg_dsn, parameters=parameters,
                              docs_root=self.settings.gx_dir)

    def drift(self):
        from kam.quality.drift import check_drift_postgres

        return check_drift_postgres(self.cur, self.settings.expectations_dir / "drift.json")


def audit_postgres(settings: Settings, run_date: dt.date) -> AuditResult:
    """The same checks on the server."""
    from kam.postgres.connection import connect

    mart_suites(settings)  # a mart without its suite: refused before connecting
    conn = connect(settings.pg_dsn)
    try:
        with conn.cursor() as cur:
            result = check_marts(settings, run_date, PostgresReads(settings, cur))
        conn.rollback()
    finally:
        conn.close()
    return result
