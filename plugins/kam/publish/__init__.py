"""Publish: write-audit-publish of the audited marts, per target, and what it leaves behind.

``ledger``       the publications ledger (``ops.publications``, tier log), crash settlement
``duckdb_file``  the DuckDB target: a complete new file renamed over the served one
``postgres``     the PostgreSQL target: a new schema swapped in one transaction
``fingerprints`` what a publication wrote per mart and month, so the next rewrites only changes
``parquet``      the Parquet copies of the published file, one version per mart
``rollback``     kept earlier files and ``kam rollback``
``evidence``     proof that a run's publication is recorded and served
"""
