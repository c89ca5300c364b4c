"""The report of a publication, staged beside the file or schema about to be served and
renamed to ``published/report.html`` together with it (every target and ``kam rollback``), and with it
dbt's documentation site of the build (``published/docs.html``, :mod:`kam.transform.docs`)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path

from kam.config import Settings
from kam.report.page import write_report
from kam.report.source import Source

log = logging.getLogger(__name__)


def stage_report(settings: Settings, src: Source, publication_id: int, run_date: dt.date | None) -> Path | None:
    """Write the report of the publication ``src`` holds to ``published/.report.<id>.html``.
    None when KAM_REPORT_MONTHS=0, and then no report of an earlier publication is left."""
    for pattern in (".report.*.html", ".docs.*.html"):  # of an interrupted publication
        for leftover in settings.published_dir.glob(pattern):
            leftover.unlink(missing_ok=True)
    if settings.report_months == 0:
        settings.report_path.unlink(missing_ok=True)
        return None
    docs = settings.dbt_docs_path
    staged = settings.published_dir / f".report.{publication_id}.html"
    if docs.exists():
        settings.published_dir.mkdir(parents=True, exist_ok=True)  # a server target's first publication
        shutil.copyfile(docs, _staged_docs(staged))
    written = write_report(src, staged, months=settings.report_months,
                           publication={"publication_id": publication_id,
                                        "run_date": run_date.isoformat() if run_date else "–",
                                        "docs": settings.docs_path.name if docs.exists() else None})
    log.info("%s", written.describe())
    return staged


def _staged_docs(staged_report: Path) -> Path:
    """The documentation site staged with a report: ``.docs.<id>.html`` beside ``.report.<id>.html``."""
    return staged_report.with_name(staged_report.name.replace(".report.", ".docs.", 1))


def serve_report(settings: Settings, staged: Path | None) -> None:
    """Rename the staged report (and the documentation site staged with it) in, right after its
    publication was served."""
    if staged is None:
        return
    docs = _staged_docs(staged)
    if docs.exists():
        os.replace(docs, settings.docs_path)
    os.replace(staged, settings.report_path)
