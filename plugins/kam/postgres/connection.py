"""Connections to the PostgreSQL warehouse (``KAM_PG_DSN``: a libpq URI or ``key=value`` string).

Its password never reaches a file: dbt and GX get it through environment variables, and
what kam prints is :func:`redacted`.
"""

from __future__ import annotations

from kam.dsn import dbt_env, parse, redacted, sqlalchemy_url  # noqa: F401 - the connection string, kam.dsn


def connect(dsn: str):
    import psycopg2

    try:
        return psycopg2.connect(dsn, application_name="kam")
    except psycopg2.OperationalError as exc:
        raise ConnectionError(f"cannot connect to the PostgreSQL warehouse {redacted(dsn)}: "
                              f"{str(exc).strip()}") from None


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
