"""dbt's documentation site of the project as built: ``dbt docs generate --static``, one offline HTML file
(models, columns with their descriptions and types, tests, lineage), published beside the report as
``published/docs.html`` (:mod:`kam.report.publication`).

Made by the build task after a successful ``dbt build``, and only when the build's fingerprint (the
models, macros, seeds and rules: :func:`kam.transform.mode.fingerprint`) or the target differs from the
one the last site was made for: the site describes the project and the warehouse's column types, which
change only with them. A failure to make it is a warning, never a refused publication.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from kam.config import Settings

log = logging.getLogger(__name__)


def generate_docs(settings: Settings, fingerprint: str) -> Path | None:
    """Make (or keep) the documentation site of the build with ``fingerprint``; None when dbt could not."""
    from kam.transform.runner import run_dbt, side_target

    out, stamp = settings.dbt_docs_path, settings.kam_home / "dbt" / "docs.fingerprint"
    key = f"{settings.target} {fingerprint}"
    if out.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == key:
        log.info("dbt docs: unchanged since the last build of these models (%s)", out)
        return out
    docs_target = side_target(settings, "docs_target")
    result = run_dbt(settings, ["docs", "generate", "--static"], target=docs_target)
    static = docs_target / "static_index.html"
    if not result.success or not static.exists():
        log.warning("dbt docs generate failed, the documentation site is not updated: %s",
                    "; ".join(result.failures[:3]) or f"no {static}")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(static, out)
    stamp.write_text(key, encoding="utf-8")
    log.info("dbt docs: %s (%s bytes)", out, f"{out.stat().st_size:,}")
    return out
