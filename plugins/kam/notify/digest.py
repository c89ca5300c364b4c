"""What is news for whom: the digests of one publication (DOMAIN.md §8, docs/notify.md).

Read from the publication's Parquet copies (the same on every target): the alerts of the
publication's latest month, each with its customer's tier, revenue and the score dimension that
fell most since the month before (the main driver). A recipient is told an alert when it is
**new** (not among the alerts the recipient knew after the previous digest) or **worse** (its
measure, below, grew by more than ``worse_by`` of what was told); what the recipient knows after a
digest is kept in ``ops.notified_alerts`` (the baseline of an alert not told again stays the value
last told, so a slow drift adds up). Items are ordered by what is at stake (the customer's revenue
over the window), at most ``cap`` per digest; the rest are counted and point to the report.

* one digest per account manager (``dim_customers.account_manager``; customers without one
  under ``(no account manager)``), with that manager's customers' alerts;
* one for leadership: key accounts' alerts (size class ``key``), and the downgrades of customers that
  were key accounts the month before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from kam.config import REPO_ROOT
from kam.notify.config import LEADERSHIP, NotifyConfig
from kam.warehouse import tables_in

NO_MANAGER = "(no account manager)"
DIGEST_MARTS = ("customer_alerts", "customer_value_monthly", "dim_customers")
TIER_LABELS = REPO_ROOT / "dbt_project" / "seeds" / "tier_labels.csv"  # the tiers' ranks (A 1 … X 6)

# How bad an alert is, from customer_value_monthly (larger is worse): what "worse" compares.
MEASURES = {
    "churn_risk": "coalesce(previous_revenue, 0) - coalesce(revenue, 0)",  # revenue lost vs the window before
    "complaint_spike": "coalesce(recent_complaints, 0) + coalesce(severe_complaints_past_sla, 0)",
    "overdue_payment": "coalesce(overdue_past_limit_amount, overdue_amount, 0)",
    "under_visited": "-tier_rank",  # still unvisited is not news; unvisited at a higher tier is
    "margin_erosion": "coalesce(margin_floor - gross_margin, 0)",
    "tier_downgrade": "tier_rank",  # a further downgrade
    "rising_star": "coalesce(revenue_growth, 0)",
}
ALERT_LABELS = {
    "churn_risk": ("流失风险", "churn risk"),
    "complaint_spike": ("投诉激增", "complaint spike"),
    "overdue_payment": ("逾期回款", "overdue payment"),
    "under_visited": ("拜访不足", "under-visited"),
    "margin_erosion": ("毛利下滑", "margin erosion"),
    "tier_downgrade": ("等级下调", "tier downgrade"),
    "rising_star": ("潜力新星", "rising star"),
}
DIMENSIONS = {"financial": "财务", "sales": "销售", "customer": "客户", "service": "服务"}


@dataclass(frozen=True)
class Item:
    customer_id: str
    customer_name: str
    tier: str
    tier_label_zh: str
    tier_label_en: str
    revenue: float
    alert_type: str
    reason: str
    measure: float
    driver: str | None  # e.g. "financial -8.2"
    news: str  # "new" | "worse"


@dataclass
class Digest:
    recipient: str
    publication_id: int
    month: dt.date
    items: list[Item]  # the news, ordered by stake, at most cap
    more: int  # news beyond the cap (in the report)
    open_alerts: int  # every alert the recipient's customers have this month
    from_default: bool = False  # a manager without an entry in notify.yml
    known: list[tuple[str, str, float]] = field(default_factory=list)  # (customer, type, baseline) after it


def served_sources(settings) -> tuple[int, duckdb.DuckDBPyConnection, dict[str, str]]:
    """The served publication, a DuckDB connection and, per mart a digest reads, the relation to
    read: what the settings' target serves (kam.targets)."""
    from kam.targets import target_of

    return target_of(settings).served_sources(DIGEST_MARTS)


