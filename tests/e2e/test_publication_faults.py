"""SIGKILL during publication (real processes, real files): the served file is always whole.

Each test kills a real ``publish`` process with SIGKILL at one point of the
write-audit-publish sequence (``kam.faults``), then publishes again and
checks: the served file opens read-only and is the previous or the new
complete version, the rerun serves exactly the marts an uninterrupted run
serves, and the bookkeeping tells the truth about what readers saw.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import duckdb
import pytest
from conftest import END_DATE, kam_env, parquet_rows, published_tables

from kam.faults import POINTS
from kam.publish.duckdb_file import file_publication_id as served_publication_id  # of the file

pytestmark = pytest.mark.slow

PUBLISH = (
    "import datetime as dt; from kam.config import load_settings; from kam.publish.duckdb_file import publish; "
    f"publish(load_settings(), 'fault-test', dt.date.fromisoformat('{END_DATE}'), {{}})"
)
BEFORE_RENAME = ("publish.after_log", "publish.mid_copy", "publish.after_verify", "publish.after_history")


def publish_process(home, **env) -> subprocess.CompletedProcess:
    # a new session: the fault point kills its whole process group, never pytest
    return subprocess.run([sys.executable, "-c", PUBLISH], env=kam_env(home, **env), capture_output=True,
                          text=True, timeout=300, start_new_session=True)


def ops(home, sql, params=None):
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("point", [p for p in POINTS if p.startswith("publish.")])
def test_sigkill_during_publication_leaves_a_whole_served_file(copy_of_first_run, point):
    home = copy_of_first_run
    served = home / "published" / "analytics.duckdb"
    previous_id, previous_bytes, previous_inode = (served_publication_id(served), served.read_bytes(),
                                                   served.stat().st_ino)
    expected = published_tables(served)  # same warehouse: an uninterrupted publish serves these marts

    killed = publish_process(home, KAM_FAULT_KILL_AT=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (killed_id,) = ops(home, "select max(publication_id) from ops.publications")[0]
    now_id = served_publication_id(served)  # opens read-only: the served file is whole
    if point in BEFORE_RENAME:
        assert now_id == previous_id
        assert served.read_bytes() == previous_bytes and served.stat().st_ino == previous_inode
    else:
        assert now_id == killed_id
        assert published_tables(served) == expected

    rerun = publish_process(home)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert published_tables(served) == expected
    status = dict(ops(home, "select publication_id, status from ops.publications"))
    assert "publishing" not in status.values()
    assert status[killed_id] == ("failed" if point in BEFORE_RENAME else "published")
    # the tier log holds only what readers could see
    logged = {p for (p,) in ops(home, "select distinct publication_id from ops.tier_publication_log")}
    assert logged == {p for p, s in status.items() if s == "published"}
    # Parquet copies match the served file, table by table
    con = duckdb.connect(str(served), read_only=True)
    try:
        for (table,) in con.execute("show tables").fetchall():
            rows = con.execute(f"select * from {table} order by all").fetchall()
            assert parquet_rows(home / "published" / "parquet", table) == rows, table
    finally:
        con.close()
    assert not list((home / "published").glob(".analytics.*.tmp"))


def test_rollback_serves_the_previous_publication_and_can_roll_forward(copy_of_first_run):
    from conftest import run_kam

    home = copy_of_first_run
    served = home / "published" / "analytics.duckdb"
    first_id, first_bytes = served_publication_id(served), served.read_bytes()
    assert publish_process(home).returncode == 0
    second_id = served_publication_id(served)
    assert second_id > first_id

    listed = run_kam(["rollback", "--list"], home).stdout
    assert f"serving publication {second_id}" in listed and f"kept: publication {first_id}" in listed
    rolled = run_kam(["rollback"], home)
    assert f"now serving publication {first_id} (was {second_id})" in rolled.stdout
    assert served_publication_id(served) == first_id and served.read_bytes() == first_bytes
    parquet = home / "published" / "parquet" / "publications" / "*.parquet"
    assert duckdb.sql(f"select max(publication_id) from read_parquet('{parquet}') "
                      f"where status = 'published'").fetchone()[0] == first_id
    assert f"serving         #{first_id} (rolled back" in run_kam(["status"], home).stdout
    report = home / "published" / "report.html"  # the report follows the served file
    assert f"publication #{first_id}, run date" in report.read_text(encoding="utf-8")
    assert ops(home, "select status from ops.publications order by publication_id desc limit 1") == \
        [("rolled_back",)]

    run_kam(["rollback", "--to", str(second_id)], home)  # roll forward
    assert served_publication_id(served) == second_id
    assert f"publication #{second_id}, run date" in report.read_text(encoding="utf-8")
    bad = run_kam(["rollback", "--to", "999"], home, check=False)
    assert bad.returncode == 2 and "no kept publication to roll back to with id 999" in bad.stderr
