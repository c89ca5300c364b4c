"""The PostgreSQL warehouse target (``kam run --target postgres``): connections, type mapping,
the bulk sync of raw batches, and the BI role's grants. dbt builds the same models there with
dbt-postgres (profile target ``postgres``); publication is :mod:`kam.publish.postgres`."""
