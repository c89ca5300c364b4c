"""The Superset dashboard shipped as code (deploy/superset): bootstrapped on a SQLite metadata
DB, the bundle imported and pointed at a real run's published file, served, queried through
the chart data API, opened in headless Chromium, and kept serving across a new publication (the
publish task's own step on the copy of the first run)."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest
from conftest import END_DATE, REPO, chromium_path, kam_env, missing

pytestmark = pytest.mark.slow

BI_PYTHON = REPO / ".venv-bi" / "bin" / "python"
TOOL = REPO / "deploy" / "superset" / "kam_superset.py"
BROWSER = REPO / "tests" / "e2e" / "superset" / "dashboard_in_chromium.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = self.call("POST", "/api/v1/security/login",
                               {"username": "admin", "password": "admin", "provider": "db"})["access_token"]
        # SQL Lab also wants the session's CSRF token
        self.csrf = self.call("GET", "/api/v1/security/csrf_token/")["result"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        if getattr(self, "csrf", None):
            headers.update({"X-CSRFToken": self.csrf, "Referer": self.base})
        req = urllib.request.Request(self.base + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with self.opener.open(req, timeout=120) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code, "error_body": exc.read().decode()[:2000]}

    def charts(self) -> dict[str, dict]:
        rows = self.call("GET", "/api/v1/chart/?q=(page_size:100)")["result"]
        return {r["slice_name"].split(" ", 1)[1] if " " in r["slice_name"] else r["slice_name"]: r for r in rows}

    def chart_data(self, chart_id: int) -> list[dict]:
        """The rows a chart shows: its saved form data through /api/v1/chart/data."""
        chart = self.call("GET", f"/api/v1/chart/{chart_id}")["result"]
        params = json.loads(chart["params"])
        dataset = self.call("GET", f"/api/v1/dataset/?q=(filters:!((col:table_name,opr:eq,value:'"
                                   f"{self._dataset_of(chart_id)}')))")["result"][0]
        metrics = params.get("metrics") or [params["metric"]]
        groupby = params.get("groupby") or []
        columns = [*([params["x_axis"]] if params.get("x_axis") else []),
                   *(groupby if isinstance(groupby, list) else [groupby])]
        query = {"datasource": {"id": dataset["id"], "type": "table"}, "force": True,
                 "queries": [{"columns": columns, "metrics": metrics, "filters": [], "row_limit": 100_000}],
                 "form_data": params, "result_format": "json", "result_type": "full"}
        result = self.call("POST", "/api/v1/chart/data", query)
        assert "result" in result, result
        return result["result"][0]["data"]

    def _dataset_of(self, chart_id: int) -> str:
        info = self.call("GET", f"/api/v1/chart/{chart_id}?q=(columns:!(datasource_name_text))")["result"]
        return info["datasource_name_text"].split(".")[-1]


@pytest.fixture(scope="module")
def bi_home(first_run, tmp_path_factory) -> Path:
    """A private copy of the first run's KAM_HOME (the test publishes again)."""
    home = tmp_path_factory.mktemp("bi") / "home"
    shutil.copytree(first_run, home, symlinks=True)
    return home


