"""Adopting candidate rules: ``kam rules apply`` writes them to ``$KAM_HOME/rules.yml`` (over
``dbt_project.yml``) with a new rules version, after the same checks and a what-if on the current data
(the tier changes the rule change itself causes, kept with the version); ``kam rules show`` says which
rules are in force. The first publication under a new version says which of its tier changes came
from the rules and which from the data."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from kam.config import Settings
from kam.errors import ConfigError
from kam.rules import current_rules, load_candidate, project_rules, rules_path, rules_version
from kam.transform.runner import validate_rules
from kam.warehouse import warehouse

HEADER = ("# The scorecard's rules in force for this KAM_HOME, over dbt_project.yml's vars.\n"
          "# Written by `kam rules apply` (rules version {version}, {at}, from {source}); every build passes\n"
          "# them to dbt as --vars. Change them with `kam whatif` then `kam rules apply`, not by hand.\n")


@dataclass
class Applied:
    before: str
    after: str
    changed: list[str]
    preview: object | None  # the what-if comparison on the current data, when there was a build

    def lines(self) -> list[str]:
        out = [f"rules version {self.before} → {self.after} applied ({', '.join(self.changed)}); "
               f"the next kam run rebuilds every model in full and publishes under {self.after}"]
        if self.preview is not None:
            out.append(f"  on the current data: {self.preview.headline()}")
        else:
            out.append("  no built warehouse yet: the tier changes it causes were not previewed")
        return out


def apply_rules(settings: Settings, path: Path, echo: Callable[[str], None] = print) -> Applied:
    from kam.runlock import run_lock
    from kam.targets import target_of
    from kam.whatif.run import run_whatif

    current, project = current_rules(settings), project_rules(settings)
    candidate = load_candidate(path, current)
    changed = candidate.changed(current)
    if not changed:
        raise ConfigError(f"{path}: changes nothing: every value it sets is the rule in force")
    before, after = rules_version(current), rules_version(candidate.rules)
    built = (settings.kam_home / "dbt" / "target" / "manifest.json").exists() and target_of(settings).previews_whatif
    if built:  # the same checks, and what the change does to the tiers a publication shows (latest month)
        with warehouse(settings, read_only=True) as con:
            latest = con.execute("select max(as_of_month) from marts.customer_value_monthly").fetchone()[0]
        preview = run_whatif(settings, [Path(path)], latest, echo=echo).comparisons[0]
    else:
        scratch = settings.kam_home / "whatif" / ".check"
        try:
            validate_rules(settings, candidate, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        preview = None
    applied = candidate.changed(project)  # every var that now differs from dbt_project.yml
    now = dt.datetime.now().replace(microsecond=0)
    with run_lock(settings.kam_home, None, what="kam rules apply", echo=echo):
        target = rules_path(settings)
        tmp = target.with_name(".rules.yml.tmp")
        tmp.write_text(HEADER.format(version=after, at=now.isoformat(sep=" "), source=path)
                       + yaml.safe_dump(applied, allow_unicode=True, sort_keys=False), encoding="utf-8")
        tmp.replace(target)
        with warehouse(settings) as con:
            con.execute("insert or replace into ops.rules_versions values (?, ?, ?, ?, ?, ?)", [
                after, json.dumps(applied, sort_keys=True), str(path), now,
                preview.month if preview else None,
                json.dumps([[m["customer_id"], m["tier_before"], m["tier_after"]] for m in preview.movers])
                if preview else None])
    return Applied(before, after, sorted(changed), preview)


def show_rules(settings: Settings) -> list[str]:
    current, project = current_rules(settings), project_rules(settings)
    version = rules_version(current)
    applied = {k: v for k, v in current.items() if project.get(k) != v}
    out = [f"rules version in force  {version}" + ("" if applied else " (dbt_project.yml's vars, nothing applied)")]
    for key, value in applied.items():
        out.append(f"  {key}: {json.dumps(project.get(key), ensure_ascii=False)} → "
                   f"{json.dumps(value, ensure_ascii=False)}  ({rules_path(settings)})")
    if settings.warehouse_path.exists():
        with warehouse(settings, read_only=True) as con:
            built = con.execute("select rules_version, run_date from ops.dbt_builds where success "
                                "order by finished_at desc limit 1").fetchone()
            served = con.execute("select publication_id, rules_version from ops.publications "
                                 "where status = 'published' order by publication_id desc limit 1").fetchone()
            history = con.execute("select rules_version, applied_at, source_file from ops.rules_versions "
                                  "order by applied_at").fetchall()
        if built:
            stale = "" if built[0] in (version, None) else " — not yet built under the rules in force: run kam run"
            out.append(f"last good build        {built[0] or '(before rules versions)'} (run date {built[1]}){stale}")
        if served:
            out.append(f"served publication     #{served[0]} under {served[1] or '(before rules versions)'}")
        for v, at, source in history:
            out.append(f"applied                {v} at {at} from {source}")
    return out


def publication_rules_note(settings: Settings, publication_id: int) -> str | None:
    """For the first publication under a rules version: how many of its tier changes since the previous
    publication the rule change made (as previewed when it was applied) and how many the data made."""
    with warehouse(settings, read_only=True) as con:
        this = con.execute("select rules_version from ops.publications where publication_id = ?",
                           [publication_id]).fetchone()
        prev = con.execute("select publication_id, rules_version from ops.publications where status = 'published' "
                           "and publication_id < ? order by publication_id desc limit 1", [publication_id]).fetchone()
        if not this or not this[0] or not prev or not prev[1] or prev[1] == this[0]:
            return None
        version = con.execute("select applied_at, source_file, tier_changes from ops.rules_versions "
                              "where rules_version = ?", [this[0]]).fetchone()
        changes = con.execute("""
            select n.customer_id, p.tier, n.tier from ops.tier_publication_log n
            join ops.tier_publication_log p on p.customer_id = n.customer_id and p.publication_id = ?
            where n.publication_id = ? and n.tier <> p.tier""", [prev[0], publication_id]).fetchall()
    by_rules = {tuple(c) for c in json.loads(version[2] or "[]")} if version else set()
    from_rules = sum(1 for c in changes if tuple(c) in by_rules)
    origin = f" (applied {version[0]} from {version[1]})" if version else ""
    return (f"rules version {this[0]} first published{origin}, after #{prev[0]} under {prev[1]}: "
            f"{len(changes)} tier change(s) since #{prev[0]}: {from_rules} from the rule change (as previewed "
            f"when it was applied), {len(changes) - from_rules} from the data")
