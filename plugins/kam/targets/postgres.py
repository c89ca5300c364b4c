"""Target ``postgres``: raw batches are copied to the server, dbt builds there, BI reads schema
``analytics`` on it as a read-only role (kam.postgres, kam.publish.postgres)."""

from __future__ import annotations

import contextlib
import datetime as dt

from kam.targets.base import Target


class PostgresTarget(Target):
    name = "postgres"

    def sync_raw(self, source: str) -> dict[str, int]:
        """Copy every new raw/quarantine batch to the server (bulk COPY), whichever source ingested it."""
        from kam.postgres.sync import sync_new_batches
        from kam.warehouse import warehouse

        with warehouse(self.settings) as con:
            return sync_new_batches(con, self.settings.pg_dsn, self.settings.tmp_dir)

    def write_run_context(self, statements: list[str], run_date: dt.date,
                          rebuild_from_month: dt.date | None) -> None:
        from kam.postgres.connection import connect

        conn = connect(self.settings.pg_dsn)
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def audit_marts(self, run_date: dt.date):
        from kam.quality.audit import audit_postgres

        return audit_postgres(self.settings, run_date)

    def publish(self, run_id, run_date, audit_summary, interval):
        from kam.publish.postgres import publish_postgres

        return publish_postgres(self.settings, run_id, run_date, audit_summary, interval)

    def served_publication_id(self) -> int | None:
        from kam.publish.postgres import schema_publication_id

        return schema_publication_id(self.settings.pg_dsn)

    def served_at(self) -> str:
        from kam.postgres.connection import redacted
        from kam.publish.postgres import SERVED_SCHEMA

        return f"schema {SERVED_SCHEMA} on {redacted(self.settings.pg_dsn)} (BI role {self.settings.bi_role})"

    def served_sources(self, marts: tuple[str, ...]):
        """Schema ``analytics`` on the server, attached read-only through DuckDB's postgres extension."""
        import duckdb

        from kam.contract import sql_string
        from kam.ingest.pull import load_scanner
        from kam.publish.postgres import SERVED_SCHEMA, schema_publication_id

        pub = schema_publication_id(self.settings.pg_dsn)
        if pub is None:
            raise RuntimeError(f"nothing has been published on the server yet (schema {SERVED_SCHEMA})")
        con = duckdb.connect()
        attach_type, _ = load_scanner(con, self.settings.pg_dsn, "KAM_PG_DSN")
        con.execute(f"attach {sql_string(self.settings.pg_dsn)} as served (type {attach_type}, read_only)")
        return pub, con, {m: f"served.{SERVED_SCHEMA}.{m}" for m in marts}

    @contextlib.contextmanager
    def report_source(self):
        from kam.report.source import postgres_schema

        with postgres_schema(self.settings.pg_dsn) as source:
            yield source
