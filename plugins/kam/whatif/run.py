"""``kam whatif``: the value model under candidate rules, on a copy of the warehouse, compared with
the current rules for one month. Never the live warehouse, never a served publication: the copy is
taken under the run lock (no run writes meanwhile), rebuilt and read, then removed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.errors import ConfigError, KamError
from kam.rules import Candidate, current_rules, load_candidate, models_using
from kam.transform.runner import validate_rules
from kam.whatif.compare import Comparison, compare, latest_complete_month

log = logging.getLogger(__name__)

# what the comparison reads from the marts as the last good build made them
CURRENT_TABLES = ("customer_value_monthly", "customer_alerts", "revenue_concentration")


@dataclass
class WhatIf:
    comparisons: list[Comparison]
    page: Path
    movers: dict[str, tuple[Path, Path]]  # candidate -> (parquet, csv)

    def lines(self) -> list[str]:
        out = [c.headline() for c in self.comparisons]
        for c in self.comparisons:
            for m in c.movers[:5]:
                out.append(f"  {c.candidate}: {m['customer_id']} {m['customer_name'] or ''} {m['tier_before']} → "
                           f"{m['tier_after']} (revenue {m['revenue']:,.0f}; driver {m['driver']})")
            if len(c.movers) > 5:
                out.append(f"  {c.candidate}: … {len(c.movers) - 5} more in the page and in "
                           f"{self.movers[c.candidate][1]}")
        out.append(f"page: {self.page}")
        return out


def run_whatif(settings: Settings, paths: list[Path], month: dt.date | None = None, out_dir: Path | None = None,
               keep: bool = False, echo: Callable[[str], None] = print) -> WhatIf:
    from kam.targets import target_of
    from kam.whatif.page import write_page

    target_of(settings).check_whatif()
    current = current_rules(settings)
    candidates = [load_candidate(p, current) for p in paths]
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ConfigError(f"candidate files need distinct names, got {', '.join(names)}")
    manifest_path = settings.kam_home / "dbt" / "target" / "manifest.json"
    if not settings.warehouse_path.exists() or not manifest_path.exists():
        raise KamError(f"no built warehouse in {settings.kam_home}: run `kam run` first (a what-if compares "
                       f"with what the current rules built)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    work = settings.kam_home / "whatif" / f".work-{stamp}"
    out_dir = out_dir or settings.kam_home / "whatif"
    out_dir.mkdir(parents=True, exist_ok=True)
    comparisons = []
    try:
        for c in candidates:
            if not c.changed(current):
                raise ConfigError(f"{c.path}: changes nothing: every value it sets is the current rule")
            validate_rules(settings, c, work / "check")
            echo(f"{c.name}: checked ({', '.join(sorted(c.changed(current)))})")
        for c in candidates:
            comparisons.append(_one(settings, c, current, manifest, work / c.name, month, echo))
        movers = {c.candidate: _write_movers(c, out_dir, stamp) for c in comparisons}
        page = write_page(comparisons, out_dir / f"whatif-{stamp}.html")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return WhatIf(comparisons, page, movers)


def _one(settings: Settings, candidate: Candidate, current: dict, manifest: dict, home: Path,
         month: dt.date | None, echo: Callable[[str], None]) -> Comparison:
    from kam.runlock import run_lock
    from kam.transform.runner import run_dbt

    started = time.monotonic()
    changed = candidate.changed(current)
    models = models_using(manifest, set(changed))
    if not models:
        raise ConfigError(f"{candidate.path}: no model reads {', '.join(sorted(changed))}")
    home.mkdir(parents=True)
    with run_lock(settings.kam_home, None, what="kam whatif", echo=echo):  # no run writes while we copy
        _check_last_build(settings, current)
        for suffix in ("", ".wal"):
            source = settings.warehouse_path.with_name(settings.warehouse_path.name + suffix)
            if source.exists():
                shutil.copy2(source, home / source.name)
    copy = replace(settings, kam_home=home)
    with duckdb.connect(str(copy.warehouse_path)) as con:
        con.execute("create schema whatif_current")
        for table in CURRENT_TABLES:
            con.execute(f"create table whatif_current.{table} as select * from marts.{table}")
    reached, total = _downstream(manifest, models)
    echo(f"{candidate.name}: rebuilding {reached} of {total} models ({', '.join(models)} read "
         f"{', '.join(sorted(changed))}; the rest follow from them) on a copy of the warehouse …")
    result = run_dbt(copy, ["run", "--full-refresh", "--select", *(f"{m}+" for m in models)],
                     extra_vars=candidate.rules)
    if not result.success:
        raise KamError(f"{candidate.path}: the value model did not build under these rules: "
                       f"{'; '.join(result.failures[:3])}")
    with duckdb.connect(str(copy.warehouse_path), read_only=True) as con:
        chosen = month or latest_complete_month(con)
        have = con.execute("select count(*) from whatif_current.customer_value_monthly where as_of_month = ?",
                           [chosen]).fetchone()[0]
        if not have:
            raise KamError(f"no month {chosen:%Y-%m} in customer_value_monthly")
        comparison = compare(con, candidate.name, chosen, current, candidate.rules, changed)
    comparison.models_rebuilt = _built(copy)
    comparison.seconds = round(time.monotonic() - started, 1)
    return comparison


def _downstream(manifest: dict, models: list[str]) -> tuple[int, int]:
    """How many models ``dbt run --select m+`` rebuilds, of how many in the project."""
    children = manifest.get("child_map", {})
    ids = {uid: node["name"] for uid, node in manifest.get("nodes", {}).items() if node.get("resource_type") == "model"}
    todo = [uid for uid, name in ids.items() if name in models]
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in ids:
            continue
        seen.add(uid)
        todo.extend(children.get(uid, []))
    return len(seen), len(ids)


def _built(copy: Settings) -> list[str]:
    """The models the candidate's dbt run built (not its run-start hooks)."""
    results = json.loads((copy.kam_home / "dbt" / "target" / "run_results.json").read_text(encoding="utf-8"))
    return sorted(r["unique_id"].split(".")[-1] for r in results.get("results", [])
                  if r.get("status") == "success" and r["unique_id"].startswith("model."))


