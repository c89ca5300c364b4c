"""Run dbt as a subprocess (one ``dbt build`` for the whole graph) and read its results."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kam.config import Settings

log = logging.getLogger(__name__)


@dataclass
class DbtResult:
    returncode: int
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.returncode == 0 and not self.failures


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def target_dir(settings: Settings) -> Path:
    return settings.kam_home / "dbt" / "target"


def run_dbt(settings: Settings, command: list[str], run_date: dt.date | None = None,
            extra_vars: dict | None = None) -> DbtResult:
    """Run ``dbt <command>`` against the warehouse; stream its log lines to ours."""
    run_vars = dict(extra_vars or {})
    if run_date is not None:
        run_vars["run_date"] = run_date.isoformat()
    target = target_dir(settings)
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
    log.info("running: %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=settings.dbt_project_dir)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.info("dbt: %s", line.rstrip())
    returncode = proc.wait()
    result = DbtResult(returncode)
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
