"""The Spark jobs of the Spark target, each in a child process of its own (the JVM, its memory and
its hold on the Derby metastore end with it): ``python -m kam.spark_job <job> <json> <out>``.

``served``: the publication database ``analytics`` serves, and the latest month's tiers (for
the tier log). ``audit``: the reconciliations, GX mart suites and drift checks on Spark
(:mod:`kam.quality.audit_spark`). ``publication``: a whole publication in one JVM (what is
served, the ledger, a new versioned database ``analytics_v<id>`` checked and mirrored into a
local DuckDB snapshot, the switch of ``analytics``'s views, the report and Parquet copies:
:mod:`kam.publish.spark`).
The result (or the job's error) is written as JSON to ``<out>``. An entry point, like the DAGs'
tasks: it runs the stages' Spark steps and is imported by none of them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from kam.config import load_settings

log = logging.getLogger("kam.spark_job")


def _jobs() -> dict:
    from kam.publish.spark import publish_in_session, served
    from kam.quality.audit_spark import audit_in_session

    return {"served": served, "audit": audit_in_session, "publication": publish_in_session}


def main(argv: list[str]) -> int:
    from kam.spark.session import spark_session

    job, payload, out = argv[1], json.loads(argv[2]), Path(argv[3])
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
    settings = load_settings()
    try:
        with spark_session(settings) as spark:
            result = _jobs()[job](settings, spark, **payload)
    except Exception as exc:
        log.exception("spark job %s failed", job)
        out.write_text(json.dumps({"error": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}))
        return 1
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
