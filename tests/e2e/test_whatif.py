"""`kam whatif` (issue: what-if): candidate rules built on a copy of the warehouse of a real run and
compared with the current rules, checked against the tier rules recomputed by hand (pandas, from the
published marts' scores), never touching the live warehouse or the served publication."""

from __future__ import annotations

import hashlib
import re

import duckdb
import pandas as pd
import pytest
from conftest import REPO, chromium, run_kam

pytestmark = pytest.mark.slow

RANK = {"A": 1, "B": 2, "C": 3, "D": 4, "P": 5, "X": 6}
CURRENT = {"weights": {"financial": 0.30, "sales": 0.30, "customer": 0.20, "service": 0.20},
           "thresholds": {"A": 70, "B": 50, "C": 30}, "grace": 2, "pseudo_max": "C"}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiers_by_hand(cvm: pd.DataFrame, weights: dict, thresholds: dict, grace: int, pseudo_max: str) -> pd.Series:
    """DOMAIN §5–6 from the dimension scores: the weighted value score, cut at the thresholds (P with
    visits but no revenue, X with neither), a pseudo key account capped, the best tier of the last
    ``grace`` months, a manual override kept. Indexed like ``cvm``."""
    df = cvm.sort_values(["customer_id", "as_of_month"])
    score = sum(weights[d] * df[f"{d}_score"].astype(float) for d in weights).round(6)
    cut = pd.Series("D", index=df.index)
    for tier in ("C", "B", "A"):
        cut = cut.where(~(score >= thresholds[tier]), tier)
    score_tier = cut.where(df["revenue"].astype(float) > 0, pd.Series("P", index=df.index).where(df["visits"] > 0, "X"))
    raw = score_tier.where(~(df["is_pseudo_key_account"].fillna(False).astype(bool)
                             & (score_tier.map(RANK) < RANK[pseudo_max])), pseudo_max)
    best = raw.map(RANK).groupby(df["customer_id"]).transform(lambda r: r.rolling(grace, min_periods=1).min())
    tier = best.map({v: k for k, v in RANK.items()})
    return tier.where(df["override_reason"].isna(), df["tier"]).reindex(cvm.index)


@pytest.fixture(scope="module")
def whatif(first_run, tmp_path_factory):
    import shutil

    home = tmp_path_factory.mktemp("whatif") / "home"
    shutil.copytree(first_run, home, symlinks=True)
    rules = tmp_path_factory.mktemp("rules")
    (rules / "stricter.yml").write_text("tier_thresholds: {A: 75, B: 55}\n", encoding="utf-8")
    (rules / "typo.yml").write_text("tier_treshold: {A: 80}\n", encoding="utf-8")
    (rules / "unordered.yml").write_text("tier_thresholds: {A: 40, B: 50}\n", encoding="utf-8")
    live, served = home / "warehouse.duckdb", home / "published" / "analytics.duckdb"
    before = (digest(live), digest(served))
    out = tmp_path_factory.mktemp("out")
    proc = run_kam(["whatif", str(REPO / "examples" / "rules" / "more-weight-on-profit.yml"),
                    str(rules / "stricter.yml"), "--out", str(out)], home)
    after = (digest(live), digest(served))
    refusals = {name: run_kam(["whatif", str(rules / f"{name}.yml")], home, check=False)
                for name in ("typo", "unordered")}
    with duckdb.connect(str(served), read_only=True) as con:
        cvm = con.execute("select * from customer_value_monthly").df()
        cvm["as_of_month"] = pd.to_datetime(cvm["as_of_month"]).dt.date
        month = con.execute("select max(as_of_month) from customer_value_monthly where is_complete_month").fetchone()[0]
    return {"proc": proc, "out": out, "before": before, "after": after, "refusals": refusals, "cvm": cvm,
            "month": month, "home": home}


def movers(whatif, candidate: str) -> pd.DataFrame:
    [path] = whatif["out"].glob(f"whatif-*-{candidate}-movers.csv")
    return pd.read_csv(path, encoding="utf-8-sig")


def test_the_hand_computation_reproduces_the_published_tiers(whatif):
    """The check below is only as good as this: under the current rules it gives every published tier."""
    cvm = whatif["cvm"]
    by_hand = tiers_by_hand(cvm, CURRENT["weights"], CURRENT["thresholds"], CURRENT["grace"], CURRENT["pseudo_max"])
    assert (by_hand == cvm["tier"]).all(), cvm[by_hand != cvm["tier"]][["customer_id", "as_of_month", "tier"]]