@contextlib.contextmanager
def serving(home: Path, bootstrapped: Path, **extra: str):
    """Superset under ``home``/superset from a copy of a bootstrapped home (conftest's
    ``superset_bootstrapped``), the bundle imported, the server running: yields its base URL and a
    logged-in API client."""
    if not BI_PYTHON.exists():
        missing(f"no Superset venv at {BI_PYTHON.parent.parent} (make bi-install makes it)")
    env = {**kam_env(home), "KAM_SUPERSET_HOME": str(home / "superset"), "KAM_SUPERSET_PORT": str(_free_port()),
           **extra}
    (home / "superset").mkdir(parents=True, exist_ok=True)
    for name in ("superset.db", "secret_key"):
        shutil.copy2(bootstrapped / name, home / "superset" / name)
    proc = subprocess.run([str(BI_PYTHON), str(TOOL), "import"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"import failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    log_path = home / "superset" / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(BI_PYTHON), str(TOOL), "serve"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{env['KAM_SUPERSET_PORT']}"
            deadline = time.time() + 180
            while True:
                try:
                    with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                        if resp.read() == b"OK":
                            break
                except OSError:
                    pass
                assert server.poll() is None and time.time() < deadline, \
                    f"Superset did not start: {log_path.read_text()[-3000:]}"
                time.sleep(1)
            yield base, Api(base)
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def superset(bi_home, superset_bootstrapped):
    with serving(bi_home, superset_bootstrapped) as running:
        yield running


def _served(bi_home: Path):
    return duckdb.connect(str(bi_home / "published" / "analytics.duckdb"), read_only=True)


def _latest(con):
    return con.execute("select max(as_of_month) from customer_value_monthly where is_complete_month").fetchone()[0]


def test_the_imported_database_reads_the_published_file_read_only(superset, bi_home):
    _, api = superset
    dbs = api.call("GET", "/api/v1/database/?q=(page_size:10)")["result"]
    assert [d["database_name"] for d in dbs] == ["kam"]
    conn = api.call("GET", f"/api/v1/database/{dbs[0]['id']}/connection")["result"]
    assert conn["sqlalchemy_uri"] == f"duckdb:///{bi_home / 'published' / 'analytics.duckdb'}?access_mode=read_only"
    assert '"enable_external_access": false' in conn["extra"].replace("False", "false")


def test_chart_data_equals_the_published_marts(superset, bi_home):
    _, api = superset
    charts = api.charts()
    assert len(charts) == 13
    con = _served(bi_home)
    month = _latest(con)
    row = con.execute("select customers, top20_share from revenue_concentration where as_of_month = ?",
                      [month]).fetchone()
    assert api.chart_data(charts["Customers with revenue"]["id"]) == [{"customers": row[0]}]
    assert api.chart_data(charts["Top-20% share"]["id"])[0]["top-20% share"] == pytest.approx(row[1])
    keys = con.execute("select count(*) from customer_value_monthly where as_of_month = ? and size_class = 'key'",
                       [month]).fetchone()[0]
    assert api.chart_data(charts["Key accounts"]["id"]) == [{"key accounts": keys}]
    alerts = dict(con.execute("select alert_type, count(*) from customer_alerts where as_of_month = ? group by 1",
                              [month]).fetchall())
    assert {r["alert_type"]: r["alerts"] for r in api.chart_data(charts["Alerts by type"]["id"])} == alerts
    tiers = {(str(m)[:10], t): n for m, t, n in con.execute(
        "select as_of_month, tier, count(*) from customer_value_monthly group by all").fetchall()}
    shown = api.chart_data(charts["Customers per tier"]["id"])
    assert {(time.strftime("%Y-%m-%d", time.gmtime(r["as_of_month"] / 1000)), r["tier"]): r["customers"]
            for r in shown} == tiers
    con.close()


def test_sql_lab_cannot_read_the_servers_files_or_write(superset):
    _, api = superset
    db_id = api.call("GET", "/api/v1/database/?q=(page_size:10)")["result"][0]["id"]

    def run(sql: str) -> dict:
        return api.call("POST", "/api/v1/sqllab/execute/", {"database_id": db_id, "sql": sql, "runAsync": False,
                                                            "schema": "main"})

    ok = run("select count(*) as n from customer_value_monthly")  # SQL Lab itself works
    assert ok.get("status") == "success" and ok["data"][0]["n"] > 0, ok
    for sql, expected in (("select * from read_csv('/etc/hostname')", "file system operations are disabled"),
                          ("create table x as select 1 as a", "does not allow for DDL/DML")):
        out = run(sql)
        assert out.get("status") != "success" and expected in out.get("error_body", ""), out


def test_the_dashboard_renders_in_chromium(superset, tmp_path):
    base, _ = superset
    chromium_path()
    shot = tmp_path / "dashboard.png"
    proc = subprocess.run([str(BI_PYTHON), str(BROWSER), base, "admin", "admin", str(shot)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads(proc.stdout.strip().splitlines()[-1])
    assert state["charts"] == 13 and state["rendered"] == 13, state
    assert state["errors"] == [], state
    # every host but 127.0.0.1 is unresolvable: only Superset's telemetry pixel may fail, nothing of ours
    assert [m for m in state["console"] if "ERR_NAME_NOT_RESOLVED" not in m] == [], state["console"]
    assert shot.stat().st_size > 100_000


def test_a_new_publication_replaces_the_file_under_superset_and_the_dashboard_follows(superset, bi_home):
    _, api = superset
    charts = api.charts()
    before = api.chart_data(charts["Served publication"]["id"])[0]["publication"]
    # a publication while Superset serves: the publish task's own step (kam.publish.duckdb_file.publish,
    # what the DAG's publish task calls) on the copy's audited marts: the file is replaced by rename
    from kam.config import Settings
    from kam.publish.duckdb_file import publish

    landing = Path(json.loads((bi_home / "last_run.json").read_text())["landing"])
    settings = Settings(kam_home=bi_home, landing_dir=landing)
    publication = publish(settings, "superset-test", END_DATE)
    after = api.chart_data(charts["Served publication"]["id"])[0]["publication"]
    assert after == before + 1 == publication.publication_id
    con = _served(bi_home)
    assert con.execute("select max(publication_id) from publications where status = 'published'").fetchone()[0] \
        == after
    con.close()
    assert api.chart_data(charts["Customers with revenue"]["id"])[0]["customers"] > 0
