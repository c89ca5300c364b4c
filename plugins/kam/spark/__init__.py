"""The Apache Spark target (``KAM_TARGET=spark``): dbt-spark builds the same models on Spark.

``lake``: the raw batches as Parquet files (one file per batch, renamed in whole), the
only way data reaches Spark. ``session``: a Spark session for kam's own work (audit,
publication) in a child process of its own, like dbt. ``publish``: the versioned
``analytics`` database and the Parquet copies. docs/spark.md.
"""
