"""Every environment setting kam reads: one table of name, default and meaning.

:func:`kam.config.load_settings` reads the settings of :data:`SETTINGS` into
:class:`kam.config.Settings`; docs/configuration.md is generated from this table
(``make docs``) and a test fails when the two differ, or when the code reads a ``KAM_*``
variable the table does not name. Business rules (weights, thresholds, windows) are not
settings: they are dbt vars and seeds (docs/model.md, ``kam rules``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str  # the environment variable
    default: str  # as a person reads it
    meaning: str  # Markdown, one paragraph
    field: str | None = None  # the Settings field it fills (None: read where it is used, said in meaning)
    option: str | None = None  # the kam command-line option that sets it too
    group: str = "Where things are"


GROUPS = ("Where things are", "Bad input", "Resources", "Publication", "Scheduling and who is told",
          "PostgreSQL target", "Spark target")

SETTINGS: tuple[Setting, ...] = (
    Setting("KAM_HOME", "`./.kam`", "All state: the warehouse, the published file, logs, the Airflow home.",
            "kam_home"),
    Setting("KAM_LANDING", "`./landing`", "The landing root: one folder per source.", "landing_dir", "--landing"),
    Setting("KAM_SOURCES", "`$KAM_HOME/sources.yml` if it exists",
            "The source mapping of your own exports ([sources.md](sources.md)).", "sources_override", "--sources"),
    Setting("KAM_TARGET", "`duckdb`", "Where dbt builds and what is published: `duckdb`, `postgres` (on "
            "`KAM_PG_DSN`) or `spark` ([spark.md](spark.md)).", "target", "--target"),
    Setting("KAM_EXPECTATIONS_DIR", "`./expectations`", "Another set of GX suites and drift limits (it must hold a "
            "suite for every published mart).", "expectations_override"),
    Setting("KAM_MIN_BUSINESS_DATE", "`1970-01-01`", "The earliest plausible business date: a row dated before it "
            "is quarantined (the reason names column, value and limit); the raw and mart GX suites and the audit "
            "use it, and the DAGs start on it.", "min_business_date", group="Bad input"),
    Setting("KAM_MAX_BAD_ROW_SHARE", "`0.10`", "A batch with a larger share of bad rows is refused whole …",
            "max_bad_row_share", group="Bad input"),
    Setting("KAM_MIN_BAD_ROWS_TO_REFUSE", "`10`", "… but only when it has at least this many bad rows, so a small "
            "correction file keeps its good rows.", "min_bad_rows_to_refuse", group="Bad input"),
    Setting("KAM_MAX_LINE_BYTES", "`2000000`", "A landing line longer than this is quarantined (row, size and "
            "limit named); the file's other rows load.", "max_line_bytes", group="Bad input"),
    Setting("KAM_LANDING_LINKS", "`refuse`", "Symbolic links in the landing folder are refused naming where they "
            "point; `inside` follows those that stay inside it.", "landing_links", group="Bad input"),
    Setting("KAM_GX_MAX_ROWS", "`250000`", "The audit's GX suites validate a repeatable sample of about this many "
            "rows of larger marts (every row passed the dbt tests first; `kam status` shows what was sampled).",
            "gx_max_rows", group="Bad input"),
    Setting("KAM_GX_BATCH_SAMPLE_ROWS", "`5000`", "At ingest, GX validates the failing rows plus a sample up to "
            "this many, and must agree with the SQL row checks; consecutive small files share it (each at least "
            "250 rows) and are validated together (docs/operations.md).", "gx_batch_sample_rows",
            group="Bad input"),
    Setting("KAM_STALE_SOURCES", "`warn`", "A source whose newest row was loaded longer ago than its dbt freshness "
            "limit (`freshness:` in `dbt_project/models/staging/*/_*__sources.yml`; checked by `dbt source "
            "freshness` in every build) is a warning in the audit and in `kam status`; `refuse` refuses the "
            "publication instead, naming the source and its age.", "stale_sources", group="Bad input"),
    Setting("KAM_DUCKDB_MEMORY_LIMIT", "`3GB`", "DuckDB's memory limit per process (it spills to "
            "`$KAM_HOME/tmp`).", "duckdb_memory_limit", group="Resources"),
    Setting("KAM_PUBLISH_MEMORY_LIMIT", "`2GB`", "DuckDB's memory limit in the publish task (it shares its "
            "process with Airflow and GX).", "publish_memory_limit", group="Resources"),
    Setting("KAM_DBT_THREADS", "the number of cores", "dbt threads.", "dbt_threads", group="Resources"),
    Setting("KAM_KEEP_PUBLICATIONS", "`5`", "Earlier publications kept for `kam rollback` (published files in "
            "`published/history/`, schemas or databases `analytics_v<id>` on a server).", "keep_publications",
            group="Publication"),
    Setting("KAM_PUBLISH_FULL_EVERY", "`7`", "The published file is written from scratch every N publications "
            "(the others rewrite the changed months).", "publish_full_every", group="Publication"),
    Setting("KAM_REPORT_MONTHS", "`12`", "Months in the report's month picker (`0`: no report is written).",
            "report_months", group="Publication"),
    Setting("KAM_INGEST_SCHEDULE", "`@daily`", "When `ingest` runs under a scheduler (a cron expression or "
            "preset; `none`: only when triggered).", "ingest_schedule", group="Scheduling and who is told"),
    Setting("KAM_TASK_RETRIES", "`2`", "Task retries under a scheduler (`kam run` uses 0).", "task_retries",
            group="Scheduling and who is told"),
    Setting("KAM_NOTIFY", "`$KAM_HOME/notify.yml` if it exists", "Who is told what after each publication: "
            "account managers' digests, leadership, on call, by mail and WeCom / DingTalk / Feishu / Slack robots "
            "([notify.md](notify.md)); without it nothing is sent.", "notify_override",
            group="Scheduling and who is told"),
    Setting("KAM_PUBLICATION_DEADLINE", "unset", "A cron expression (e.g. `0 7 * * *`) at which the "
            "`publication_deadline` DAG checks that a publication finished today; if not, on call is told.",
            "publication_deadline", group="Scheduling and who is told"),
    Setting("KAM_PUBLICATION_DEADLINE_TZ", "`UTC`", "The time zone of `KAM_PUBLICATION_DEADLINE` (e.g. "
            "`Asia/Shanghai`).", "publication_deadline_tz", group="Scheduling and who is told"),
    Setting("KAM_ALERT_WEBHOOK", "unset", "Without a `notify.yml`: a failed task POSTs `{\"text\": …}` here "
            "(Slack-compatible).", "alert_webhook", group="Scheduling and who is told"),
    Setting("KAM_PG_DSN", "unset", "The PostgreSQL warehouse (libpq URI or `key=value`).", "pg_dsn",
            group="PostgreSQL target"),
    Setting("KAM_BI_ROLE", "`kam_bi`", "The read-only role kam creates for BI on schema `analytics`.", "bi_role",
            group="PostgreSQL target"),
    Setting("KAM_BI_PASSWORD", "unset", "Its password (never written to disk by kam).", "bi_password",
            group="PostgreSQL target"),
    Setting("KAM_PG_PUBLISH_LOCK_WAIT", "`600`", "Seconds a publication waits for BI sessions to let go of the "
            "served tables before it fails naming them; it never waits holding one, so a BI query is never "
            "the victim of a deadlock with it ([deployment.md](deployment.md)).", "pg_publish_lock_wait",
            group="PostgreSQL target"),
    Setting("KAM_SPARK_MASTER", "`local[*]`", "The Spark master URL: `local[N]`, `spark://host:port`, `yarn`, "
            "`k8s://…`.", "spark_master", group="Spark target"),
    Setting("KAM_SPARK_SHUFFLE_PARTITIONS", "`4`", "`spark.sql.shuffle.partitions` (2–3× the executors' cores).",
            "spark_shuffle_partitions", group="Spark target"),
    Setting("KAM_SPARK_DRIVER_MEMORY", "`2g`", "`spark.driver.memory`.", "spark_driver_memory",
            group="Spark target"),
    Setting("KAM_SPARK_JVM_OPTIONS", "unset", "More options for the driver's JVM (dbt's Spark and kam's jobs), "
            "after kam's own; for small local runs `-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m "
            "-XX:+UseSerialGC` (docs/spark.md).",
            "spark_jvm_options", group="Spark target"),
    Setting("KAM_LAKE_DIR", "`$KAM_HOME/lake`", "The raw lake Spark reads: every raw batch as a Parquet file.",
            "lake_override", group="Spark target"),
)

# Set by kam itself for the processes it starts (dbt, Airflow, Spark jobs), from the settings
# above: never set them yourself.
DERIVED: dict[str, str] = {
    "KAM_WAREHOUSE_PATH": "the DuckDB warehouse file, for dbt's profile (its name: dbt runs in its folder)",
    "KAM_PG_HOST": "KAM_PG_DSN split for dbt's postgres profile",
    "KAM_PG_PORT": "KAM_PG_DSN split for dbt's postgres profile",
    "KAM_PG_DBNAME": "KAM_PG_DSN split for dbt's postgres profile",
    "KAM_PG_USER": "KAM_PG_DSN split for dbt's postgres profile",
    "KAM_PG_PASSWORD": "KAM_PG_DSN split for dbt's postgres profile",
    "KAM_GX_PG_URL": "the server's URL as GX reads it at run time (never written into the GX project)",
    "KAM_SPARK_WAREHOUSE_DIR": "Spark's warehouse under $KAM_HOME/spark, for dbt's spark profile and kam's jobs",
    "KAM_SPARK_METASTORE_URL": "the Derby metastore under $KAM_HOME/spark",
    "KAM_SPARK_JAVA_OPTIONS": "Derby's log and Spark's scratch space under $KAM_HOME",
    "KAM_RUN_LOCK_HOLDER": "set for the children of the process holding the run lock",
}

# Fault injection, read only by the crash tests (kam.faults): unset outside them.
FAULTS: dict[str, str] = {
    "KAM_FAULT_KILL_AT": "SIGKILL every process of the session at a named point",
    "KAM_FAULT_SKIP_TASK": "a task ends 'skipped' without doing its work",
    "KAM_FAULT_FAIL_READ": "reading a named landing file raises an unexpected error",
}


def known_names() -> set[str]:
    return {s.name for s in SETTINGS} | set(DERIVED) | set(FAULTS)


def configuration_markdown() -> str:
    """docs/configuration.md, from :data:`SETTINGS` (``make docs`` writes it; a test compares)."""
    lines = [
        "# Configuration",
        "",
        "<!-- generated from plugins/kam/settings_table.py by `make docs`: edit the table there -->",
        "",
        "kam reads its settings from the environment (a few also from `kam` options); state lives in "
        "`KAM_HOME` and everything else has a default. A setting that cannot work stops `kam` before "
        "anything runs, naming it. Business rules (weights, thresholds, windows) are not settings: they "
        "are dbt vars in `dbt_project/dbt_project.yml` and seeds in `dbt_project/seeds/` "
        "([model.md](model.md)), put in force with `kam rules apply` ([whatif.md](whatif.md)).",
    ]
    for group in GROUPS:
        lines += ["", f"## {group}", "", "| setting | default | what it does |", "|---|---|---|"]
        for s in (s for s in SETTINGS if s.group == group):
            name = f"`{s.name}`" + (f" / `{s.option}`" if s.option else "")
            lines.append(f"| {name} | {s.default} | {s.meaning} |")
    lines += ["", "## Set by kam for the processes it starts", "",
              "Derived from the settings above; never set them yourself.", ""]
    lines += [f"* `{name}`: {meaning}" for name, meaning in DERIVED.items()]
    lines += ["", "## Fault injection (the crash tests only)", ""]
    lines += [f"* `{name}`: {meaning}" for name, meaning in FAULTS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m kam.settings_table > docs/configuration.md
    print(configuration_markdown(), end="")
