"""Peak memory of a piece of work, for the task summaries and ``kam bench``.

Linux only, best effort: elsewhere the figures are ``None``. A task's peak is its
process's high-water mark (``VmHWM``) since the task began — reset at the start by
writing ``5`` to ``/proc/self/clear_refs``, so tasks that share a process (``airflow
dags test``) are told apart — and the peak of any child it waited for (the dbt
subprocess), taken from ``wait4``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
from collections.abc import Iterator
from pathlib import Path

_child_peaks: list[float] = []


def self_peak_mb() -> float | None:
    """This process's peak RSS in MB (VmHWM: unlike ru_maxrss it is not carried over by exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def release_free_heap() -> None:
    """Give the heap that earlier work freed back to the OS (glibc keeps it otherwise): a
    task that shares its process with earlier ones (``airflow dags test``) does not carry
    their leftovers into its own peak."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_self_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def wait_child(pid: int) -> int:
    """``waitpid`` that also notes the child's peak RSS; returns the exit code."""
    _, status, usage = os.wait4(pid, 0)
    _child_peaks.append(usage.ru_maxrss / 1024)  # Linux: KiB
    return os.waitstatus_to_exitcode(status)


class Peak:
    """Filled in when the ``tracked`` block ends."""

    mb: float | None = None
    process_mb: float | None = None
    children_mb: float | None = None


@contextlib.contextmanager
def tracked() -> Iterator[Peak]:
    peak = Peak()
    gc.collect()
    release_free_heap()
    reset = reset_self_peak()
    first_child = len(_child_peaks)
    try:
        yield peak
    finally:
        own = self_peak_mb() if reset else None
        children = _child_peaks[first_child:]
        peak.process_mb = round(own, 1) if own is not None else None
        peak.children_mb = round(max(children), 1) if children else None
        known = [v for v in (peak.process_mb, peak.children_mb) if v is not None]
        peak.mb = max(known) if known else None
