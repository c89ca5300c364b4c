"""``kam status``: where things are, the last run and publication, what the audit warned of, the
sources' freshness, digests, batches and quarantine."""

from __future__ import annotations

import json

from kam.config import SOURCES, Settings
from kam.status.common import open_read_only, rows_of
from kam.status.last_run import last_run, recent_batch_problems


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
    from kam.targets import target_of

    target = target_of(settings)
    report["published_file"] = target.served_at()
    con = open_read_only(settings.warehouse_path)
    if con is None:
        report["warehouse"] = ("not created yet" if not settings.warehouse_path.exists()
                               else "busy (the pipeline is writing); try again shortly")
        return report
    from kam.quality.gx_suites import docs_index

    try:
        report["serving_publication"] = target.served_publication_id()
        report["published_exists"] = report["serving_publication"] is not None
    except Exception:  # noqa: BLE001 - a damaged served file must still let status report
        report["serving_publication"] = "unreadable"
    from kam.notify.deliver import notify_status

    report["notify"] = notify_status(settings, con)
    index = docs_index(settings.gx_dir)
    report["gx_data_docs"] = index.as_uri() if index.exists() else None
    try:
        report["last_publication"] = next(iter(rows_of(
            con, "select publication_id, run_id, run_date, status, finished_at, row_counts, audit_summary "
                 "from ops.publications where status = 'published' "
                 "order by publication_id desc limit 1")), None)
        report["last_refusal"] = next(iter(rows_of(
            con, "select publication_id, run_id, run_date, status, reason, finished_at, audit_summary "
                 "from ops.publications where status in ('refused', 'failed') "
                 "order by publication_id desc limit 1")), None)
        for key in ("last_publication", "last_refusal"):
            if report[key]:
                report[key]["audit_summary"] = json.loads(report[key]["audit_summary"] or "{}")
        report["batches"] = rows_of(
            con, "select status, count(*) as batches, sum(rows_read) as rows_read, "
                 "sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as rows_quarantined "
                 "from ops.ingest_batches group by status order by status")
        report["problem_batches"] = recent_batch_problems(settings)
        from kam.quality.freshness import latest_check

        report["source_freshness"] = [{"source": c.source, "status": c.status, "age_hours": c.age_hours,
                                       "said": c.describe()} for c in latest_check(con)]
        report["quarantine"] = {
            s: (rows_of(con, f"select count(*) as n from quarantine.{s}") or [{"n": 0}])[0]["n"]
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
