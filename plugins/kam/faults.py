"""Fault injection for the crash tests: die with SIGKILL at a named point.

``KAM_FAULT_KILL_AT=<point>`` makes every process of the session that
reaches ``checkpoint(<point>)`` die at once, as a power cut or an OOM kill
would: no ``finally`` blocks, no atexit handlers, no flushed buffers. The
tests start ``kam run`` in a new session, so that is ``kam run``, Airflow,
its task processes (Airflow puts each in its own process group) and dbt.
Unset (always, outside the tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "KAM_FAULT_KILL_AT"
SKIP_TASK = "KAM_FAULT_SKIP_TASK"  # a task id: that task ends 'skipped' without doing its work
FAIL_READ = "KAM_FAULT_FAIL_READ"  # a landing file's name: reading it raises an unexpected error

POINTS = (
    "ingest.before_commit",      # a batch's rows are inserted, the transaction is open
    "publish.after_log",         # ops row 'publishing' and tier log committed, nothing written
    "publish.mid_copy",          # half the marts are in the new file
    "publish.after_verify",      # the new file is complete and checked, not yet served
    "publish.after_history",     # the served file is hard-linked into history/
    "publish.after_replace",     # the new file is served; Parquet and ops not updated
    "publish.after_parquet",     # everything written except the ops status
)


def checkpoint(point: str) -> None:
    if os.environ.get(KILL_AT) != point:
        return
    if point not in POINTS:  # a typo in a test must not silently test nothing
        raise ValueError(f"unknown fault point {point!r}; known: {', '.join(POINTS)}")
    kill_session(os.getsid(0))


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (Linux ``/proc``), the caller last."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.getsid(int(entry)) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
    if os.getsid(0) == sid:
        os.kill(me, signal.SIGKILL)


def skip_if_asked(task_id: str) -> None:
    """``KAM_FAULT_SKIP_TASK=<task_id>``: the task raises Airflow's skip exception, as a task
    skipped by an operator or a branch would end (the evidence tests: a skipped publish must
    fail ``kam run``)."""
    if os.environ.get(SKIP_TASK) != task_id:
        return
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(f"{SKIP_TASK}={task_id}: skipped by fault injection")


def fail_read_if_asked(name: str) -> None:
    """``KAM_FAULT_FAIL_READ=<file name>``: reading that landing file raises an error no reader
    expects (the tests of "one unreadable file never stops the others")."""
    if os.environ.get(FAIL_READ) == name:
        raise OSError(f"fault injected while reading {name} (KAM_FAULT_FAIL_READ)")
