"""The warehouse targets: one module each, one interface (:class:`kam.targets.base.Target`).

``target_of(settings)`` is the target the settings name (``KAM_TARGET``); stages call its methods
and never branch on its name.
"""

from __future__ import annotations

from kam.config import Settings
from kam.targets.base import NotOnThisTarget, Target
from kam.targets.duckdb import DuckDBTarget
from kam.targets.postgres import PostgresTarget
from kam.targets.spark import SparkTarget

TARGETS: dict[str, type[Target]] = {t.name: t for t in (DuckDBTarget, PostgresTarget, SparkTarget)}


def target_of(settings: Settings) -> Target:
    """The target ``settings.target`` names."""
    return TARGETS[settings.target](settings)


__all__ = ["TARGETS", "NotOnThisTarget", "Target", "target_of"]