def test_more_weight_on_profit_moves_exactly_the_customers_computed_by_hand(whatif):
    cvm = whatif["cvm"]
    weights = {"financial": 0.45, "sales": 0.15, "customer": 0.20, "service": 0.20}
    expected_tier = tiers_by_hand(cvm, weights, CURRENT["thresholds"], CURRENT["grace"], CURRENT["pseudo_max"])
    month = cvm["as_of_month"] == whatif["month"]
    moved = cvm[month & (expected_tier != cvm["tier"])]
    expected = {row.customer_id: expected_tier[i] for i, row in moved.iterrows()}
    got = movers(whatif, "more-weight-on-profit")
    assert len(expected) >= 5  # the change matters on this landing
    assert dict(zip(got["customer_id"], got["tier_after"], strict=True)) == expected
    # ranked by revenue, each with its current tier, a direction and the dimension that moved most
    assert list(got["revenue"]) == sorted(got["revenue"], reverse=True)
    current = dict(zip(cvm[month]["customer_id"], cvm[month]["tier"], strict=True))
    assert all(current[c] == t for c, t in zip(got["customer_id"], got["tier_before"], strict=True))
    ups = got[got["direction"] == "up"]
    assert set(ups["driver"]) <= {"financial", "customer", "service"}  # more financial weight: nothing up by sales
    assert set(got[got["direction"] == "down"]["driver"]) <= {"sales", "financial", "customer", "service"}


def test_a_threshold_change_gives_the_counts_computed_by_hand(whatif):
    cvm = whatif["cvm"]
    expected_tier = tiers_by_hand(cvm, CURRENT["weights"], {"A": 75, "B": 55, "C": 30}, CURRENT["grace"],
                                  CURRENT["pseudo_max"])
    month = cvm["as_of_month"] == whatif["month"]
    counts = expected_tier[month].value_counts().to_dict()
    out = whatif["proc"].stdout
    keys_before = int((cvm[month]["tier"].isin(["A", "B"])).sum())
    keys_after = int(expected_tier[month].isin(["A", "B"]).sum())
    assert f"stricter: key accounts {keys_before} → {keys_after} ({keys_after - keys_before:+d}" in out
    page = next(whatif["out"].glob("whatif-*.html")).read_text(encoding="utf-8")
    figs = _figures(page)
    i = list(re.findall(r'<section class="candidate" data-candidate="([^"]+)"', page)).index("stricter")
    after = dict(zip([x.split(" ")[0] for x in figs[f"tiers_{i}"]["data"][1]["x"]],
                     figs[f"tiers_{i}"]["data"][1]["y"], strict=True))
    assert {t: n for t, n in after.items() if n} == counts
    # higher thresholds only move customers down, and no score moved: the thresholds did it
    got = movers(whatif, "stricter")
    assert len(got) == int((expected_tier[month] != cvm[month]["tier"]).sum()) > 0
    assert set(got["direction"]) == {"down"} and set(got["driver"]) == {"tier_thresholds"}


