"""Shared fixtures: generated landing data and a real `kam run` through Airflow.

The end-to-end fixtures run the real DAGs (``airflow dags test``) on data
made by the generator at a small scale; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
KAM = str(Path(sys.executable).parent / "kam")
END_DATE = dt.date(2026, 6, 15)  # fixed, so results do not depend on today's date
SMALL = {"customers": 240, "months": 24, "seed": 7}


# The longest test files first (measured by `make test --durations`, docs/testing.md): with
# pytest-xdist handing whole files to the workers in this order (`--dist loadfile
# --no-loadscope-reorder`: xdist would otherwise order files by their number of tests), no long
# file starts last. xdist gives each worker one file, then the next whenever a worker has at most
# two tests of its files left (xdist's LoadScopeScheduling): the Spark file's worker gets its next
# file when the Spark run's test ends, queued behind the kill drill.
LONGEST_FIRST = (
    "e2e/test_spark_target.py",
    "e2e/test_runs_under_faults.py",
    "integration/test_compose.py",
    "e2e/test_postgres_target.py",
    "e2e/test_incremental.py",
    "e2e/test_run_evidence.py",
    "e2e/test_idempotency.py",
    "e2e/test_superset.py",
    "e2e/test_production_airflow.py",
    "e2e/test_own_exports.py",
    "e2e/test_notify_dag.py",
    "e2e/test_publication_faults.py",
    "e2e/test_bench_smoke.py",
    "e2e/test_hostile_landing.py",
    "e2e/test_report.py",
)


SPEED = pytest.StashKey[float]()


def machine_speed() -> float:
    """Seconds for a fixed single-core workload (the best of five): this machine's speed varies by half
    from one evening to the next, so the durations docs/testing.md records come with this rough figure."""
    import time

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i % 7 for i in range(2_000_000))
        best = min(best, time.perf_counter() - started)
    return best


def pytest_configure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller, before the workers start
        config.stash[SPEED] = machine_speed()


def pytest_terminal_summary(terminalreporter, config):
    if _CPU:
        def line(wall: float, cpu: float, name: str) -> None:
            terminalreporter.write_line(f"{wall:8.1f} s wall {cpu:8.1f} s CPU {cpu / max(wall, 1e-9):5.0%}  {name}")

        files = sorted(_CPU.items(), key=lambda kv: -kv[1][0])[:CPU_SHOWN]
        terminalreporter.write_line(f"wall and CPU per test file (the {len(files)} longest; CPU: the worker's own "
                                    "and its finished subprocesses', PostgreSQL's server not included):")
        for name, (wall, cpu) in files:
            line(wall, cpu, name)
        line(*(sum(v[i] for v in _CPU.values()) for i in (0, 1)), "every test file")
    if SPEED in config.stash:
        terminalreporter.write_line(f"machine speed: the reference workload took {config.stash[SPEED]:.3f} s before "
                                    f"the tests and {machine_speed():.3f} s after (docs/testing.md)")


# Wall and CPU time per test file, setup and teardown included (a module's shared run is counted in the
# test that made it): [wall seconds, CPU seconds of the process and of its subprocesses it waited for].
# Under xdist each worker measures its own and hands it to the controller, which prints the table.
_CPU: dict[str, list[float]] = {}
CPU_SHOWN = 20


def _clock() -> tuple[float, float]:
    import resource
    import time

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = _clock()
    yield
    ended = _clock()
    entry = _CPU.setdefault(Path(item.fspath).relative_to(REPO / "tests").as_posix(), [0.0, 0.0])
    entry[0] += ended[0] - started[0]
    entry[1] += ended[1] - started[1]


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: its figures go to the controller
        import json

        session.config.workeroutput["kam_cpu"] = json.dumps(_CPU)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    import json

    for name, (wall, cpu) in json.loads(getattr(node, "workeroutput", {}).get("kam_cpu", "{}")).items():
        entry = _CPU.setdefault(name, [0.0, 0.0])
        entry[0] += wall
        entry[1] += cpu


def pytest_collection_modifyitems(config, items):
    """Every test under tests/e2e runs the pipeline end to end: it is ``slow`` (the tier
    ``make test-fast`` leaves out), whether or not its module says so. The longest files run
    first (:data:`LONGEST_FIRST`); within a file the order is the file's."""
    e2e = REPO / "tests" / "e2e"
    for item in items:
        if e2e in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)

    def rank(item) -> int:
        name = Path(item.fspath).relative_to(REPO / "tests").as_posix()
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a file's tests keep their order


