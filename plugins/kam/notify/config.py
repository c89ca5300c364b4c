"""``notify.yml``: the channels, who is told through which, and the digest rules.

One YAML file (``$KAM_HOME/notify.yml``, or ``KAM_NOTIFY``). Without one, nothing is sent and
``kam run`` runs no ``notify`` DAG. Secrets never sit in the file: an SMTP server is an Airflow
connection (its id), a robot's webhook URL (which holds the robot's key) and its signing secret
are ``env:NAME`` or ``airflow:CONN_ID`` references, resolved only when a message is sent and
never written to a log line, a ledger row or ``kam status``.

.. code-block:: yaml

    cap: 20              # alerts per digest; the rest are counted, pointing to the report
    worse_by: 0.10       # an alert already told is told again when its measure worsened by this share
    retries: 3           # attempts after the first failed one, waiting backoff_seconds, doubled each time
    backoff_seconds: 5
    report_url: https://bi.example.com/kam/report.html   # optional; default the published file
    channels:
      mail: {type: email, connection: smtp_default, from: kam@example.com}
      east: {type: wecom, webhook: env:KAM_WECOM_EAST}
      lead: {type: dingtalk, webhook: env:KAM_DINGTALK_LEAD, secret: env:KAM_DINGTALK_LEAD_SECRET}
    managers:                       # dim_customers.account_manager → channels
      王磊: {mail: [wang.lei@example.com], east: true}
    default: {mail: [sales-ops@example.com]}   # managers without an entry (listed in kam status)
    leadership: {mail: [vp.sales@example.com], lead: true}
    on_call: {mail: [data-oncall@example.com]} # failed tasks and refused publications
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kam.errors import ConfigError

CHANNEL_TYPES = ("email", "wecom", "dingtalk", "feishu", "slack")
ROBOTS = CHANNEL_TYPES[1:]
SIGNED = ("dingtalk", "feishu")  # robots with a signing secret (optional)
TOP_KEYS = {"cap", "worse_by", "retries", "backoff_seconds", "report_url", "channels", "managers", "default",
            "leadership", "on_call"}
LEADERSHIP, ON_CALL = "(leadership)", "(on call)"


class NotifyConfigError(ConfigError):
    """A notify.yml that cannot work, naming the file and the key."""


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    type: str
    connection: str | None = None  # email: the Airflow SMTP connection id
    sender: str | None = None  # email: From (default: the connection's from_email)
    webhook: str | None = None  # robots: env:NAME or airflow:CONN_ID
    secret: str | None = None  # dingtalk, feishu: env:NAME or airflow:CONN_ID


# a recipient's routes: channel name → addresses (email) or () for a robot (the robot's group is the address)
Routes = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class NotifyConfig:
    path: Path
    channels: dict[str, ChannelSpec]
    managers: dict[str, Routes]
    default: Routes = field(default_factory=dict)
    leadership: Routes = field(default_factory=dict)
    on_call: Routes = field(default_factory=dict)
    cap: int = 20
    worse_by: float = 0.10
    retries: int = 3
    backoff_seconds: float = 5.0
    report_url: str | None = None

    def routes_for(self, manager: str) -> tuple[Routes, bool]:
        """A manager's routes, and whether they came from ``default`` (the manager has no entry)."""
        if manager in self.managers:
            return self.managers[manager], False
        return self.default, True


