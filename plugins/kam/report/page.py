"""One self-contained HTML file: plotly.js embedded, every month's data inline, no network.

The page opens on the report month (the latest complete month unless asked) and has a
month picker over the last ``months`` published months; a month's charts are drawn the
first time it is shown. ``<body data-rendered-charts>`` counts the charts plotly.js
finished drawing and ``data-errors`` collects script errors (what the browser test reads).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from kam.errors import KamError
from kam.report import data, figures
from kam.report.source import Source

REPORT_NAME = "report.html"


STYLE = """
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0 24px 40px;
       color: #222; }
header { display: flex; align-items: baseline; gap: 24px; flex-wrap: wrap; border-bottom: 2px solid #1f4e79; }
h1 { font-size: 22px; margin: 16px 0 8px; } .meta { color: #666; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; margin: 12px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px; }
.card .label { font-size: 12px; color: #555; } .card .value { font-size: 24px; font-weight: 600; }
.card .note { font-size: 12px; color: #777; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.chart { min-height: 260px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-bottom: 16px; }
th, td { border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
"""

# Draws a chart of FIGURES (the page's inline JSON) the first time it is shown; counts drawn charts
# in <body data-rendered-charts> and script errors in data-errors (what the browser tests read).
DRAW_SCRIPT = r"""
window.addEventListener('error', e => { document.body.dataset.errors += (e.message || 'error') + '\n'; });
const FIGURES = __FIGURES__;
const drawn = new Set();
function draw(id) {
  if (drawn.has(id)) return;
  drawn.add(id);
  const f = FIGURES[id];
  Plotly.newPlot(id, f.data, f.layout, {displaylogo: false, displayModeBar: false, responsive: true})
    .then(() => { document.body.dataset.renderedCharts = String(Number(document.body.dataset.renderedCharts) + 1); })
    .catch(err => { document.body.dataset.errors += String(err) + '\n'; });
}"""


def draw_script(figs: dict[str, dict]) -> str:
    payload = json.dumps(figs, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return DRAW_SCRIPT.replace("__FIGURES__", payload)


def head_assets() -> str:
    """The report's style and plotly.js, for every kam page (the report, the what-if page)."""
    from plotly.offline import get_plotlyjs

    return f"<style>{STYLE}</style>\n<script>{get_plotlyjs()}</script>"


@dataclass(frozen=True)
class ReportWritten:
    path: Path
    month: dt.date
    months: int
    charts: int
    bytes: int
    seconds: float

    def describe(self) -> str:
        return (f"report {self.path} (month {self.month:%Y-%m}, {self.months} month(s) in the picker, "
                f"{self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s)")


def write_report(src: Source, out: Path, month: dt.date | None = None, months: int = 12,
                 publication: dict | None = None) -> ReportWritten:
    """Write the report of ``src`` to ``out`` (through a temporary file and a rename)."""
    started = time.monotonic()
    all_months = data.months(src)
    by_key = {m.month: m for m in all_months}
    if month is not None and month not in by_key:
        raise KamError(f"no published month {month:%Y-%m-%d}: the marts hold "
                       f"{all_months[0].month:%Y-%m} to {all_months[-1].month:%Y-%m}")
    chosen = by_key[month] if month else data.default_month(all_months)
    picker = all_months[-months:]
    if chosen not in picker:
        picker = sorted([*picker, chosen], key=lambda m: m.month)
    labels = data.tier_labels(src, all_months[-min(len(all_months), 24)].month)
    publication = publication or _publication(src)
    if publication and "rules_version" not in publication:
        publication = {**publication, "rules_version": _rules_version(src, publication["publication_id"])}

    figs: dict[str, dict] = {"tier_mix": figures.tier_mix(data.tier_mix(src, all_months[-1].month), labels)}
    sections = []
    for m in picker:
        head = data.headline(src, m.month)
        key = m.month.strftime("%Y%m")
        figs[f"lorenz_{key}"] = figures.lorenz(data.lorenz(src, m.month), head["top20_share"])
        figs[f"migration_{key}"] = figures.migration(data.migration(src, m.month), labels)
        figs[f"quadrant_{key}"] = figures.quadrant(data.quadrant(src, m.month))
        month_alerts = data.alerts(src, m.month)
        figs[f"alerts_{key}"] = figures.alerts(month_alerts)
        figs[f"coverage_{key}"] = figures.coverage(data.coverage(src, m.month), labels)
        sections.append(_section(m, key, head, month_alerts, data.largest_changes(src, m.month), labels))

    page = _page(publication, chosen, picker, sections, figs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return ReportWritten(out, chosen.month, len(picker), len(figs), out.stat().st_size,
                         time.monotonic() - started)


def _publication(src: Source) -> dict:
    df = src.frame("select * from publications order by publication_id")
    done = df[df["status"] == "published"]
    if done.empty:
        return {}
    row = done.iloc[-1]
    return {"publication_id": int(row["publication_id"]), "run_date": str(row["run_date"])[:10]}


def _rules_version(src: Source, publication_id: int) -> str | None:
    df = src.frame(f"select * from publications where publication_id = {int(publication_id)}")
    if df.empty or "rules_version" not in df.columns:
        return None
    version = df["rules_version"].iloc[0]
    return version if isinstance(version, str) else None


def _card(label: str, value: str, note: str = "") -> str:
    return (f'<div class="card"><div class="label">{label}</div><div class="value">{html.escape(value)}</div>'
            f'<div class="note">{html.escape(note)}</div></div>')


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _section(m: data.Month, key: str, head: dict, month_alerts: dict, changes: list[dict], labels: dict) -> str:
    cards = "".join([
        _card("客户 Customers with revenue", f"{head['customers']:,}", f"{head['customers_tracked']:,} tracked"),
        _card("收入 Revenue (window)", figures.money(head["revenue"])),
        _card("大客户 Key accounts", f"{head['key_accounts']:,}",
              f"{_pct(head['key_revenue_share'])} of revenue"),
        _card("前20%客户收入占比 Top-20% share", _pct(head["top20_share"])),
        _card("80%收入所需客户 Customers for 80%", "–" if head["customers_for_80pct"] is None
              else f"{head['customers_for_80pct']:,}", _pct(head["customers_for_80pct_share"]) + " of customers"),
        _card("基尼系数 Gini", "–" if head["gini"] is None else f"{head['gini']:.2f}"),
    ])
    alert_rows = "".join(
        f"<tr><td>{html.escape(figures.ALERT_LABELS.get(a['type'], a['type']))}</td>"
        f"<td>{html.escape(str(a['customer_id']))}</td><td>{html.escape(str(a['tier'] or ''))}</td>"
        f"<td class=num>{figures.money(a['revenue'])}</td><td>{html.escape(str(a['reason']))}</td></tr>"
        for a in month_alerts["top"])
    change_rows = "".join(
        f"<tr><td>{html.escape(str(c['customer_id']))}</td>"
        f"<td>{html.escape(figures.tier_name(c['from'], labels))} → {html.escape(figures.tier_name(c['to'], labels))}"
        f"</td><td>{'升级 promotion' if c['direction'] == 'promotion' else '降级 demotion'}</td>"
        f"<td class=num>{_score(c['before'])} → {_score(c['after'])}</td>"
        f"<td>{html.escape(figures.DIMENSION_LABELS.get(c['driver'] or '', c['driver'] or '–'))} "
        f"({_signed(c['driver_change'])})</td></tr>"
        for c in changes)
    state = "" if m.complete else " (月份未结束 month still open)"
    return f"""
<section class="month" data-month="{m.key}" hidden>
  <h2>{m.month:%Y-%m}{state}</h2>
  <div class="cards">{cards}</div>
  <div class="grid">
    <div class="chart" id="lorenz_{key}"></div>
    <div class="chart" id="migration_{key}"></div>
  </div>
  <div class="chart wide" id="quadrant_{key}"></div>
  <div class="grid">
    <div class="chart" id="alerts_{key}"></div>
    <div class="chart" id="coverage_{key}"></div>
  </div>
  <h3>预警客户 Top accounts per alert (by revenue, {data.TOP_ALERT_ACCOUNTS} per type)</h3>
  <table><thead><tr><th>alert</th><th>customer</th><th>tier</th><th>revenue</th><th>reason</th></tr></thead>
  <tbody>{alert_rows or '<tr><td colspan=5>no alert this month</td></tr>'}</tbody></table>
  <h3>最大等级变化 Largest tier changes and their main driver</h3>
  <table><thead><tr><th>customer</th><th>tier</th><th>direction</th><th>value score</th><th>main driver</th></tr>
  </thead><tbody>{change_rows or '<tr><td colspan=5>no tier change this month</td></tr>'}</tbody></table>
</section>"""


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def _page(publication: dict, chosen: data.Month, picker: list[data.Month], sections: list[str],
          figs: dict[str, dict]) -> str:
    options = "".join(f'<option value="{m.key}"{" selected" if m == chosen else ""}>{m.month:%Y-%m}'
                      f'{"" if m.complete else " (open)"}</option>' for m in reversed(picker))
    pub = (f"publication #{publication['publication_id']}, run date {publication['run_date']}"
           + (f", rules version {publication['rules_version']}" if publication.get("rules_version") else "")
           if publication else "publication –")
    docs = (f' · <a id="dbt-docs" href="{html.escape(publication["docs"])}">模型文档 the models\' documentation '
            f'(dbt docs)</a>' if publication and publication.get("docs") else "")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>大客户价值报告 Key-account report · {html.escape(pub)}</title>
{head_assets()}
</head>
<body data-rendered-charts="0" data-errors="">
<header><h1>大客户价值报告 Key-account value report</h1>
<span class="meta">{html.escape(pub)} · read from the published marts{docs}</span>
<label>月份 Month <select id="month">{options}</select></label></header>
<div class="chart wide" id="tier_mix"></div>
{''.join(sections)}
<script>
{draw_script(figs)}
function show(month) {{
  document.querySelectorAll('section.month').forEach(s => {{
    s.hidden = s.dataset.month !== month;
    if (!s.hidden) s.querySelectorAll('.chart').forEach(c => draw(c.id));
  }});
}}
draw('tier_mix');
document.getElementById('month').addEventListener('change', e => show(e.target.value));
show('{chosen.key}');
</script>
</body></html>
"""