def _figures(page: str) -> dict:
    import json

    match = re.search(r"const FIGURES = (\{.*?\});\nconst drawn", page, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_invalid_candidates_are_refused_naming_the_var(whatif):
    refusals = whatif["refusals"]
    # (a weight sum other than 1: test_rules_apply_then_run…; every file check: tests/unit/test_rules.py)
    for name, said in (("typo", "'tier_treshold' is not a rule var"),
                       ("unordered", "tier_thresholds must satisfy 100 >= A > B > C >= 0")):
        proc = refusals[name]
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert said in proc.stderr and f"{name}.yml" in proc.stderr, (name, proc.stderr)
    assert not list((whatif["home"] / "whatif").glob(".work-*")), "a refused what-if left a copy behind"


def test_the_live_warehouse_and_the_served_publication_are_untouched(whatif):
    assert whatif["after"] == whatif["before"]
    assert not list((whatif["home"] / "whatif").glob(".work-*"))  # the copies are removed


def test_the_page_renders_both_candidates_in_chromium(whatif, tmp_path):
    [page] = whatif["out"].glob("whatif-*.html")
    text = page.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link " not in text
    assert text.count('<section class="candidate"') == 2
    dom = chromium(page.as_uri(), "--dump-dom", "--host-resolver-rules=MAP * ~NOTFOUND")
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    rendered = int(re.search(r'data-rendered-charts="(\d+)"', body).group(1))
    errors = re.search(r'data-errors="([^"]*)"', body).group(1)
    assert rendered == 4 and errors == "", (rendered, errors)
    shot = tmp_path / "whatif.png"
    snap = chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1400,2400")
    assert snap.returncode == 0 and shot.stat().st_size > 50_000
    # the headline a person reads, and where the page is
    assert f"page: {page}" in whatif["proc"].stdout


def test_rules_apply_then_run_publishes_under_the_new_version(copy_of_first_run, small_landing, tmp_path):
    import json

    from conftest import END_DATE

    home = copy_of_first_run
    stricter = tmp_path / "stricter.yml"
    stricter.write_text("tier_thresholds: {A: 75, B: 55}\n", encoding="utf-8")
    bad = tmp_path / "bad-weights.yml"
    bad.write_text("dimension_weights: {financial: 0.5}\n", encoding="utf-8")
    with duckdb.connect(str(home / "published" / "analytics.duckdb"), read_only=True) as con:
        [(old_version,)] = con.execute("select rules_version from publications where publication_id = 1").fetchall()
    assert re.fullmatch(r"[0-9a-f]{12}", old_version)  # the first run's rules (dbt_project.yml's vars)

    refused = run_kam(["rules", "apply", str(bad)], home, check=False)
    assert refused.returncode == 2 and "dimension_weights must sum to 1" in refused.stderr
    assert not (home / "rules.yml").exists()

    applied = run_kam(["rules", "apply", str(stricter)], home).stdout
    found = re.search(rf"rules version {old_version} → ([0-9a-f]{{12}}) applied \(tier_thresholds\)", applied)
    assert found, applied
    version = found.group(1)
    movers = int(re.search(r"(\d+) customer\(s\) change tier \(0 up, \d+ down\)", applied).group(1))
    assert movers > 0
    assert "tier_thresholds:\n  A: 75\n  B: 55\n  C: 30\n" in (home / "rules.yml").read_text(encoding="utf-8")
    shown = run_kam(["rules", "show"], home).stdout
    assert f"rules version in force  {version}" in shown and "not yet built under the rules in force" in shown
    # a what-if now would compare with marts the rules in force did not make: refused until a run
    stale = run_kam(["whatif", str(REPO / "examples" / "rules" / "more-weight-on-profit.yml")], home, check=False)
    assert stale.returncode == 2 and f"built under rules version {old_version}" in stale.stderr

    out = run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home).stdout
    assert f"published: publication #2 (run date {END_DATE}, rules version {version}," in out
    # the same data: every tier change since #1 is the rule change's, as previewed when it was applied
    assert (f"rules version {version} first published (applied " in out and f"after #1 under {old_version}: "
            f"{movers} tier change(s) since #1: {movers} from the rule change" in out
            and ", 0 from the data" in out), out
    with duckdb.connect(str(home / "published" / "analytics.duckdb"), read_only=True) as con:
        assert con.execute("select rules_version from publications where publication_id = 2").fetchone()[0] == version
        assert con.execute("select distinct rules_version from tier_publication_log where publication_id = 2"
                           ).fetchall() == [(version,)]
        # built under the new thresholds: no score tier A below 75, and scores of 70-75 are B now
        assert con.execute("select count(*) from customer_value_monthly where score_tier = 'A' "
                           "and value_score < 75").fetchone()[0] == 0
        assert con.execute("select count(*) from customer_value_monthly where score_tier = 'B' "
                           "and value_score >= 70").fetchone()[0] > 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        mode, reason, built = con.execute("select mode, reason, rules_version from ops.dbt_builds "
                                          "order by finished_at desc limit 1").fetchone()
        history = con.execute("select rules_version, source_file, tier_changes from ops.rules_versions").fetchall()
    assert (mode, built) == ("full-refresh", version) and "configuration changed" in reason
    assert [(v, s) for v, s, _ in history] == [(version, str(stricter))] and len(json.loads(history[0][2])) == movers
    assert f"rules version {version}" in (home / "published" / "report.html").read_text(encoding="utf-8")
    assert f"scored under rules version {version}" in run_kam(["explain", "C000001"], home).stdout
    assert f"served publication     #2 under {version}" in run_kam(["rules", "show"], home).stdout
