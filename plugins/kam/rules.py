"""The scorecard's rules: the rule vars of ``dbt_project.yml``, the rules applied over them in
``$KAM_HOME/rules.yml`` (``kam rules apply``), their version, a candidate file's changes to them,
and the models a change reaches.

The rules in force are ``dbt_project.yml``'s vars with ``rules.yml`` on top; every build passes the
applied ones to dbt as ``--vars`` (so a change of rules is a change of the build's fingerprint: a
full build follows), and records the **rules version** it scored under: the first 12 hex digits of
the SHA-256 of the rules in force as canonical JSON. Every publication carries the version of the
build it published (``publications.rules_version``, ``tier_publication_log.rules_version``).

A candidate file names any subset of the rule vars (every var of ``dbt_project.yml`` but the run
context). A var whose value is a mapping may be given in part (``dimension_weights: {financial:
0.4, sales: 0.2}`` keeps the other two weights); any other value replaces the current one whole.
The checks a run start makes (``validate_kam_config``: weights sum to 1, thresholds ordered, …)
are dbt's own, run on the candidate by :func:`validate` before anything is built.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from kam.config import Settings
from kam.errors import ConfigError

# not business rules: the run context, and the contracts' engine type names (models/marts/*.yml)
NOT_RULES = ("run_date", "kam_data_types")
_VAR_CALL = re.compile(r"""var\(\s*['"](\w+)['"]""")


@dataclass(frozen=True)
class Candidate:
    name: str
    path: Path
    changes: dict  # the vars the file sets, as written
    rules: dict  # every rule var under the candidate (current values where the file says nothing)

    def changed(self, current: dict) -> dict:
        """The vars whose value differs from ``current``, with their value under the candidate."""
        return {k: v for k, v in self.rules.items() if current.get(k) != v}


def project_rules(settings: Settings) -> dict:
    """The rule vars and their values in ``dbt_project.yml`` (what a build uses without --vars)."""
    project = yaml.safe_load((settings.dbt_project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    return {k: v for k, v in (project.get("vars") or {}).items() if k not in NOT_RULES}


def rules_path(settings: Settings) -> Path:
    return settings.kam_home / "rules.yml"


def applied_rules(settings: Settings) -> dict:
    """The vars ``rules.yml`` sets (whole values), checked against ``dbt_project.yml``; {} without it."""
    path = rules_path(settings)
    if not path.exists():
        return {}
    project = project_rules(settings)
    return load_candidate(path, project).changed(project)


def current_rules(settings: Settings) -> dict:
    """The rules a build uses now: ``dbt_project.yml``'s vars with ``rules.yml`` on top."""
    return {**project_rules(settings), **applied_rules(settings)}


def rules_version(rules: dict) -> str:
    """The version of a set of rules in force: a digest of their canonical JSON."""
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_candidate(path: Path, current: dict) -> Candidate:
    """Read a candidate file; refuse it naming the file and the var when it cannot be a rule change."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such rules file")
    try:
        changes = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(changes, dict) or not changes:
        raise ConfigError(f"{path}: a rules file is a mapping of rule vars to values (see dbt_project.yml vars)")
    rules = copy.deepcopy(current)
    for key, value in changes.items():
        if key not in current:
            known = ", ".join(sorted(current))
            raise ConfigError(f"{path}: {key!r} is not a rule var of dbt_project.yml (rule vars: {known})")
        was = current[key]
        if isinstance(was, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} must be a mapping like {json.dumps(was)}, got {value!r}")
            unknown = sorted(set(value) - set(was))
            if unknown:
                raise ConfigError(f"{path}: {key} has no {', '.join(map(str, unknown))} "
                                  f"(it has {', '.join(map(str, was))})")
            rules[key] = {**was, **value}
        elif isinstance(was, list) and not isinstance(value, list):
            raise ConfigError(f"{path}: {key} must be a list like its value in dbt_project.yml, got {value!r}")
        elif isinstance(was, (int, float)) and not isinstance(was, bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{path}: {key} must be a number, got {value!r}")
        else:
            rules[key] = value
    return Candidate(path.stem, path, changes, rules)


def models_using(manifest: dict, names: set[str]) -> list[str]:
    """The models whose SQL, or a macro they call (at any depth), reads one of the vars ``names``."""
    macros = manifest.get("macros", {})
    reads: dict[str, set[str]] = {}

    def macro_vars(uid: str, seen: set[str]) -> set[str]:
        if uid in reads:
            return reads[uid]
        if uid in seen or uid not in macros:
            return set()
        seen.add(uid)
        macro = macros[uid]
        found = set(_VAR_CALL.findall(macro.get("macro_sql", "")))
        for dep in macro.get("depends_on", {}).get("macros", []):
            found |= macro_vars(dep, seen)
        reads[uid] = found
        return found

    out = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        used = set(_VAR_CALL.findall(node.get("raw_code", "")))
        for dep in node.get("depends_on", {}).get("macros", []):
            used |= macro_vars(dep, set())
        if used & names:
            out.append(node["name"])
    return sorted(out)
