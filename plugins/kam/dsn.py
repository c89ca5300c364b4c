"""The PostgreSQL warehouse's connection string (``KAM_PG_DSN``: a libpq URI or ``key=value``
string): parsed, split for dbt's profile, as GX's SQLAlchemy URL, and redacted for people.

Its password never reaches a file: dbt and GX get it through environment variables, and
what kam prints is :func:`redacted`. A foundation module (no kam imports): the settings use it.
"""

from __future__ import annotations

import os
from urllib.parse import quote


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
