"""docker-compose.yml, parsed and checked (Docker cannot run on the CI machine).

The same services run natively in tests/e2e/test_production_airflow.py; here
we check what that run cannot: the file's structure, that secrets have no
default and stop startup with a message when missing, the mounts, the health
checks, and that every Airflow option it sets exists in this Airflow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SECRETS = ("AIRFLOW_DB_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY",
           "KAM_WAREHOUSE_PASSWORD", "KAM_BI_PASSWORD", "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD")

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; $$ escapes a dollar
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution (the subset the file uses), raising like compose does."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op and op.startswith(":"))
        if op in (":?", "?") and unset_or_empty:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and unset_or_empty:
            return arg
        return value or ""

    return _VAR.sub(sub, text)


def example_env() -> dict[str, str]:
    env = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip() or f"test-{key.strip().lower()}"
    return env


@pytest.fixture(scope="module")
def raw_text() -> str:
    return (REPO / "docker-compose.yml").read_text()


@pytest.fixture(scope="module")
def compose(raw_text) -> dict:
    return yaml.safe_load(interpolate(raw_text, example_env()))


def test_the_services_of_airflows_official_compose(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "airflow-init", "warehouse", *AIRFLOW_SERVICES}
    assert [services[s]["command"] for s in AIRFLOW_SERVICES] == [
        "api-server", "scheduler", "dag-processor", "triggerer"]
    assert services["warehouse"]["profiles"] == ["postgres"]  # optional: only with --profile postgres


def test_every_long_running_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        if name == "airflow-init":
            continue
        check = service.get("healthcheck", {}).get("test")
        assert check and check[0] in ("CMD", "CMD-SHELL"), name
    assert "http://localhost:8080/api/v2/version" in compose["services"]["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:8974/health" in compose["services"]["airflow-scheduler"]["healthcheck"]["test"]


def test_services_wait_for_the_database_and_the_init(compose):
    for name in AIRFLOW_SERVICES:
        deps = compose["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert compose["services"]["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_init_migrates_creates_the_admin_from_the_environment_and_the_pool(compose):
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert "airflow db migrate" in script
    assert "airflow pools set kam_warehouse 1" in script
    assert 'os.environ["AIRFLOW_ADMIN_PASSWORD"]' in script and "passwords.json" in script
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"] == "test-airflow_admin_password"
    assert init["restart"] == "no"


def test_project_read_only_and_kam_home_on_a_volume(compose):
    for name in AIRFLOW_SERVICES:
        volumes = compose["services"][name]["volumes"]
        assert "./:/opt/kam:ro" in volumes, name
        assert "kam-home:/opt/kam-home" in volumes, name
    assert "kam-home" in compose["volumes"]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_missing_secret_stops_startup_with_a_message(raw_text, secret):
    env = example_env()
    del env[secret]
    with pytest.raises(MissingVariable, match=f"{secret} is missing a value: set {secret} in .env"):
        interpolate(raw_text, env)
    env[secret] = ""  # an empty value is as bad as none
    with pytest.raises(MissingVariable, match=secret):
        interpolate(raw_text, env)


def test_no_secret_has_a_default_and_none_is_written_in_the_file(raw_text):
    for match in _VAR.finditer(raw_text):
        name, op = match.group(1), match.group(2)
        if name and re.search(r"PASSWORD|SECRET|FERNET|KEY", name):
            assert op == ":?", f"{name} must be required (${{{name}:?...}}), not {op!r}"
    assert set(SECRETS) <= {m.group(1) for m in _VAR.finditer(raw_text)}
    example = (REPO / ".env.example").read_text()
    for secret in SECRETS:
        assert re.search(rf"^{secret}=$", example, re.M), f".env.example must leave {secret} empty"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def _airflow_options(compose) -> dict[str, str]:
    options = {}
    for line in (REPO / "deploy" / "airflow.env").read_text().splitlines():
        if line.startswith("AIRFLOW__"):
            key, _, value = line.partition("=")
            options[key] = value
    for key, value in compose["x-airflow-common"]["environment"].items():
        if key.startswith("AIRFLOW__"):
            options[key] = value
    return options


def test_every_airflow_option_exists_in_this_airflow(compose):
    from airflow.configuration import retrieve_configuration_description

    known = {(section, option) for section, body in retrieve_configuration_description().items()
             for option in body.get("options", {})}
    options = _airflow_options(compose)
    assert options["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    for key in options:
        _, section, option = key.split("__", 2)
        assert (section.lower(), option.lower()) in known, f"{key} is not an Airflow {section}.{option} option"


def test_image_is_the_pinned_airflow(compose):
    dockerfile = (REPO / compose["x-airflow-common"]["build"]["dockerfile"]).read_text()
    lock = (REPO / "requirements.lock").read_text()
    version = re.search(r"^apache-airflow==(\S+)$", lock, re.M).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(version)}-python3\.11$", dockerfile, re.M)
    assert "requirements.lock" in dockerfile


def test_superset_is_an_optional_service_configured_as_make_bi(compose):
    superset = compose["services"]["superset"]
    assert superset["profiles"] == ["bi"]
    assert superset["build"]["dockerfile"] == "deploy/superset/Dockerfile"
    dockerfile = (REPO / "deploy" / "superset" / "Dockerfile").read_text()
    assert "requirements-bi.lock" in dockerfile and "apache-airflow" not in dockerfile  # its own environment
    script = superset["command"][-1]
    steps = [line.split("kam_superset.py ")[1] for line in script.splitlines() if "kam_superset.py" in line]
    assert steps == ["bootstrap", "import", "serve"]  # the steps of `make bi`
    assert "kam-home:/opt/kam-home:ro" in superset["volumes"]  # it reads the published marts, never writes
    assert superset["environment"]["KAM_HOME"] == "/opt/kam-home"
    assert "http://localhost:8088/health" in " ".join(superset["healthcheck"]["test"])
