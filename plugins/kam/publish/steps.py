"""The steps of a publication, in the one order every target follows where a step applies:

* ``begin``: the ledger's 'publishing' row (after settling one a crash left), what is served now;
* ``stage``: the new version beside the served one (a file, schema ``analytics_next``, ``analytics_v<id>``);
* ``verify``: its row counts, read as BI will read them;
* ``stage_report``: the report of this publication, from the staged version;
* ``keep_history``: the served version kept for ``kam rollback``;
* ``swap``: BI reads the new version (one rename, one committed schema swap, the views switched);
* ``copies``: the Parquet copies of what is served;
* ``record``: the ledger's 'published', with the row counts.

Each target's publication is ``begin`` and then its ``STEPS``, functions of the publication being made:
the DuckDB file (:data:`kam.publish.duckdb_file.STEPS`, each run alone in tests/unit/test_publish_steps.py),
the PostgreSQL schema (:data:`kam.publish.postgres.STEPS`, each run alone in tests/e2e/test_postgres_target.py:
stage to swap in one server transaction; no
history or copies: the schema is replaced whole) and Spark (:data:`kam.publish.spark.STEPS`, inside one
Spark job, so one JVM start; the versions before stay in the catalog, ``record`` drops older ones).
"""

from __future__ import annotations

STEP_ORDER: tuple[str, ...] = ("begin", "stage", "verify", "stage_report", "keep_history", "swap", "copies",
                               "record")


def in_step_order(names: list[str]) -> bool:
    """True when ``names`` are publication steps in :data:`STEP_ORDER`'s order."""
    positions = [STEP_ORDER.index(n) for n in names if n in STEP_ORDER]
    return len(positions) == len(names) and positions == sorted(positions)
