"""The key-account report (published/report.html) of a real run, checked against the published
marts and opened from file:// in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from conftest import chromium, run_kam

pytestmark = pytest.mark.slow


def figures_of(report: Path) -> dict:
    """The figures' data the page carries (the JSON the page hands plotly.js)."""
    text = report.read_text(encoding="utf-8")
    match = re.search(r"const FIGURES = (\{.*?\});\nconst drawn", text, re.S)
    assert match, "the report carries no FIGURES payload"
    return json.loads(match.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def report(first_run) -> Path:
    return first_run / "published" / "report.html"


@pytest.fixture(scope="module")
def pub(first_run):
    con = duckdb.connect(str(first_run / "published" / "analytics.duckdb"), read_only=True)
    yield con
    con.close()


def test_the_publish_step_writes_the_report_of_its_publication(report, pub):
    assert report.exists()
    pub_id, run_date = pub.execute("select publication_id, run_date from publications "
                                   "where status = 'published' order by publication_id desc limit 1").fetchone()
    text = report.read_text(encoding="utf-8")
    assert f"publication #{pub_id}, run date {run_date}" in text
    assert not list(report.parent.glob(".report.*")), "a staged report was left behind"
    # offline: plotly.js is embedded, no script or stylesheet is fetched (the browser test
    # below also runs with every host unresolvable)
    assert "<script src=" not in text and "<link " not in text
    assert len(text) < 12_000_000
    status = json.loads(run_kam(["status", "--json"], report.parents[1]).stdout)
    assert status["report_file"] == str(report)


def test_the_report_shows_the_published_numbers(report, pub):
    figs = figures_of(report)
    latest_complete = pub.execute("select max(as_of_month) from customer_value_monthly "
                                  "where is_complete_month").fetchone()[0]
    key = latest_complete.strftime("%Y%m")
    text = report.read_text(encoding="utf-8")
    assert f'<option value="{latest_complete.isoformat()}" selected>' in text
    # tier mix: customers per tier and month, as in customer_value_monthly
    mix = figs["tier_mix"]["data"]
    for trace in mix:
        tier = trace["name"].split(" ")[0]
        expected = dict(pub.execute("select strftime(as_of_month, '%Y-%m-%d'), count(*) from customer_value_monthly "
                                    "where tier = ? group by 1", [tier]).fetchall())
        assert {m: n for m, n in zip(trace["x"], trace["y"], strict=True) if n} == \
            {m: n for m, n in expected.items() if m in trace["x"]}
    # the migration heatmap sums to the month's customers
    z = figs[f"migration_{key}"]["data"][0]["z"]
    assert sum(c or 0 for row in z for c in row) == pub.execute(
        "select sum(customers) from tier_migration where as_of_month = ?", [latest_complete]).fetchone()[0]
    # alerts per type
    alerts = figs[f"alerts_{key}"]["data"][0]
    expected = dict(pub.execute("select alert_type, count(*) from customer_alerts where as_of_month = ? "
                                "group by 1", [latest_complete]).fetchall())
    assert sum(alerts["x"]) == sum(expected.values())
    # the Lorenz curve ends at 100 % and the headline's customer count is the concentration mart's
    lorenz = figs[f"lorenz_{key}"]["data"][0]
    assert lorenz["x"][-1] == 1.0 and abs(lorenz["y"][-1] - 1.0) < 1e-9
    customers = pub.execute("select customers from revenue_concentration where as_of_month = ?",
                            [latest_complete]).fetchone()[0]
    assert f"{customers:,}" in text
    # quadrant: every point is a scored customer; pseudo key accounts are their own trace
    pseudo = {p for trace in figs[f"quadrant_{key}"]["data"] if "pseudo" in trace["name"]
              for p in (c[0] for c in trace["customdata"])}
    assert pseudo == {r[0] for r in pub.execute(
        "select customer_id from customer_value_monthly where as_of_month = ? and is_pseudo_key_account "
        "and current_value_score is not null and potential_value_score is not null", [latest_complete]).fetchall()}


def test_kam_report_writes_another_month_and_refuses_a_month_not_published(first_run, tmp_path, pub):
    first = pub.execute("select min(as_of_month) from customer_value_monthly").fetchone()[0]
    out = tmp_path / "old.html"
    proc = run_kam(["report", "--month", first.isoformat(), "--out", str(out)], first_run)
    assert str(out) in proc.stdout and out.exists()
    assert f'<option value="{first.isoformat()}" selected>' in out.read_text(encoding="utf-8")
    bad = run_kam(["report", "--month", "1990-01-01"], first_run, check=False)
    assert bad.returncode != 0 and "no published month 1990-01-01" in bad.stderr + bad.stdout
    not_first = run_kam(["report", "--month", "2026-01-15"], first_run, check=False)
    assert not_first.returncode == 2 and "first day of a month" in not_first.stderr


def test_the_report_renders_in_chromium_without_errors(report, tmp_path):
    figs = figures_of(report)
    offline = "--host-resolver-rules=MAP * ~NOTFOUND"
    dom = chromium(report.as_uri(), "--dump-dom", offline)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    rendered = int(re.search(r'data-rendered-charts="(\d+)"', body).group(1))
    errors = re.search(r'data-errors="([^"]*)"', body).group(1)
    section = re.search(r'<section class="month" data-month="[^"]+">(.*?)</section>', dom.stdout, re.S)
    assert section, "no month section is shown"
    expected = 1 + len(re.findall(r'class="chart[^"]*" id="', section.group(1)))
    assert rendered == expected, f"{rendered} of {expected} charts drawn; errors: {errors!r}"
    assert errors == ""
    assert "Uncaught" not in dom.stderr
    # plotly drew real marks: bars of the tier mix, the heatmap, the scatter points
    assert dom.stdout.count('class="main-svg"') >= expected
    assert 'class="hm"' in dom.stdout  # the migration heatmap
    assert dom.stdout.count('class="point"') > 0  # bars and markers
    assert len(figs) > expected  # the other months' charts wait in the page for the picker
    shot = tmp_path / "report.png"
    snap = chromium(report.as_uri(), f"--screenshot={shot}", "--window-size=1400,2400", offline)
    assert snap.returncode == 0 and shot.stat().st_size > 50_000


def test_the_models_documentation_is_published_beside_the_report_and_renders_in_chromium(report, first_run):
    """dbt's documentation site of the build (`dbt docs generate --static`, made by the build task) is
    published with the publication as published/docs.html, linked from the report and from kam status."""
    docs = report.parent / "docs.html"
    assert docs.exists() and not list(report.parent.glob(".docs.*")), "not published, or a staged copy left"
    assert 'id="dbt-docs" href="docs.html"' in report.read_text(encoding="utf-8")
    assert f"dbt docs        {docs} (models, columns, lineage)" in run_kam(["status"], first_run).stdout
    text = docs.read_text(encoding="utf-8")
    # the project's manifest and the warehouse's catalog (column types) are embedded
    assert '"model.kam.customer_value_monthly"' in text
    assert "schemas.getdbt.com/dbt/manifest/" in text and "schemas.getdbt.com/dbt/catalog/" in text
    # dbt's app draws the project from the manifest and catalog embedded in the one file, offline
    dom = chromium(docs.as_uri() + "#!/model/model.kam.customer_value_monthly", "--dump-dom",
                   "--host-resolver-rules=MAP * ~NOTFOUND")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-nav-unique-id="model.kam.customer_value_monthly"' in dom.stdout  # the menu, drawn
    assert re.search(r'<h1>\s*<span class="break ng-binding">customer_value_monthly</span>', dom.stdout)  # its page
    assert 'data-nav-unique-id="model.kam' not in text  # drawn by the page, not in the file as sent


def test_kam_demo_ends_by_printing_the_reports_path(tmp_path):
    """What `make demo` runs, at a small scale: the last line names the report it wrote."""
    home, landing = tmp_path / "home", tmp_path / "landing"
    proc = run_kam(["demo", "--customers", "120", "--months", "14", "--landing", str(landing)], home)
    report = home / "published" / "report.html"
    assert proc.stdout.strip().splitlines()[-1].startswith(f"report: {report}")
    assert report.exists() and "大客户价值报告" in report.read_text(encoding="utf-8")
