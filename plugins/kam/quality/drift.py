"""Drift checks: the marts about to be published against the served file.

The served file is the last successful publication. Limits live in
``expectations/drift.json`` (warn and fail levels, reviewed like code). The
checks run in the working warehouse with the served file attached read-only,
so they cost a few aggregate queries whatever the size of the marts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

CHECKS = ("key_accounts_change_pct", "tier_share_change_pp", "closed_month_revenue_change_pct")


@dataclass
class DriftReport:
    baseline: str | None = None  # publication compared against
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    measures: dict[str, object] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"baseline": self.baseline, "warnings": self.warnings, "failures": self.failures,
                "measures": self.measures}


def load_limits(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = [c for c in CHECKS if c not in data]
    if missing:
        raise ValueError(f"{path}: drift limits missing for {', '.join(missing)}")
    for name in CHECKS:
        warn, fail = data[name].get("warn"), data[name].get("fail")
        if not isinstance(warn, int | float) or not isinstance(fail, int | float) or warn > fail:
            raise ValueError(f"{path}: {name} needs numbers warn <= fail, got warn={warn!r} fail={fail!r}")
    return data


def _level(report: DriftReport, limits: dict, value: float, text: str) -> None:
    if value > limits["fail"]:
        report.failures.append(f"drift {text} (fail above {limits['fail']})")
    elif value > limits["warn"]:
        report.warnings.append(f"drift {text} (warn above {limits['warn']})")


def check_drift(con: duckdb.DuckDBPyConnection, served: Path, limits_path: Path) -> DriftReport:
    """Compare ``marts.*`` in the DuckDB warehouse with the served file (if any)."""
    if not served.exists():
        report = DriftReport()
        report.measures["note"] = "no previous publication: nothing to compare"
        return report
    con.execute(f"attach '{served}' as served (read_only)")
    try:
        return compare(lambda sql, params=(): con.execute(sql, list(params)).fetchall(), "served.main",
                       limits_path)
    finally:
        con.execute("detach served")


def check_drift_postgres(cur, limits_path: Path, served_schema: str = "analytics") -> DriftReport:
    """Compare ``marts.*`` on the PostgreSQL server with the served schema (if any)."""
    cur.execute("select count(*) from information_schema.tables where table_schema = %s "
                "and table_name = 'publications'", [served_schema])
    if not cur.fetchone()[0]:
        report = DriftReport()
        report.measures["note"] = "no previous publication: nothing to compare"
        return report

    def rows(sql: str, params=()) -> list[tuple]:
        cur.execute(sql.replace("?", "%s"), list(params))
        return cur.fetchall()

    return compare(rows, served_schema, limits_path)


# What the drift SQL cannot say alike on every engine: Spark 3.5 has no string_agg and
# parses neither "double precision" nor a varchar without a length.
DIALECTS = {
    "default": {"double": "double precision",
                "batch_list": "string_agg(distinct cast(_batch_id as varchar), ', ')"},
    "spark": {"double": "double",
              "batch_list": "array_join(array_sort(collect_set(cast(_batch_id as string))), ', ')"},
}


def compare(rows, served: str, limits_path: Path, dialect: str = "default") -> DriftReport:
    """The drift checks in portable SQL; ``rows(sql, params)`` runs a query, ``served`` names the
    schema of the served publication (``served.main`` in DuckDB, ``analytics`` in PostgreSQL and
    on Spark); ``dialect`` picks the few fragments that differ (:data:`DIALECTS`)."""
    sql = DIALECTS[dialect]
    report = DriftReport()
    limits = load_limits(limits_path)
    base = rows(f"select publication_id, run_date, started_at from {served}.publications "
                f"where status = 'published' order by publication_id desc limit 1")
    if not base:
        report.measures["note"] = "served file lists no publication"
        return report
    pub_id, base_run_date, base_started = base[0]
    report.baseline = f"publication {pub_id} (run date {base_run_date})"
    _key_accounts(rows, served, report, limits["key_accounts_change_pct"])
    _tier_shares(rows, served, report, limits["tier_share_change_pp"], sql)
    _closed_months(rows, served, report, limits["closed_month_revenue_change_pct"], base_run_date,
                   base_started, sql)
    for line in report.failures:
        log.error("%s", line)
    for line in report.warnings:
        log.warning("%s", line)
    return report


LATEST = "(select max(as_of_month) from {db}.customer_value_monthly)"


def _key_accounts(rows, served: str, report: DriftReport, limits: dict) -> None:
    before, after = (
        rows(f"select count(*) filter (where size_class = 'key') from {db}.customer_value_monthly "
             f"where as_of_month = {LATEST.format(db=db)}")[0][0]
        for db in (served, "marts"))
    change = abs(after - before)
    pct = 100.0 * change / max(before, 1)
    report.measures["key_accounts"] = {"before": before, "after": after, "change_pct": round(pct, 2)}
    if change >= limits.get("ignore_below", 0):
        _level(report, limits, pct, f"key accounts {before} → {after} ({pct:+.1f}%)")


def _tier_shares(rows, served: str, report: DriftReport, limits: dict, sql: dict) -> None:
    shares = rows(f"""
        with b as (select tier, cast(count(*) as {sql['double']}) / sum(count(*)) over () as share
                   from {served}.customer_value_monthly
                   where as_of_month = {LATEST.format(db=served)} group by tier),
             a as (select tier, cast(count(*) as {sql['double']}) / sum(count(*)) over () as share
                   from marts.customer_value_monthly
                   where as_of_month = {LATEST.format(db='marts')} group by tier)
        select coalesce(a.tier, b.tier) as tier, coalesce(b.share, 0), coalesce(a.share, 0)
        from a full join b using (tier) order by abs(coalesce(a.share, 0) - coalesce(b.share, 0)) desc
    """)
    if not shares:
        return
    tier, before, after = shares[0]
    pp = abs(after - before) * 100
    report.measures["tier_share_max_change_pp"] = {"tier": tier, "before": round(before, 4),
                                                   "after": round(after, 4), "change_pp": round(pp, 2)}
    _level(report, limits, pp, f"share of tier {tier} {before:.1%} → {after:.1%} ({pp:.1f} pp)")


def _closed_months(rows, served: str, report: DriftReport, limits: dict, base_run_date,
                   base_started, sql: dict) -> None:
    months = rows(f"""
        with b as (select date_trunc('month', order_date) as month, sum(net_amount) as revenue
                   from {served}.fct_order_lines where is_revenue group by 1),
             a as (select date_trunc('month', order_date) as month, sum(net_amount) as revenue
                   from marts.fct_order_lines where is_revenue group by 1),
             late as (select date_trunc('month', order_date) as month, count(*) as rows_,
                             {sql['batch_list']} as batches
                      from raw.orders where _loaded_at > ? group by 1)
        select month, coalesce(b.revenue, 0), coalesce(a.revenue, 0),
               coalesce(late.rows_, 0), late.batches
        from a full join b using (month) left join late using (month)
        where month < date_trunc('month', cast(? as date))
          and coalesce(a.revenue, 0) <> coalesce(b.revenue, 0)
        order by month
    """, [base_started, base_run_date])
    restated = []
    for month, before, after, late_rows, batches in months:
        pct = 100.0 * abs(float(after) - float(before)) / max(abs(float(before)), 1.0)
        text = (f"closed month {month:%Y-%m} revenue {float(before):,.2f} → {float(after):,.2f} "
                f"({pct:.2f}%)")
        restated.append({"month": f"{month:%Y-%m}", "before": float(before), "after": float(after),
                         "change_pct": round(pct, 4), "late_rows": late_rows, "late_batches": batches})
        if late_rows:
            report.warnings.append(f"restatement: {text}, explained by {late_rows} late row(s) "
                                   f"in batch(es) {batches}")
        else:
            _level(report, limits, pct, f"{text} with no late data to explain it")
    report.measures["restated_months"] = restated