def _check_last_build(settings: Settings, current: dict) -> None:
    """The copy must hold what the rules in force built: a good last build, under these rules."""
    from kam.rules import rules_version

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        try:
            last = con.execute("select success, rules_version from ops.dbt_builds "
                               "order by finished_at desc limit 1").fetchone()
        except duckdb.CatalogException:
            last = None
    if not last or not last[0]:
        raise KamError("the warehouse's last dbt build did not succeed: a what-if compares with a good build; "
                       "run `kam run` first")
    if last[1] is not None and last[1] != rules_version(current):
        raise KamError(f"the warehouse was built under rules version {last[1]}, the rules in force are "
                       f"{rules_version(current)} (see kam rules show): run `kam run` first, so that the "
                       f"comparison starts from what the rules in force make")


def _write_movers(c: Comparison, out_dir: Path, stamp: str) -> tuple[Path, Path]:
    import pandas as pd

    columns = ["customer_id", "customer_name", "account_manager", "revenue", "tier_before", "tier_after",
               "direction", "score_before", "score_after", "driver", "driver_change"]
    frame = pd.DataFrame(c.movers, columns=columns)
    frame.insert(0, "as_of_month", c.month)
    frame.insert(0, "candidate", c.candidate)
    parquet, csv = (out_dir / f"whatif-{stamp}-{c.candidate}-movers.{ext}" for ext in ("parquet", "csv"))
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False, encoding="utf-8-sig")  # Excel opens UTF-8 with a BOM as UTF-8
    return parquet, csv
