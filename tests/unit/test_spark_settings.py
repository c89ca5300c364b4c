"""The Spark target's settings and raw lake, without starting Spark (issue "Beyond one machine")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import END_DATE, REPO, run_kam

from kam.config import Settings, load_settings
from kam.errors import ConfigError
from kam.spark.lake import SCHEMA_FILE, batch_file, export_new_batches, lake_batches, write_run_context
from kam.spark.session import require_java, spark_conf


def _settings(tmp_path, **kw) -> Settings:
    return Settings(kam_home=tmp_path / "home", landing_dir=tmp_path / "landing", target="spark", **kw)


@pytest.mark.parametrize("master", ["local", "local[*]", "local[2]", "local[4,3]", "spark://a.example:7077",
                                    "spark://h1:7077,h2:7077", "yarn", "k8s://https://k8s.example:443"])
def test_master_urls_spark_accepts(tmp_path, master):
    assert _settings(tmp_path, spark_master=master).spark_master == master


@pytest.mark.parametrize("master", ["", "local[0]", "loc[2]", "spark//h:7077", "spark://h", "http://h:7077"])
def test_a_bad_master_url_is_a_clear_error(tmp_path, master):
    with pytest.raises(ValueError, match="is not a Spark master URL: use local"):
        _settings(tmp_path, spark_master=master)


def test_driver_memory_must_be_a_size(tmp_path):
    with pytest.raises(ValueError, match="KAM_SPARK_DRIVER_MEMORY='lots' must be a size"):
        _settings(tmp_path, spark_driver_memory="lots")


def test_spark_state_lives_under_kam_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAM_TARGET", "spark")
    s = load_settings()
    conf = spark_conf(s)
    home = tmp_path / "home" / "spark"
    assert conf["spark.sql.warehouse.dir"] == str(home / "warehouse")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == \
        f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true"
    assert f"-Dderby.system.home={home}" in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert s.lake_dir == tmp_path / "home" / "lake"
    monkeypatch.setenv("KAM_LAKE_DIR", str(tmp_path / "lake"))
    assert load_settings().lake_dir == tmp_path / "lake"
    # more JVM options come after kam's own, for kam's jobs and for dbt's profile (and the children they start)
    assert "XX" not in conf["spark.driver.extraJavaOptions"]
    small = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC"
    monkeypatch.setenv("KAM_SPARK_JVM_OPTIONS", f" {small} ")
    s = load_settings()
    assert spark_conf(s)["spark.driver.extraJavaOptions"] == \
        f"-Dderby.system.home={home} -Djava.io.tmpdir={home / 'tmp'} {small}"
    assert s.env()["KAM_SPARK_JAVA_OPTIONS"] == spark_conf(s)["spark.driver.extraJavaOptions"]
    assert s.env()["KAM_SPARK_JVM_OPTIONS"] == small


def test_dbt_profile_and_kam_jobs_configure_spark_alike():
    """dbt's spark profile and kam's own Spark jobs must run one Spark: the same keys."""
    profile = yaml.safe_load((REPO / "dbt_project" / "profiles.yml").read_text())["kam"]["outputs"]["spark"]
    assert profile["method"] == "session"
    ours = spark_conf(Settings(kam_home=Path("/x"), landing_dir=Path("/y"), target="spark"))
    theirs = profile["server_side_parameters"]
    assert set(theirs) == set(ours)
    constant = {k: v for k, v in theirs.items() if "{{" not in str(v) and k != "spark.app.name"}
    assert constant == {k: ours[k] for k in constant}


def test_no_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(ConfigError, match="target spark needs a Java 17 runtime .*openjdk-17-jre-headless"):
        require_java()


def test_kam_run_refuses_bad_spark_settings_before_any_dag(tmp_path, small_landing):
    args = ["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()]
    bad = run_kam(args, tmp_path / "h1", check=False, KAM_TARGET="spark", KAM_SPARK_MASTER="spark//cluster:7077")
    assert bad.returncode != 0
    assert "KAM_SPARK_MASTER='spark//cluster:7077' is not a Spark master URL" in bad.stderr
    no_java = run_kam(args, tmp_path / "h2", check=False, KAM_TARGET="spark", JAVA_HOME=str(tmp_path / "no-jdk"))
    assert no_java.returncode != 0
    assert "target spark needs a Java 17 runtime" in no_java.stderr
    assert not (tmp_path / "h2" / "logs").exists()  # refused before any DAG ran


def _raw(con, batches):
    con.execute("create schema raw")
    con.execute("create table raw.orders (order_id varchar, net_amount decimal(18, 2), _batch_id bigint)")
    for b in batches:
        con.execute(f"insert into raw.orders select 'O' || i, i, {b} from range(3) r(i)")


def test_lake_holds_each_batch_once_as_one_file(tmp_path):
    con = duckdb.connect()
    _raw(con, [1, 2])
    lake = tmp_path / "lake"
    assert export_new_batches(con, lake, ["visits"]) == {}  # an ingest task writes its own source only
    assert export_new_batches(con, lake) == {"raw.orders": 6}
    folder = lake / "raw" / "orders"
    assert lake_batches(folder) == {0, 1, 2}
    assert (folder / SCHEMA_FILE).exists()
    assert duckdb.sql(f"select count(*) from '{folder}/{SCHEMA_FILE}'").fetchone()[0] == 0
    # a crash left a hidden half-written file: it is not a batch, and is written again
    batch_file(folder, 3).with_name(f".{batch_file(folder, 3).name}.tmp").write_bytes(b"PAR1 half")
    con.execute("insert into raw.orders select 'N' || i, i, 3 from range(5) r(i)")
    assert export_new_batches(con, lake) == {"raw.orders": 5}  # only the new batch
    assert lake_batches(folder) == {0, 1, 2, 3}
    assert not list(folder.glob(".*"))
    total = duckdb.sql(f"select count(*), sum(net_amount) from read_parquet('{folder}/*.parquet')").fetchone()
    assert total == (11, 16)  # 2 × (0+1+2) + (0+1+2+3+4)


def test_run_context_file(tmp_path):
    path = write_run_context(tmp_path, dt.date(2026, 6, 15), dt.date(2026, 5, 1))
    assert duckdb.sql(f"select * from '{path}'").fetchall() == [(dt.date(2026, 6, 15), dt.date(2026, 5, 1))]
    write_run_context(tmp_path, dt.date(2026, 6, 16), None)
    assert duckdb.sql(f"select * from '{path}'").fetchall() == [(dt.date(2026, 6, 16), None)]
