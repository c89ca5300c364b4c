"""The report of a publication, staged beside the file or schema about to be served and
renamed to ``published/report.html`` together with it (every target and ``kam rollback``)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from kam.config import Settings
from kam.report.page import write_report
from kam.report.source import Source

log = logging.getLogger(__name__)


def stage_report(settings: Settings, src: Source, publication_id: int, run_date: dt.date | None) -> Path | None:
    """Write the report of the publication ``src`` holds to ``published/.report.<id>.html``.
    None when KAM_REPORT_MONTHS=0, and then no report of an earlier publication is left."""
    for leftover in settings.published_dir.glob(".report.*.html"):  # of an interrupted publication
        leftover.unlink(missing_ok=True)
    if settings.report_months == 0:
        settings.report_path.unlink(missing_ok=True)
        return None
    staged = settings.published_dir / f".report.{publication_id}.html"
    written = write_report(src, staged, months=settings.report_months,
                           publication={"publication_id": publication_id,
                                        "run_date": run_date.isoformat() if run_date else "–"})
    log.info("%s", written.describe())
    return staged


def serve_report(settings: Settings, staged: Path | None) -> None:
    """Rename the staged report in, right after its publication was served."""
    if staged is not None:
        os.replace(staged, settings.report_path)
