"""Transform: dbt on the working warehouse. ``runner`` runs one ``dbt build`` and records it,
``mode`` decides full or incremental (and from which month), ``context`` writes the run date
and first month dbt reads."""
