"""dbt's documentation site (kam.transform.docs): a site that cannot be made is a warning, not a failure.
(Made, published and drawn in Chromium: tests/e2e/test_report.py; kept when the models did not change:
tests/e2e/test_notify_dag.py.)"""

from __future__ import annotations

import pytest

from kam.config import Settings
from kam.transform.docs import generate_docs

pytestmark = pytest.mark.slow  # a dbt invocation: make test, not test-fast


def test_a_site_dbt_cannot_make_is_a_warning_and_nothing_is_published(tmp_path, caplog):
    settings = Settings(kam_home=tmp_path, landing_dir=tmp_path / "landing")
    settings.warehouse_path.mkdir(parents=True)  # a folder where the warehouse should be: dbt cannot connect
    with caplog.at_level("WARNING", logger="kam.transform.docs"):
        assert generate_docs(settings, "fingerprint") is None
    assert "dbt docs generate failed, the documentation site is not updated" in caplog.text
    assert not settings.dbt_docs_path.exists()
    assert not (tmp_path / "dbt" / "docs.fingerprint").exists()
