"""``kam status`` and the demo summary: what an engineer needs to see at a glance."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from kam.config import SOURCES, Settings


def _open_ro(path: Path) -> duckdb.DuckDBPyConnection | None:
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None  # the pipeline holds the write lock right now


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    try:
        cur = con.execute(sql, params or [])
    except duckdb.CatalogException:
        return []
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


LAST_RUN_FILE = "last_run.json"


def record_last_run(settings: Settings, run_date: dt.date, success: bool, outcome: str,
                    batch_problems: list[str], publication_id: int | None) -> None:
    """What the last ``kam run`` did (landing, run date, outcome), for ``kam status``."""
    record = {"landing": str(settings.landing_dir), "run_date": run_date.isoformat(),
              "target": settings.target, "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
              "success": success, "outcome": outcome, "publication_id": publication_id,
              "batch_problems": batch_problems,
              "sources": str(settings.sources_path) if settings.sources_path else None}
    path = settings.kam_home / LAST_RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def last_run(settings: Settings) -> dict | None:
    path = settings.kam_home / LAST_RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_batch_problems(settings: Settings, ingest_run_id: str | None) -> list[str]:
    """The refused, partial and duplicate batches of one ingest run (none without its run id)."""
    if not ingest_run_id:
        return []
    return _batch_problems(settings, "run_id = ?", [ingest_run_id], limit=100)


def recent_batch_problems(settings: Settings, limit: int = 20) -> list[str]:
    return _batch_problems(settings, "true", [], limit)


def _batch_problems(settings: Settings, where: str, params: list, limit: int) -> list[str]:
    con = _open_ro(settings.warehouse_path)
    if con is None:
        return []
    try:
        rows = _rows(con, "select batch_id, source, source_file, status, rows_read, rows_quarantined, error, gx_docs "
                          "from ops.ingest_batches where status in ('refused', 'partial', 'duplicate') "
                          f"and {where} order by batch_id desc limit ?", [*params, limit])
    finally:
        con.close()
    return [f"{r['source']}: {Path(r['source_file']).name} (batch {r['batch_id']}): {r['status']}"
            + (f", {r['rows_quarantined']} of {r['rows_read']} rows quarantined"
               if r["status"] == "partial" else "")
            + (f": {r['error']}" if r["error"] else "")
            + (f"\n      GX result: {r['gx_docs']}" if r.get("gx_docs") and r["status"] == "partial" else "")
            for r in rows]


def collect_status(settings: Settings) -> dict:
    report: dict = {
        "kam_home": str(settings.kam_home),
        "landing": str(settings.landing_dir),
        "sources": str(settings.sources_path) if settings.sources_path else None,
        "target": settings.target,
        "published_file": str(settings.published_path),
        "published_exists": settings.published_path.exists(),
        "report_file": str(settings.report_path) if settings.report_path.exists() else None,
        "dbt_docs": str(settings.docs_path) if settings.docs_path.exists() else None,
        "last_run": last_run(settings),
    }
    if settings.target in ("postgres", "spark"):
        from kam.publish.evidence import served_at

        report["published_file"] = served_at(settings)
    con = _open_ro(settings.warehouse_path)
    if con is None:
        report["warehouse"] = ("not created yet" if not settings.warehouse_path.exists()
                               else "busy (the pipeline is writing); try again shortly")
        return report
    from kam.publish.evidence import served_publication_id
    from kam.quality.gx_suites import docs_index

    try:
        report["serving_publication"] = served_publication_id(settings)
        if settings.target in ("postgres", "spark"):
            report["published_exists"] = report["serving_publication"] is not None
    except Exception:  # noqa: BLE001 - a damaged served file must still let status report
        report["serving_publication"] = "unreadable"
    from kam.notify.deliver import notify_status

    report["notify"] = notify_status(settings, con)
    index = docs_index(settings.gx_dir)
    report["gx_data_docs"] = index.as_uri() if index.exists() else None
    try:
        report["last_publication"] = next(iter(_rows(
            con, "select publication_id, run_id, run_date, status, finished_at, row_counts, audit_summary "
                 "from ops.publications where status = 'published' "
                 "order by publication_id desc limit 1")), None)
        report["last_refusal"] = next(iter(_rows(
            con, "select publication_id, run_id, run_date, status, reason, finished_at, audit_summary "
                 "from ops.publications where status in ('refused', 'failed') "
                 "order by publication_id desc limit 1")), None)
        for key in ("last_publication", "last_refusal"):
            if report[key]:
                report[key]["audit_summary"] = json.loads(report[key]["audit_summary"] or "{}")
        report["batches"] = _rows(
            con, "select status, count(*) as batches, sum(rows_read) as rows_read, "
                 "sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined "
                 "from ops.ingest_batches group by status order by status")
        report["problem_batches"] = recent_batch_problems(settings)
        from kam.quality.freshness import latest_check

        report["source_freshness"] = [{"source": c.source, "status": c.status, "age_hours": c.age_hours,
                                       "said": c.describe()} for c in latest_check(con)]
        report["quarantine"] = {
            s: (_rows(con, f"select count(*) as n from quarantine.{s}") or [{"n": 0}])[0]["n"]
            for s in SOURCES
        }
    finally:
        con.close()
    return report


def status_report(settings: Settings, as_json: bool = False) -> str:
    report = collect_status(settings)
    if as_json:
        return json.dumps(report, indent=2, default=str, ensure_ascii=False)
    run = report.get("last_run")
    landing = f"landing         {report['landing']}"
    if run and run["landing"] != report["landing"]:
        landing = f"landing         {run['landing']}  (of the last run; the default now is {report['landing']})"
    mapping = (run or {}).get("sources") or report.get("sources")
    if mapping:
        landing += f"\nsource mapping  {mapping}" + ("  (of the last run)" if run and run.get("sources") else "")
    lines = [f"KAM_HOME        {report['kam_home']}", landing,
             f"published file  {report['published_file']}"
             + ("" if report["published_exists"] else "  (none yet)")]
    if report["report_file"]:
        lines.append(f"report          {report['report_file']}")
    if report.get("dbt_docs"):
        lines.append(f"dbt docs        {report['dbt_docs']} (models, columns, lineage)")
    if run:
        lines.append(f"last run        run date {run['run_date']}, finished {run['finished_at']} "
                     f"(target {run['target']}): {run['outcome'][:800]}")
        lines.extend(f"  ! {p[:600]}" for p in run.get("batch_problems", [])[:20])
    if "warehouse" in report:
        lines.append(f"warehouse       {report['warehouse']}")
        return "\n".join(lines)
    pub = report.get("last_publication")
    lines.append("last published  " + (
        f"#{pub['publication_id']} at {pub['finished_at']} (run date {pub['run_date']})"
        if pub else "never"))
    if pub and report.get("serving_publication") not in (None, pub["publication_id"]):
        lines.append(f"serving         #{report['serving_publication']} (rolled back; see kam rollback --list)")
    for warning in (pub or {}).get("audit_summary", {}).get("warnings", [])[:10]:
        lines.append(f"  warning: {warning[:300]}")
    for mart, sampled in (pub or {}).get("audit_summary", {}).get("gx_sampled", {}).items():
        lines.append(f"  GX on {mart}: a sample of {sampled['validated_rows']:,} of {sampled['rows']:,} rows "
                     f"(every row passed the dbt tests)")
    ref = report.get("last_refusal")
    if ref and (not pub or ref["publication_id"] > pub["publication_id"]):
        lines.append(f"last refused    #{ref['publication_id']} at {ref['finished_at']} ({ref['status']}): "
                     f"{(ref['reason'] or '')[:600]}")
        summary = ref.get("audit_summary") or {}
        for suite, url in (summary.get("gx_docs") or {}).items():
            if (summary.get("suites") or {}).get(suite) == "failed":
                lines.append(f"  failed suite {suite}: {url}")
    elif ref:
        lines.append(f"last refused    #{ref['publication_id']} at {ref['finished_at']} (since then published)")
    notify = report.get("notify")
    if notify:
        if notify.get("error"):
            lines.append(f"digests         ! {notify['error'][:600]}")
        else:
            told = (f"publication #{notify['publication_id']}: {notify['sent']} message(s) sent"
                    if notify.get("publication_id") else "none sent yet")
            lines.append(f"digests         {told} (configuration {notify['config']})")
        lines.extend(f"  ! {p[:600]}" for p in notify.get("problems", []))
        if notify.get("from_default"):
            lines.append(f"  managers without an entry in notify.yml (told through default): "
                         f"{', '.join(notify['from_default'])}")
    if report.get("gx_data_docs"):
        lines.append(f"GX Data Docs    {report['gx_data_docs']}")
    freshness = report.get("source_freshness") or []
    if freshness:
        late = [c for c in freshness if c["status"] != "pass"]
        if not late:
            oldest = max(freshness, key=lambda c: c["age_hours"] or 0)
            lines.append(f"sources         fresh: {len(freshness)} of {len(freshness)} (dbt source freshness; "
                         f"oldest {oldest['said'].removeprefix('source ')})")
        else:
            lines.append(f"sources         {len(late)} of {len(freshness)} not fresh"
                         + ("; KAM_STALE_SOURCES=refuse refuses the publication"
                            if settings.stale_sources == "refuse" else " (a warning; KAM_STALE_SOURCES=refuse "
                                                                      "refuses the publication)"))
        lines.extend(f"  ! {c['status']}: {c['said']}" for c in late)
    lines.append("batches         " + (", ".join(
        f"{b['status']} {b['batches']}" for b in report["batches"]) or "none"))
    lines.append("quarantine      " + ", ".join(f"{k} {v}" for k, v in report["quarantine"].items()))
    if report["problem_batches"]:
        lines.append("problem batches (newest first):")
        lines.extend(f"  {p[:300]}" for p in report["problem_batches"])
    return "\n".join(lines)


def demo_summary(settings: Settings) -> str:
    path = settings.published_path
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
        tiers = []
        if "customer_value_monthly" in tables:
            tiers = con.execute(
                "select tier, any_value(tier_label_en), any_value(tier_label_zh), count(*) "
                "from customer_value_monthly "
                "where as_of_month = (select max(as_of_month) from customer_value_monthly) "
                "group by tier order by tier").fetchall()
    finally:
        con.close()
    lines = [f"Published: {path}", "", "Rows per mart:"]
    lines += [f"  {t:<26} {n:>10,}" for t, n in counts.items()]
    if tiers:
        lines += ["", "Customers per tier (latest month):"]
        lines += [f"  {t:<2} {en} / {zh:<8} {n:>6,}" for t, en, zh, n in tiers]
    lines += [
        "", "Open it read-only (BI tools, analysts):",
        f"  python -c \"import duckdb; con = duckdb.connect('{path}', read_only=True); "
        "print(con.sql('show tables'))\"",
        f"  Parquet copies: {settings.parquet_dir}/<mart>/*.parquet (monthly marts: one file per month)",
        "Next: kam status · kam run --landing YOUR_FOLDER · README.md",
    ]
    return "\n".join(lines)


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
