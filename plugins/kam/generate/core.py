"""The generator itself: vectorised numpy/pandas, deterministic for a seed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kam.errors import KamError
from kam.generate import names

log = logging.getLogger(__name__)

# Customers planted with a known story (tests rely on these ids and stories).
PLANTED: dict[str, str] = {
    "C000001": "anchor",        # the biggest steady buyer, strategic partner: key account A
    "C000002": "one_off",       # one very large order, nothing else: pseudo key account
    "C000003": "prospect",      # visits in the last months, never an order: tier P
    "C000004": "decliner",      # was large, nearly stopped ordering 8 months ago: churn_risk
    "C000005": "late_payer",    # invoices long past due and unpaid: overdue_payment
    "C000006": "burst",         # complaint burst + an open severe complaint: complaint_spike
    "C000007": "rising",        # small, revenue growing fast in recent months
    "C000008": "churned",       # ordered only early in the period: inactive (X) now
    "C000009": "unmastered",    # orders but no customer-master row: inferred member
}

ARCHETYPE_SHARES = {
    "prospect": 0.08, "one_off": 0.01, "decliner": 0.05, "grower": 0.05,
    "late_payer": 0.05, "burst": 0.03, "churned": 0.04,
}
# Calendar-month seasonality: Spring Festival dip in February, year-end push.
# lines per order: 1 + Poisson(1.5), at most 8 (see _orders)
MEAN_LINES_PER_ORDER = 1 + sum(min(k, 7) * math.exp(-1.5) * 1.5 ** k / math.factorial(k) for k in range(40))
SEASON = np.array([0.9, 0.6, 1.0, 1.0, 1.05, 1.1, 0.95, 0.95, 1.05, 1.0, 1.1, 1.3])
INDUSTRIES = list(names.INDUSTRY_WORDS)


@dataclass
class GenerationSummary:
    out_dir: Path
    customers: int
    months: int
    seed: int
    end_date: dt.date
    files: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    # with daily_tail: the files of the last day's delivery (source/name), to hold back
    last_day_files: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v:,} rows in {len(self.files[k])} file(s)"
                          for k, v in self.rows.items())
        return f"generated into {self.out_dir}: {parts}"


def _month_starts(end_date: dt.date, months: int) -> list[dt.date]:
    first = end_date.replace(day=1)
    out = []
    y, m = first.year, first.month
    for _ in range(months):
        out.append(dt.date(y, m, 1))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _days_in(month: dt.date, end_date: dt.date) -> int:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last = min(nxt - dt.timedelta(days=1), end_date)
    return (last - month).days + 1


def _customers(rng: np.random.Generator, n: int, months: list[dt.date],
               end_date: dt.date, all_from_start: bool = False) -> pd.DataFrame:
    ids = np.array([f"C{i:06d}" for i in range(1, n + 1)])
    archetype = np.full(n, "regular", dtype=object)
    draw = rng.random(n)
    edge = 0.0
    for name, share in ARCHETYPE_SHARES.items():
        archetype[(draw >= edge) & (draw < edge + share)] = name
        edge += share
    size = np.minimum(rng.pareto(1.16, n) + 1.0, 400.0)
    for cid, story in PLANTED.items():
        idx = int(cid[1:]) - 1
        if idx < n:
            archetype[idx] = story
    size[archetype == "anchor"] = 400.0
    if n >= 4:
        size[3] = 60.0  # the planted decliner was a large account
    size[archetype == "rising"] = 2.0
    size[archetype == "one_off"] = 1.0
    industry = rng.choice(INDUSTRIES, n)
    city = rng.choice(names.CITIES, n)
    core = rng.choice(names.CORES, n)
    suffix = np.array([names.INDUSTRY_WORDS[i] for i in industry])
    # names need not be unique (real masters have near-duplicates); ids are
    name = np.char.add(np.char.add(np.char.add(city.astype(str), core.astype(str)),
                                   suffix.astype(str)), "有限公司")
    managers = [s + g for s, g in zip(rng.choice(names.SURNAMES, 40),
                                      rng.choice(names.GIVEN, 40), strict=True)]
    window_start = pd.Timestamp(months[0])
    # 80% existed before the window; the rest were created inside it
    in_window = rng.random(n) < 0.2
    first_month = np.where(in_window, rng.integers(0, len(months), n), 0)
    first_month[archetype == "prospect"] = np.maximum(len(months) - 6, 0)
    first_month[archetype == "one_off"] = np.maximum(len(months) - 4, 0)
    long_standing = np.isin(archetype, ["anchor", "decliner", "churned", "late_payer", "rising", "burst"])
    first_month[long_standing] = 0
    in_window[long_standing] = False
    if all_from_start:  # a long history with every customer there from its first month (kam bench --history-months)
        first_month[:] = 0
        in_window[:] = False
    before_days = rng.integers(30, 3000, n)
    created = np.where(
        (first_month == 0) & ~in_window,
        window_start - pd.to_timedelta(before_days, unit="D"),
        pd.to_datetime([months[i] for i in first_month]),
    )
    created = pd.to_datetime(created) + pd.to_timedelta(rng.integers(8 * 3600, 18 * 3600, n), unit="s")
    strategic = (rng.random(n) < np.clip(size / 400.0, 0.02, 0.6)) | (archetype == "anchor")
    strategic[np.isin(archetype, ["one_off", "prospect", "rising"])] = False
    employees = np.round(20 * size ** 0.8 * rng.lognormal(0, 0.3, n)).astype(int) + 5
    monthly_value = 9000.0 * size  # expected revenue per month (CNY)
    budget = np.round(monthly_value * 12 * rng.uniform(1.1, 3.0, n), -3)
    budget[archetype == "prospect"] = np.round(rng.uniform(2e5, 5e6, (archetype == "prospect").sum()), -3)
    return pd.DataFrame({
        "customer_id": ids,
        "customer_name": name,
        "industry": industry,
        "region": rng.choice(names.REGIONS, n),
        "employee_count": employees,
        "annual_budget": budget,
        "account_manager": rng.choice(managers, n),
        "is_strategic_partner": strategic,
        "contact_name": [s + g for s, g in zip(rng.choice(names.SURNAMES, n),
                                               rng.choice(names.GIVEN, n), strict=True)],
        "contact_phone": [f"1{p:010d}" for p in rng.integers(3_000_000_000, 9_999_999_999, n)],
        "created_at": created,
        "updated_at": pd.Series(created + pd.to_timedelta(rng.integers(0, 30, n), unit="D"))
        .clip(upper=pd.Timestamp(end_date)).to_numpy(),
        "_archetype": archetype,
        "_size": size,
        "_first_month": first_month,
        "_service_mix": np.where(rng.random(n) < 0.25, 0.45, 0.12),
        # loyal larger accounts buy more services: slightly better margins on average
        "_margin": np.where(archetype == "anchor", 0.33,
                            np.clip(rng.normal(0.21 + 0.015 * np.log1p(size), 0.07, n), 0.05, 0.5)),
        "_discount": np.clip(rng.normal(0.08, 0.05, n), 0.0, 0.3),
    })


def _trend(archetype: np.ndarray, first_month: np.ndarray, n_months: int,
           rng: np.random.Generator) -> np.ndarray:
    """Multiplier on the order rate per customer × month (0 = no orders)."""
    n = len(archetype)
    t = np.arange(n_months)[None, :].repeat(n, 0).astype(float)
    trend = np.exp(np.cumsum(rng.normal(0, 0.03, (n, n_months)), axis=1))
    m = n_months - 1
    grower = archetype == "grower"
    trend[grower] *= np.exp(np.linspace(-0.7, 0.7, n_months))[None, :]
    rising = archetype == "rising"
    trend[rising] = np.where(t[rising] < m - 6, 0.6, 0.6 * 1.45 ** (t[rising] - (m - 6)))
    decl = archetype == "decliner"
    trend[decl] = np.where(t[decl] < m - 8, 1.0, 0.03)
    trend[decl, -4:] = 0.0
    churn = archetype == "churned"
    stop = rng.integers(max(n_months // 4, 1), max(n_months // 2, 2), n)
    stop[archetype == "churned"] = np.minimum(stop[archetype == "churned"], 6)
    trend[churn] = np.where(t[churn] < stop[churn, None], trend[churn], 0.0)
    trend[np.isin(archetype, ["prospect", "one_off"])] = 0.0
    trend[t < first_month[:, None]] = 0.0
    return trend


def _scaled(lam: np.ndarray, target: int | None, per_draw: float = 1.0) -> float:
    """The factor that brings the expected number of rows (``per_draw`` rows per event of
    Poisson rates ``lam``) to ``target``; 1 without a target."""
    expected = float(lam.sum()) * per_draw
    return target / expected if target and expected > 0 else 1.0


def _orders(rng: np.random.Generator, cust: pd.DataFrame, months: list[dt.date],
            end_date: dt.date, order_lines: int | None = None) -> pd.DataFrame:
    n_months = len(months)
    arche = cust["_archetype"].to_numpy()
    size = cust["_size"].to_numpy()
    rate = np.clip(1.0 * size ** 0.5, 1.0, 16.0)
    season = np.array([SEASON[mo.month - 1] for mo in months])
    trend = _trend(arche, cust["_first_month"].to_numpy(), n_months, rng)
    # a target volume scales every customer's order rate (and so divides the line value:
    # revenue per customer stays the same)
    rate = rate * _scaled(rate[:, None] * trend * season[None, :], order_lines, MEAN_LINES_PER_ORDER)
    counts = rng.poisson(rate[:, None] * trend * season[None, :])
    # the anchor orders every month
    anchor = arche == "anchor"
    counts[anchor] = np.maximum(counts[anchor], 3)
    ci, mi = np.nonzero(counts)
    reps = counts[ci, mi]
    o_cust = np.repeat(ci, reps)
    o_month = np.repeat(mi, reps)
    # the one-off buyer: one order, three months before the end
    one_off = np.nonzero(arche == "one_off")[0]
    o_cust = np.concatenate([o_cust, one_off])
    o_month = np.concatenate([o_month, np.full(len(one_off), max(n_months - 3, 0))])
    days = np.array([_days_in(months[m], end_date) for m in range(n_months)])
    o_day = (rng.random(len(o_cust)) * days[o_month]).astype(int)
    month_start = pd.to_datetime(np.array(months, dtype="datetime64[D]"))
    order_date = month_start[o_month] + pd.to_timedelta(o_day, unit="D")
    orders = pd.DataFrame({"cust": o_cust, "month": o_month, "order_date": order_date})
    orders = orders.sort_values(["order_date", "cust"], kind="stable").reset_index(drop=True)
    orders["order_id"] = [f"SO{d:%Y%m}{i:07d}" for i, d in enumerate(orders["order_date"], 1)]
    n_lines = np.minimum(1 + rng.poisson(1.5, len(orders)), 8)
    is_one_off = np.isin(orders["cust"].to_numpy(), one_off)
    n_lines[is_one_off] = 1
    lines = orders.loc[orders.index.repeat(n_lines)].reset_index(drop=True)
    lines["line_no"] = lines.groupby("order_id").cumcount() + 1
    L = len(lines)
    c = lines["cust"].to_numpy()
    svc = cust["_service_mix"].to_numpy()[c]
    u = rng.random(L)
    category = np.where(u < svc * 0.6, "service", np.where(u < svc, "solution", "product"))
    # line value: the customer's monthly value spread over its expected lines
    expected_lines = np.maximum(rate[c] * 2.2, 0.5)
    value = 9000.0 * size[c] / expected_lines * rng.lognormal(-0.045, 0.3, L)
    value[np.isin(c, one_off)] = rng.uniform(4.0e6, 6.0e6, np.isin(c, one_off).sum())
    quantity = np.maximum(1, np.round(rng.lognormal(2.0, 0.8, L))).astype(int)
    discount = np.clip(cust["_discount"].to_numpy()[c] + rng.normal(0, 0.02, L), 0, 0.4)
    list_price = np.round(value / quantity / (1 - discount), 2)
    net = np.round(quantity * list_price * (1 - discount), 2)
    margin = np.clip(cust["_margin"].to_numpy()[c] + rng.normal(0, 0.04, L), -0.1, 0.7)
    cost = np.round(net * (1 - margin), 2)
    s = rng.random(L)
    status = np.where(s < 0.93, "confirmed", np.where(s < 0.97, "cancelled", "returned"))
    status[np.isin(c, one_off)] = "confirmed"
    sign = np.where(status == "returned", -1, 1)
    terms = rng.choice([30, 60], L)
    od = lines["order_date"]
    due = od + pd.to_timedelta(terms, unit="D")
    arch_c = arche[c]
    delay = np.where(np.isin(arch_c, ["late_payer"]), rng.integers(70, 200, L),
                     np.round(rng.normal(-3, 9, L)).astype(int))
    paid_date = due + pd.to_timedelta(delay, unit="D")
    never = (arch_c == "late_payer") & (rng.random(L) < 0.5)
    end_ts = pd.Timestamp(end_date)
    unpaid = (paid_date > end_ts) | never | (status == "cancelled")
    paid_amount = np.where(unpaid, np.nan, net * sign)
    updated = np.where(unpaid, od + pd.to_timedelta(rng.integers(1, 48, L), unit="h"), paid_date)
    updated = pd.to_datetime(updated) + pd.to_timedelta(rng.integers(0, 3600, L), unit="s")
    updated = updated.where(updated <= end_ts + pd.Timedelta(hours=23), end_ts)
    out = pd.DataFrame({
        "order_id": lines["order_id"],
        "line_no": lines["line_no"],
        "customer_id": cust["customer_id"].to_numpy()[c],
        "order_date": od.dt.date,
        "product_id": [f"P{p:05d}" for p in rng.integers(1, 3000, L)],
        "product_category": category,
        "quantity": quantity * sign,
        "list_price": list_price,
        "net_amount": net * sign,
        "cost": cost * sign,
        "currency": "CNY",
        "status": status,
        "invoice_due_date": due.dt.date.where(status != "cancelled", None),
        "paid_amount": paid_amount,
        "paid_date": pd.Series(paid_date.dt.date).where(~unpaid, None),
        "updated_at": updated,
    })
    return out


def _complaints(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame,
                end_date: dt.date, complaints: int | None = None) -> pd.DataFrame:
    per = orders.groupby(["customer_id", pd.to_datetime(orders["order_date"]).dt.to_period("M")]).size()
    lam = 0.12 * np.sqrt(per.to_numpy()) + 0.01  # key accounts get better service per order
    lam = lam * _scaled(lam, complaints)
    k = rng.poisson(lam)
    cust_ids = np.repeat(per.index.get_level_values(0).to_numpy(), k)
    month = np.repeat(per.index.get_level_values(1).to_timestamp().to_numpy(), k)
    end_ts = pd.Timestamp(end_date) + pd.Timedelta(hours=12)
    opened = pd.to_datetime(month) + pd.to_timedelta(
        rng.integers(0, 28 * 24 * 3600, int(k.sum())), unit="s")
    # the burst: six complaints in the last two months, one severe and still open
    burst_ids = cust.loc[cust["_archetype"] == "burst", "customer_id"].to_numpy()
    b_ids = np.repeat(burst_ids, 6)
    b_open = end_ts - pd.to_timedelta(rng.integers(2, 60 * 24, len(b_ids)), unit="h")
    cust_ids = np.concatenate([cust_ids, b_ids])
    opened = pd.DatetimeIndex(np.concatenate([opened.to_numpy(), b_open.to_numpy()]))
    keep = opened <= end_ts - pd.Timedelta(hours=1)
    cust_ids, opened = cust_ids[keep], opened[keep]
    n = len(cust_ids)
    severity = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.18, 0.07])
    is_burst = np.isin(cust_ids, burst_ids) & (opened > end_ts - pd.Timedelta(days=61))
    severity[is_burst] = rng.choice([2, 3], is_burst.sum())
    # key accounts get faster answers and end up happier (the service plan works)
    size_of = dict(zip(cust["customer_id"], cust["_size"], strict=True))
    care = 1.0 + np.log1p(np.array([size_of.get(c, 1.0) for c in cust_ids])) / 2.0
    resp_h = rng.lognormal(np.log(np.where(severity >= 3, 3.0, 10.0) / care), 0.8)
    first_resp = opened + pd.to_timedelta(np.round(resp_h * 3600), unit="s")
    resolve_d = rng.lognormal(np.log(4), 0.9, n)
    resolved_at = opened + pd.to_timedelta(np.round(resolve_d * 86400), unit="s")
    done = resolved_at < end_ts
    status = np.where(done, np.where(rng.random(n) < 0.6, "closed", "resolved"),
                      np.where(rng.random(n) < 0.5, "open", "in_progress"))
    sat = np.clip(np.round(rng.normal(3.9 - 0.5 * (severity - 1) + 0.25 * (care - 1), 0.8)), 1, 5)
    satisfaction = np.where(done & (rng.random(n) < 0.7), sat, np.nan)
    # one severe complaint per burst customer: open, no response, past any SLA
    severe_open = np.zeros(n, dtype=bool)
    for cid in burst_ids:
        rows = np.nonzero(cust_ids == cid)[0]
        if len(rows):
            severe_open[rows[-1]] = True
    severity[severe_open] = 4
    opened = pd.DatetimeIndex(np.where(severe_open, end_ts - pd.Timedelta(days=5), opened))
    status[severe_open] = "open"
    done[severe_open] = False
    satisfaction[severe_open] = np.nan
    first_resp = pd.Series(first_resp).where((first_resp < end_ts) & ~severe_open, pd.NaT)
    resolved = pd.Series(resolved_at).where(done, pd.NaT)
    updated = pd.concat([pd.Series(opened), first_resp, resolved], axis=1).max(axis=1)
    frame = pd.DataFrame({
        "complaint_id": [f"CP{i:07d}" for i in range(1, n + 1)],
        "customer_id": cust_ids,
        "opened_at": opened,
        "channel": rng.choice(["phone", "email", "wechat", "portal"], n),
        "category": rng.choice(["quality", "delivery", "service", "billing", "other"], n,
                               p=[0.35, 0.3, 0.15, 0.12, 0.08]),
        "severity": severity,
        "status": status,
        "first_response_at": first_resp.to_numpy(),
        "resolved_at": resolved.to_numpy(),
        "satisfaction": satisfaction,
        "updated_at": updated.to_numpy(),
    })
    return frame.sort_values("opened_at", kind="stable").reset_index(drop=True)


STAGES = ["call_invitation", "first_visit", "initial_proposal", "technical_exchange",
          "requirements_confirmed", "project_evaluation", "commercial_negotiation",
          "contract_signed"]
ROLES = ["economic", "technical", "user", "financial", "coach", "influencer"]
LEVELS = ["stranger", "familiar", "trusted", "alliance"]


def _visits(rng: np.random.Generator, cust: pd.DataFrame, months: list[dt.date],
            end_date: dt.date, visits: int | None = None) -> pd.DataFrame:
    n_months = len(months)
    arche = cust["_archetype"].to_numpy()
    size = cust["_size"].to_numpy()
    first = cust["_first_month"].to_numpy()
    rate = np.clip(0.15 + 0.35 * np.log1p(size), 0.1, 3.5)
    rate[arche == "prospect"] = 1.5
    rate[arche == "rising"] = 0.8
    t = np.arange(n_months)[None, :]
    active = t >= first[:, None]
    active[arche == "churned"] &= t[0] < 8
    active[arche == "decliner"] &= t[0] < n_months - 5
    active[arche == "one_off"] = False
    rate = rate * _scaled(rate[:, None] * active, visits)
    counts = rng.poisson(rate[:, None] * active)
    ci, mi = np.nonzero(counts)
    reps = counts[ci, mi]
    v_cust = np.repeat(ci, reps)
    v_month = np.repeat(mi, reps)
    days = np.array([_days_in(months[m], end_date) for m in range(n_months)])
    day = (rng.random(len(v_cust)) * days[v_month]).astype(int)
    month_start = pd.to_datetime(np.array(months, dtype="datetime64[D]"))
    visit_date = month_start[v_month] + pd.to_timedelta(day, unit="D")
    m = len(v_cust)
    progress = np.clip((v_month - first[v_cust]) / 6.0 + rng.normal(0, 0.8, m), 0, 7)
    stage = np.array(STAGES)[np.round(progress).astype(int)]
    level_score = np.clip(np.log1p(size[v_cust]) / 1.6 + rng.normal(0, 0.5, m)
                          + (v_month - first[v_cust]) / 24.0, 0, 3)
    strategic = cust["is_strategic_partner"].to_numpy()[v_cust]
    level = np.where(strategic, "alliance", np.array(LEVELS)[np.round(level_score).astype(int)])
    frame = pd.DataFrame({
        "visit_date": visit_date,
        "customer_id": cust["customer_id"].to_numpy()[v_cust],
        "visit_type": rng.choice(["phone", "onsite", "meeting", "executive", "training", "event"], m,
                                 p=[0.35, 0.3, 0.15, 0.05, 0.08, 0.07]),
        "sales_rep": cust["account_manager"].to_numpy()[v_cust],
        "buyer_role": rng.choice(ROLES, m, p=[0.15, 0.3, 0.25, 0.1, 0.1, 0.1]),
        "sales_stage": stage,
        "relationship_level": level,
        "notes": rng.choice(["例行拜访", "技术交流", "商务洽谈", "回访", "新品推介", "年度框架协议沟通"], m),
    })
    frame = frame.sort_values(["visit_date", "customer_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "visit_id", [f"V{i:08d}" for i in range(1, m + 1)])
    frame["updated_at"] = frame["visit_date"] + pd.to_timedelta(rng.integers(9, 20, m), unit="h")
    frame["visit_date"] = frame["visit_date"].dt.date
    return frame


# --- writing files ---------------------------------------------------------------------------

def _fmt_slash_date(series: pd.Series) -> pd.Series:
    s = pd.to_datetime(series)
    out = s.dt.year.astype("Int64").astype(str) + "/" + s.dt.month.astype("Int64").astype(str) \
        + "/" + s.dt.day.astype("Int64").astype(str)
    return out.where(s.notna(), "")


def _fmt_thousands(series: pd.Series) -> pd.Series:
    return series.map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")


def _write_csv(frame: pd.DataFrame, path: Path, encoding: str, chinese_style: bool) -> None:
    out = frame.copy()
    if chinese_style:  # as Chinese ERPs export: YYYY/M/D dates, thousands separators
        for col in out.columns:
            if col.endswith("_date"):
                out[col] = _fmt_slash_date(out[col])
            elif col in ("net_amount", "list_price", "cost", "paid_amount", "annual_budget"):
                out[col] = _fmt_thousands(out[col])
    out.to_csv(path, index=False, encoding=encoding, date_format="%Y-%m-%d %H:%M:%S")


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S")
    with path.open("w", encoding="utf-8") as fh:
        for rec in out.to_dict(orient="records"):
            clean = {k: (None if (isinstance(v, float) and np.isnan(v)) or v is pd.NaT else v)
                     for k, v in rec.items()}
            fh.write(json.dumps(clean, ensure_ascii=False, default=str) + "\n")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def generate(out_dir: Path, customers: int = 2000, months: int = 24, seed: int = 42,
             end_date: dt.date | None = None, daily_tail: bool = False, order_lines: int | None = None,
             complaints: int | None = None, visits: int | None = None,
             all_from_start: bool = False) -> GenerationSummary:
    """Write a landing folder (``out_dir/<source>/...``) and return what was written.

    ``order_lines``, ``complaints``, ``visits``: about how many to generate (the rates of
    every customer scaled to it; the planted stories keep their shape); default: the
    natural rates (about 125 order lines, 6 complaints and 18 visits per customer over
    36 months).

    ``daily_tail``: the orders, complaints and visits of ``end_date`` go into daily files
    (``*_daily_YYYYMMDD``) instead of the period files; with the corrections file they
    are that day's delivery (``summary.last_day_files``), for incremental-run tests and
    the benchmark's daily run.

    ``all_from_start``: every customer exists (and may buy) from the first month on, a shape
    the default mix (20% created inside the period) does not have: the benchmark's long
    histories (``kam bench --history-months``)."""
    if customers < 10:
        raise KamError("customers must be at least 10 (the planted stories need ids 1-9)")
    if months < 13:
        raise KamError("months must be at least 13 (a 12-month window plus history)")
    end_date = end_date or dt.date.today()
    rng = np.random.default_rng(seed)
    month_list = _month_starts(end_date, months)
    cust = _customers(rng, customers, month_list, end_date, all_from_start)
    for name, value in (("order_lines", order_lines), ("complaints", complaints), ("visits", visits)):
        if value is not None and value <= 0:
            raise KamError(f"{name} must be a positive number, got {value:,}")
    orders = _orders(rng, cust, month_list, end_date, order_lines)
    complaints = _complaints(rng, cust, orders, end_date, complaints)
    visits = _visits(rng, cust, month_list, end_date, visits)
    summary = GenerationSummary(Path(out_dir), customers, months, seed, end_date)
    for source in ("customers", "orders", "complaints", "visits"):
        (Path(out_dir) / source).mkdir(parents=True, exist_ok=True)
        summary.files[source] = []
        summary.rows[source] = 0

    def record(source: str, path: Path, rows: int, last_day: bool = False) -> None:
        summary.files[source].append(path.name)
        summary.rows[source] += rows
        if last_day:
            summary.last_day_files.append(f"{source}/{path.name}")

    def tail(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the rows before end_date, the rows dated or updated on end_date, e.g. an older
        order line paid that day) — all before without daily_tail."""
        if not daily_tail:
            return frame, frame.iloc[0:0]
        last_day = pd.Timestamp(end_date)
        on_last_day = (pd.to_datetime(frame[column]).dt.normalize() >= last_day) \
            | (pd.to_datetime(frame["updated_at"]).dt.normalize() >= last_day)
        return frame[~on_last_day], frame[on_last_day]

    # customers: an initial snapshot (GB18030, Chinese style) and a later delta (UTF-8)
    master = cust[cust["_archetype"] != "unmastered"]
    public = [c for c in cust.columns if not c.startswith("_")]
    initial = master[master["created_at"] <= pd.Timestamp(end_date)][public]
    p = Path(out_dir) / "customers" / f"customers_full_{end_date:%Y%m%d}.csv"
    _write_csv(initial, p, "gb18030", chinese_style=True)
    record("customers", p, len(initial))
    changed = initial.sample(frac=0.05, random_state=seed).copy()
    changed["account_manager"] = rng.choice(initial["account_manager"].unique(), len(changed))
    changed["updated_at"] = pd.Timestamp(end_date) - pd.to_timedelta(
        rng.integers(1, 60, len(changed)), unit="D")
    changed["updated_at"] = changed[["updated_at", "created_at"]].max(axis=1) + pd.Timedelta(hours=1)
    p = Path(out_dir) / "customers" / f"customers_changes_{end_date:%Y%m%d}.csv"
    _write_csv(changed, p, "utf-8", chinese_style=False)
    record("customers", p, len(changed))

    orders, orders_today = tail(orders, "order_date")
    if daily_tail:
        # an older line updated on the last day (paid that day) was delivered before, unpaid:
        # the daily file holds its new version, as an ERP's delta export would
        before = orders_today[pd.to_datetime(orders_today["order_date"]) < pd.Timestamp(end_date)].copy()
        before["paid_amount"] = np.nan
        before["paid_date"] = None
        before["updated_at"] = pd.to_datetime(before["order_date"]) + pd.to_timedelta(
            rng.integers(1, 20, len(before)), unit="h")
        orders = pd.concat([orders, before], ignore_index=True)
    resent = np.zeros(len(orders), dtype=bool)  # re-sent lines are not also corrected below
    if daily_tail:
        resent[len(orders) - len(before):] = True
    complaints, complaints_today = tail(complaints, "opened_at")
    visits, visits_today = tail(visits, "visit_date")
    if daily_tail:
        stamp = f"{end_date:%Y%m%d}"
        for source, frame, name, write in (
                ("orders", orders_today, f"orders_daily_{stamp}.csv",
                 lambda f, p: _write_csv(f, p, "utf-8", chinese_style=False)),
                ("complaints", complaints_today, f"complaints_daily_{stamp}.jsonl", _write_jsonl),
                ("visits", visits_today, f"visits_daily_{stamp}.parquet", _write_parquet)):
            if frame.empty:  # nothing happened that day: no file (an empty file is refused)
                continue
            p = Path(out_dir) / source / name
            write(frame, p)
            record(source, p, len(frame), last_day=True)

    # orders: one file per quarter, rotating the formats real ERPs produce
    quarter = pd.PeriodIndex(pd.to_datetime(orders["order_date"]), freq="Q")
    styles = ["csv-utf8", "csv-gb18030", "parquet", "csv-utf8-bom"]
    for i, q in enumerate(sorted(quarter.unique())):
        part = orders[quarter == q]
        style = styles[i % len(styles)]
        stem = Path(out_dir) / "orders" / f"orders_{q.year}Q{q.quarter}"
        if style == "parquet":
            p = stem.with_suffix(".parquet")
            _write_parquet(part, p)
        else:
            p = stem.with_suffix(".csv")
            enc = {"csv-utf8": "utf-8", "csv-gb18030": "gb18030", "csv-utf8-bom": "utf-8-sig"}[style]
            _write_csv(part, p, enc, chinese_style=(style == "csv-gb18030"))
        record("orders", p, len(part))
    # late corrections: 1% of older confirmed lines re-sent with a new amount
    old = orders[~resent & (orders["status"] == "confirmed")
                 & (pd.to_datetime(orders["order_date"]) < pd.Timestamp(month_list[-3]))]
    fix = old.sample(frac=0.01, random_state=seed).copy()
    factor = rng.uniform(0.85, 1.1, len(fix))
    fix["net_amount"] = np.round(fix["net_amount"] * factor, 2)
    fix["cost"] = np.round(fix["cost"] * factor, 2)
    fix["paid_amount"] = np.where(fix["paid_amount"].isna(), np.nan, fix["net_amount"])
    fix["updated_at"] = pd.Timestamp(end_date) - pd.Timedelta(hours=6)
    p = Path(out_dir) / "orders" / f"orders_corrections_{end_date:%Y%m%d}.jsonl"
    _write_jsonl(fix, p)
    record("orders", p, len(fix), last_day=True)

    # complaints: JSON Lines per year; visits: Parquet per year
    for year, part in complaints.groupby(complaints["opened_at"].dt.year):
        p = Path(out_dir) / "complaints" / f"complaints_{year}.jsonl"
        _write_jsonl(part, p)
        record("complaints", p, len(part))
    for year, part in visits.groupby(pd.to_datetime(visits["visit_date"]).dt.year):
        p = Path(out_dir) / "visits" / f"visits_{year}.parquet"
        _write_parquet(part, p)
        record("visits", p, len(part))
    log.info("%s", summary.describe())
    return summary
