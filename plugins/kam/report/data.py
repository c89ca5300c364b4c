"""What the report shows, read from the published marts one month at a time.

Every function returns plain Python (lists, dicts, numbers) ready for JSON. Large
inputs are reduced here, not in the browser: the Lorenz curve to at most
``LORENZ_POINTS`` points, the quadrant scatter to the largest pseudo key accounts and
key accounts by revenue plus a repeatable sample of the others (``QUADRANT_*``), with
the quadrant counts always over all customers: its size does not grow with the customers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kam.errors import KamError
from kam.report.source import Source, month_literal

LORENZ_POINTS = 400
QUADRANT_PSEUDO = 500  # pseudo key accounts shown: the largest by revenue
QUADRANT_KEY = 1000  # key accounts shown: the largest by revenue
QUADRANT_SAMPLE = 1000  # other scored customers: a repeatable sample
TOP_ALERT_ACCOUNTS = 5
LARGEST_CHANGES = 15
TIER_ORDER = ["A", "B", "C", "D", "P", "X"]


@dataclass(frozen=True)
class Month:
    month: dt.date
    complete: bool

    @property
    def key(self) -> str:
        return self.month.isoformat()


def months(src: Source) -> list[Month]:
    """Every published month, oldest first."""
    df = src.frame("select as_of_month, bool_and(is_complete_month) as complete "
                   "from customer_value_monthly group by as_of_month order by as_of_month")
    if df.empty:
        raise KamError("the published customer_value_monthly is empty: nothing to report")
    return [Month(_date(m), bool(c)) for m, c in zip(df["as_of_month"], df["complete"], strict=True)]


def default_month(all_months: list[Month]) -> Month:
    """The latest complete month (the current month is still open), else the latest."""
    complete = [m for m in all_months if m.complete]
    return complete[-1] if complete else all_months[-1]


def tier_labels(src: Source, since: dt.date) -> dict[str, dict[str, str]]:
    df = src.frame("select distinct tier, tier_label_en, tier_label_zh from customer_value_monthly "
                   f"where as_of_month >= {month_literal(since)}")
    return {r.tier: {"en": r.tier_label_en, "zh": r.tier_label_zh} for r in df.itertuples()}


def headline(src: Source, month: dt.date) -> dict:
    m = month_literal(month)
    conc = src.frame("select customers, revenue, top20_share, customers_for_80pct, customers_for_80pct_share, gini "
                     f"from revenue_concentration where as_of_month = {m}")
    key = src.frame("select count(*) as all_customers, "
                    "sum(case when size_class = 'key' then 1 else 0 end) as keys, "
                    "sum(case when size_class = 'key' then revenue else 0 end) as keys_revenue "
                    f"from customer_value_monthly where as_of_month = {m}").iloc[0]
    out = {"customers_tracked": int(key["all_customers"]), "key_accounts": int(key["keys"] or 0),
           "key_revenue": _num(key["keys_revenue"])}
    if conc.empty:  # no customer with revenue this month
        out.update(customers=0, revenue=0.0, top20_share=None, customers_for_80pct=None,
                   customers_for_80pct_share=None, gini=None, key_revenue_share=None)
        return out
    c = conc.iloc[0]
    revenue = _num(c["revenue"])
    out.update(customers=int(c["customers"]), revenue=revenue, top20_share=_num(c["top20_share"]),
               customers_for_80pct=int(c["customers_for_80pct"]),
               customers_for_80pct_share=_num(c["customers_for_80pct_share"]), gini=_num(c["gini"]),
               key_revenue_share=(out["key_revenue"] / revenue) if revenue else None)
    return out


def lorenz(src: Source, month: dt.date) -> dict:
    """Cumulative revenue share against the share of customers, largest first (Pareto)."""
    df = src.frame("select revenue from customer_value_monthly "
                   f"where as_of_month = {month_literal(month)} and revenue > 0")
    revenue = np.sort(df["revenue"].astype(float).to_numpy())[::-1]
    if revenue.size == 0:
        return {"x": [], "y": [], "customers": 0}
    cum = np.concatenate([[0.0], np.cumsum(revenue) / revenue.sum()])
    share = np.arange(revenue.size + 1) / revenue.size
    idx = np.unique(np.linspace(0, revenue.size, min(LORENZ_POINTS, revenue.size + 1)).round().astype(int))
    return {"x": share[idx].round(5).tolist(), "y": cum[idx].round(5).tolist(), "customers": int(revenue.size)}


def tier_mix(src: Source, month: dt.date, span: int = 24) -> dict:
    """Customers per tier for the ``span`` months up to ``month``."""
    since = _add_months(month, -(span - 1))
    df = src.frame("select as_of_month, tier, count(*) as customers, sum(revenue) as revenue "
                   "from customer_value_monthly "
                   f"where as_of_month between {month_literal(since)} and {month_literal(month)} "
                   "group by as_of_month, tier order by as_of_month, tier")
    df["as_of_month"] = df["as_of_month"].map(lambda v: _date(v).isoformat())
    months_seen = sorted(df["as_of_month"].unique().tolist())
    series = {}
    for tier in TIER_ORDER:
        part = df[df["tier"] == tier].set_index("as_of_month")
        series[tier] = [int(part["customers"].get(m, 0)) for m in months_seen]
    return {"months": months_seen, "series": series}


def migration(src: Source, month: dt.date) -> dict:
    df = src.frame("select from_tier, to_tier, customers, revenue from tier_migration "
                   f"where as_of_month = {month_literal(month)}")
    # from_tier 'new': the customer's first month
    from_tiers = [t for t in ["new", *TIER_ORDER] if t in set(df["from_tier"])]
    to_tiers = [t for t in TIER_ORDER if t in set(df["to_tier"])]
    counts = [[0] * len(to_tiers) for _ in from_tiers]
    revenue = [[0.0] * len(to_tiers) for _ in from_tiers]
    for r in df.itertuples():
        i, j = from_tiers.index(r.from_tier), to_tiers.index(r.to_tier)
        counts[i][j] = int(r.customers)
        revenue[i][j] = _num(r.revenue) or 0.0
    return {"from": from_tiers, "to": to_tiers, "counts": counts, "revenue": revenue}


def quadrant(src: Source, month: dt.date) -> dict:
    df = src.frame("select customer_id, tier, size_class, is_pseudo_key_account, value_quadrant, revenue, "
                   "current_value_score, potential_value_score from customer_value_monthly "
                   f"where as_of_month = {month_literal(month)} "
                   "and current_value_score is not null and potential_value_score is not null")
    counts = {str(k): int(v) for k, v in df["value_quadrant"].value_counts().items()}
    df = df.assign(revenue=df["revenue"].astype(float))
    pseudo = df["is_pseudo_key_account"].astype(bool)
    key = (df["size_class"] == "key") & ~pseudo
    rest = df[~pseudo & ~key].sort_values("customer_id")  # the same points in the same order on every engine
    if len(rest) > QUADRANT_SAMPLE:  # the same customers every run: ordered by a hash of the id
        order = pd.util.hash_pandas_object(rest["customer_id"], index=False).sort_values(kind="stable").index
        rest = rest.loc[order[:QUADRANT_SAMPLE]]
    shown = pd.concat([_largest(df[pseudo], QUADRANT_PSEUDO), _largest(df[key], QUADRANT_KEY), rest])
    points = []
    for pseudo in (False, True):
        part = shown[shown["is_pseudo_key_account"].astype(bool) == pseudo]
        points.append({
            "pseudo": pseudo,
            "id": part["customer_id"].tolist(),
            "tier": part["tier"].tolist(),
            "x": part["current_value_score"].astype(float).round(2).tolist(),
            "y": part["potential_value_score"].astype(float).round(2).tolist(),
            "revenue": part["revenue"].astype(float).round(0).tolist(),
        })
    return {"points": points, "counts": counts, "scored": int(len(df)), "shown": int(len(shown))}


def _largest(part: pd.DataFrame, n: int) -> pd.DataFrame:
    return part.sort_values(["revenue", "customer_id"], ascending=[False, True]).head(n)


def alerts(src: Source, month: dt.date) -> dict:
    m = month_literal(month)
    by_type = src.frame(f"select alert_type, count(*) as alerts from customer_alerts where as_of_month = {m} "
                        "group by alert_type order by alerts desc, alert_type")
    top = src.frame("select a.alert_type, a.customer_id, a.reason, v.tier, v.revenue from customer_alerts a "
                    "left join customer_value_monthly v on v.customer_id = a.customer_id "
                    f"and v.as_of_month = a.as_of_month where a.as_of_month = {m}")
    top["revenue"] = top["revenue"].astype(float)
    top = (top.sort_values(["alert_type", "revenue", "customer_id"], ascending=[True, False, True])
              .groupby("alert_type").head(TOP_ALERT_ACCOUNTS))
    return {
        "types": by_type["alert_type"].tolist(),
        "counts": [int(v) for v in by_type["alerts"]],
        "top": [{"type": r["alert_type"], "customer_id": r["customer_id"], "tier": r["tier"],
                 "revenue": r["revenue"], "reason": r["reason"]} for r in _records(top)],
    }


def coverage(src: Source, month: dt.date) -> dict:
    df = src.frame("select tier, max_days_between_visits, accounts, accounts_within_plan, coverage_rate "
                   f"from visit_coverage where as_of_month = {month_literal(month)}")
    df = df.set_index("tier").reindex([t for t in TIER_ORDER if t in set(df["tier"])]).reset_index()
    return {"tiers": df["tier"].tolist(), "plan_days": [int(v) for v in df["max_days_between_visits"]],
            "accounts": [int(v) for v in df["accounts"]],
            "within": [int(v) for v in df["accounts_within_plan"]],
            "rate": [round(float(v), 4) for v in df["coverage_rate"]]}


def largest_changes(src: Source, month: dt.date) -> list[dict]:
    df = src.frame("select customer_id, from_tier, to_tier, direction, previous_value_score, value_score, "
                   "top_moving_dimension, top_moving_dimension_change from customer_tier_changes "
                   f"where change_month = {month_literal(month)}")
    if df.empty:
        return []
    df["move"] = (df["value_score"].astype(float) - df["previous_value_score"].astype(float)).abs()
    df = df.sort_values(["move", "customer_id"], ascending=[False, True], na_position="last").head(LARGEST_CHANGES)
    return [{"customer_id": r["customer_id"], "from": r["from_tier"], "to": r["to_tier"],
             "direction": r["direction"], "before": r["previous_value_score"], "after": r["value_score"],
             "driver": r["top_moving_dimension"], "driver_change": r["top_moving_dimension_change"]}
            for r in _records(df)]


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values, a missing one (NULL, NaN, NA) as None."""
    out = []
    for row in df.to_dict("records"):
        out.append({k: None if _missing(v) else float(v) if isinstance(v, (float, np.floating))
                    else int(v) if isinstance(v, np.integer) else v for k, v in row.items()})
    return out


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value) -> float | None:
    return None if _missing(value) else float(value)


def _date(value) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)
