"""Current rules against a candidate for one month, read from a what-if copy of the warehouse:
``whatif_current`` holds the marts as the last good build made them, ``marts`` the candidate's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

DIMENSIONS = ("financial", "sales", "customer", "service")


@dataclass
class Comparison:
    candidate: str
    month: dt.date
    changed: dict  # var -> (current value, candidate value)
    tiers: list[dict] = field(default_factory=list)  # tier, label, rank, before, after
    key_accounts: tuple[int, int] = (0, 0)
    key_revenue_share: tuple[float | None, float | None] = (None, None)
    matrix: list[dict] = field(default_factory=list)  # from, to, customers, revenue
    movers: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)  # alert_type, before, after
    concentration: dict = field(default_factory=dict)  # measure -> (before, after)
    models_rebuilt: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def up(self) -> int:
        return sum(1 for m in self.movers if m["direction"] == "up")

    @property
    def down(self) -> int:
        return len(self.movers) - self.up

    def headline(self) -> str:
        before, after = self.key_accounts
        share = self.key_revenue_share
        shares = "" if None in share else f", {share[0]:.1%} → {share[1]:.1%} of revenue"
        return (f"{self.candidate}: key accounts {before} → {after} ({after - before:+d}{shares}); "
                f"{len(self.movers)} customer(s) change tier ({self.up} up, {self.down} down) in {self.month:%Y-%m}")


def latest_complete_month(con) -> dt.date:
    month = con.execute("select max(as_of_month) from whatif_current.customer_value_monthly "
                        "where is_complete_month").fetchone()[0]
    if month is None:
        month = con.execute("select max(as_of_month) from whatif_current.customer_value_monthly").fetchone()[0]
    return month


def compare(con, name: str, month: dt.date, current_rules: dict, candidate_rules: dict,
            changed: dict) -> Comparison:
    """Every figure of the comparison, in SQL on the copy (``con``)."""
    out = Comparison(name, month, {k: (current_rules.get(k), v) for k, v in changed.items()})
    pair = """
        with b as (select * from whatif_current.customer_value_monthly where as_of_month = $m),
             a as (select * from marts.customer_value_monthly where as_of_month = $m)
    """
    params = {"m": month}
    rows = con.execute(pair + """
        select l.tier, l.label_en, l.label_zh, l.tier_rank,
               (select count(*) from b where b.tier = l.tier), (select count(*) from a where a.tier = l.tier)
        from rules.tier_labels l order by l.tier_rank""", params).fetchall()
    out.tiers = [{"tier": t, "label_en": en, "label_zh": zh, "rank": r, "before": nb, "after": na}
                 for t, en, zh, r, nb, na in rows]
    key = con.execute(pair + """
        select (select count(*) filter (where size_class = 'key') from b),
               (select count(*) filter (where size_class = 'key') from a),
               (select sum(revenue) filter (where size_class = 'key') / nullif(sum(revenue), 0) from b),
               (select sum(revenue) filter (where size_class = 'key') / nullif(sum(revenue), 0) from a)""",
                      params).fetchone()
    out.key_accounts = (key[0], key[1])
    out.key_revenue_share = (None if key[2] is None else float(key[2]), None if key[3] is None else float(key[3]))
    out.matrix = [{"from": f, "to": t, "customers": n, "revenue": float(r or 0)} for f, t, n, r in con.execute(
        pair + "select b.tier, a.tier, count(*), sum(b.revenue) from b join a using (customer_id) "
               "group by all order by all", params).fetchall()]
    weights_before, weights_after = current_rules["dimension_weights"], candidate_rules["dimension_weights"]
    moved = " , ".join(
        f"({float(weights_after[d])} * coalesce(a.{d}_score, 0) - {float(weights_before[d])} * "
        f"coalesce(b.{d}_score, 0))" for d in DIMENSIONS)
    names = ", ".join(f"'{d}'" for d in DIMENSIONS)
    movers = con.execute(pair + f"""
        select b.customer_id, d.customer_name, d.account_manager, b.revenue, b.tier, a.tier,
               lb.tier_rank, la.tier_rank, b.value_score, a.value_score, [{moved}] as moves, [{names}] as dims
        from b join a using (customer_id)
        left join marts.dim_customers d using (customer_id)
        join rules.tier_labels lb on lb.tier = b.tier
        join rules.tier_labels la on la.tier = a.tier
        where b.tier <> a.tier
        order by b.revenue desc nulls last, b.customer_id""", params).fetchall()
    for cid, cname, manager, revenue, tb, ta, rb, ra, sb, sa, moves, dims in movers:
        i = max(range(len(moves)), key=lambda j: abs(moves[j]))
        # no dimension's contribution moved: the same scores met other thresholds or limits
        driver, change = (dims[i], round(float(moves[i]), 2)) if abs(moves[i]) >= 0.005 else (
            " / ".join(sorted(set(changed) - {"dimension_weights", "scorecard_indicators"})) or "rules", None)
        out.movers.append({
            "customer_id": cid, "customer_name": cname, "account_manager": manager,
            "revenue": float(revenue or 0), "tier_before": tb, "tier_after": ta,
            "direction": "up" if ra < rb else "down",
            "score_before": None if sb is None else float(sb), "score_after": None if sa is None else float(sa),
            "driver": driver, "driver_change": change})
    out.alerts = [{"alert_type": t, "before": nb, "after": na} for t, nb, na in con.execute("""
        with b as (select alert_type, count(*) as n from whatif_current.customer_alerts
                   where as_of_month = $m group by 1),
             a as (select alert_type, count(*) as n from marts.customer_alerts where as_of_month = $m group by 1)
        select alert_type, coalesce(b.n, 0), coalesce(a.n, 0) from b full join a using (alert_type)
        order by 1""", params).fetchall()]
    conc = con.execute("""
        select b.top20_share, a.top20_share, b.customers_for_80pct, a.customers_for_80pct, b.gini, a.gini
        from whatif_current.revenue_concentration b, marts.revenue_concentration a
        where b.as_of_month = $m and a.as_of_month = $m""", params).fetchone()
    if conc:
        out.concentration = {"top20_share": (conc[0], conc[1]), "customers_for_80pct": (conc[2], conc[3]),
                             "gini": (conc[4], conc[5])}
    return out
