"""The Spark target end to end (issue "Beyond one machine"): `kam run --target spark` through the
real DAGs, dbt-spark in session mode on local Spark, the audit and the publication on Spark.

One Spark run on the small landing folder (a few minutes: JVM start-ups and Spark's per-query
cost, not the data); its published marts are compared with the DuckDB target's (`first_run`)
row for row; then a publication killed halfway leaves `analytics` serving the previous one.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import duckdb
import pytest
from conftest import END_DATE, REPO, java_or_skip, kam_env, run_kam

from kam.marts import PUBLISHED_MARTS

# Documented rounding (docs/spark.md): scores and ratios are doubles rounded to 6 decimals on
# both engines; float sums in another order can move the 6th decimal by one.
FLOAT_TOLERANCE = 2e-6
# A small run's JVM: no C2 compiler (its code cache as large as C2's), one GC thread (docs/spark.md: 30% less CPU)
SPARK = {"KAM_TARGET": "spark", "KAM_SPARK_MASTER": "local[2]",
         "KAM_SPARK_JVM_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC"}


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory, small_landing):
    java_or_skip()
    home = tmp_path_factory.mktemp("spark_home")
    proc = run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home,
                   timeout=1800, **SPARK)
    return home, proc.stdout


@pytest.fixture(scope="module")
def served_first(spark_run):
    """What database ``analytics`` serves after the first run: publication 1 and the rows of every table,
    as its publish job counted them on Spark (the ledger's row counts; the kill drill counts them again in
    ``analytics`` itself, in a Spark job, and finds them unchanged)."""
    ledger = duckdb.connect(str(spark_run[0] / "warehouse.duckdb"), read_only=True)
    pub_id, counts = ledger.execute("select publication_id, row_counts from ops.publications "
                                    "where status = 'published' order by publication_id desc limit 1").fetchone()
    ledger.close()
    return {"publication_id": pub_id, "missing_marts": [], "counts": json.loads(counts)}


def _rows(home, mart):
    """A mart's Parquet copy; a batch id as the landing file it stands for (batch ids follow the
    order in which Airflow ran the four independent ingest tasks, which is not fixed)."""
    con = duckdb.connect()
    frame = con.execute(f"select * from read_parquet('{home / 'published' / 'parquet' / mart}/*.parquet')").df()
    if "source_batch_id" in frame.columns:
        con.execute(f"attach '{home / 'warehouse.duckdb'}' as w (read_only)")
        files = dict(con.execute("select batch_id, source || '/' || parse_filename(source_file) "
                                 "from w.ops.ingest_batches").fetchall())
        frame["source_batch_id"] = frame["source_batch_id"].map(files)
    con.close()
    return frame


def _is_float(series) -> bool:
    values = series.dropna()
    return series.dtype.kind == "f" or (len(values) > 0 and isinstance(values.iloc[0], float))


def assert_same_mart(mart, duck, spark):
    assert sorted(duck.columns) == sorted(spark.columns), mart
    spark = spark[list(duck.columns)]
    assert len(duck) == len(spark), f"{mart}: {len(duck)} rows on DuckDB, {len(spark)} on Spark"
    floats = [c for c in duck.columns if _is_float(duck[c]) or _is_float(spark[c])]
    keys = [c for c in duck.columns if c not in floats]
    duck = duck.sort_values(keys, na_position="first").reset_index(drop=True)
    spark = spark.sort_values(keys, na_position="first").reset_index(drop=True)
    for column in keys:
        left, right = duck[column].tolist(), spark[column].tolist()
        if left != right:
            bad = next(i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b)
            raise AssertionError(f"{mart}.{column} differs, first at row {bad}: DuckDB {left[bad]!r}, "
                                 f"Spark {right[bad]!r}\n{duck.iloc[bad].to_dict()}")
    for column in floats:
        for i, (a, b) in enumerate(zip(duck[column].tolist(), spark[column].tolist(), strict=True)):
            if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
                assert (a is None or math.isnan(a)) and (b is None or math.isnan(b)), (mart, column, i, a, b)
                continue
            assert abs(float(a) - float(b)) <= FLOAT_TOLERANCE, (mart, column, duck.iloc[i].to_dict(), b)


def test_spark_run_publishes_and_proves_it(spark_run):
    home, out = spark_run
    assert "published: publication #1" in out
    assert "served at database analytics on Spark (local[2]" in out
    assert (home / "published" / "report.html").is_file()
    assert "schemas.getdbt.com/dbt/catalog/" in (home / "published" / "docs.html").read_text()  # dbt docs on Spark
    lake = home / "lake" / "raw" / "orders"
    assert [p.name for p in lake.iterdir() if p.name.startswith(".")] == []  # no half-written batch
    status = run_kam(["status"], home, **SPARK).stdout
    assert "published file  database analytics on Spark" in status and "(none yet)" not in status
    assert "last published  #1" in status
    # what people read, from the publication's local snapshot; rollback says what to do instead
    assert "customer C000001, month" in run_kam(["explain", "C000001"], home, **SPARK).stdout
    assert "(month 2026-01" in run_kam(["report", "--month", "2026-01-01", "--out", str(home / "r.html")],
                                       home, **SPARK).stdout
    refused = run_kam(["rollback"], home, check=False, **SPARK)
    assert refused.returncode == 2 and "a kept analytics_v<id>" in refused.stderr


def test_spark_marts_equal_duckdb_marts(spark_run, first_run, served_first):
    """Every published mart, as its Parquet copy (the same layout on both targets), row for row."""
    home, _ = spark_run
    for mart in (*PUBLISHED_MARTS, "tier_publication_log"):
        duck, spark = _rows(first_run, mart), _rows(home, mart)
        if mart == "tier_publication_log":
            duck, spark = duck.drop(columns=["published_at"]), spark.drop(columns=["published_at"])
        assert_same_mart(mart, duck, spark)
    # and what Spark serves is what the copies hold: counted in database analytics itself
    assert served_first["publication_id"] == 1
    for mart in PUBLISHED_MARTS:
        assert served_first["counts"][mart] == len(_rows(home, mart)), mart


def _spark_job(home, job, **payload):
    code = ("import json, sys; from kam.config import load_settings; from kam.spark.session import run_job; "
            f"print(json.dumps(run_job(load_settings(), {job!r}, {payload!r})))")
    proc = subprocess.run([sys.executable, "-c", code], env=kam_env(home, **SPARK), capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _publish(home, **extra):
    code = ("import datetime as dt; from kam.config import load_settings; "
            "from kam.publish.spark import publish_spark; "
            f"print(publish_spark(load_settings(), 'test-publish', dt.date.fromisoformat('{END_DATE}')))")
    return subprocess.run([sys.executable, "-c", code], env=kam_env(home, **SPARK, **extra), capture_output=True,
                          text=True, timeout=900, cwd=REPO, start_new_session=True)


def test_killed_spark_publication_leaves_served_marts_complete(spark_run, small_landing, served_first):
    home, _ = spark_run
    before = served_first
    copies = {m: len(_rows(home, m)) for m in PUBLISHED_MARTS}
    killed = _publish(home, KAM_FAULT_KILL_AT="publish.mid_copy")
    assert killed.returncode == -9, killed.stderr[-2000:]
    after = _spark_job(home, "served", with_counts=True)  # counted in database analytics itself, on Spark
    assert after == before  # analytics still serves publication 1, every table whole
    assert {m: len(_rows(home, m)) for m in PUBLISHED_MARTS} == copies
    assert {m: after["counts"][m] for m in PUBLISHED_MARTS} == copies  # what Spark serves, the copies hold
    ledger = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert ledger.execute("select publication_id, status from ops.publications order by 1").fetchall() == \
        [(1, "published"), (2, "publishing")]
    ledger.close()
    # the next run (an incremental dbt build on Spark, the audit with drift against the served
    # publication) settles the interrupted publication and serves its own
    done = run_kam(["run", "--landing", str(small_landing), "--date", END_DATE.isoformat()], home,
                   timeout=1800, **SPARK).stdout
    assert "published: publication #3" in done
    ledger = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    rows = ledger.execute("select publication_id, status, reason from ops.publications order by 1").fetchall()
    ledger.close()
    assert [(r[0], r[1]) for r in rows] == [(1, "published"), (2, "failed"), (3, "published")]
    assert "before analytics was switched" in rows[1][2]
    ledger = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    audit, mode, counts = ledger.execute(
        "select p.audit_summary, b.mode, p.row_counts from ops.publications p, ops.dbt_builds b "
        "where p.publication_id = 3 order by b.finished_at desc limit 1").fetchone()
    ledger.close()
    assert json.loads(audit)["drift"]["baseline"] == "publication 1 (run date 2026-06-15)"  # drift ran on Spark
    assert mode == "incremental", mode  # the second build recomputed only what changed
    # "published: publication #3" is printed only after kam run asked Spark's catalog which publication
    # analytics serves (kam.publish.evidence); the counts are those of analytics_v3, counted on Spark
    counts = json.loads(counts)
    assert {m: counts[m] for m in PUBLISHED_MARTS} == {m: before["counts"][m] for m in PUBLISHED_MARTS}