def load_notify(path: Path | None) -> NotifyConfig | None:
    """The configuration in ``path`` (None: nothing is sent), checked whole before use."""
    if path is None:
        return None
    import yaml

    if not path.is_file():
        raise NotifyConfigError(f"notify configuration {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise NotifyConfigError(f"{path}{f' line {mark.line + 1}' if mark else ''}: not valid YAML") from None
    if not isinstance(data, dict):
        raise NotifyConfigError(f"{path}: expected a mapping with `channels:` and recipients")

    def fail(key: str, message: str):
        raise NotifyConfigError(f"{path}: {key}: {message}")

    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        fail(unknown[0], f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    channels = {}
    for name, spec in (data.get("channels") or {}).items():
        channels[str(name)] = _channel(str(name), spec, lambda m, n=name: fail(f"channels.{n}", m))
    if not channels:
        fail("channels", "at least one channel is needed")

    def routes(key: str, value) -> Routes:
        if value is None:
            return {}
        if not isinstance(value, dict):
            fail(key, "expected channel names, e.g. {mail: [someone@example.com]}")
        out: Routes = {}
        for channel, target in value.items():
            spec = channels.get(str(channel))
            if spec is None:
                fail(f"{key}.{channel}", f"no such channel (channels: {', '.join(channels)})")
            if spec.type == "email":
                addresses = [target] if isinstance(target, str) else target
                if not isinstance(addresses, list) or not addresses or \
                        not all(isinstance(a, str) and "@" in a for a in addresses):
                    fail(f"{key}.{channel}", "an e-mail channel needs one or more addresses")
                out[str(channel)] = tuple(addresses)
            elif target is True:
                out[str(channel)] = ()
            elif target is not False:
                fail(f"{key}.{channel}", f"a {spec.type} robot posts to its group: write `true`")
        return out

    managers = {str(m): routes(f"managers.{m}", r) for m, r in (data.get("managers") or {}).items()}
    numbers = {"cap": (int, 1), "retries": (int, 0), "worse_by": (float, 0.0), "backoff_seconds": (float, 0.0)}
    values = {}
    for key, (kind, low) in numbers.items():
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    (kind is int and not isinstance(value, int)) or value < low:
                fail(key, f"expected {'a whole number' if kind is int else 'a number'} of at least {low}")
            values[key] = kind(value)
    return NotifyConfig(path, channels, managers, routes("default", data.get("default")),
                        routes("leadership", data.get("leadership")), routes("on_call", data.get("on_call")),
                        report_url=data.get("report_url"), **values)


def _channel(name: str, spec, fail) -> ChannelSpec:
    if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_TYPES:
        fail(f"`type` must be one of {', '.join(CHANNEL_TYPES)}")
    kind = spec["type"]
    allowed = {"type", "connection", "from"} if kind == "email" else \
        {"type", "webhook", "secret"} if kind in SIGNED else {"type", "webhook"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        fail(f"unknown key {unknown[0]!r} for a {kind} channel (known: {', '.join(sorted(allowed))})")
    if kind == "email":
        return ChannelSpec(name, kind, connection=str(spec.get("connection") or "smtp_default"),
                           sender=spec.get("from"))
    for key in ("webhook", "secret"):
        value = spec.get(key)
        if value is None:
            if key == "webhook":
                fail("`webhook` is needed: env:NAME or airflow:CONN_ID (the URL holds the robot's key)")
            continue
        if not isinstance(value, str) or value.split(":", 1)[0] not in ("env", "airflow") or ":" not in value:
            fail(f"`{key}` must be a reference, env:NAME or airflow:CONN_ID: a robot's URL and secret are "
                 f"secrets and never belong in a file")
    return ChannelSpec(name, kind, webhook=spec["webhook"], secret=spec.get("secret"))


def resolve(reference: str, what: str, part: str = "host") -> str:
    """The value behind ``env:NAME`` / ``airflow:CONN_ID`` (an Airflow connection's host holds a webhook
    URL, its password a secret). Errors name the reference, never the value."""
    kind, _, name = reference.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise NotifyConfigError(f"{what}: the environment variable {name} is not set")
        return value
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(name)
    except Exception as exc:  # noqa: BLE001 - Airflow's message may not say which key
        raise NotifyConfigError(f"{what}: the Airflow connection {name!r} cannot be read ({type(exc).__name__})") \
            from None
    value = conn.password if part == "password" else conn.host
    if not value:
        raise NotifyConfigError(f"{what}: the Airflow connection {name!r} has no {part}")
    return value
