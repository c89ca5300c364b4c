"""DuckDB column types as PostgreSQL types, and tables created alike on the server."""

from __future__ import annotations

import duckdb

from kam.postgres.connection import q

_TYPES = {
    "VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint",
    "HUGEINT": "numeric(38,0)", "DOUBLE": "double precision", "FLOAT": "real", "DATE": "date",
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz", "BOOLEAN": "boolean",
}


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL column type that holds a DuckDB type without loss."""
    t = duckdb_type.upper()
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "numeric")
    if t not in _TYPES:
        raise ValueError(f"no PostgreSQL type for DuckDB type {duckdb_type}")
    return _TYPES[t]


def duck_columns(duck: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in duck.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()]


def create_like(cur, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
    """Create ``schema.table`` with these (name, DuckDB type) columns, or add the missing ones."""
    cur.execute(f"create schema if not exists {q(schema)}")
    cols = ", ".join(f"{q(n)} {pg_type(t)}" for n, t in columns)
    cur.execute(f"create table if not exists {q(schema)}.{q(table)} ({cols})")
    cur.execute("select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s", [schema, table])
    present = {r[0] for r in cur.fetchall()}
    for name, dtype in columns:  # raw tables gain columns when a source adds fields
        if name not in present:  # ALTER only then: it takes an exclusive lock, readers would queue
            cur.execute(f"alter table {q(schema)}.{q(table)} add column {q(name)} {pg_type(dtype)}")