def kam_env(home: Path, landing: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAM_", "AIRFLOW"))}
    env["KAM_HOME"] = str(home)
    if landing is not None:
        env["KAM_LANDING"] = str(landing)
    env.update(extra)
    return env


_AIRFLOW_TEMPLATE: list[Path] = []  # this process's migrated, never-used Airflow home


def seed_airflow(home: Path) -> None:
    """Give a new KAM_HOME a copy of a freshly migrated, empty Airflow metadata DB (made once per
    test process by kam's own ``ensure_airflow``), so that each new home does not pay ``airflow db
    migrate`` again (~16 s). ``airflow.cfg`` is not copied: Airflow writes a new one for the home.
    Tests of a first run itself (two first runs at once) start from an empty home instead."""
    target = home / "airflow"
    if target.exists():
        return
    if not _AIRFLOW_TEMPLATE:
        import tempfile

        from kam.airflow.orchestrate import ensure_airflow
        from kam.config import Settings

        root = Path(tempfile.mkdtemp(prefix="kam-airflow-template-"))
        ensure_airflow(Settings(kam_home=root, landing_dir=root / "landing"))
        _AIRFLOW_TEMPLATE.append(root / "airflow")
    template = _AIRFLOW_TEMPLATE[0]
    target.mkdir(parents=True)
    (target / "plugins").mkdir()
    for path in template.iterdir():
        if path.name.startswith("airflow.db") or path.name == ".kam-initialised":
            shutil.copy2(path, target / path.name)


def run_kam(args: list[str], home: Path, landing: Path | None = None, check: bool = True,
            timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    if args and args[0] in ("run", "demo"):
        seed_airflow(home)
    proc = subprocess.run([KAM, *args], env=kam_env(home, landing, **extra), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kam {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_inbox():
    """A real SMTP server on the loopback (aiosmtpd) keeping every message it accepts; ``conn`` is the
    Airflow connection URI of it (for ``AIRFLOW_CONN_<ID>``)."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.envelopes: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.envelopes.append(envelope)
            return "250 OK"

        @property
        def messages(self) -> list:
            return [message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.conn = (f"smtp://127.0.0.1:{port}?disable_tls=true&disable_ssl=true&from_email=kam%40example.com"
                  f"&retry_limit=0&timeout=10")
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    with smtp_inbox() as inbox:
        yield inbox


def parquet_rows(parquet_dir: Path, table: str) -> list[tuple]:
    """The rows of a table's Parquet copy (every file of ``parquet/<table>/``), sorted."""
    return duckdb.sql(f"select * from read_parquet('{parquet_dir / table}/*.parquet') order by all").fetchall()


@pytest.fixture
def small_marts(tmp_path):
    """Settings of a new KAM_HOME whose warehouse holds every published mart, small: 200 rows
    over 10 months (the mart's month column, or ``as_of_month``), 7 customers, tier B."""
    from kam.config import Settings
    from kam.marts import PUBLICATION_PARTITIONS, PUBLISHED_MARTS
    from kam.warehouse import warehouse

    # no report: it reads the real marts' columns (tests/e2e/test_report.py covers it)
    s = Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing", report_months=0)
    with warehouse(s) as con:
        con.execute("create schema if not exists marts")
        for mart in PUBLISHED_MARTS:
            month = PUBLICATION_PARTITIONS.get(mart, "as_of_month")
            con.execute(f"""create table marts.{mart} as
                select 'C' || (i % 7) as customer_id, date '2026-01-01' + to_months(i % 10) as {month},
                       i as amount, 'B' as tier from range(200) r(i)""")
    return s


@pytest.fixture
def con(settings):
    """A new working warehouse (ops tables only) for the module's ``settings`` fixture."""
    from kam.warehouse import OPS_DDL

    settings.kam_home.mkdir(parents=True)
    c = duckdb.connect(str(settings.warehouse_path))
    c.execute(OPS_DDL)
    yield c
    c.close()


def published_tables(path: Path, ignore_columns: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every table of a published file, sorted rows: for exact comparisons."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("show tables").fetchall()]
        out = {}
        for name in names:
            if name in ("publications", "tier_publication_log"):
                continue  # these grow by design with every publication
            cols = [r[0] for r in con.execute(f"describe {name}").fetchall() if r[0] not in ignore_columns]
            rows = con.execute(f"select {', '.join(cols)} from {name} order by all").fetchall()
            out[name] = [cols, rows]
        return out
    finally:
        con.close()


def warehouse_rows(home: Path, sql: str) -> list[tuple]:
    """The rows of a query on a home's warehouse, read only."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def ingest_batches(home: Path) -> list[tuple]:
    """Every batch a home's warehouse recorded (source, file, status, rows loaded), in batch order."""
    return warehouse_rows(home, "select source, source_file, status, rows_loaded from ops.ingest_batches "
                                "order by batch_id")


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` once per pytest run, shared by every xdist worker: the first worker to ask
    makes it under a lock in the run's common folder, the others wait and reuse it (a failure is
    raised in every worker that asks). Whatever is made this way is read, never changed, by tests."""
    import fcntl
    import json

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            try:
                make(path)
                done.write_text(json.dumps({"ok": True}))
            except BaseException as exc:
                done.write_text(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[-4000:]}))
                raise
        state = json.loads(done.read_text())
    if not state["ok"]:
        raise AssertionError(f"{name} could not be made (in another worker): {state['error']}")
    return path


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    from kam.generate import generate

    return made_once(tmp_path_factory, "landing", lambda out: generate(out, end_date=END_DATE, **SMALL))


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, small_landing) -> Path:
    """KAM_HOME after one complete `kam run` on the small landing folder (made once per pytest
    run, shared by the workers; tests that change a home use :func:`copy_of_first_run`)."""
    return made_once(tmp_path_factory, "kam_home", lambda home: run_kam(
        ["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home))


@pytest.fixture(scope="session")
def superset_bootstrapped(tmp_path_factory) -> Path:
    """A Superset home after `kam_superset.py bootstrap` (its metadata DB migrated, the admin made,
    roles and permissions initialised; no database or dashboard yet), made once per pytest run by the
    real command: each Superset test starts from a copy instead of paying ~35 s again."""
    python = REPO / ".venv-bi" / "bin" / "python"
    if not python.exists():
        missing(f"no Superset venv at {python.parent.parent} (make bi-install makes it)")

    def bootstrap(path: Path) -> None:
        env = {**kam_env(path.parent / "superset_template_home"), "KAM_SUPERSET_HOME": str(path)}
        proc = subprocess.run([str(python), str(REPO / "deploy" / "superset" / "kam_superset.py"), "bootstrap"],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"bootstrap failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    return made_once(tmp_path_factory, "superset_bootstrapped", bootstrap)


@pytest.fixture
def copy_of_first_run(first_run, tmp_path) -> Path:
    """A private copy of the first run's state, for tests that change it."""
    home = tmp_path / "home"
    shutil.copytree(first_run, home, symlinks=True)
    return home


def missing(reason: str):
    """A test's real component is not on this machine: skip with the reason; with CI=true, where
    `make test` installs every one of them, fail instead (a skip there would hide a failure)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


# --- PostgreSQL (issue: production deployment) -------------------------------------------
# Tests that need the server create and drop their own database. Without a server they skip
# with the reason; in CI (CI=true) a missing server is a failure, never a skip.
PG_ADMIN_DSN = os.environ.get("KAM_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin():
    import psycopg2

    try:
        conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {PG_ADMIN_DSN} (set KAM_TEST_PG_ADMIN_DSN): {exc}".strip())
    conn.autocommit = True
    return conn


def pg_dsn_for(database: str) -> str:
    from psycopg2.extensions import make_dsn

    return make_dsn(PG_ADMIN_DSN, dbname=database)


@pytest.fixture(scope="module")
def pg_database():
    """A fresh database on the test server (dropped afterwards); yields its DSN."""
    import uuid

    name = f"kam_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    try:
        yield pg_dsn_for(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


# --- A real browser (issue: report and dashboard) ------------------------------------------
# Debian's Chromium, installed by `make browser` (a prerequisite of `make test`). Without it
# the browser tests skip with the reason; with CI=true they fail instead.
def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing("Chromium not found (make browser installs Debian's chromium)")
    return found


def chromium(url: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Headless Chromium on ``url`` (scripts run until idle, at most 20 s of page time)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kam-chromium-") as profile:  # its own: tests run in parallel
        cmd = [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
               *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# --- Java for the Spark target (issue: Spark) ----------------------------------------------
# Debian's openjdk-17-jre-headless, installed by `make java` (a prerequisite of `make test`).
# Without it the Spark tests skip with the reason; with CI=true they fail instead.
def java_or_skip() -> str:
    from kam.errors import ConfigError
    from kam.spark.session import require_java

    try:
        return require_java()
    except ConfigError as exc:
        missing(str(exc))
