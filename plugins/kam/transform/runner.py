"""Run dbt as a subprocess (one ``dbt build`` for the whole graph), read its results, record it."""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kam.config import Settings
from kam.errors import ConfigError
from kam.memory import wait_child
from kam.rules import Candidate
from kam.transform.context import run_context_statements
from kam.transform.mode import BuildMode, build_mode
from kam.warehouse import warehouse

log = logging.getLogger(__name__)


@dataclass
class DbtResult:
    returncode: int
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)  # dbt's last lines (the 400 last)

    @property
    def success(self) -> bool:
        return self.returncode == 0 and not self.failures


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def target_dir(settings: Settings) -> Path:
    return settings.dbt_target_dir


def side_target(settings: Settings, name: str) -> Path:
    """A dbt target folder of its own under ``$KAM_HOME/dbt`` for a command other than the build
    (docs, source freshness): the build's manifest and run_results (its compiled models, its unit
    tests) are read after it. The build's saved parse comes along, so the project is not parsed again."""
    folder = settings.kam_home / "dbt" / name
    folder.mkdir(parents=True, exist_ok=True)
    saved_parse = target_dir(settings) / "partial_parse.msgpack"
    if saved_parse.exists():
        shutil.copyfile(saved_parse, folder / saved_parse.name)
    return folder


def run_dbt(settings: Settings, command: list[str], extra_vars: dict | None = None,
            target: Path | None = None) -> DbtResult:
    """Run ``dbt <command>`` against the warehouse; stream its log lines to ours. The run
    date comes from the run context (:func:`write_run_context`), not from ``--vars``.
    ``target``: dbt's target folder when not the build's (whose artifacts others read)."""
    run_vars = dict(extra_vars or {})
    target = target or target_dir(settings)
    cmd = [
        dbt_executable(), *command,
        "--project-dir", str(settings.dbt_project_dir),
        "--profiles-dir", str(settings.dbt_project_dir),
        "--target-path", str(target),
        "--log-path", str(settings.kam_home / "dbt" / "logs"),
    ]
    if run_vars:
        cmd += ["--vars", json.dumps(run_vars)]
    env = {**os.environ, **settings.env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # dbt keeps its saved manifest (partial parse) only while the profile's connection values are those
    # it was parsed with: dbt runs in the warehouse's folder and the DuckDB profile gets the file's name,
    # the same in every home, so a copied or moved home parses only what changed (a full parse: ~5 s)
    env["KAM_WAREHOUSE_PATH"] = settings.warehouse_path.name
    log.info("running: %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=settings.warehouse_path.parent)
    assert proc.stdout is not None
    output: collections.deque[str] = collections.deque(maxlen=400)
    for line in proc.stdout:
        output.append(line.rstrip())
        log.info("dbt: %s", output[-1])
    returncode = wait_child(proc.pid)
    proc.returncode = returncode
    result = DbtResult(returncode, output=list(output))
    results_file = target / "run_results.json"
    if results_file.exists():
        data = json.loads(results_file.read_text())
        for r in data.get("results", []):
            status = r.get("status")
            result.counts[status] = result.counts.get(status, 0) + 1
            name = r.get("unique_id", "?")
            if status in ("error", "fail"):
                result.failures.append(f"{name}: {(r.get('message') or status).strip()}")
            elif status == "warn":
                result.warnings.append(f"{name}: {(r.get('message') or status).strip()}")
    if returncode != 0 and not result.failures:
        result.failures.append(f"dbt {' '.join(command)} exited with {returncode} (see log)")
    return result


def record_build(settings: Settings, run_id: str | None, run_date: dt.date, mode: BuildMode,
                 success: bool, started: dt.datetime, seconds: float, rules_version: str | None = None) -> None:

    with warehouse(settings) as con:
        con.execute("""insert into ops.dbt_builds (run_id, run_date, target, mode, reason, fingerprint,
                           max_batch_id, rebuild_from_month, success, seconds, started_at, finished_at,
                           rules_version)
                       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [run_id, run_date, settings.target, mode.name, mode.reason, mode.fingerprint,
                     mode.max_batch_id, mode.rebuild_from_month, success, seconds, started,
                     started + dt.timedelta(seconds=seconds), rules_version])


def build_flags(mode: BuildMode) -> list[str]:
    """A full build runs everything. An incremental one leaves out dbt's unit tests: they check
    the models and rules on fixed rows, not the data, and an incremental build happens only
    when the models, macros, seeds and rules are those of the last good build (its
    fingerprint, :mod:`kam.transform.mode`), whose full build ran them. Data tests always run."""
    return ["--full-refresh"] if mode.full_refresh else ["--exclude-resource-type", "unit_test"]


class BuildTarget(Protocol):
    """What the build asks of the warehouse target (:class:`kam.targets.base.Target`)."""

    keeps_fact_lineage: bool

    def write_run_context(self, statements: list[str], run_date: dt.date,
                          rebuild_from_month: dt.date | None) -> None: ...


def build(settings: Settings, target: BuildTarget, run_date: dt.date, run_id: str | None = None,
          full_refresh: bool = False) -> tuple[DbtResult, BuildMode]:
    """One ``dbt build`` for the whole graph on ``target`` (its dbt prepared: ``target.prepare_dbt()``),
    incremental when it can be, recorded in ops.dbt_builds."""
    from kam.rules import applied_rules, current_rules, rules_version

    applied = applied_rules(settings)  # $KAM_HOME/rules.yml (kam rules apply): part of the fingerprint
    mode = build_mode(settings, run_date, full_refresh, applied or None, fact_lineage=target.keeps_fact_lineage)
    version = rules_version(current_rules(settings))
    log.info("dbt build: %s (%s), rules version %s%s", mode.name, mode.reason, version,
             f" (applied: {', '.join(sorted(applied))})" if applied else "")
    started = dt.datetime.now()
    clock = time.monotonic()
    target.write_run_context(run_context_statements(settings, run_date, mode.rebuild_from_month), run_date,
                             mode.rebuild_from_month)
    result = run_dbt(settings, ["build", *build_flags(mode)], extra_vars=applied or None)
    record_build(settings, run_id, run_date, mode, result.success, started, time.monotonic() - clock, version)
    return result, mode


def validate_rules(settings: Settings, candidate: Candidate, workdir: Path) -> None:
    """The run start's own checks (dbt macro ``validate_kam_config``) on the candidate's rules,
    against a throwaway DuckDB file: refused naming the var, before anything is copied or built."""
    from dataclasses import replace

    scratch = replace(settings, kam_home=workdir, target="duckdb")
    workdir.mkdir(parents=True, exist_ok=True)
    result = run_dbt(scratch, ["run-operation", "validate_kam_config"], extra_vars=candidate.rules)
    if not result.success:
        log = (workdir / "dbt" / "logs" / "dbt.log")
        said = [line.split("kam config: ", 1)[1].strip() for line in
                (log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else [])
                if "kam config: " in line]
        reason = said[-1] if said else "; ".join(result.failures)
        raise ConfigError(f"{candidate.path}: refused by the run-start checks: {reason}")
