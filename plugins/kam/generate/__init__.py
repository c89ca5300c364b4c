"""Sample data generator: realistic industrial B2B landing files (DESIGN.md §3).

``generate(out_dir, customers=2000, months=24, seed=42, end_date=...)`` writes
customers, orders, complaints and visits in the landing contract, in the
formats real exports come in (CSV in UTF-8, UTF-8 with BOM and GB18030,
Parquet, JSON Lines). Deterministic for the same arguments.

The data has the shapes the value model must recognise: Pareto-like customer
sizes, seasonality, prospects with visits but no orders, one-off big buyers,
decliners, late payers, complaint bursts, rising stars, late corrections and
facts whose customer is missing from the master. A few customers are planted
with fixed ids (:data:`PLANTED`) so tests can check what happens to them.
"""

from kam.generate.core import PLANTED, GenerationSummary, generate

__all__ = ["PLANTED", "GenerationSummary", "generate"]