def _current(con: duckdb.DuckDBPyConnection, relations: dict[str, str]) -> tuple[dt.date, list[dict]]:
    def src(mart: str) -> str:
        return relations[mart]

    month = con.execute(f"select max(as_of_month) from {src('customer_value_monthly')}").fetchone()[0]
    measure = "case alert_type " + " ".join(f"when '{t}' then {sql}" for t, sql in MEASURES.items()) + " end"
    scores = ("financial", "sales", "customer", "service")
    cur = con.execute(f"""
        with ranks as (select tier, tier_rank from read_csv('{TIER_LABELS}', header = true)),
             m as (select cvm.*, ranks.tier_rank from {src('customer_value_monthly')} cvm
                   left join ranks using (tier) where as_of_month = $month),
             p as (select customer_id, size_class as p_size_class, {", ".join(f"{s}_score as p_{s}" for s in scores)}
                   from {src('customer_value_monthly')} where as_of_month = $month - interval 1 month),
             j as (select a.alert_type, a.reason, m.* from {src('customer_alerts')} a join m using (customer_id)
                   where a.as_of_month = $month)
        select j.customer_id, coalesce(d.customer_name, j.customer_id) as customer_name,
               coalesce(d.account_manager, '{NO_MANAGER}') as manager, j.tier, j.tier_label_zh, j.tier_label_en,
               j.size_class, p.p_size_class, coalesce(j.revenue, 0) as revenue, j.alert_type, j.reason,
               cast({measure} as double) as measure, {", ".join(f"j.{s}_score - p.p_{s} as d_{s}" for s in scores)}
        from j
        left join p using (customer_id)
        left join {src('dim_customers')} d using (customer_id)
        order by revenue desc, j.customer_id, j.alert_type""", {"month": month})
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        deltas = {s: row.pop(f"d_{s}") for s in scores}
        # a warning's driver is the dimension that fell most; a rising star's, the one that rose most
        sign = 1 if row["alert_type"] == "rising_star" else -1
        moved = {s: d for s, d in deltas.items() if d is not None and d * sign > 0}
        top = max(moved, key=lambda s: moved[s] * sign) if moved else None
        row["driver"] = f"{top} {moved[top]:+.1f}" if top else None
    return month, rows


def build_digests(con: duckdb.DuckDBPyConnection, config: NotifyConfig, publication_id: int,
                  served: tuple[duckdb.DuckDBPyConnection, dict[str, str]]) -> list[Digest]:
    """Every digest of a publication (also those with no news: their ``known`` state is kept).
    ``con`` reads ``ops.notified_alerts`` (what each recipient knew after its previous digest);
    ``served`` is where the publication's marts are read (:func:`served_sources`)."""
    month, rows = _current(*served)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["manager"], []).append(row)
        # leadership: the key accounts' alerts, and a key account's downgrade out of the key tiers too
        if row["size_class"] == "key" or (row["alert_type"] == "tier_downgrade" and row["p_size_class"] == "key"):
            groups.setdefault(LEADERSHIP, []).append(row)
    has_table = "notified_alerts" in tables_in(con, "ops")
    digests = []
    for recipient in sorted(set(groups) | set(config.managers)):
        if recipient == LEADERSHIP and not config.leadership:
            continue
        known = {} if not has_table else {(c, t): b for c, t, b in con.execute(
            "select customer_id, alert_type, baseline from ops.notified_alerts where recipient = ? and "
            "publication_id = (select max(publication_id) from ops.notified_alerts where recipient = ? "
            "and publication_id < ?)", [recipient, recipient, publication_id]).fetchall()}
        news, after = [], []
        for row in groups.get(recipient, []):
            key, measure = (row["customer_id"], row["alert_type"]), row["measure"]
            baseline = known.get(key)
            kind = "new" if baseline is None else \
                "worse" if measure > baseline + config.worse_by * abs(baseline) and measure > baseline else None
            after.append((*key, measure if kind else baseline))
            if kind:
                news.append(Item(row["customer_id"], row["customer_name"], row["tier"], row["tier_label_zh"],
                                 row["tier_label_en"], float(row["revenue"]), row["alert_type"], row["reason"],
                                 measure, row["driver"], kind))
        from_default = recipient not in (LEADERSHIP, *config.managers)
        digests.append(Digest(recipient, publication_id, month, news[:config.cap], max(0, len(news) - config.cap),
                              len(groups.get(recipient, [])), from_default, after))
    return digests
