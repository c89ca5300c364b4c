"""The run context dbt reads: the run date and the first month to recompute (``ops.kam_run_context``).

Written just before each build where dbt builds, and read by ``macros/run_context.sql``. Not
``--vars``: changing them makes dbt re-parse the whole project. The table's DDL has one home,
the ``on-run-start`` hook of ``dbt_project.yml`` (so an ad-hoc ``dbt build`` creates it too);
kam runs the same statements from there before writing.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import yaml

from kam.config import Settings


@cache
def run_context_ddl(project_file: Path) -> tuple[str, ...]:
    """The plain SQL statements of the project's ``on-run-start`` hook (not the Jinja ones):
    the schema and table of the run context."""
    hooks = yaml.safe_load(project_file.read_text(encoding="utf-8")).get("on-run-start") or []
    ddl = tuple(h for h in hooks if isinstance(h, str) and "{{" not in h)
    if not any("ops.kam_run_context" in h for h in ddl):
        raise RuntimeError(f"{project_file}: on-run-start must create ops.kam_run_context")
    return ddl


def run_context_statements(settings: Settings, run_date: dt.date, rebuild_from_month: dt.date | None) -> list[str]:
    """The SQL that writes the run date and the first month to recompute (``ops.kam_run_context``, read by
    macros/run_context.sql) where dbt builds; each target runs it (kam.targets: the Spark target writes a
    file in its lake instead). Not ``--vars``: changing them makes dbt re-parse everything."""
    values = (f"insert into ops.kam_run_context values (date '{run_date.isoformat()}', "
              + (f"date '{rebuild_from_month.isoformat()}')" if rebuild_from_month else "null)"))
    return [*run_context_ddl(settings.dbt_project_dir / "dbt_project.yml"), "delete from ops.kam_run_context",
            values]
