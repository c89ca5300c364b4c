"""The production configuration, run natively: what docker-compose.yml runs, without Docker.

Airflow with a PostgreSQL metadata database (created for the test), the
settings of ``deploy/airflow.env`` (LocalExecutor, the built-in auth manager
with the admin's password from a file), and the four services as separate
processes: api-server, scheduler, dag-processor, triggerer. The test then
works as an engineer would, through the REST API only: log in, unpause the
DAGs, trigger ``ingest`` with a run date, and wait; ``build_and_publish``
must start by itself from the raw assets and publish the same marts as
``kam run`` does for the same landing files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import duckdb
import pytest
from conftest import END_DATE, REPO, free_port, kam_env, published_tables, smtp_inbox

from kam.postgres.connection import sqlalchemy_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

AIRFLOW = str(Path(sys.executable).parent / "airflow")
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
LINEAGE = ("source_batch_id",)  # batch ids follow the order Airflow happens to run the ingest tasks


def deploy_env() -> dict[str, str]:
    env = {}
    for line in (REPO / "deploy" / "airflow.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


class Api:
    def __init__(self, base: str) -> None:
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {"detail": exc.read().decode(errors="replace")[:2000]}
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            return 0, {"detail": str(exc)}


def wait_for(what: str, check, timeout: float, logs: Path, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log")))
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


@pytest.fixture(scope="module")
def airflow_services(tmp_path_factory, pg_database, small_landing):
    stack = contextlib.ExitStack()
    home = tmp_path_factory.mktemp("prod_home")
    airflow_home, logs = home / "airflow", home / "service-logs"
    (airflow_home / "auth").mkdir(parents=True)
    logs.mkdir()
    password = uuid.uuid4().hex
    passwords = airflow_home / "auth" / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))  # what airflow-init writes from AIRFLOW_ADMIN_PASSWORD
    port = free_port()
    env = {
        **kam_env(home, small_landing),
        **deploy_env(),
        # only paths and URLs differ from the containers
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(pg_database),
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "KAM_HOME": str(home),
        "KAM_LANDING": str(small_landing),
        "KAM_TASK_RETRIES": "0",
        # triggered through the REST API only: no daily run appears when the DAG is unpaused
        "KAM_INGEST_SCHEDULE": "none",
        "PYTHONUNBUFFERED": "1",
    }
    # digests after the publication: every manager through default, and leadership, to an SMTP server
    inbox = stack.enter_context(smtp_inbox())
    (home / "notify.yml").write_text("channels:\n  mail: {type: email, connection: kam_smtp}\n"
                                     "default: {mail: [sales-ops@example.com]}\n"
                                     "leadership: {mail: [vp.sales@example.com]}\n", encoding="utf-8")
    env["AIRFLOW_CONN_KAM_SMTP"] = inbox.conn
    for cmd in (["db", "migrate"], ["pools", "set", "kam_warehouse", "1", "One writer at a time"]):
        proc = subprocess.run([AIRFLOW, *cmd], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    procs = []
    for service in SERVICES:
        with (logs / f"{service}.log").open("w") as fh:
            procs.append(subprocess.Popen([AIRFLOW, service], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for("the API server", lambda: api.call("GET", "/api/v2/version")[0] == 200, 180, logs)
        status, body = api.call("POST", "/auth/token", {"username": "admin", "password": password})
        assert status == 201, body
        api.token = body["access_token"]
        yield {"api": api, "home": home, "logs": logs, "env": env, "inbox": inbox}
    finally:
        stack.close()
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_rest_api_refuses_a_wrong_password(airflow_services):
    anonymous = Api(airflow_services["api"].base)
    status, _ = anonymous.call("POST", "/auth/token", {"username": "admin", "password": "wrong"})
    assert status == 401
    assert anonymous.call("GET", "/api/v2/dags")[0] == 401


def test_trigger_through_rest_runs_ingest_then_the_asset_scheduled_build(airflow_services, first_run):
    api, logs, home = airflow_services["api"], airflow_services["logs"], airflow_services["home"]
    for dag_id in ("ingest", "build_and_publish", "notify"):  # parsed by the dag-processor, paused at creation
        wait_for(f"DAG {dag_id} to be parsed", lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}")[0] == 200,
                 240, logs)
        status, body = api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200 and body["is_paused"] is False, body

    status, run = api.call("POST", "/api/v2/dags/ingest/dagRuns",
                           {"logical_date": None, "conf": {"run_date": END_DATE.isoformat()}})
    assert status == 200, run

    def finished(dag_id: str, run_id: str | None = None):
        if run_id:
            _, body = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            runs = [body]
        else:
            _, body = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns")
            runs = body.get("dag_runs", [])
        done = [r for r in runs if r.get("state") in ("success", "failed")]
        return done[0] if done else None

    ingest = wait_for("the ingest run", lambda: finished("ingest", run["dag_run_id"]), 600, logs, 5)
    assert ingest["state"] == "success", ingest
    build = wait_for("the asset-triggered build_and_publish run", lambda: finished("build_and_publish"), 900,
                     logs, 5)
    assert build["state"] == "success", build
    assert build["run_type"] == "asset_triggered"
    _, tasks = api.call("GET", f"/api/v2/dags/build_and_publish/dagRuns/{build['dag_run_id']}/taskInstances")
    assert {t["task_id"]: t["state"] for t in tasks["task_instances"]} == {
        "dbt_build": "success", "audit": "success", "publish": "success"}

    published = home / "published" / "analytics.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    try:
        pubs = con.execute("select run_id, run_date, status from publications").fetchall()
    finally:
        con.close()
    # the run date given to ingest reached the build through the asset events
    assert pubs == [(build["dag_run_id"], END_DATE, "published")]
    assert published_tables(published, LINEAGE) == published_tables(
        first_run / "published" / "analytics.duckdb", LINEAGE)

    # the publication's asset event started the notify DAG, which mailed every digest once
    notify = wait_for("the asset-triggered notify run", lambda: finished("notify"), 600, logs, 5)
    assert notify["state"] == "success" and notify["run_type"] == "asset_triggered", notify
    mails = airflow_services["inbox"].messages
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        sent = con.execute("select count(*) from ops.notifications where publication_id = 1 "
                           "and status = 'sent'").fetchone()[0]
    assert len(mails) == sent > 1
    assert {m["To"] for m in mails} == {"sales-ops@example.com", "vp.sales@example.com"}
