"""A configuration that cannot work stops dbt before any model is built (DOMAIN.md §5)."""

from __future__ import annotations

import json

import duckdb
import pytest

from kam.config import Settings
from kam.transform.runner import run_dbt

pytestmark = pytest.mark.slow  # three dbt invocations (start-up and a full parse each): make test, not test-fast


@pytest.mark.parametrize("bad_vars,message", [
    ({"dimension_weights": {"financial": 0.5, "sales": 0.3, "customer": 0.2, "service": 0.2}},
     "dimension_weights must sum to 1"),
    ({"tier_thresholds": {"A": 50, "B": 70, "C": 30}}, "tier_thresholds must satisfy"),
    ({"abc_thresholds": {"A": 0.8, "B": 0.5, "C": 0.95}}, "abc_thresholds must satisfy"),
])
def test_bad_business_configuration_stops_the_build_before_any_model(tmp_path, caplog, bad_vars, message):
    settings = Settings(kam_home=tmp_path, landing_dir=tmp_path / "landing")
    duckdb.connect(str(settings.warehouse_path)).close()
    with caplog.at_level("INFO", logger="kam.transform.runner"):
        result = run_dbt(settings, ["build"], extra_vars=bad_vars)
    assert not result.success
    assert message in caplog.text, json.dumps(result.failures)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    schemas = {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}
    con.close()
    assert "marts" not in schemas and "staging" not in schemas
