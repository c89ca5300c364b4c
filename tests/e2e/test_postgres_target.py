"""The PostgreSQL warehouse target, run for real: ``kam run --target postgres`` through the DAGs.

One module-wide run on the small landing folder into a database created for
the test, then: parity with the DuckDB run of the same data (tiers, classes,
totals, tier history), nothing lost on the way to the server, the read-only
BI role, the atomic schema swap under a reader, and SIGKILL during publication.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import threading
import time
import uuid

import duckdb
import psycopg2
import pytest
from conftest import END_DATE, _pg_admin, kam_env, run_kam
from psycopg2.extensions import make_dsn

from kam.marts import PUBLISHED_MARTS

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCORES = ("financial_score", "sales_score", "customer_score", "service_score", "current_value_score",
          "potential_value_score", "value_score")


@pytest.fixture(scope="module")
def pg_run(tmp_path_factory, small_landing, pg_database):
    """KAM_HOME and settings after one `kam run --target postgres` into a fresh database."""
    home = tmp_path_factory.mktemp("kam_home_pg")
    role = f"kam_bi_{uuid.uuid4().hex[:8]}"
    env = {"KAM_PG_DSN": pg_database, "KAM_BI_ROLE": role, "KAM_BI_PASSWORD": "bi-" + uuid.uuid4().hex}
    proc = run_kam(["run", "--target", "postgres", "--landing", str(small_landing),
                    "--date", END_DATE.isoformat()], home, **env)
    assert "served at schema analytics on postgresql://" in proc.stdout
    yield {"home": home, "dsn": pg_database, "role": role, "env": env}
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"drop owned by {role}")
    conn.close()
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f"drop role if exists {role}")
    admin.close()


def pg_rows(dsn: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def duck_rows(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_same_tiers_and_classes_as_duckdb(first_run, pg_run):
    cols = ("customer_id, as_of_month, tier, computed_tier, abc_class, size_class, value_quadrant, "
            "is_pseudo_key_account, profit_role, value_type")
    sql = f"select {cols} from {{}}customer_value_monthly order by customer_id, as_of_month"
    on_duckdb = duck_rows(first_run / "published" / "analytics.duckdb", sql.format(""))
    on_postgres = pg_rows(pg_run["dsn"], sql.format("analytics."))
    assert len(on_duckdb) > 1000
    assert on_postgres == on_duckdb


def test_same_scores_as_duckdb(first_run, pg_run):
    sql = f"select customer_id, as_of_month, {', '.join(SCORES)} from {{}}customer_value_monthly " \
          "order by customer_id, as_of_month"
    on_duckdb = duck_rows(first_run / "published" / "analytics.duckdb", sql.format(""))
    on_postgres = pg_rows(pg_run["dsn"], sql.format("analytics."))
    assert [r[:2] for r in on_postgres] == [r[:2] for r in on_duckdb]
    worst = max(abs(float(a) - float(b)) for d, p in zip(on_duckdb, on_postgres, strict=True)
                for a, b in zip(d[2:], p[2:], strict=True) if a is not None and b is not None)
    assert worst <= 1e-5  # rounded to 6 digits on both engines; float sums may differ in the last one
    nulls = [(d[0], d[1]) for d, p in zip(on_duckdb, on_postgres, strict=True)
             if [x is None for x in d[2:]] != [x is None for x in p[2:]]]
    assert nulls == []


def test_same_order_totals_history_and_concentration(first_run, pg_run):
    published = first_run / "published" / "analytics.duckdb"
    totals = ("select count(*), sum(net_amount), sum(case when is_revenue then net_amount else 0 end), "
              "count(distinct customer_id) from {}fct_order_lines")
    assert pg_rows(pg_run["dsn"], totals.format("analytics.")) == duck_rows(published, totals.format(""))
    monthly = ("select cast(date_trunc('month', order_date) as date) as m, sum(net_amount) "
               "from {}fct_order_lines group by 1 order by 1")
    assert pg_rows(pg_run["dsn"], monthly.format("analytics.")) == duck_rows(published, monthly.format(""))
    history = ("select customer_id, tier, valid_from, valid_to, is_current from {}customer_tier_history "
               "order by customer_id, valid_from")
    assert pg_rows(pg_run["dsn"], history.format("analytics.")) == duck_rows(published, history.format(""))
    changes = ("select customer_id, change_month, from_tier, to_tier, direction from {}customer_tier_changes "
               "order by 1, 2")
    assert pg_rows(pg_run["dsn"], changes.format("analytics.")) == duck_rows(published, changes.format(""))
    conc = ("select as_of_month, customers, revenue, top20_share, customers_for_80pct, gini "
            "from {}revenue_concentration order by 1")
    pg_conc, duck_conc = pg_rows(pg_run["dsn"], conc.format("analytics.")), duck_rows(published, conc.format(""))
    assert [r[:3] + r[4:5] for r in pg_conc] == [r[:3] + r[4:5] for r in duck_conc]
    assert all(math.isclose(p[i], d[i], abs_tol=1e-9) for p, d in zip(pg_conc, duck_conc, strict=True)
               for i in (3, 5))


def test_every_row_reaches_the_server_once(pg_run):
    """raw + quarantine on the server = rows read per the manifest, batch by batch."""
    manifest = duck_rows(pg_run["home"] / "warehouse.duckdb",
                         "select batch_id, rows_loaded, rows_quarantined from ops.ingest_batches "
                         "where status in ('loaded', 'partial') order by 1")
    assert manifest
    for schema, column in (("raw", 1), ("quarantine", 2)):
        on_server = dict(pg_rows(pg_run["dsn"], " union all ".join(
            f"select _batch_id, count(*) from {schema}.{s} group by 1" for s in
            ("customers", "orders", "complaints", "visits"))))
        assert {b: n for b, *counts in manifest if (n := counts[column - 1])} == on_server
    assert pg_rows(pg_run["dsn"], "select count(*) from ops.ingest_batches")[0][0] == duck_rows(
        pg_run["home"] / "warehouse.duckdb", "select count(*) from ops.ingest_batches")[0][0]


def as_bi(pg_run, **extra: str) -> psycopg2.extensions.connection:
    # trust auth on the test server: the password is set on the role but not checked here
    return psycopg2.connect(make_dsn(pg_run["dsn"], user=pg_run["role"], password=pg_run["env"]["KAM_BI_PASSWORD"],
                                     **extra))


def test_bi_role_reads_analytics_only(pg_run):
    role = pg_run["role"]
    attrs = pg_rows(pg_run["dsn"], "select rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, "
                                   "rolpassword is not null from pg_authid where rolname = %s", [role])
    assert attrs == [(False, False, False, True, True)]
    conn = as_bi(pg_run)
    conn.autocommit = True
    with conn.cursor() as cur:
        for mart in PUBLISHED_MARTS:
            cur.execute(f"select count(*) from analytics.{mart}")
            assert cur.fetchone()[0] >= 0
        cur.execute("select count(*) from analytics.publications where status = 'published'")
        assert cur.fetchone()[0] == 1
        denied = ["select count(*) from marts.customer_value_monthly", "select count(*) from raw.orders",
                  "select count(*) from quarantine.orders", "select count(*) from ops.ingest_batches",
                  "create table analytics.scratch (x int)", "create table public.scratch (x int)",
                  "delete from analytics.fct_order_lines", "drop table analytics.dim_customers",
                  "create schema bi_scratch"]
        for sql in denied:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
    conn.close()
    # default privileges: a table added to analytics later is readable too
    owner = psycopg2.connect(pg_run["dsn"])
    with owner, owner.cursor() as cur:
        cur.execute("create table analytics.added_later as select 1 as x")
    conn = as_bi(pg_run)
    with conn.cursor() as cur:
        cur.execute("select x from analytics.added_later")
        assert cur.fetchall() == [(1,)]
    conn.close()
    with owner, owner.cursor() as cur:
        cur.execute("drop table analytics.added_later")
    owner.close()


PUBLISH = (
    "import datetime as dt; from kam.config import load_settings; from kam.publish.postgres import publish_postgres; "
    f"publish_postgres(load_settings(), 'pg-test', dt.date.fromisoformat('{END_DATE}'), {{}})"
)


def publish_process(pg_run, **env) -> subprocess.CompletedProcess:
    # a new session: a fault point kills its whole process group, never pytest
    return subprocess.run([sys.executable, "-c", PUBLISH],
                          env=kam_env(pg_run["home"], KAM_TARGET="postgres", **pg_run["env"], **env),
                          capture_output=True, text=True, timeout=300, start_new_session=True)


def served_id(dsn: str) -> int:
    return pg_rows(dsn, "select max(publication_id) from analytics.publications where status = 'published'")[0][0]


def analytics_snapshot(dsn: str) -> dict[str, list[tuple]]:
    return {m: pg_rows(dsn, f"select * from analytics.{m} order by 1, 2") for m in
            ("customer_value_monthly", "customer_tier_history", "dim_customers")}


def ops_status(pg_run, pub_id: int) -> str:
    return duck_rows(pg_run["home"] / "warehouse.duckdb",
                     f"select status from ops.publications where publication_id = {pub_id}")[0][0]


def test_schema_swap_under_a_reader_never_errors(pg_run):
    """A BI reader polls all through two publications: every query succeeds, on a whole schema."""
    stop, seen, errors = threading.Event(), [], []

    def reader():
        conn = as_bi(pg_run)
        conn.autocommit = True
        while not stop.is_set():
            try:
                with conn.cursor() as cur:
                    cur.execute("select (select max(publication_id) from analytics.publications "
                                "where status = 'published'), (select count(*) from analytics.dim_customers)")
                    seen.append(cur.fetchone())
            except psycopg2.Error as exc:
                errors.append(str(exc))
            time.sleep(0.02)
        conn.close()

    before = served_id(pg_run["dsn"])
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(2):
            proc = publish_process(pg_run)
            assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    ids = [s[0] for s in seen]
    assert ids[0] == before and ids[-1] == before + 2 and ids == sorted(ids)
    assert {s[1] for s in seen} == {240}  # never a half-built schema


def _served_tables(dsn: str) -> list[str]:
    return [r[0] for r in pg_rows(dsn, "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                                       "where n.nspname = 'analytics' and c.relkind in ('r', 'p') order by 1")]


def _until_a_lock_is_awaited(dsn: str, publisher: subprocess.Popen, timeout: float = 300) -> None:
    """Until some session waits for a lock on a served table (the publication's attempt to lock them)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert publisher.poll() is None, publisher.communicate()[1][-3000:]
        if pg_rows(dsn, "select count(*) from pg_locks l join pg_class c on c.oid = l.relation "
                        "join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = 'analytics' and not l.granted")[0][0]:
            return
        time.sleep(0.01)
    raise AssertionError("the publication never asked for the served tables")


def test_a_bi_transaction_across_the_swap_is_never_a_deadlock_victim(pg_run):
    """A BI session reads the served table the publication locks last, in an open transaction, and once the
    publication waits for it reads the one it locks first: the order in which ``drop schema … cascade`` alone
    deadlocked the polling reader above under load (PostgreSQL cancelled the reader's query). The publication
    gives way instead (kam.publish.postgres.lock_served): one allowed to wait 2 s fails naming the session and
    changes nothing; the next waits past PostgreSQL's deadlock_timeout until the reader commits, then serves
    its publication. Every query of the reader succeeds, on the publication it started with."""
    dsn = pg_run["dsn"]
    before = served_id(dsn)
    tables = _served_tables(dsn)
    first, last = tables[0], tables[-1]
    reader = as_bi(pg_run, application_name="bi-test-reader")
    publisher = None
    try:
        with reader.cursor() as cur:
            cur.execute(f"select count(*) from analytics.{last}")
            held = cur.fetchone()[0]
        gave_up = publish_process(pg_run, KAM_PG_PUBLISH_LOCK_WAIT="2")
        assert gave_up.returncode == 1, gave_up.stderr[-3000:]
        assert "publication refused to wait longer: for 2 s" in gave_up.stderr, gave_up.stderr[-3000:]
        assert f"user {pg_run['role']}, application bi-test-reader, from " in gave_up.stderr
        assert "schema analytics was held by pid " in gave_up.stderr and "analytics is unchanged" in gave_up.stderr
        assert served_id(dsn) == before

        publisher = subprocess.Popen([sys.executable, "-c", PUBLISH], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=kam_env(pg_run["home"], KAM_TARGET="postgres", **pg_run["env"]),
                                     text=True, start_new_session=True)
        _until_a_lock_is_awaited(dsn, publisher)
        with reader.cursor() as cur:
            cur.execute(f"select count(*) from analytics.{first}")
            cur.execute("select max(publication_id) from analytics.publications where status = 'published'")
            assert cur.fetchone()[0] == before
        time.sleep(1.5)  # longer than PostgreSQL's deadlock_timeout (1 s): a deadlock would be broken by now
        assert publisher.poll() is None  # still giving way to the reader
        with reader.cursor() as cur:
            cur.execute(f"select count(*) from analytics.{last}")
            assert cur.fetchone()[0] == held
        reader.commit()
        _, err = publisher.communicate(timeout=300)
        assert publisher.returncode == 0, err[-3000:]
    finally:
        reader.close()
        if publisher is not None and publisher.poll() is None:
            publisher.kill()
    assert served_id(dsn) == before + 2
    assert ops_status(pg_run, before + 1) == "failed"  # the one that gave up, settled by the next


@pytest.mark.parametrize("point", ["publish.mid_copy", "publish.after_verify", "publish.after_replace"])
def test_sigkill_during_publication_on_postgres(pg_run, point):
    dsn = pg_run["dsn"]
    before_id, before = served_id(dsn), analytics_snapshot(dsn)
    killed = publish_process(pg_run, KAM_FAULT_KILL_AT=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (killed_id,) = duck_rows(pg_run["home"] / "warehouse.duckdb",
                             "select max(publication_id) from ops.publications")[0]
    if point == "publish.after_replace":  # committed: the new publication is served
        assert served_id(dsn) == killed_id
    else:  # the transaction died with the process: the server is exactly as before
        assert served_id(dsn) == before_id
        assert pg_rows(dsn, "select count(*) from information_schema.schemata "
                            "where schema_name = 'analytics_next'")[0][0] == 0
    assert analytics_snapshot(dsn) == before  # same data either way (same marts)

    rerun = publish_process(pg_run)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    expected = "published" if point == "publish.after_replace" else "failed"
    assert ops_status(pg_run, killed_id) == expected
    assert served_id(dsn) == killed_id + 1
    logged = duck_rows(pg_run["home"] / "warehouse.duckdb",
                       f"select count(*) from ops.tier_publication_log where publication_id = {killed_id}")[0][0]
    assert (logged > 0) == (expected == "published")


def test_the_publication_steps_on_the_server_one_at_a_time(pg_run):
    """kam.publish.postgres.STEPS run alone, in the test's process: the new schema stays inside the one
    transaction until swap (no other session sees it), the served schema changes only at swap, and the
    ledger says 'published' only at record."""
    from kam.config import load_settings
    from kam.publish import postgres as pub

    with pytest.MonkeyPatch.context() as mp:
        for key, value in kam_env(pg_run["home"], KAM_TARGET="postgres", **pg_run["env"]).items():
            mp.setenv(key, value)
        settings = load_settings()
    dsn = pg_run["dsn"]
    before_id, before = served_id(dsn), analytics_snapshot(dsn)
    next_seen = "select count(*) from information_schema.schemata where schema_name = 'analytics_next'"

    staging = pub.begin(settings, "steps-test", END_DATE, {}, (None, None))
    try:
        assert ops_status(pg_run, staging.publication_id) == "publishing"
        pub.stage(staging)
        with staging.conn.cursor() as cur:
            cur.execute("select count(*) from analytics_next.dim_customers")
            assert cur.fetchone()[0] == staging.counts["dim_customers"] > 0
        assert pg_rows(dsn, next_seen)[0][0] == 0  # not committed: invisible to any other session
        pub.verify(staging)
        pub.stage_report(staging)
        assert served_id(dsn) == before_id
        pub.swap(staging)
        assert served_id(dsn) == staging.publication_id and pg_rows(dsn, next_seen)[0][0] == 0
        assert ops_status(pg_run, staging.publication_id) == "publishing"
        pub.record(staging)
    finally:
        staging.conn.close()
    assert ops_status(pg_run, staging.publication_id) == "published"
    assert analytics_snapshot(dsn) == before  # the same marts, published again


def test_status_reports_the_server(pg_run):
    proc = run_kam(["status"], pg_run["home"], KAM_TARGET="postgres", **pg_run["env"])
    assert "schema analytics on postgresql://" in proc.stdout
    assert pg_run["env"]["KAM_BI_PASSWORD"] not in proc.stdout
    assert "last published  #" in proc.stdout
    # dbt's documentation site of the build on the server (its catalog read from PostgreSQL), published too
    docs = pg_run["home"] / "published" / "docs.html"
    assert f"dbt docs        {docs}" in proc.stdout and "schemas.getdbt.com/dbt/catalog/" in docs.read_text()


def test_the_report_on_postgres_shows_what_the_duckdb_report_shows(first_run, pg_run):
    """The publish step wrote published/report.html from schema analytics: the same figures as
    the DuckDB target's report of the same data."""
    from test_report import figures_of

    on_postgres, on_duckdb = (h / "published" / "report.html" for h in (pg_run["home"], first_run))
    assert on_postgres.exists()
    pg_figs, duck_figs = figures_of(on_postgres), figures_of(on_duckdb)
    assert pg_figs.keys() == duck_figs.keys()
    for key in pg_figs:
        assert json.dumps(pg_figs[key]["data"], sort_keys=True) == json.dumps(duck_figs[key]["data"], sort_keys=True) \
            or _close(pg_figs[key]["data"], duck_figs[key]["data"]), key


def _close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_superset_reads_the_postgres_target_as_the_bi_role(pg_run, superset_bootstrapped):
    """`make bi` with KAM_TARGET=postgres: the dashboard's database is the warehouse as kam_bi,
    schema analytics; its charts show the served marts; SQL Lab can neither write, read files nor
    read the working schemas."""
    from psycopg2.extensions import parse_dsn
    from test_superset import serving

    parts = parse_dsn(pg_run["dsn"])
    bi_dsn = (f"postgresql://{pg_run['role']}:{pg_run['env']['KAM_BI_PASSWORD']}@{parts.get('host', '127.0.0.1')}:"
              f"{parts.get('port', '5432')}/{parts['dbname']}")
    with serving(pg_run["home"], superset_bootstrapped, KAM_TARGET="postgres", KAM_BI_DSN=bi_dsn) as (_, api):
        charts = api.charts()
        latest = pg_rows(pg_run["dsn"], "select customers from analytics.revenue_concentration where as_of_month = "
                         "(select max(as_of_month) from analytics.customer_value_monthly where is_complete_month)")
        assert api.chart_data(charts["Customers with revenue"]["id"]) == [{"customers": latest[0][0]}]
        served = pg_rows(pg_run["dsn"], "select max(publication_id) from analytics.publications "
                                        "where status = 'published'")[0][0]
        assert api.chart_data(charts["Served publication"]["id"]) == [{"publication": served}]
        db_id = api.call("GET", "/api/v1/database/?q=(page_size:10)")["result"][0]["id"]
        for sql, expected in (("select pg_read_file('/etc/hostname')", "disallowed function"),  # Superset's list
                              # the role: the working schemas are not the BI's
                              ("select count(*) from marts.customer_value_monthly",
                               "permission denied for schema marts"),
                              ("create table analytics.x as select 1 as a", "does not allow for DDL/DML")):
            out = api.call("POST", "/api/v1/sqllab/execute/", {"database_id": db_id, "sql": sql, "runAsync": False,
                                                                "schema": "analytics"})
            assert out.get("status") != "success" and expected in out.get("error_body", ""), out
