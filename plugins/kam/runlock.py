"""One pipeline run per ``KAM_HOME`` at a time.

``kam run`` (and ``kam demo``, the benchmark) holds an exclusive ``flock`` on
``$KAM_HOME/run.lock`` from before Airflow's metadata database is set up until
the run is judged. A second run waits for it, saying which run it waits for
(pid, start time, run date, read from the lock file), or with ``--no-wait``
refuses at once with that message. The lock is the kernel's: a run killed with
SIGKILL releases it with its process, so a stale lock file never blocks anyone.

Tasks started by a scheduler (not under ``kam run``) take the same lock around
their work; under ``kam run`` they inherit it (``KAM_RUN_LOCK_HOLDER``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

HOLDER_ENV = "KAM_RUN_LOCK_HOLDER"  # set for the children of the process holding the lock


class RunLocked(RuntimeError):
    """Another run holds the lock and the caller asked not to wait."""


def lock_path(kam_home: Path) -> Path:
    return kam_home / "run.lock"


def holder_text(path: Path) -> str:
    """Who holds the lock, as its holder wrote it: 'kam run (pid 123, started …, run date …)'."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another kam run (it has not written its details yet)"
    return (f"{info.get('what', 'kam run')} (pid {info.get('pid')}, started {info.get('started')}, "
            f"run date {info.get('run_date')})")


@contextmanager
def run_lock(kam_home: Path, run_date: dt.date | str | None, what: str = "kam run", wait: bool = True,
             echo: Callable[[str], None] = print, poll_seconds: float = 5.0) -> Iterator[None]:
    """Hold the run lock of ``kam_home`` for the block; see the module's docstring."""
    if os.environ.get(HOLDER_ENV) == str(kam_home):  # our parent holds it for us
        yield
        return
    kam_home.mkdir(parents=True, exist_ok=True)
    path = lock_path(kam_home)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = holder_text(path)
                if not wait:
                    raise RunLocked(f"{path} is held by {holder}: one run per KAM_HOME at a time "
                                    f"(run again without --no-wait to wait for it)") from None
                if not announced:
                    echo(f"waiting for {holder} to finish (one run per KAM_HOME; {path}) …")
                    announced = True
                time.sleep(poll_seconds)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"what": what, "pid": os.getpid(),
                                  "started": dt.datetime.now().isoformat(timespec="seconds"),
                                  "run_date": str(run_date) if run_date else None}).encode(), 0)
        previous = os.environ.get(HOLDER_ENV)
        os.environ[HOLDER_ENV] = str(kam_home)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HOLDER_ENV, None)
            else:
                os.environ[HOLDER_ENV] = previous
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
