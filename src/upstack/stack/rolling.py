"""A rolling reload of gunicorn: one new worker ready before each old one leaves.

gunicorn's HUP starts the new workers and stops the old ones at once; with ``preload_app = False``
the new ones still import Django while the old ones are gone, so under load the listen queue grows,
the edge's readiness probe times out and Varnish answers 503 for what it cannot serve from cache.
Here, per old worker: TTIN (one more worker, with the code on disk now), wait until it says it is
ready (gunicorn's ``post_worker_init`` hook writes its pid into ``READY_DIR_VARIABLE``'s directory,
see the gunicorn.conf.py template), then TTOU (gunicorn stops its oldest worker, gracefully). gunicorn
has no such command; this is its documented signals driven in order.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

READY_DIR_VARIABLE = "UPSTACK_WORKER_READY_DIR"


def workers(master: int) -> set[int]:
    try:
        return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}
    except OSError:
        return set()


def _until(check, timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{failure} after {timeout:.0f}s; see the app's log (manage.py upstack logs app)")
        time.sleep(0.1)


def reload(master: int, ready_dir: Path, timeout: float = 120.0) -> int:
    """Replace every worker of the gunicorn ``master``, one at a time; returns how many were replaced."""
    old = workers(master)
    if not old:
        raise RuntimeError(f"gunicorn (pid {master}) has no workers to replace")
    for _ in old:
        before = workers(master)
        os.kill(master, signal.SIGTTIN)
        _until(lambda before=before: any((ready_dir / str(pid)).exists() for pid in workers(master) - before),
               timeout,
               "a new gunicorn worker was not ready")
        os.kill(master, signal.SIGTTOU)  # gunicorn stops its oldest worker, which finishes its requests
        # Until gunicorn has reaped it, it still counts it as a worker, and the next TTIN would start none.
        _until(lambda before=before: len(workers(master)) <= len(before), timeout,
               "the old gunicorn worker did not stop")
    for stale in ready_dir.iterdir():
        if not Path(f"/proc/{stale.name}").exists():
            stale.unlink(missing_ok=True)
    return len(old)


__all__ = ["READY_DIR_VARIABLE", "reload", "workers"]
