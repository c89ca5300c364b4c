"""Plotly figures as plain dicts (data + layout): built in Python, drawn by plotly.js.

No plotly Figure objects: their validation costs more than the data at 100k customers,
and the page only needs JSON. Labels are bilingual (中文 / English), as the marts'
``tier_label_zh`` / ``tier_label_en``.
"""

from __future__ import annotations

TIER_COLOURS = {"A": "#1f4e79", "B": "#2e75b6", "C": "#9dc3e6", "D": "#d9d9d9", "P": "#f4b183", "X": "#7f7f7f"}
ALERT_LABELS = {
    "churn_risk": "流失风险 Churn risk",
    "complaint_spike": "投诉激增 Complaint spike",
    "overdue_payment": "逾期回款 Overdue payment",
    "margin_erosion": "毛利下滑 Margin erosion",
    "tier_downgrade": "等级下降 Tier downgrade",
    "rising_star": "潜力之星 Rising star",
    "under_visited": "拜访不足 Under-visited",
}
DIMENSION_LABELS = {"financial": "财务 financial", "sales": "销售 sales",
                    "customer": "客户 customer", "service": "服务 service"}
QUADRANT_LABELS = {"star": "明星 Star", "cash_cow": "现金牛 Cash cow",
                   "develop": "待开发 Develop", "maintain": "维持 Maintain"}
_BASE = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "font": {"family": "sans-serif", "size": 12},
         "paper_bgcolor": "white", "plot_bgcolor": "white", "height": 380}


def tier_name(tier: str, labels: dict) -> str:
    label = labels.get(tier)
    return f"{tier} · {label['zh']} {label['en']}" if label else tier


def lorenz(data: dict, top20_share: float | None) -> dict:
    layout = {**_BASE, "title": {"text": "帕累托曲线 Pareto curve: cumulative revenue share"},
              "xaxis": {"title": {"text": "客户占比 share of customers (largest first)"}, "tickformat": ".0%",
                        "range": [0, 1]},
              "yaxis": {"title": {"text": "收入占比 share of revenue"}, "tickformat": ".0%", "range": [0, 1.02]},
              "showlegend": False,
              "shapes": [{"type": "line", "x0": 0, "y0": 0, "x1": 1, "y1": 1, "line": {"dash": "dot", "color": "#999"}},
                         {"type": "line", "x0": 0.2, "x1": 0.2, "y0": 0, "y1": 1,
                          "line": {"dash": "dash", "color": "#c00", "width": 1}}]}
    if top20_share is not None:
        layout["annotations"] = [{"x": 0.2, "y": top20_share, "text": f"top 20% → {top20_share:.0%}",
                                  "showarrow": True, "ax": 60, "ay": 30}]
    trace = {"type": "scatter", "mode": "lines", "x": data["x"], "y": data["y"], "name": "revenue",
             "line": {"color": TIER_COLOURS["A"], "width": 3},
             "hovertemplate": "%{x:.1%} of customers: %{y:.1%} of revenue<extra></extra>"}
    return {"data": [trace], "layout": layout}


def tier_mix(data: dict, labels: dict) -> dict:
    traces = [{"type": "bar", "name": tier_name(t, labels), "x": data["months"], "y": values,
               "marker": {"color": TIER_COLOURS.get(t)},
               "hovertemplate": "%{x|%Y-%m}: %{y:,} customers<extra>" + t + "</extra>"}
              for t, values in data["series"].items() if any(values)]
    layout = {**_BASE, "barmode": "stack", "height": 420,
              "title": {"text": "客户等级分布 Customers per tier, last 24 months"},
              "xaxis": {"type": "date", "tickformat": "%Y-%m"}, "yaxis": {"title": {"text": "客户数 customers"}},
              "legend": {"orientation": "h", "y": -0.2}}
    return {"data": traces, "layout": layout}


def migration(data: dict, labels: dict) -> dict:
    text = [[f"{c:,}<br>{money(r)}" if c else "" for c, r in zip(row_c, row_r, strict=True)]
            for row_c, row_r in zip(data["counts"], data["revenue"], strict=True)]
    z = [[c or None for c in row] for row in data["counts"]]  # an empty cell stays white
    trace = {"type": "heatmap", "z": z, "x": data["to"], "reversescale": False, "xgap": 2, "ygap": 2,
             "y": ["新 new" if t == "new" else t for t in data["from"]], "text": text,
             "texttemplate": "%{text}", "showscale": False,
             "colorscale": [[0, "#deebf7"], [1, "#2e75b6"]], "zmin": 0,
             "customdata": data["revenue"],
             "hovertemplate": "%{y} → %{x}: %{z:,} customers, revenue %{customdata:,.0f}<extra></extra>"}
    layout = {**_BASE, "title": {"text": "等级迁移 Tier migration of the month (customers, revenue)"},
              "xaxis": {"title": {"text": "本月 to tier"}, "side": "bottom"},
              "yaxis": {"title": {"text": "上月 from tier"}, "autorange": "reversed"}, "height": 420}
    return {"data": [trace], "layout": layout}


