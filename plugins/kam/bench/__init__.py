"""``kam bench``: the pipeline at a chosen scale against the engine floor and a pandas baseline.

1. Generate a landing folder (``kam generate`` at ``--customers`` × ``--months``).
2. Run the real DAGs (``kam run``: ``ingest``, then ``build_and_publish``) on a
   fresh ``KAM_HOME``; per stage (ingest, dbt build, audit, publish) the wall
   time comes from Airflow's task instances, rows/s from the rows the stage
   handled, peak memory from the kernel's accounting of the child processes.
3. Compute the same core marts two other ways, in this process:
   (a) the *engine floor*: one hand-written DuckDB SQL script straight over the
   landing files; (b) a *pandas baseline*: what a user might write instead.
   The core marts are the order lines (latest version of each line up to the
   run date) and revenue per customer and month.
4. Reconcile the three (same line count, same revenue, same customer-month
   revenue), print the figures and ratios, and append them to
   ``docs/benchmarks.md`` with the machine's cores and memory.

Figures are measured, never asserted: the smoke test in ``make test`` only
checks that a tiny run works and reconciles.

Modules: ``run`` (the whole benchmark), ``floors``, ``baseline``, ``models_sql``,
``airflow_stats`` (per-stage times from Airflow), ``report``.
"""

# DESIGN.md §6's scale: the targets are judged on it, and only a main run at it updates the table of
# latest figures at the top of docs/benchmarks.md (a run at another scale writes its own section)
DESIGN_SCALE = (100_000, 36)  # customers, months
# DESIGN.md §6's volumes per customer: 10M order lines, 1M complaints, 3M visits for 100k customers
BENCH_PER_CUSTOMER = {"order_lines": 100, "complaints": 10, "visits": 30}
