"""One run per KAM_HOME at a time (kam.runlock): real processes, a real flock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import KAM, kam_env

from kam.runlock import RunLocked, lock_path, run_lock


def hold(home: Path, release: Path) -> subprocess.Popen:
    """Another process holding the run lock of ``home`` until ``release`` exists."""
    code = textwrap.dedent(f"""
        import time, pathlib
        from kam.runlock import run_lock
        with run_lock(pathlib.Path({str(home)!r}), "2026-06-15"):
            print("holding", flush=True)
            while not pathlib.Path({str(release)!r}).exists():
                time.sleep(0.1)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=kam_env(home))
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_run_with_no_wait_refuses_naming_the_first(tmp_path):
    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    holder = hold(home, tmp_path / "release")
    try:
        proc = subprocess.run([KAM, "run", "--no-wait", "--date", "2026-06-15"], env=kam_env(home, landing),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 3, proc.stderr
        assert f"is held by kam run (pid {holder.pid}, started " in proc.stderr
        assert "run date 2026-06-15)" in proc.stderr and "without --no-wait" in proc.stderr
        assert not (home / "airflow").exists()  # refused before Airflow was touched
    finally:
        (tmp_path / "release").touch()
        holder.wait(timeout=30)
    info = lock_path(home).read_text()
    assert info == ""  # the holder cleared its details when it let go


def test_a_second_run_waits_saying_for_whom_then_goes(tmp_path):
    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    holder = hold(home, tmp_path / "release")
    waiting = subprocess.Popen([KAM, "run", "--date", "2026-06-16"], env=kam_env(home, landing),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any("waiting for" in line for line in lines):
            line = waiting.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert f"waiting for kam run (pid {holder.pid}, started " in lines[-1]
        assert "run date 2026-06-15) to finish" in lines[-1]
        time.sleep(1)
        assert waiting.poll() is None  # still waiting
        (tmp_path / "release").touch()
        holder.wait(timeout=30)
        deadline = time.time() + 60
        while time.time() < deadline:  # the waiting run takes the lock and writes its own details
            text = lock_path(home).read_text()
            if text and json.loads(text)["pid"] == waiting.pid:
                break
            time.sleep(0.2)
        assert json.loads(lock_path(home).read_text())["run_date"] == "2026-06-16"
    finally:
        waiting.kill()
        waiting.wait(timeout=30)
        (tmp_path / "release").touch()


def test_a_killed_holder_never_leaves_a_stale_lock(tmp_path):
    home = tmp_path / "home"
    holder = hold(home, tmp_path / "release")
    holder.kill()
    holder.wait(timeout=30)
    assert json.loads(lock_path(home).read_text())["pid"] == holder.pid  # its details stay behind …
    with run_lock(home, None, wait=False, echo=print):  # … but the kernel released the lock
        assert os.environ["KAM_RUN_LOCK_HOLDER"] == str(home)
        with run_lock(home, None, wait=False):  # re-entrant for the holder and its children
            pass
    assert "KAM_RUN_LOCK_HOLDER" not in os.environ


def test_a_scheduler_task_waits_for_a_kam_run(tmp_path):
    """A task started by a scheduler (no inherited lock) waits for the run holding the lock."""
    home, landing = tmp_path / "home", tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    holder = hold(home, tmp_path / "release")
    code = ("from kam.airflow.tasks import ingest_task; "
            "print(ingest_task('orders', {'conf': {'run_date': '2026-06-15'}})['files'])")
    task = subprocess.Popen([sys.executable, "-c", code], env=kam_env(home, landing), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(task.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 60
        while not any("waiting for kam run" in line for line in said) and time.time() < deadline:
            assert task.poll() is None, "".join(said)
            time.sleep(0.1)
        time.sleep(1)  # it keeps waiting, and has not started its work
        assert task.poll() is None, "".join(said)
        assert not (home / "warehouse.duckdb").exists()
        (tmp_path / "release").touch()
        out = task.stdout.read()
        task.wait(timeout=120)
        reader.join(timeout=10)
        assert task.returncode == 0 and out.strip() == "0", "".join(said)
        assert any(f"waiting for kam run (pid {holder.pid}" in line for line in said), "".join(said)
    finally:
        task.kill()
        (tmp_path / "release").touch()
        holder.wait(timeout=30)


def test_run_locked_is_raised_without_waiting(tmp_path):
    home = tmp_path / "home"
    holder = hold(home, tmp_path / "release")
    try:
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
            with run_lock(home, None, wait=False):
                pass
    finally:
        (tmp_path / "release").touch()
        holder.wait(timeout=30)
