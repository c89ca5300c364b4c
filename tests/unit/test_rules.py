"""The rules in force and a candidate's changes to them (kam.rules), without dbt."""

from __future__ import annotations

import pytest

from kam.config import Settings
from kam.errors import ConfigError
from kam.rules import current_rules, load_candidate, models_using, project_rules, rules_version


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing")


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_the_rule_vars_are_dbt_projects_vars_without_the_run_context(settings):
    rules = project_rules(settings)
    assert "run_date" not in rules
    assert rules["dimension_weights"] == {"financial": 0.30, "sales": 0.30, "customer": 0.20, "service": 0.20}
    assert rules["tier_thresholds"] == {"A": 70, "B": 50, "C": 30}


def test_a_mapping_may_be_given_in_part_anything_else_replaces_whole(settings, tmp_path):
    current = project_rules(settings)
    c = load_candidate(write(tmp_path / "c.yml", "dimension_weights: {financial: 0.45, sales: 0.15}\n"
                                                "rising_star_tiers: [C, D]\nwindow_months: 6\n"), current)
    assert c.rules["dimension_weights"] == {"financial": 0.45, "sales": 0.15, "customer": 0.20, "service": 0.20}
    assert c.rules["rising_star_tiers"] == ["C", "D"] and c.rules["window_months"] == 6
    assert set(c.changed(current)) == {"dimension_weights", "rising_star_tiers", "window_months"}
    assert c.name == "c" and current["window_months"] == 12  # the current rules are not changed


@pytest.mark.parametrize("text,said", [
    ("tier_treshold: {A: 80}\n", "'tier_treshold' is not a rule var of dbt_project.yml"),
    ("run_date: 2026-01-01\n", "'run_date' is not a rule var"),
    ("kam_data_types: {duckdb: {string: text}}\n", "'kam_data_types' is not a rule var"),
    ("tier_thresholds: {A: 80, D: 10}\n", "tier_thresholds has no D (it has A, B, C)"),
    ("tier_thresholds: 80\n", "tier_thresholds must be a mapping like"),
    ("window_months: six\n", "window_months must be a number, got 'six'"),
    ("rising_star_tiers: C\n", "rising_star_tiers must be a list"),
    ("- a\n- b\n", "a rules file is a mapping of rule vars to values"),
    ("tier_thresholds: {A: [\n", "not valid YAML"),
])
def test_a_bad_candidate_is_refused_naming_the_file_and_the_var(settings, tmp_path, text, said):
    path = write(tmp_path / "bad.yml", text)
    with pytest.raises(ConfigError, match="bad.yml") as err:
        load_candidate(path, project_rules(settings))
    assert said in str(err.value)


def test_the_rules_in_force_are_the_projects_with_rules_yml_on_top_and_have_a_stable_version(settings):
    base = current_rules(settings)
    assert base == project_rules(settings)
    version = rules_version(base)
    assert len(version) == 12 and version == rules_version(dict(reversed(list(base.items()))))  # key order
    settings.kam_home.mkdir(parents=True)
    write(settings.kam_home / "rules.yml", "tier_thresholds: {A: 75}\n")
    applied = current_rules(settings)
    assert applied["tier_thresholds"] == {"A": 75, "B": 50, "C": 30}
    assert rules_version(applied) != version


def test_the_models_a_change_reaches_read_the_var_in_their_sql_or_in_a_macro_they_call():
    manifest = {
        "macros": {
            "macro.kam.outer": {"macro_sql": "{{ inner() }}", "depends_on": {"macros": ["macro.kam.inner"]}},
            "macro.kam.inner": {"macro_sql": "{% set w = var( 'window_months') %}", "depends_on": {"macros": []}},
        },
        "nodes": {
            "model.kam.direct": {"resource_type": "model", "name": "direct",
                                 "raw_code": "{{ var(\"tier_thresholds\") }}", "depends_on": {"macros": []}},
            "model.kam.via_macro": {"resource_type": "model", "name": "via_macro", "raw_code": "{{ outer() }}",
                                    "depends_on": {"macros": ["macro.kam.outer"]}},
            "model.kam.other": {"resource_type": "model", "name": "other", "raw_code": "select 1",
                                "depends_on": {"macros": []}},
            "test.kam.t": {"resource_type": "test", "name": "t", "raw_code": "{{ var('tier_thresholds') }}"},
        },
    }
    assert models_using(manifest, {"tier_thresholds"}) == ["direct"]
    assert models_using(manifest, {"window_months"}) == ["via_macro"]
    assert models_using(manifest, {"tier_thresholds", "window_months"}) == ["direct", "via_macro"]
    assert models_using(manifest, {"quadrant_cut"}) == []
