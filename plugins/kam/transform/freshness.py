"""``dbt source freshness`` on the raw tables, run by the build task before ``dbt build``; what it
finds is recorded by :mod:`kam.quality.freshness` (the rule, the audit's use of it, ``kam status``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from kam.config import Settings
from kam.quality.freshness import SourceFreshness, parse, record

log = logging.getLogger(__name__)


def check_freshness(settings: Settings, run_id: str | None) -> list[SourceFreshness]:
    """Run ``dbt source freshness`` and record what it found; a check dbt could not make is recorded
    as ``runtime error`` (naming why) rather than raised."""
    from kam.transform.runner import run_dbt, side_target

    target = side_target(settings, "freshness_target")
    output = target / "sources.json"
    output.unlink(missing_ok=True)
    result = run_dbt(settings, ["source", "freshness", "--output", str(output)], target=target)
    checked = parse(json.loads(output.read_text(encoding="utf-8")).get("results", [])) if output.exists() else []
    found = {c.source for c in checked}
    # dbt leaves a source it could not check out of sources.json: each is recorded with dbt's reason
    for source in _declared(target / "manifest.json") - found:
        checked.append(SourceFreshness(source, "runtime error", None, None, "", _reason(source, result)))
    if not checked:
        reason = "; ".join(result.failures[:3]) or f"dbt wrote no {output.name}"
        checked = [SourceFreshness("(all)", "runtime error", None, None, "", reason)]
    checked.sort(key=lambda c: c.source)
    record(settings, run_id, checked)
    for c in checked:
        (log.warning if c.status != "pass" else log.info)("freshness: %s: %s", c.status, c.describe())
    return checked


def _declared(manifest: Path) -> set[str]:
    """The sources of the project that declare a freshness rule (``source.table``)."""
    if not manifest.exists():
        return set()
    nodes = json.loads(manifest.read_text(encoding="utf-8")).get("sources", {}).values()
    return {f"{n['source_name']}.{n['name']}" for n in nodes
            if n.get("loaded_at_field") and any((n.get("freshness") or {}).get(k, {}).get("count")
                                                for k in ("warn_after", "error_after"))}


def _reason(source: str, result) -> str:
    """dbt's own words for a source it could not check: the line after ``Runtime Error in source <table>``."""
    table = source.split(".", 1)[1]
    lines = result.output
    for i, line in enumerate(lines):
        if f"Runtime Error in source {table} " in line and i + 1 < len(lines):
            return f"dbt could not check it: {lines[i + 1].strip()}"
    return "dbt could not check it: " + ("; ".join(result.failures[:2]) or "see the build task's log")
