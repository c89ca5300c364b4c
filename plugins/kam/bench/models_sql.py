"""The dbt models' own compiled SQL run in dependency order in one DuckDB session (no dbt, Airflow,
tests, GX or publication): what the pipeline adds over that is its orchestration and checks."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb


def models_sql(manifest_path: Path, warehouse_path: Path, out_path: Path, memory_limit: str,
               tmp_dir: str) -> int:
    """The dbt models' own SQL (compiled by the full build), run in dependency order in one
    DuckDB session into ``out_path``: the same marts without dbt, Airflow, data tests, GX or
    publication, over the raw tables and seeds of the warehouse (attached read-only). What
    the pipeline adds over this is its orchestration and checks. Returns how many models ran."""
    manifest = json.loads(manifest_path.read_text())
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    uncompiled = sorted(node["name"] for node in models.values() if not node.get("compiled_code"))
    if uncompiled:
        raise RuntimeError(f"no compiled SQL for {uncompiled} in {manifest_path} (run a full build first)")
    here = {node["relation_name"]: f'"models_sql"."main"."{node["alias"]}"' for node in models.values()}
    order, done = [], set()

    def visit(uid: str) -> None:  # depth-first: a model after the models it reads
        if uid in done:
            return
        done.add(uid)
        for dep in models[uid]["depends_on"]["nodes"]:
            if dep in models:
                visit(dep)
        order.append(uid)

    for uid in sorted(models):
        visit(uid)
    out_path.unlink(missing_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp_dir,
                                 "preserve_insertion_order": False})
    try:
        con.execute(f"attach '{warehouse_path}' as warehouse (read_only)")
        con.execute(f"attach '{out_path}' as models_sql")
        for uid in order:
            node = models[uid]
            sql = node["compiled_code"]
            for theirs, ours in here.items():
                sql = sql.replace(theirs, ours)
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create {kind} {here[node['relation_name']]} as {sql}")
        con.execute("checkpoint models_sql")
        return len(order)
    finally:
        con.close()


def same_marts(warehouse_path: Path, out_path: Path, marts: list[str]) -> dict[str, bool]:
    """Per mart: the models' SQL gave the same rows as the pipeline's build (both ways)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse_path}' as warehouse (read_only)")
        con.execute(f"attach '{out_path}' as models_sql (read_only)")
        out = {}
        for mart in marts:
            a, b = f"warehouse.marts.{mart}", f"models_sql.main.{mart}"
            out[mart] = con.execute(f"select not exists (select * from {a} except all select * from {b}) "
                                    f"and not exists (select * from {b} except all select * from {a})").fetchone()[0]
        return out
    finally:
        con.close()
