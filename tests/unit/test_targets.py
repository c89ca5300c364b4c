"""Target settings and the bulk copy to PostgreSQL (real server, own database)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
from conftest import kam_env

from kam.config import Settings, load_settings
from kam.postgres.connection import dbt_env, redacted, sqlalchemy_url
from kam.postgres.sync import sync_new_batches
from kam.postgres.types import pg_type


def test_target_must_be_known(monkeypatch):
    monkeypatch.setenv("KAM_TARGET", "snowflake")
    with pytest.raises(ValueError, match="KAM_TARGET must be one of duckdb, postgres"):
        load_settings()


def test_postgres_target_needs_a_dsn(tmp_path):
    with pytest.raises(ValueError, match="needs KAM_PG_DSN"):
        Settings(kam_home=tmp_path, landing_dir=tmp_path, target="postgres")


def test_cli_reports_a_missing_dsn_without_traceback(tmp_path):
    (tmp_path / "landing").mkdir()
    proc = subprocess.run([str(Path(sys.executable).parent / "kam"), "run", "--target", "postgres",
                           "--landing", str(tmp_path / "landing")],
                          env=kam_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error: target postgres needs KAM_PG_DSN" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dsn_forms_and_redaction():
    uri = "postgresql://kam:p%40ss@db.internal:6543/warehouse"
    assert dbt_env(uri) == {"KAM_PG_HOST": "db.internal", "KAM_PG_PORT": "6543", "KAM_PG_USER": "kam",
                            "KAM_PG_PASSWORD": "p@ss", "KAM_PG_DBNAME": "warehouse"}
    assert dbt_env("host=h user=u password=x dbname=d")["KAM_PG_PORT"] == "5432"
    assert redacted(uri) == "postgresql://kam@db.internal:6543/warehouse"
    assert "p@ss" not in redacted(uri)
    assert sqlalchemy_url(uri) == "postgresql+psycopg2://kam:p%40ss@db.internal:6543/warehouse"
    with pytest.raises(ValueError, match="KAM_PG_DSN is not a valid"):
        dbt_env("host=h nonsense")


def test_settings_pass_the_server_to_dbt_but_status_never_prints_the_password(tmp_path):
    from kam.status.report import status_report

    s = Settings(kam_home=tmp_path, landing_dir=tmp_path, target="postgres",
                 pg_dsn="postgresql://kam:secret@h:5432/w")
    env = s.env()
    assert env["KAM_TARGET"] == "postgres" and env["KAM_PG_PASSWORD"] == "secret"
    assert env["KAM_PG_DBNAME"] == "w"
    for report in (status_report(s), status_report(s, as_json=True)):  # no warehouse yet: no server call
        assert "h:5432/w" in report and "secret" not in report


def test_type_mapping_is_lossless_or_refuses():
    assert pg_type("DECIMAL(18,2)") == "numeric(18,2)"
    assert pg_type("TIMESTAMP") == "timestamp" and pg_type("VARCHAR") == "text"
    with pytest.raises(ValueError, match="no PostgreSQL type for DuckDB type STRUCT"):
        pg_type("STRUCT(a INTEGER)")


@pytest.mark.postgres
def test_sync_copies_new_batches_once_with_nulls_empties_and_unicode(tmp_path, pg_database):
    duck = duckdb.connect(str(tmp_path / "w.duckdb"))
    duck.execute("create schema raw; create schema quarantine; create schema ops")
    duck.execute("create table raw.orders (order_id varchar, note varchar, amount decimal(18,2), "
                 "d date, ts timestamp, ok boolean, _batch_id bigint)")
    duck.execute("create table ops.ingest_batches (batch_id bigint, source varchar)")
    duck.execute("insert into raw.orders values ('O1', null, 1.25, '2026-01-31', '2026-01-31 23:59:59', true, 1), "
                 "('O2', '', -3.10, null, null, null, 1), ('O3', '华东, \"引号\"\n第二行', 0, '2026-02-01', "
                 "'2026-02-01 00:00:00', false, 2)")
    duck.execute("insert into ops.ingest_batches values (1, 'orders'), (2, 'orders')")

    first = sync_new_batches(duck, pg_database, tmp_path)
    assert first == {"raw.orders": 3, "ops.ingest_batches": 2}
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select order_id, note, amount, d, ts, ok from raw.orders order by 1")
        assert cur.fetchall() == [
            ("O1", None, Decimal("1.25"), dt.date(2026, 1, 31), dt.datetime(2026, 1, 31, 23, 59, 59), True),
            ("O2", "", Decimal("-3.10"), None, None, None),
            ("O3", '华东, "引号"\n第二行', Decimal("0.00"), dt.date(2026, 2, 1), dt.datetime(2026, 2, 1), False)]

    # nothing new: nothing copied; a new batch with a new column: column added, only that batch copied
    assert sync_new_batches(duck, pg_database, tmp_path) == {"raw.orders": 0, "ops.ingest_batches": 0}
    duck.execute("alter table raw.orders add column region varchar")
    duck.execute("insert into raw.orders (order_id, region, _batch_id) values ('O4', 'north', 3)")
    duck.execute("insert into ops.ingest_batches values (3, 'orders')")
    assert sync_new_batches(duck, pg_database, tmp_path) == {"raw.orders": 1, "ops.ingest_batches": 1}
    with conn.cursor() as cur:
        cur.execute("select _batch_id, count(*), count(region) from raw.orders group by 1 order by 1")
        assert cur.fetchall() == [(1, 2, 0), (2, 1, 0), (3, 1, 1)]
    conn.close()
    assert list(tmp_path.glob(".kam-copy-*")) == []  # temporary CSV files are removed


def test_every_target_is_one_module_that_provides_the_whole_interface(tmp_path):
    """kam.targets: one class per KAM_TARGET, each giving what every target must (no stage falls back on a
    placeholder), and a refusal that says what to do where a command cannot work on it."""
    from kam.config import TARGETS
    from kam.targets import TARGETS as IMPLEMENTED
    from kam.targets import NotOnThisTarget, Target, target_of

    assert set(IMPLEMENTED) == set(TARGETS)
    must = ("write_run_context", "audit_marts", "publish", "served_publication_id", "served_at")
    for name, cls in IMPLEMENTED.items():
        assert cls.__module__ == f"kam.targets.{name}" and issubclass(cls, Target)
        missing = [m for m in must if getattr(cls, m) is getattr(Target, m)]
        assert not missing, f"target {name} does not provide {missing}"
    settings = {name: Settings(kam_home=tmp_path, landing_dir=tmp_path, target=name,
                               pg_dsn="postgresql://kam@127.0.0.1:5432/kam") for name in TARGETS}
    assert type(target_of(settings["spark"])).__name__ == "SparkTarget"
    with pytest.raises(NotOnThisTarget, match="a kept analytics_v<id> instead"):
        target_of(settings["spark"]).check_rollback()
    for name in ("postgres", "spark"):
        with pytest.raises(NotOnThisTarget, match=f"target {name} keeps its marts elsewhere"):
            target_of(settings[name]).check_whatif()
    target_of(settings["duckdb"]).check_whatif()  # the embedded warehouse: previews work
    with pytest.raises(NotOnThisTarget, match="nothing published yet at .*analytics.duckdb"):
        target_of(settings["duckdb"]).published_snapshot()
    assert target_of(settings["postgres"]).served_at() == \
        "schema analytics on postgresql://kam@127.0.0.1:5432/kam (BI role kam_bi)"
