"""The raw and quarantine tables of a source: created from its contract, widened when a
batch brings extra columns (schema drift: kept as text, ignored downstream)."""

from __future__ import annotations

import duckdb

from kam.contract import DUCKDB_TYPES, SourceContract
from kam.contract import quote_ident as _q

LINEAGE_COLUMNS = {
    "_batch_id": "BIGINT",
    "_source_file": "VARCHAR",
    "_row_number": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}


def ensure_tables(con: duckdb.DuckDBPyConnection, contract: SourceContract) -> None:
    typed = ", ".join(f"{_q(c.name)} {DUCKDB_TYPES[c.type]}" for c in contract.columns)
    text = ", ".join(f"{_q(c.name)} VARCHAR" for c in contract.columns)
    lineage = ", ".join(f"{k} {v}" for k, v in LINEAGE_COLUMNS.items())
    con.execute(f"create table if not exists raw.{contract.name} ({typed}, {lineage})")
    con.execute(
        f"create table if not exists quarantine.{contract.name} "
        f"({text}, {lineage}, _reason VARCHAR, _raw_line VARCHAR)"
    )


def add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    schema, name = table.split(".")
    existing = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    for column in columns:
        if column not in existing:  # schema drift: extra columns are kept (as text)
            con.execute(f"alter table {table} add column {_q(column)} VARCHAR")
