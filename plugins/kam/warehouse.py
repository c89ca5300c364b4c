"""DuckDB connections to the working warehouse, and the ops tables.

DuckDB allows one read-write process or many read-only ones. The pipeline is
the only writer (Airflow pool ``kam_warehouse`` of one slot and
``max_active_runs=1``); BI never opens this file, only the published copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from kam.config import Settings

log = logging.getLogger(__name__)

OPS_DDL = """
create schema if not exists raw;
create schema if not exists quarantine;
create schema if not exists ops;
create table if not exists ops.ingest_batches (
    batch_id bigint primary key,
    source varchar not null,
    source_file varchar not null,
    sha256 varchar not null,
    file_bytes bigint,
    file_format varchar,
    encoding varchar,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    status varchar not null,          -- loaded | partial | refused | duplicate
    error varchar,
    warnings varchar,
    run_id varchar,
    started_at timestamp not null,
    finished_at timestamp not null
);
create sequence if not exists ops.publication_id_seq start 1;
create table if not exists ops.publications (
    publication_id bigint primary key,
    run_id varchar,
    run_date date,
    status varchar not null,          -- published | refused | failed
    reason varchar,
    audit_summary varchar,            -- JSON: checks run, failed checks
    row_counts varchar,               -- JSON: mart -> rows
    published_path varchar,
    started_at timestamp not null,
    finished_at timestamp
);
create table if not exists ops.tier_publication_log (
    publication_id bigint not null,
    published_at timestamp not null,
    as_of_month date not null,
    customer_id varchar not null,
    tier varchar not null
);
create table if not exists ops.dbt_builds (
    run_id varchar,
    run_date date not null,
    target varchar not null,
    mode varchar not null,            -- incremental | full-refresh
    reason varchar not null,          -- why this mode
    fingerprint varchar not null,     -- models, macros, seeds and configuration built
    max_batch_id bigint,              -- the last batch the build saw
    rebuild_from_month date,          -- incremental: first month recomputed
    success boolean not null,
    seconds double not null,
    started_at timestamp not null,
    finished_at timestamp not null
);
-- what `dbt source freshness` found, each build (kam.quality.freshness): the audit and kam status read
-- the latest check
create table if not exists ops.source_freshness (
    run_id varchar,
    checked_at timestamp not null,    -- UTC
    source varchar not null,          -- e.g. erp.orders
    status varchar not null,          -- pass | warn | error | runtime error (dbt's statuses)
    max_loaded_at timestamp,          -- UTC: the newest row's _loaded_at
    age_hours double,
    criteria varchar,                 -- e.g. warn after 2 days
    message varchar                   -- why a check could not be made
);
-- what each publication wrote, per mart and partition (month): the next publication copies the
-- served file and rewrites only the partitions whose fingerprint changed (kam.publish)
create table if not exists ops.publication_fingerprints (
    publication_id bigint not null,
    mart varchar not null,
    columns varchar not null,         -- names and types, in order
    part varchar not null,            -- the partition column's value as text ('' unpartitioned)
    rows bigint not null,
    fingerprint hugeint not null,     -- sum of the rows' hashes
    delta_chain integer not null      -- publications since the last one written from scratch
);
-- columns added after the first release (older warehouses are upgraded in place)
alter table ops.ingest_batches add column if not exists gx_docs varchar;
-- rows GX validated: the whole batch up to KAM_GX_BATCH_SAMPLE_ROWS (or its share of it in a group of
-- small files), else the failing rows and a sample (SQL compiled from the same suite checked every row)
alter table ops.ingest_batches add column if not exists gx_rows bigint;
-- with source_file and file_bytes: a file unchanged since it was loaded is not hashed again
alter table ops.ingest_batches add column if not exists file_mtime timestamp;
-- records that are not data (a source mapping's footer or pattern, kam.sources): counted, not loaded;
-- rows_read = rows_loaded + rows_quarantined + rows_skipped
alter table ops.ingest_batches add column if not exists rows_skipped bigint default 0;
-- the batch's own work in seconds (reading, mapping, typing, checks, its share of its group's GX validation,
-- its load and commit): files checked as a group (kam.ingest.batch) overlap between started_at and finished_at
alter table ops.ingest_batches add column if not exists seconds double;
-- pulls from a database (kam.ingest.pull): the watermark reached by each pull that loaded
create table if not exists ops.source_pulls (
    source varchar not null,
    batch_id bigint not null,
    pulled_at timestamp not null,
    watermark_column varchar,
    watermark varchar,               -- the highest value pulled, as text (compared on the database)
    rows_pulled bigint not null
);
alter table ops.publications add column if not exists data_interval_start timestamp;
-- digests delivered after a publication (kam.notify): one row per recipient, channel and part
create table if not exists ops.notifications (
    publication_id bigint not null,
    recipient varchar not null,      -- an account manager, (leadership) or (no account manager)
    channel varchar not null,        -- a channel of notify.yml ('-' when nobody could be told)
    part integer not null,
    parts integer not null,
    status varchar not null,         -- sent | failed | unmapped
    attempts integer not null,
    items integer not null,          -- alerts listed in the digest
    more integer not null,           -- news beyond the cap, counted and pointing to the report
    answer varchar,                  -- the server's answer (never a URL or a secret)
    updated_at timestamp not null
);
-- what each recipient knows after a publication's digest: the baseline a later alert is compared with
create table if not exists ops.notified_alerts (
    publication_id bigint not null,
    recipient varchar not null,
    customer_id varchar not null,
    alert_type varchar not null,
    baseline double                  -- the alert's measure when last told (kam.notify.digest.MEASURES)
);
alter table ops.publications add column if not exists data_interval_end timestamp;
-- the rules version (kam.rules) a build scored under, and so each publication and each tier it showed
alter table ops.dbt_builds add column if not exists rules_version varchar;
alter table ops.publications add column if not exists rules_version varchar;
alter table ops.tier_publication_log add column if not exists rules_version varchar;
-- each set of rules applied with `kam rules apply`: the vars over dbt_project.yml, and the tier changes
-- they made on the data of the day they were applied (a what-if: JSON list of customer, before, after)
create table if not exists ops.rules_versions (
    rules_version varchar primary key,
    applied_rules varchar not null,   -- JSON: the vars set over dbt_project.yml
    source_file varchar,
    applied_at timestamp not null,
    as_of_month date,                 -- the month the tier changes were previewed on
    tier_changes varchar              -- JSON: [[customer_id, tier before, tier after], ...]
);
"""


def tables_in(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """The tables of a schema, by name."""
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]).fetchall()]


def connect(settings: Settings, read_only: bool = False, retries: int = 30) -> duckdb.DuckDBPyConnection:
    """Open the working warehouse, waiting briefly if another writer holds the lock."""
    settings.kam_home.mkdir(parents=True, exist_ok=True)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.tmp_dir),
    }
    for attempt in range(retries):
        try:
            return duckdb.connect(str(settings.warehouse_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == retries - 1:
                raise
            log.warning("warehouse is locked by another process; retrying (%s)", exc)
            time.sleep(1.0)
    raise AssertionError("unreachable")


@contextmanager
def warehouse(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(settings, read_only=read_only)
    try:
        if not read_only:
            con.execute(OPS_DDL)
        yield con
    finally:
        con.close()
