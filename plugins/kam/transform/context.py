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


def write_run_context(settings: Settings, run_date: dt.date, rebuild_from_month: dt.date | None) -> None:
    """The run date and the first month to recompute, where dbt builds (``ops.kam_run_context``,
    read by macros/run_context.sql). Not ``--vars``: changing them makes dbt re-parse everything."""
    values = (f"insert into ops.kam_run_context values (date '{run_date.isoformat()}', "
              + (f"date '{rebuild_from_month.isoformat()}')" if rebuild_from_month else "null)"))
    statements = [*run_context_ddl(settings.dbt_project_dir / "dbt_project.yml"), "delete from ops.kam_run_context",
                  values]
    if settings.target == "spark":  # a file in the lake, read by Spark as ops.kam_run_context
        from kam.spark.lake import write_run_context as write_lake_context

        write_lake_context(settings.lake_dir, run_date, rebuild_from_month)
        return
    if settings.target == "postgres":
        from kam.postgres.connection import connect

        conn = connect(settings.pg_dsn)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    from kam.warehouse import warehouse

    with warehouse(settings) as con:
        for sql in statements:
            con.execute(sql)
