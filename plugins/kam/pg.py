"""The PostgreSQL warehouse target (``kam run --target postgres``).

Landing files are still read, validated and recorded by the embedded DuckDB
warehouse (its readers are the fast path, and ``ops.*`` stays there); what the
server needs is copied to it in bulk: each new batch of ``raw.*`` and
``quarantine.*`` (and its ``ops.ingest_batches`` row) goes through DuckDB's
CSV writer into PostgreSQL ``COPY ... FROM STDIN`` in one transaction, so a
crash leaves the server with whole batches only. dbt then builds the same
models there with dbt-postgres (profile target ``postgres``).

The connection is ``KAM_PG_DSN`` (a libpq URI or ``key=value`` string). Its
password never reaches a file: dbt and GX get it through environment
variables, and what kam prints is :func:`redacted`.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import duckdb

log = logging.getLogger(__name__)

# The tables the server receives from the embedded warehouse, keyed by batch id.
SYNCED_SCHEMAS = ("raw", "quarantine")


def parse(dsn: str) -> dict[str, str]:
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(dsn)
    except Exception as exc:  # psycopg2.ProgrammingError: say which setting is wrong
        raise ValueError(f"KAM_PG_DSN is not a valid PostgreSQL connection string: {exc}") from None


def dbt_env(dsn: str) -> dict[str, str]:
    """The ``KAM_PG_*`` variables ``profiles.yml`` reads for the ``postgres`` output."""
    parts = parse(dsn)
    return {
        "KAM_PG_HOST": parts.get("host", "localhost"),
        "KAM_PG_PORT": str(parts.get("port", "5432")),
        "KAM_PG_USER": parts.get("user", os.environ.get("USER", "postgres")),
        "KAM_PG_PASSWORD": parts.get("password", ""),
        "KAM_PG_DBNAME": parts.get("dbname", parts.get("user", "postgres")),
    }


def sqlalchemy_url(dsn: str) -> str:
    """The same server as a SQLAlchemy URL (GX's SQL data source)."""
    p = dbt_env(dsn)
    auth = quote(p["KAM_PG_USER"], safe="")
    if p["KAM_PG_PASSWORD"]:
        auth += ":" + quote(p["KAM_PG_PASSWORD"], safe="")
    return f"postgresql+psycopg2://{auth}@{p['KAM_PG_HOST']}:{p['KAM_PG_PORT']}/{p['KAM_PG_DBNAME']}"


def redacted(dsn: str) -> str:
    """The DSN without its password, for logs and ``kam status``."""
    parts = parse(dsn)
    return (f"postgresql://{parts.get('user', '')}@{parts.get('host', 'localhost')}:"
            f"{parts.get('port', '5432')}/{parts.get('dbname', '')}")


def connect(dsn: str):
    import psycopg2

    try:
        return psycopg2.connect(dsn, application_name="kam")
    except psycopg2.OperationalError as exc:
        raise ConnectionError(f"cannot connect to the PostgreSQL warehouse {redacted(dsn)}: "
                              f"{str(exc).strip()}") from None


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


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def copy_query(duck: duckdb.DuckDBPyConnection, cur, query: str, target: str,
               columns: Iterable[str], tmp_dir: Path) -> int:
    """Bulk-copy the result of a DuckDB query into a PostgreSQL table (CSV + ``COPY FROM STDIN``).

    DuckDB writes NULL unquoted-empty and an empty string as ``""``, which is
    exactly how PostgreSQL's CSV format tells them apart.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".kam-copy-", suffix=".csv", dir=tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        duck.execute(f"copy ({query}) to '{path}' (format csv, header false)")
        before = cur.rowcount
        with path.open("rb") as fh:
            cur.copy_expert(f"copy {target} ({', '.join(q(c) for c in columns)}) "
                            f"from stdin with (format csv)", fh)
        return cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else before
    finally:
        path.unlink(missing_ok=True)


def _tables(duck: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [r[0] for r in duck.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1",
        [schema]).fetchall()]


def _max_batch(cur, schema: str, table: str, column: str) -> int:
    cur.execute(f"select coalesce(max({q(column)}), 0) from {q(schema)}.{q(table)}")
    return int(cur.fetchone()[0])


def sync_new_batches(duck: duckdb.DuckDBPyConnection, dsn: str, tmp_dir: Path) -> dict[str, int]:
    """Copy the batches the server lacks (by batch id), all in one server transaction.

    Returns rows copied per table. Batches are numbered in load order and a
    batch is committed whole in DuckDB, so "above the server's highest batch
    id" is exactly what is new.
    """
    copied: dict[str, int] = {}
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('kam.sync'))")  # one syncer at a time
            targets = [(s, t, "_batch_id") for s in SYNCED_SCHEMAS for t in _tables(duck, s)]
            targets.append(("ops", "ingest_batches", "batch_id"))
            for schema, table, key in targets:
                columns = duck_columns(duck, schema, table)
                create_like(cur, schema, table, columns)
                since = _max_batch(cur, schema, table, key)
                names = [n for n, _ in columns]
                rows = copy_query(duck, cur, f"select {', '.join(q(n) for n in names)} from "
                                             f"{schema}.{q(table)} where {q(key)} > {since}",
                                  f"{q(schema)}.{q(table)}", names, tmp_dir)
                copied[f"{schema}.{table}"] = rows
    finally:
        conn.close()
    log.info("synced to %s: %s", redacted(dsn), ", ".join(f"{k} +{v}" for k, v in copied.items()))
    return copied


def server_counts(dsn: str, tables: Iterable[str]) -> dict[str, int]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            out = {}
            for table in tables:
                schema, name = table.split(".")
                cur.execute(f"select count(*) from {q(schema)}.{q(name)}")
                out[table] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


_ROLE = re.compile(r"^[a-z_][a-z0-9_]*$")


def ensure_bi_role(cur, role: str, password: str | None) -> None:
    """Create the read-only BI role if missing (LOGIN, no other attribute); set its password."""
    if not _ROLE.match(role):
        raise ValueError(f"BI role name must be a lower-case identifier, got {role!r}")
    cur.execute("select 1 from pg_roles where rolname = %s", [role])
    if cur.fetchone() is None:
        cur.execute(f"create role {q(role)} login nosuperuser nocreatedb nocreaterole noinherit")
    if password:
        cur.execute(f"alter role {q(role)} with password %s", [password])


def grant_bi(cur, role: str, schema: str) -> None:
    """USAGE and SELECT on ``schema`` only, also for tables created there later."""
    cur.execute(f"grant connect on database {q(_current_db(cur))} to {q(role)}")
    cur.execute(f"grant usage on schema {q(schema)} to {q(role)}")
    cur.execute(f"grant select on all tables in schema {q(schema)} to {q(role)}")
    cur.execute(f"alter default privileges in schema {q(schema)} grant select on tables to {q(role)}")


def _current_db(cur) -> str:
    cur.execute("select current_database()")
    return cur.fetchone()[0]
