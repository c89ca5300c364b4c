"""Peak memory per task (kam.memory): the high-water mark is reset at the start of a task,
so a later, smaller task does not inherit an earlier task's peak; a child's peak comes from wait4."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kam.memory import self_peak_mb, tracked, wait_child

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")


def _allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    return len(block)


def test_a_task_peak_is_its_own_not_an_earlier_tasks():
    with tracked() as big:
        _allocate(300)
    with tracked() as small:
        _allocate(20)
    baseline = self_peak_mb()
    assert big.mb >= 300 and baseline < big.mb
    assert small.mb < big.mb - 200, (small.mb, big.mb)
    assert small.children_mb is None


def test_the_peak_of_a_child_it_waited_for():
    with tracked() as peak:
        proc = subprocess.Popen([sys.executable, "-c",
                                 "b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
        assert wait_child(proc.pid) == 0
    assert peak.children_mb >= 400
    assert peak.mb == max(peak.process_mb, peak.children_mb)


def test_the_exit_code_of_a_failed_child():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert wait_child(proc.pid) == 3


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:"))


def test_a_task_does_not_carry_the_heap_an_earlier_task_freed():
    # many small objects: glibc keeps their freed heap resident unless it is trimmed
    kept = [bytearray(1000) for _ in range(400_000)]
    del kept
    before = _rss_mb()
    with tracked() as peak:
        pass
    assert _rss_mb() < before - 200, (before, _rss_mb())
    assert peak.process_mb < before - 200
