"""The read-only BI role (``KAM_BI_ROLE``, default ``kam_bi``) and its grants on schema ``analytics``."""

from __future__ import annotations

import re

from kam.postgres.connection import q

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
