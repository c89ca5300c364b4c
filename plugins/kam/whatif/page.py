"""The what-if page: one self-contained HTML file in the report's style (plotly.js inline, no
network), one section per candidate, each against the current rules; several candidates side by
side in one table of headlines."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from kam.report import figures
from kam.report.page import _card, _pct, _score, _signed, draw_script, head_assets
from kam.whatif.compare import Comparison

SHOWN_MOVERS = 200  # the page lists the largest movers by revenue; the CSV/Parquet holds every one


def write_page(comparisons: list[Comparison], out: Path) -> Path:
    figs: dict[str, dict] = {}
    sections = []
    for i, c in enumerate(comparisons):
        figs[f"tiers_{i}"] = _tier_bars(c)
        figs[f"matrix_{i}"] = _matrix(c)
        sections.append(_section(c, i))
    summary = "".join(
        f"<tr><td>{html.escape(c.candidate)}</td><td class=num>{c.key_accounts[0]:,} → {c.key_accounts[1]:,}</td>"
        f"<td class=num>{_pct(c.key_revenue_share[0])} → {_pct(c.key_revenue_share[1])}</td>"
        f"<td class=num>{len(c.movers):,}</td><td class=num>{c.up:,}</td><td class=num>{c.down:,}</td>"
        f"<td>{html.escape(_changes(c))}</td></tr>" for c in comparisons)
    month = comparisons[0].month
    text = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>规则模拟 What-if · {month:%Y-%m}</title>
{head_assets()}
</head>
<body data-rendered-charts="0" data-errors="">
<header><h1>规则模拟 What-if: candidate rules against the current rules</h1>
<span class="meta">month {month:%Y-%m} · built on a copy of the warehouse; nothing was published</span></header>
<h2>候选规则 Candidates</h2>
<table id="summary"><thead><tr><th>candidate</th><th>key accounts</th><th>key accounts' revenue share</th>
<th>movers</th><th>up</th><th>down</th><th>changed rules</th></tr></thead><tbody>{summary}</tbody></table>
{''.join(sections)}
<script>
{draw_script(figs)}
Object.keys(FIGURES).forEach(draw);
</script>
</body></html>
"""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def _changes(c: Comparison) -> str:
    return "; ".join(f"{k}: {json.dumps(b, ensure_ascii=False)} → {json.dumps(a, ensure_ascii=False)}"
                     for k, (b, a) in c.changed.items())


def _section(c: Comparison, i: int) -> str:
    before, after = c.key_accounts
    conc = c.concentration
    cards = "".join([
        _card("大客户 Key accounts", f"{before:,} → {after:,}", f"{after - before:+,}"),
        _card("大客户收入占比 Key accounts' revenue share", f"{_pct(c.key_revenue_share[0])} → "
              f"{_pct(c.key_revenue_share[1])}"),
        _card("等级变化 Customers changing tier", f"{len(c.movers):,}", f"{c.up:,} up, {c.down:,} down"),
        _card("前20%客户收入占比 Top-20% share", " → ".join(_pct(v) for v in conc.get("top20_share", (None, None)))),
        _card("80%收入所需客户 Customers for 80%", " → ".join("–" if v is None else f"{v:,}"
                                                        for v in conc.get("customers_for_80pct", (None, None)))),
        _card("重建模型 Models rebuilt", f"{len(c.models_rebuilt):,}", f"{c.seconds:.0f} s"),
    ])
    alerts = "".join(f"<tr><td>{html.escape(figures.ALERT_LABELS.get(a['alert_type'], a['alert_type']))}</td>"
                     f"<td class=num>{a['before']:,}</td><td class=num>{a['after']:,}</td>"
                     f"<td class=num>{a['after'] - a['before']:+,}</td></tr>" for a in c.alerts)
    movers = "".join(
        f"<tr><td>{html.escape(str(m['customer_id']))}</td><td>{html.escape(str(m['customer_name'] or ''))}</td>"
        f"<td class=num>{figures.money(m['revenue'])}</td><td>{m['tier_before']} → {m['tier_after']}</td>"
        f"<td>{'升级 up' if m['direction'] == 'up' else '降级 down'}</td>"
        f"<td class=num>{_score(m['score_before'])} → {_score(m['score_after'])}</td>"
        f"<td>{html.escape(_driver(m))}</td></tr>"
        for m in c.movers[:SHOWN_MOVERS])
    more = (f"<p>{len(c.movers) - SHOWN_MOVERS:,} more in the movers file.</p>" if len(c.movers) > SHOWN_MOVERS
            else "")
    return f"""
<section class="candidate" data-candidate="{html.escape(c.candidate)}">
  <h2>{html.escape(c.candidate)}</h2>
  <p class="meta">{html.escape(_changes(c))}</p>
  <div class="cards">{cards}</div>
  <div class="grid"><div class="chart" id="tiers_{i}"></div><div class="chart" id="matrix_{i}"></div></div>
  <h3>预警 Alerts of the month per type</h3>
  <table><thead><tr><th>alert</th><th>current rules</th><th>candidate</th><th>change</th></tr></thead>
  <tbody>{alerts or '<tr><td colspan=4>no alert</td></tr>'}</tbody></table>
  <h3>等级变化客户 Customers whose tier changes, by revenue, with the dimension that moved most</h3>
  <table class="movers"><thead><tr><th>customer</th><th>name</th><th>revenue</th><th>tier</th><th>direction</th>
  <th>value score</th><th>main driver</th></tr></thead>
  <tbody>{movers or '<tr><td colspan=7>no customer changes tier</td></tr>'}</tbody></table>{more}
</section>"""


def _driver(mover: dict) -> str:
    name = figures.DIMENSION_LABELS.get(mover["driver"], mover["driver"])
    return name if mover["driver_change"] is None else f"{name} ({_signed(mover['driver_change'])})"


def _tier_bars(c: Comparison) -> dict:
    names = [f"{t['tier']} {t['label_zh']}" for t in c.tiers]  # short: the axis stays readable
    traces = [{"type": "bar", "name": label, "x": names, "y": [t[key] for t in c.tiers], "marker": {"color": colour},
               "hovertemplate": "%{x}: %{y:,} customers<extra>" + label + "</extra>"}
              for key, label, colour in (("before", "现行规则 current rules", "#9dc3e6"),
                                         ("after", "候选规则 candidate", "#1f4e79"))]
    layout = {**figures._BASE, "barmode": "group", "title": {"text": "客户等级 Customers per tier"},
              "legend": {"orientation": "h", "y": -0.25}}
    return {"data": traces, "layout": layout}


def _matrix(c: Comparison) -> dict:
    order = [t["tier"] for t in c.tiers]
    froms = [t for t in order if any(m["from"] == t for m in c.matrix)]
    tos = [t for t in order if any(m["to"] == t for m in c.matrix)]
    counts = [[0] * len(tos) for _ in froms]
    revenue = [[0.0] * len(tos) for _ in froms]
    for m in c.matrix:
        counts[froms.index(m["from"])][tos.index(m["to"])] = m["customers"]
        revenue[froms.index(m["from"])][tos.index(m["to"])] = m["revenue"]
    fig = figures.migration({"from": froms, "to": tos, "counts": counts, "revenue": revenue}, {})
    fig["layout"]["title"] = {"text": "等级迁移 Current tier → candidate tier (customers, revenue)"}
    fig["layout"]["xaxis"]["title"] = {"text": "候选规则 candidate"}
    fig["layout"]["yaxis"]["title"] = {"text": "现行规则 current rules"}
    return fig
