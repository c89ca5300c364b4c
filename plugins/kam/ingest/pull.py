"""Pulls from a database: a source mapping's ``query`` (:class:`kam.sources.PullQuery`) run on the
ERP's own database, landing as one batch per run with the same checks, lineage and quarantine
as a file.

The query runs on PostgreSQL or MySQL through DuckDB's scanner extensions (the
``duckdb-extension-postgres-scanner`` and ``-mysql-scanner`` wheels, loaded from the installed
wheel: nothing is downloaded), on a database attached read-only, in a DuckDB connection of its
own (the ingest connection stays confined to the landing and spill folders). The result is
written as a Parquet file under ``$KAM_HOME/pulls/<source>/`` and ingested like a landing file:
that file is the batch's evidence, hashed into the manifest. With a ``watermark`` column, a pull
reads only the rows above the highest value of the last pull that loaded (``ops.source_pulls``);
a pull whose batch is refused does not move the watermark, so the next run reads those rows again.

The connection string comes from an environment variable (``env:NAME``) or an Airflow connection
(``airflow:CONN_ID``), never from a file; it appears in no log line or message (only its name does).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kam.config import Settings
from kam.contract import quote_ident as _q
from kam.contract import sql_string
from kam.errors import ConfigError
from kam.sources import SourceMapping

log = logging.getLogger(__name__)

# URL scheme -> (DuckDB extension, ATTACH type, query function, the wheel's module)
SCANNERS = {
    "postgresql": ("postgres_scanner", "postgres", "postgres_query", "duckdb_extension_postgres_scanner"),
    "postgres": ("postgres_scanner", "postgres", "postgres_query", "duckdb_extension_postgres_scanner"),
    "mysql": ("mysql_scanner", "mysql", "mysql_query", "duckdb_extension_mysql_scanner"),
}


@dataclass
class Pull:
    path: Path | None  # the Parquet file, None when nothing new
    rows: int
    watermark: str | None
    since: str | None  # the watermark the query started from


def connection_string(mapping: SourceMapping) -> str:
    """The connection string named by ``query.connection``; a ConfigError naming the key (never the value)."""
    assert mapping.query is not None
    kind, _, name = mapping.query.connection.partition(":")
    key = f"sources.{mapping.source}.query.connection"
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{key}: the environment variable {name} is not set (it holds the database's "
                              f"connection string, e.g. postgresql://user:password@host:5432/erp)")
        return value
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(name).get_uri()
    except Exception as exc:  # noqa: BLE001 - Airflow's message may not say which key
        raise ConfigError(f"{key}: the Airflow connection {name!r} cannot be read ({type(exc).__name__})") from None


def load_scanner(con: duckdb.DuckDBPyConnection, dsn: str, key: str) -> tuple[str, str]:
    """Load DuckDB's scanner extension for ``dsn`` (from its wheel); its ATTACH type and query function.
    ``key`` names the setting in an error (never the connection string)."""
    scheme = dsn.split("://", 1)[0].split("+", 1)[0].lower() if "://" in dsn else \
        "postgresql" if "=" in dsn else ""  # libpq's key=value form
    if scheme not in SCANNERS:
        raise ConfigError(f"{key}: a {scheme or 'connection string without a'} "
                          f"scheme is not supported (postgresql://… or mysql://…)")
    extension, attach_type, function, module = SCANNERS[scheme]
    try:
        folder = Path(importlib.import_module(module).__file__).parent / "extensions"
        path = next(folder.glob(f"*/{extension}.duckdb_extension"))
    except (ImportError, StopIteration):
        raise ConfigError(f"DuckDB's {extension} extension is not installed (the {module.replace('_', '-')} "
                          f"wheel, pinned in requirements.lock)") from None
    con.execute(f"load {sql_string(str(path))}")
    return attach_type, function


def last_watermark(con: duckdb.DuckDBPyConnection, source: str) -> str | None:
    row = con.execute("select watermark from ops.source_pulls where source = ? and watermark is not null "
                      "order by batch_id desc limit 1", [source]).fetchone()
    return row[0] if row else None


def pull(settings: Settings, mapping: SourceMapping, since: str | None, folder: Path | None = None) -> Pull:
    """Run the mapping's query (rows above ``since`` on the watermark column) into a Parquet file
    in ``folder`` (default ``$KAM_HOME/pulls/<source>``)."""
    query = mapping.query
    assert query is not None
    dsn = connection_string(mapping)
    folder = folder or settings.kam_home / "pulls" / mapping.source
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    out = folder / f"{mapping.source}_pull_{stamp}.parquet"
    sql = query.sql.strip().rstrip(";")
    if query.watermark and since is not None:
        sql = f"select * from ({sql}) kam_pull where {_q(query.watermark)} > {sql_string(since)}"
    con = duckdb.connect()
    try:
        attach_type, function = load_scanner(con, dsn, f"sources.{mapping.source}.query.connection")
        try:
            con.execute(f"attach {sql_string(dsn)} as kam_source (type {attach_type}, read_only)")
        except duckdb.Error as exc:
            raise ConfigError(f"sources.{mapping.source}.query: cannot connect with {query.connection}: "
                              f"{_without(str(exc), dsn)}") from None
        relation = f"select * from {function}('kam_source', {sql_string(sql)})"
        try:  # the query runs once on the database: straight into the file, counted there
            con.execute(f"copy ({relation}) to {sql_string(str(out))} (format parquet)")
            rows = con.execute(f"select count(*) from read_parquet({sql_string(str(out))})").fetchone()[0]
            if rows == 0:
                out.unlink()
                return Pull(None, 0, since, since)
        except duckdb.Error as exc:
            out.unlink(missing_ok=True)
            raise ConfigError(f"sources.{mapping.source}.query: the database refused the query: "
                              f"{_without(str(exc), dsn)}") from None
        watermark = since
        if query.watermark:
            columns = [r[0] for r in con.execute(f"describe select * from read_parquet({sql_string(str(out))})")
                       .fetchall()]
            if query.watermark not in columns:
                out.unlink()
                raise ConfigError(f"sources.{mapping.source}.query.watermark: {query.watermark!r} is not a column "
                                  f"of the query's result ({', '.join(columns)})")
            watermark = con.execute(f"select cast(max({_q(query.watermark)}) as varchar) "
                                    f"from read_parquet({sql_string(str(out))})").fetchone()[0]
        return Pull(out, rows, watermark, since)
    finally:
        con.close()


def record_pull(con: duckdb.DuckDBPyConnection, mapping: SourceMapping, batch_id: int, result: Pull) -> None:
    con.execute("insert into ops.source_pulls values (?, ?, ?, ?, ?, ?)",
                [mapping.source, batch_id, dt.datetime.now(), mapping.query.watermark if mapping.query else None,
                 result.watermark, result.rows])


def _without(message: str, secret: str) -> str:
    """A driver's message without the connection string (it may hold a password)."""
    return message.replace(secret, "<connection string>")
