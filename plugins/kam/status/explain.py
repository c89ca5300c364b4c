"""``kam explain CUSTOMER``: why a customer has its tier, from the published marts."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kam.config import Settings

EXPLAIN_GROUPS = {
    "financial (财务)": ("financial_score", ["gross_profit", "gross_margin", "collection_rate"]),
    "sales (销售)": ("sales_score", ["revenue", "active_months", "revenue_growth"]),
    "customer (客户)": ("customer_score", ["budget_headroom", "relationship_level", "roles_covered",
                                           "is_strategic_partner"]),
    "service (服务)": ("service_score", ["complaints", "severe_complaints", "avg_satisfaction",
                                         "median_first_response_hours"]),
}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:,.0f}" if abs(number) >= 1000 else str(value)


def explain(settings: Settings, customer_id: str, month: str | None = None, path: Path | None = None) -> str:
    """Why a customer has its tier: indicators → dimension scores → value score → tier (from the
    published file, or ``path``: the Spark target's snapshot)."""
    con = duckdb.connect(str(path or settings.published_path), read_only=True)
    try:
        where = "as_of_month = cast(? as date)" if month else (
            "as_of_month = (select max(as_of_month) from customer_value_monthly where is_complete_month)")
        params = [customer_id] + ([month] if month else [])
        cur = con.execute(f"select * from customer_value_monthly where customer_id = ? and {where}", params)
        cols = [d[0] for d in cur.description]
        row = cur.fetchone()
        alerts = con.execute(
            "select alert_type, reason from customer_alerts where customer_id = ? and as_of_month = ?",
            [customer_id, row[cols.index("as_of_month")]]).fetchall() if row else []
        pub = con.execute("select * from publications where status = 'published' "
                          "order by publication_id desc limit 1").df()
    finally:
        con.close()
    if row is None:
        return f"no row for customer {customer_id}" + (f" in {month}" if month else "")
    r = dict(zip(cols, row, strict=True))
    lines = [f"customer {customer_id}, month {r['as_of_month']} (window of 12 months to {r['as_of_date']})"]
    for name, (score, indicators) in EXPLAIN_GROUPS.items():
        shown = ", ".join(f"{i} {_fmt(r[i])}" for i in indicators)
        lines.append(f"  {name:<16} score {_fmt(r[score])}  ← {shown}")
    lines.append(f"  current value {_fmt(r['current_value_score'])}, potential value "
                 f"{_fmt(r['potential_value_score'])}, value score {_fmt(r['value_score'])}")
    lines.append(f"  raw tier {r['raw_tier']} → computed tier {r['computed_tier']} (demotion grace) → "
                 f"tier {r['tier']} {r['tier_label_en']} / {r['tier_label_zh']}"
                 + (f" (override: {r['override_reason']})" if r["override_reason"] else ""))
    lines.append(f"  ABC {r['abc_class']}, quadrant {r['value_quadrant']}, pseudo key account "
                 f"{r['is_pseudo_key_account']}, profit role {r['profit_role']}, value type {r['value_type']}")
    lines.extend(f"  alert {a}: {reason}" for a, reason in alerts)
    if not pub.empty and isinstance(pub.get("rules_version", [None])[0], str):
        lines.append(f"  scored under rules version {pub['rules_version'][0]} (publication "
                     f"#{pub['publication_id'][0]}; kam rules show)")
    return "\n".join(lines)