def quadrant(data: dict, cut: float = 50.0) -> dict:
    traces = []
    biggest = max([max(p["revenue"], default=0) for p in data["points"]] + [1])
    for part in data["points"]:
        sizes = [max(4.0, 40.0 * (max(r, 0) / biggest) ** 0.5) for r in part["revenue"]]
        traces.append({
            "type": "scattergl" if len(part["x"]) > 1000 else "scatter", "mode": "markers",
            "name": "伪大客户 pseudo key account" if part["pseudo"] else "客户 customer",
            "x": part["x"], "y": part["y"], "customdata": list(zip(part["id"], part["tier"], part["revenue"],
                                                                    strict=True)),
            "marker": {"size": sizes, "symbol": "x" if part["pseudo"] else "circle",
                       "color": "#c00000" if part["pseudo"] else [TIER_COLOURS.get(t, "#888") for t in part["tier"]],
                       "opacity": 0.9 if part["pseudo"] else 0.6, "line": {"width": 0}},
            "hovertemplate": "%{customdata[0]} (tier %{customdata[1]})<br>current %{x:.1f}, potential %{y:.1f}"
                             "<br>revenue %{customdata[2]:,.0f}<extra></extra>"})
    counts = data["counts"]
    corners = [("star", 95, 95), ("cash_cow", 95, 5), ("develop", 5, 95), ("maintain", 5, 5)]
    notes = [{"x": x, "y": y, "xanchor": "right" if x > 50 else "left", "showarrow": False,
              "text": f"{QUADRANT_LABELS[q]}: {counts.get(q, 0):,}", "font": {"color": "#555"}}
             for q, x, y in corners]
    layout = {**_BASE, "height": 480,
              "title": {"text": f"价值象限 Current × potential value ({data['shown']:,} of {data['scored']:,} "
                                "scored customers shown; counts over all)"},
              "xaxis": {"title": {"text": "当前价值 current value score"}, "range": [0, 100]},
              "yaxis": {"title": {"text": "潜在价值 potential value score"}, "range": [0, 100]},
              "shapes": [{"type": "line", "x0": cut, "x1": cut, "y0": 0, "y1": 100, "line": {"color": "#999"}},
                         {"type": "line", "y0": cut, "y1": cut, "x0": 0, "x1": 100, "line": {"color": "#999"}}],
              "annotations": notes, "legend": {"orientation": "h", "y": -0.15}}
    return {"data": traces, "layout": layout}


def alerts(data: dict) -> dict:
    names = [ALERT_LABELS.get(t, t) for t in data["types"]]
    trace = {"type": "bar", "orientation": "h", "x": data["counts"], "y": names, "text": data["counts"],
             "textposition": "auto", "marker": {"color": "#c55a11"},
             "hovertemplate": "%{y}: %{x:,} accounts<extra></extra>"}
    layout = {**_BASE, "title": {"text": "本月预警 Alerts of the month"},
              "yaxis": {"autorange": "reversed", "automargin": True}, "xaxis": {"title": {"text": "accounts"}},
              "height": max(260, 60 + 40 * len(names))}
    return {"data": [trace], "layout": layout}


def coverage(data: dict, labels: dict) -> dict:
    names = [tier_name(t, labels) for t in data["tiers"]]
    within = {"type": "bar", "name": "按计划拜访 visited within plan", "x": names, "y": data["within"],
              "marker": {"color": "#548235"}}
    out = {"type": "bar", "name": "超出计划 out of plan", "x": names,
           "y": [a - w for a, w in zip(data["accounts"], data["within"], strict=True)], "marker": {"color": "#c00000"}}
    notes = [{"x": n, "y": a, "text": f"{r:.0%} (plan ≤ {d} days)", "showarrow": False, "yshift": 12}
             for n, a, r, d in zip(names, data["accounts"], data["rate"], data["plan_days"], strict=True)]
    layout = {**_BASE, "barmode": "stack", "title": {"text": "拜访覆盖 Visit coverage per tier against plan"},
              "yaxis": {"title": {"text": "accounts"}}, "annotations": notes, "legend": {"orientation": "h", "y": -0.2}}
    return {"data": [within, out], "layout": layout}


def money(value: float | None) -> str:
    """12,345,678 -> '12.3 M'; for people, not for sums."""
    if value is None:
        return "–"
    for size, unit in ((1e9, " B"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,.0f}"
