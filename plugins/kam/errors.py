"""Exceptions that carry the context a person needs to fix the problem."""

from __future__ import annotations


class KamError(Exception):
    """Base class for errors reported to users at the edge (CLI, task log)."""


class BatchRefused(KamError):
    """A whole landing file is refused (structure, encoding, bad-row share, …)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: batch refused: {reason}")
        self.path = path
        self.reason = reason


class ConfigError(KamError):
    """Configuration that cannot work (weights, thresholds, paths)."""


class AuditFailed(KamError):
    """The audit before publication failed; nothing was published."""

    def __init__(self, failed_checks: list[str]) -> None:
        shown = "; ".join(failed_checks[:10])
        more = f" (+{len(failed_checks) - 10} more)" if len(failed_checks) > 10 else ""
        super().__init__(f"audit failed, publication refused: {shown}{more}")
        self.failed_checks = failed_checks
