"""The audit before publication: GX suites on the marts and cross-layer reconciliation.

dbt's own tests run inside ``dbt build`` (a failing test fails the build);
this module adds what dbt does not see: a GX suite per published mart
(``expectations/mart_<mart>.json``, validated on the mart read through Arrow,
results rendered into GX Data Docs), reconciliation of the marts against the
raw layer, and drift against the last publication (``quality/drift.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from kam.config import Settings
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

    @property
    def success(self) -> bool:
        return not self.failed

    def summary(self) -> dict:
        return {"checks": self.checks, "failed": self.failed, "warnings": self.warnings,
                "suites": self.suites, "gx_docs": self.docs, "drift": self.drift}


# (name, SQL returning one row: (expected, actual)) — raw after dedupe vs marts.
RECONCILIATIONS = {
    "order_lines_count_raw_vs_fct": """
        select
            (select count(*) from (select distinct order_id, line_no from raw.orders
                                   where order_date <= $run_date)),
            (select count(*) from marts.fct_order_lines)
    """,
    "revenue_raw_vs_fct": """
        select
            (select coalesce(sum(net_amount), 0) from (
                select net_amount, status, order_date, row_number() over (
                    partition by order_id, line_no
                    order by updated_at desc, _batch_id desc, _row_number desc) as rk
                from raw.orders) where rk = 1 and status <> 'cancelled'
                and order_date <= $run_date),
            (select coalesce(sum(net_amount), 0) from marts.fct_order_lines where is_revenue)
    """,
    "complaints_count_raw_vs_fct": """
        select
            (select count(distinct complaint_id) from raw.complaints
             where cast(opened_at as date) <= $run_date),
            (select count(*) from marts.fct_complaints)
    """,
    "visits_count_raw_vs_fct": """
        select
            (select count(distinct visit_id) from raw.visits where visit_date <= $run_date),
            (select count(*) from marts.fct_visits)
    """,
    "customers_with_orders_in_dim": """
        select
            (select count(distinct customer_id) from marts.fct_order_lines),
            (select count(distinct f.customer_id) from marts.fct_order_lines f
             join marts.dim_customers d on d.customer_id = f.customer_id)
    """,
    "customers_with_orders_have_monthly_rows": """
        select
            (select count(distinct customer_id) from marts.fct_order_lines),
            (select count(distinct f.customer_id) from marts.fct_order_lines f
             where exists (select 1 from marts.customer_value_monthly m
                           where m.customer_id = f.customer_id
                             and m.as_of_month = date_trunc('month', f.order_date)))
    """,
}


def run_audit(settings: Settings, run_date: dt.date) -> AuditResult:
    from kam.quality.drift import check_drift
    from kam.quality.gx_suites import validate_frame

    result = AuditResult()
    with warehouse(settings) as con:
        for name, sql in RECONCILIATIONS.items():
            result.checks += 1
            params = {"run_date": run_date} if "$run_date" in sql else {}
            expected, actual = con.execute(sql, params).fetchone()
            if expected != actual:
                result.failed.append(f"reconciliation {name}: raw {expected} != mart {actual}")
        for mart in PUBLISHED_MARTS:
            suite = settings.expectations_dir / f"mart_{mart}.json"
            if not suite.exists():
                continue
            frame = con.sql(f"select * from marts.{mart}").arrow().read_all().to_pandas(date_as_object=False)
            outcome = validate_frame(frame, suite, parameters={"min_date": "2000-01-01",
                                                               "run_date": run_date.isoformat()},
                                     docs_root=settings.gx_dir)
            result.checks += outcome.evaluated
            result.suites[suite.name] = "passed" if outcome.success else "failed"
            if outcome.docs_url:
                result.docs[suite.name] = outcome.docs_url
            for failure in outcome.failures:
                count = f" ({failure.unexpected_count} rows)" if failure.unexpected_count else ""
                result.failed.append(f"gx {outcome.suite}: {failure.describe()}{count}")
        drift = check_drift(con, settings.published_path, settings.expectations_dir / "drift.json")
        result.checks += 1
        result.drift = drift.summary()
        result.failed.extend(drift.failures)
        result.warnings.extend(drift.warnings)
    log.info("audit: %d checks, %d failed, %d warnings", result.checks, len(result.failed),
             len(result.warnings))
    return result
