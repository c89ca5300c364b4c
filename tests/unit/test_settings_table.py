"""One table of every setting (kam.settings_table): Settings holds each, docs/configuration.md is
generated from it, and no code reads a KAM_* variable the table does not name."""

from __future__ import annotations

import dataclasses
import re

import pytest
from conftest import REPO

from kam.config import Settings, load_settings
from kam.settings_table import DERIVED, FAULTS, SETTINGS, configuration_markdown, known_names


def test_docs_configuration_is_generated_from_the_table():
    written = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == configuration_markdown(), "docs/configuration.md is stale: run `make docs`"


def test_every_settings_field_is_a_setting_of_the_table_and_back():
    fields = {f.name for f in dataclasses.fields(Settings)} - {"repo_root"}
    table = {s.field for s in SETTINGS if s.field}
    assert fields - table == set(), f"Settings fields missing from kam.settings_table: {sorted(fields - table)}"
    assert table - fields == set(), f"settings_table names fields Settings lacks: {sorted(table - fields)}"
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names)) and not set(names) & (set(DERIVED) | set(FAULTS))


def test_no_code_reads_a_kam_variable_the_table_does_not_name():
    used: dict[str, str] = {}
    for folder in ("plugins", "dags"):
        for path in (REPO / folder).rglob("*.py"):
            for name in re.findall(r"['\"](KAM_[A-Z0-9_]+)['\"]", path.read_text(encoding="utf-8")):
                used.setdefault(name, str(path.relative_to(REPO)))
    unknown = {name: where for name, where in used.items() if name not in known_names()}
    assert unknown == {}, f"KAM_* variables read but not in kam.settings_table: {unknown}"
    # and the table names nothing the code no longer reads
    assert {s.name for s in SETTINGS} - set(used) == set()


@pytest.mark.parametrize(("name", "value", "field", "expected"), [
    ("KAM_INGEST_SCHEDULE", "0 6 * * *", "ingest_schedule", "0 6 * * *"),
    ("KAM_INGEST_SCHEDULE", "none", "ingest_schedule", None),
    ("KAM_TASK_RETRIES", "0", "task_retries", 0),
    ("KAM_PUBLICATION_DEADLINE", "0 7 * * *", "publication_deadline", "0 7 * * *"),
    ("KAM_PUBLICATION_DEADLINE_TZ", "Asia/Shanghai", "publication_deadline_tz", "Asia/Shanghai"),
    ("KAM_ALERT_WEBHOOK", "http://127.0.0.1:9/hook", "alert_webhook", "http://127.0.0.1:9/hook"),
    ("KAM_REPORT_MONTHS", "0", "report_months", 0),
])
def test_the_scheduling_and_on_call_settings_are_read_into_settings(monkeypatch, name, value, field, expected):
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), field) == expected


def test_defaults_when_unset(monkeypatch):
    for setting in SETTINGS:
        if setting.name != "KAM_HOME":
            monkeypatch.delenv(setting.name, raising=False)
    settings = load_settings()
    assert (settings.ingest_schedule, settings.task_retries, settings.publication_deadline,
            settings.publication_deadline_tz, settings.alert_webhook) == ("@daily", 2, None, "UTC", None)


def test_a_bad_retry_count_names_the_variable(monkeypatch):
    monkeypatch.setenv("KAM_TASK_RETRIES", "-1")
    with pytest.raises(ValueError, match="KAM_TASK_RETRIES"):
        load_settings()
