"""Spark for kam's own work on the Spark target: configuration, checks, and jobs in a child process.

dbt-spark runs Spark inside the dbt process (``method: session``, dbt_project/profiles.yml);
kam's audit and publication run their Spark SQL the same way, in a child process of their
own (``python -m kam.spark_job <job>``): the JVM, its memory and its hold on the Derby
metastore (one process at a time) end with the job, never outlive it in an Airflow task.
Both read the same settings (``Settings._spark_env``): the master URL, the warehouse and
metastore under ``$KAM_HOME/spark`` and a UTC session time zone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kam.config import Settings
from kam.errors import ConfigError
from kam.memory import wait_child

log = logging.getLogger(__name__)


def spark_conf(settings: Settings) -> dict[str, str]:
    """The Spark configuration of kam's jobs: the same as the dbt profile's ``server_side_parameters``
    (tests/unit/test_spark_settings.py holds them equal)."""
    env = settings.env()
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "kam",
        "spark.sql.warehouse.dir": env["KAM_SPARK_WAREHOUSE_DIR"],
        "spark.hadoop.javax.jdo.option.ConnectionURL": env["KAM_SPARK_METASTORE_URL"],
        "spark.driver.extraJavaOptions": env["KAM_SPARK_JAVA_OPTIONS"],
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def require_java() -> str:
    """The ``java`` Spark will start (JAVA_HOME's, else the PATH's), or a ConfigError saying how to get one."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise ConfigError(f"target spark needs a Java 17 runtime ({where}): install Debian's "
                          f"openjdk-17-jre-headless (`make java` does) or set JAVA_HOME")
    return java


def prepare(settings: Settings) -> None:
    """Check Java and create the folders Spark writes to (never the current directory)."""
    require_java()
    for folder in (settings.spark_dir / "warehouse", settings.spark_dir / "tmp", settings.lake_dir):
        folder.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def spark_session(settings: Settings) -> Iterator:
    """A Spark session with kam's configuration (Hive catalog on the Derby metastore); stopped after."""
    prepare(settings)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


class SparkJobFailed(RuntimeError):
    pass


def run_job(settings: Settings, job: str, payload: dict | None = None) -> dict:
    """Run ``kam.spark_job`` ``job`` in a child process; its log lines become ours; returns its result."""
    prepare(settings)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".kam-spark-{job}-", suffix=".json", dir=settings.tmp_dir)
    os.close(fd)
    result_file = Path(name)
    env = {**os.environ, **settings.env(), "PYSPARK_PYTHON": sys.executable}
    cmd = [sys.executable, "-m", "kam.spark_job", job, json.dumps(payload or {}), str(result_file)]
    log.info("spark job %s (%s)", job, settings.spark_master)
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=settings.spark_dir)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            log.info("spark %s: %s", job, line.rstrip())
            tail = [*tail[-30:], line.rstrip()]
        returncode = wait_child(proc.pid)
        text = result_file.read_text() if result_file.exists() else ""
        result = json.loads(text) if text else {}
        if "error" in result:  # the job's own exception, as it said it
            kind = ConfigError if result["error"] == "ConfigError" else SparkJobFailed
            raise kind(result["message"])
        if returncode != 0 or not text:
            raise SparkJobFailed(f"spark job {job} failed (exit {returncode}): " + " | ".join(tail[-8:]))
        return result
    finally:
        result_file.unlink(missing_ok=True)


class SparkCursor:
    """The few DB-API calls kam's portable checks make, on Spark SQL (``?`` parameters)."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self._rows: list[tuple] = []

    def execute(self, sql: str, params=()) -> None:
        self._rows = [tuple(r) for r in self.spark.sql(sql, args=list(params) or None).collect()]

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return self._rows
