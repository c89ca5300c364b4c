"""Settings from the environment (and CLI overrides), in one place.

Every path the pipeline touches is derived here from ``KAM_HOME`` and the
landing root, so the DAGs, the CLI and the tests agree on where things live
(DESIGN.md "Paths and names").
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SOURCES: tuple[str, ...] = ("customers", "orders", "complaints", "visits")

TARGETS: tuple[str, ...] = ("duckdb", "postgres", "spark")


# local, local[N], local[*], local[N,retries], spark://h:p[,h:p], yarn, k8s://…, mesos://…
SPARK_MASTER = re.compile(r"^(local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?|spark://[\w.-]+:\d+(,[\w.-]+:\d+)*|yarn"
                          r"|k8s://\S+|mesos://[\w.-]+:\d+)$")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


# The earliest plausible business date (KAM_MIN_BUSINESS_DATE): an order, complaint, visit or
# master row dated before it is quarantined, and the DAGs start on it (DESIGN.md §3). Long-lived
# ERP histories reach back to the 1990s and earlier, so the default accepts them.
DEFAULT_MIN_BUSINESS_DATE = dt.date(1970, 1, 1)


def min_business_date_from_env() -> dt.date:
    """``KAM_MIN_BUSINESS_DATE`` (YYYY-MM-DD), default 1970-01-01. Light: the DAG files call it."""
    raw = (os.environ.get("KAM_MIN_BUSINESS_DATE") or "").strip()
    if not raw:
        return DEFAULT_MIN_BUSINESS_DATE
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"environment variable KAM_MIN_BUSINESS_DATE={raw!r} is not a date (YYYY-MM-DD)") from None


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    value = _env_float(name, default)
    if value != int(value) or value < minimum:
        kind = "a positive whole number" if minimum == 1 else f"a whole number of at least {minimum}"
        raise ValueError(f"environment variable {name}={os.environ.get(name)!r} must be {kind}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Every setting (the table with their defaults and meanings: kam.settings_table, generated into
    docs/configuration.md). Build with :func:`load_settings`."""

    kam_home: Path
    landing_dir: Path
    max_bad_row_share: float = 0.10
    # KAM_MIN_BAD_ROWS_TO_REFUSE: a batch is refused for its bad-row share only when it also has at
    # least this many bad rows, so a small correction file keeps its good rows (DESIGN.md §3)
    min_bad_rows_to_refuse: int = 10
    min_business_date: dt.date = DEFAULT_MIN_BUSINESS_DATE  # KAM_MIN_BUSINESS_DATE
    # KAM_MAX_LINE_BYTES: a landing line longer than this is quarantined (its number, size and this
    # limit named) and the file's other rows load
    max_line_bytes: int = 2_000_000
    # KAM_LANDING_LINKS: "refuse" (default) refuses every symbolic link in the landing folder;
    # "inside" follows links that resolve inside the landing folder (others are still refused)
    landing_links: str = "refuse"
    duckdb_memory_limit: str = "3GB"
    # KAM_PUBLISH_MEMORY_LIMIT: DuckDB's limit in the publish task, which runs inside the Airflow
    # task process (Airflow, GX and the audit's leftovers held beside it) and whose month-ordered
    # copies fill DuckDB's pool; dbt runs DuckDB in a process of its own
    publish_memory_limit: str = "2GB"
    keep_publications: int = 5  # KAM_KEEP_PUBLICATIONS: earlier published files kept for rollback
    publish_full_every: int = 7  # KAM_PUBLISH_FULL_EVERY: the published file is written from scratch every N
    dbt_threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    gx_max_rows: int = 250_000  # KAM_GX_MAX_ROWS: GX validates a sample of larger marts
    gx_batch_sample_rows: int = 5_000  # KAM_GX_BATCH_SAMPLE_ROWS: GX's share of a raw batch's rows
    # KAM_STALE_SOURCES: a source past its dbt freshness limit warns in the audit ("warn") or refuses
    # the publication ("refuse")
    stale_sources: str = "warn"
    repo_root: Path = REPO_ROOT
    expectations_override: Path | None = None  # KAM_EXPECTATIONS_DIR: another set of suites
    target: str = "duckdb"  # KAM_TARGET: where dbt builds and what is published (duckdb | postgres | spark)
    pg_dsn: str | None = None  # KAM_PG_DSN: the PostgreSQL warehouse (target postgres)
    bi_role: str = "kam_bi"  # KAM_BI_ROLE: read-only role for BI on schema analytics
    bi_password: str | None = None  # KAM_BI_PASSWORD: its password (never written to disk by kam)
    report_months: int = 12  # KAM_REPORT_MONTHS: months in the picker of published/report.html (0: no report)
    # KAM_PG_PUBLISH_LOCK_WAIT: seconds a publication on PostgreSQL waits for BI sessions to let go of the
    # served tables (kam.publish.postgres.lock_served) before it fails naming them
    pg_publish_lock_wait: int = 600
    # target spark (kam.spark, docs/spark.md)
    spark_master: str = "local[*]"  # KAM_SPARK_MASTER: local[*], local[N], spark://host:port, yarn, k8s://…
    spark_shuffle_partitions: int = 4  # KAM_SPARK_SHUFFLE_PARTITIONS: spark.sql.shuffle.partitions
    spark_driver_memory: str = "2g"  # KAM_SPARK_DRIVER_MEMORY: spark.driver.memory
    # KAM_SPARK_JVM_OPTIONS: more options for the driver's JVM (dbt's and kam's jobs), e.g. a small
    # run's "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC" (docs/spark.md)
    spark_jvm_options: str = ""
    lake_override: Path | None = None  # KAM_LAKE_DIR: the raw lake Spark reads (default $KAM_HOME/lake)
    # KAM_SOURCES (kam run --sources FILE): the source mapping of a supplier's own exports
    # (kam.sources, docs/sources.md); default $KAM_HOME/sources.yml when it exists
    sources_override: Path | None = None
    # KAM_NOTIFY: who is told what after each publication (kam.notify, docs/notify.md); default
    # $KAM_HOME/notify.yml when it exists; without one nothing is sent
    notify_override: Path | None = None
    # scheduling and who is told (kam.airflow.dag_defaults, kam.notify.ops)
    ingest_schedule: str | None = "@daily"  # KAM_INGEST_SCHEDULE: cron or preset; none: only when triggered
    task_retries: int = 2  # KAM_TASK_RETRIES: under a scheduler (kam run sets 0)
    publication_deadline: str | None = None  # KAM_PUBLICATION_DEADLINE: cron of the deadline check
    publication_deadline_tz: str = "UTC"  # KAM_PUBLICATION_DEADLINE_TZ
    alert_webhook: str | None = None  # KAM_ALERT_WEBHOOK: on call without a notify.yml

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"KAM_TARGET must be one of {', '.join(TARGETS)}, got {self.target!r}")
        for needed in TARGET_NEEDS.get(self.target, ()):
            needed(self)
        if not re.fullmatch(r"\d+[kmgt]", self.spark_driver_memory.lower()):
            raise ValueError(f"KAM_SPARK_DRIVER_MEMORY={self.spark_driver_memory!r} must be a size like 2g or 512m")
        if self.stale_sources not in STALE_SOURCES:
            raise ValueError(f"KAM_STALE_SOURCES must be one of {', '.join(STALE_SOURCES)}, got {self.stale_sources!r}")
        if not self.bi_role.isidentifier() or self.bi_role.lower() != self.bi_role:
            raise ValueError(f"KAM_BI_ROLE must be a lower-case SQL identifier, got {self.bi_role!r}")

    @property
    def warehouse_path(self) -> Path:
        return self.kam_home / "warehouse.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.kam_home / "published"

    @property
    def published_path(self) -> Path:
        return self.published_dir / "analytics.duckdb"

    @property
    def report_path(self) -> Path:
        """The key-account report of the served publication (kam.report)."""
        return self.published_dir / "report.html"

    @property
    def docs_path(self) -> Path:
        """dbt's documentation site of the served publication's build (kam.transform.docs)."""
        return self.published_dir / "docs.html"

    @property
    def dbt_docs_path(self) -> Path:
        """dbt's documentation site of the last build, published with the next publication."""
        return self.kam_home / "dbt" / "docs.html"

    @property
    def parquet_dir(self) -> Path:
        return self.published_dir / "parquet"

    @property
    def lake_dir(self) -> Path:
        """The raw lake of the Spark target: every raw batch as a Parquet file (kam.spark.lake)."""
        return self.lake_override or self.kam_home / "lake"

    @property
    def spark_dir(self) -> Path:
        """Target spark: the Spark warehouse, the Derby metastore and Spark's scratch files."""
        return self.kam_home / "spark"

    @property
    def airflow_home(self) -> Path:
        return self.kam_home / "airflow"

    def _home_file(self, override: Path | None, name: str) -> Path | None:
        """A configuration file: the one named by its setting, else ``$KAM_HOME/<name>`` if there is one."""
        if override is not None:
            return override
        default = self.kam_home / name
        return default if default.is_file() else None

    @property
    def sources_path(self) -> Path | None:
        """The source mapping in use: KAM_SOURCES, else ``$KAM_HOME/sources.yml`` if there is one."""
        return self._home_file(self.sources_override, "sources.yml")

    @property
    def notify_path(self) -> Path | None:
        """The notify configuration in use: KAM_NOTIFY, else ``$KAM_HOME/notify.yml`` if there is one."""
        return self._home_file(self.notify_override, "notify.yml")

    @property
    def tmp_dir(self) -> Path:
        return self.kam_home / "tmp"

    @property
    def gx_dir(self) -> Path:
        """GX file context: stored validation results and the Data Docs site."""
        return self.kam_home / "gx"

    @property
    def history_dir(self) -> Path:
        """Earlier published files, kept for ``kam rollback``."""
        return self.published_dir / "history"

    @property
    def dbt_project_dir(self) -> Path:
        return self.repo_root / "dbt_project"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder of this home (manifest.json, run_results.json, compiled SQL)."""
        return self.kam_home / "dbt" / "target"

    @property
    def dags_dir(self) -> Path:
        return self.repo_root / "dags"

    @property
    def expectations_dir(self) -> Path:
        return self.expectations_override or self.repo_root / "expectations"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def env(self) -> dict[str, str]:
        """The environment a child process (Airflow, dbt) needs to see these settings."""
        server: dict[str, str] = {}
        if self.pg_dsn:
            from kam.dsn import dbt_env

            server = {"KAM_PG_DSN": self.pg_dsn, **dbt_env(self.pg_dsn)}
        return {
            "KAM_TARGET": self.target,
            "KAM_BI_ROLE": self.bi_role,
            **server,
            **({"KAM_BI_PASSWORD": self.bi_password} if self.bi_password else {}),
            "KAM_HOME": str(self.kam_home),
            "KAM_LANDING": str(self.landing_dir),
            "KAM_MAX_BAD_ROW_SHARE": str(self.max_bad_row_share),
            "KAM_MIN_BAD_ROWS_TO_REFUSE": str(self.min_bad_rows_to_refuse),
            "KAM_MIN_BUSINESS_DATE": self.min_business_date.isoformat(),
            "KAM_MAX_LINE_BYTES": str(self.max_line_bytes),
            "KAM_LANDING_LINKS": self.landing_links,
            "KAM_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "KAM_PUBLISH_MEMORY_LIMIT": self.publish_memory_limit,
            "KAM_KEEP_PUBLICATIONS": str(self.keep_publications),
            "KAM_PUBLISH_FULL_EVERY": str(self.publish_full_every),
            "KAM_PG_PUBLISH_LOCK_WAIT": str(self.pg_publish_lock_wait),
            "KAM_WAREHOUSE_PATH": str(self.warehouse_path),
            "KAM_DBT_THREADS": str(self.dbt_threads),
            "KAM_GX_MAX_ROWS": str(self.gx_max_rows),
            "KAM_GX_BATCH_SAMPLE_ROWS": str(self.gx_batch_sample_rows),
            "KAM_STALE_SOURCES": self.stale_sources,
            **({"KAM_EXPECTATIONS_DIR": str(self.expectations_override)}
               if self.expectations_override else {}),
            **({"KAM_SOURCES": str(self.sources_override)} if self.sources_override else {}),
            **({"KAM_NOTIFY": str(self.notify_override)} if self.notify_override else {}),
            **self._spark_env(),
        }

    def _spark_env(self) -> dict[str, str]:
        """What dbt's spark profile (dbt_project/profiles.yml) and kam's Spark jobs read."""
        home = self.spark_dir
        return {
            "KAM_SPARK_MASTER": self.spark_master,
            "KAM_SPARK_SHUFFLE_PARTITIONS": str(self.spark_shuffle_partitions),
            "KAM_SPARK_DRIVER_MEMORY": self.spark_driver_memory,
            "KAM_SPARK_JVM_OPTIONS": self.spark_jvm_options,
            "KAM_LAKE_DIR": str(self.lake_dir),
            "KAM_SPARK_WAREHOUSE_DIR": str(home / "warehouse"),
            "KAM_SPARK_METASTORE_URL": f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
            # Derby's log and Spark's scratch space under KAM_HOME, never the current directory
            "KAM_SPARK_JAVA_OPTIONS": " ".join(filter(None, (f"-Dderby.system.home={home}",
                                                              f"-Djava.io.tmpdir={home / 'tmp'}",
                                                              self.spark_jvm_options))),
        }


def _needs_pg_dsn(settings: Settings) -> None:
    if not settings.pg_dsn:
        raise ValueError("target postgres needs KAM_PG_DSN (e.g. postgresql://kam@db:5432/kam)")


def _needs_spark_master(settings: Settings) -> None:
    if not SPARK_MASTER.match(settings.spark_master):
        raise ValueError(f"KAM_SPARK_MASTER={settings.spark_master!r} is not a Spark master URL: use local[*], "
                         f"local[N], spark://host:port, yarn or k8s://https://host:port")


# what each target needs of the settings (the targets themselves: kam.targets)
TARGET_NEEDS: dict[str, tuple[Callable[[Settings], None], ...]] = {
    "postgres": (_needs_pg_dsn,),
    "spark": (_needs_spark_master,),
}

LANDING_LINKS = ("refuse", "inside")
STALE_SOURCES = ("warn", "refuse")


def _landing_links_from_env() -> str:
    value = (os.environ.get("KAM_LANDING_LINKS") or "refuse").strip().lower()
    if value not in LANDING_LINKS:
        raise ValueError(f"environment variable KAM_LANDING_LINKS={value!r} must be one of "
                         f"{', '.join(LANDING_LINKS)}")
    return value


def load_settings() -> Settings:
    """Read settings from the environment; defaults live in the checkout."""
    home = Path(os.environ.get("KAM_HOME") or REPO_ROOT / ".kam").expanduser().resolve()
    landing = Path(os.environ.get("KAM_LANDING") or REPO_ROOT / "landing").expanduser().resolve()
    share = _env_float("KAM_MAX_BAD_ROW_SHARE", 0.10)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"KAM_MAX_BAD_ROW_SHARE must be between 0 and 1, got {share}")
    return Settings(
        kam_home=home,
        landing_dir=landing,
        max_bad_row_share=share,
        min_bad_rows_to_refuse=_env_int("KAM_MIN_BAD_ROWS_TO_REFUSE", 10),
        min_business_date=min_business_date_from_env(),
        max_line_bytes=_env_int("KAM_MAX_LINE_BYTES", 2_000_000, minimum=1024),
        landing_links=_landing_links_from_env(),
        duckdb_memory_limit=os.environ.get("KAM_DUCKDB_MEMORY_LIMIT", "3GB"),
        publish_memory_limit=os.environ.get("KAM_PUBLISH_MEMORY_LIMIT", "2GB"),
        keep_publications=_env_int("KAM_KEEP_PUBLICATIONS", 5, minimum=0),
        publish_full_every=_env_int("KAM_PUBLISH_FULL_EVERY", 7),
        dbt_threads=int(os.environ.get("KAM_DBT_THREADS") or (os.cpu_count() or 2)),
        gx_max_rows=_env_int("KAM_GX_MAX_ROWS", 250_000),
        gx_batch_sample_rows=_env_int("KAM_GX_BATCH_SAMPLE_ROWS", 5_000),
        stale_sources=(os.environ.get("KAM_STALE_SOURCES") or "warn").strip().lower(),
        expectations_override=(Path(os.environ["KAM_EXPECTATIONS_DIR"]).resolve()
                               if os.environ.get("KAM_EXPECTATIONS_DIR") else None),
        target=(os.environ.get("KAM_TARGET") or "duckdb").strip().lower(),
        pg_dsn=os.environ.get("KAM_PG_DSN") or None,
        bi_role=os.environ.get("KAM_BI_ROLE") or "kam_bi",
        bi_password=os.environ.get("KAM_BI_PASSWORD") or None,
        report_months=_env_int("KAM_REPORT_MONTHS", 12, minimum=0),
        pg_publish_lock_wait=_env_int("KAM_PG_PUBLISH_LOCK_WAIT", 600),
        spark_master=(os.environ.get("KAM_SPARK_MASTER") or "local[*]").strip(),
        spark_shuffle_partitions=_env_int("KAM_SPARK_SHUFFLE_PARTITIONS", 4),
        spark_driver_memory=(os.environ.get("KAM_SPARK_DRIVER_MEMORY") or "2g").strip(),
        spark_jvm_options=(os.environ.get("KAM_SPARK_JVM_OPTIONS") or "").strip(),
        lake_override=(Path(os.environ["KAM_LAKE_DIR"]).expanduser().resolve()
                       if os.environ.get("KAM_LAKE_DIR") else None),
        sources_override=(Path(os.environ["KAM_SOURCES"]).expanduser().resolve()
                          if os.environ.get("KAM_SOURCES") else None),
        notify_override=(Path(os.environ["KAM_NOTIFY"]).expanduser().resolve()
                         if os.environ.get("KAM_NOTIFY") else None),
        ingest_schedule=_off_or_value(os.environ.get("KAM_INGEST_SCHEDULE", "@daily")),
        task_retries=_env_int("KAM_TASK_RETRIES", 2, minimum=0),
        publication_deadline=_off_or_value(os.environ.get("KAM_PUBLICATION_DEADLINE", "")),
        publication_deadline_tz=(os.environ.get("KAM_PUBLICATION_DEADLINE_TZ") or "UTC").strip() or "UTC",
        alert_webhook=os.environ.get("KAM_ALERT_WEBHOOK") or None,
    )


def _off_or_value(raw: str) -> str | None:
    """A schedule: None when empty, ``none`` or ``manual``."""
    value = raw.strip()
    return None if value.lower() in ("", "none", "manual") else value
