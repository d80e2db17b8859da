"""The deploy lock: ``up``, ``release``, ``restore`` and ``down`` take it, so two of them never
interleave (two releases, or ``up`` during a release); ``upstack lock`` holds it by hand (a
maintenance window) until ``upstack unlock``.

The exclusion is ``filelock``'s (an OS file lock: it ends with its process, so a crashed command
never leaves it stale). Beside it a small JSON record names the holder - command, pid, host, user,
since - so a refused command can say who holds it. A lock taken by hand has no process to hold a
file lock, so it is that record alone, marked ``manual``; commands taking the lock honour it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_FILE = "deploy.lock"
HOLDER_FILE = "deploy.lock.json"
MANUAL_FILE = "deploy.lock.manual.json"


class LockHeld(RuntimeError):
    """Someone else holds the deploy lock (exit code 3, docs/cli.md)."""

    returncode = 3


def _holder(command: str, reason: str = "") -> dict:
    return {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "user": getpass.getuser(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"), "reason": reason}


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def describe(holder: dict | None) -> str:
    if not holder:
        return "another process (it left no record)"
    reason = f" ({holder['reason']})" if holder.get("reason") else ""
    return (f"`{holder.get('command')}` by {holder.get('user')}@{holder.get('host')}, pid {holder.get('pid')}, "
            f"since {holder.get('since')}{reason}")


def status(state_dir: Path) -> dict:
    """Who holds the lock, if anyone: ``{"held", "manual", "holder", "path"}``."""
    state_dir = Path(state_dir)
    manual = _read(state_dir / MANUAL_FILE)
    if manual:
        return {"held": True, "manual": True, "holder": manual, "path": str(state_dir / LOCK_FILE)}
    if not state_dir.exists():
        return {"held": False, "manual": False, "holder": None, "path": str(state_dir / LOCK_FILE)}
    probe = FileLock(state_dir / LOCK_FILE, timeout=0)
    try:
        with probe:
            return {"held": False, "manual": False, "holder": None, "path": str(state_dir / LOCK_FILE)}
    except Timeout:
        return {"held": True, "manual": False, "holder": _read(state_dir / HOLDER_FILE),
                "path": str(state_dir / LOCK_FILE)}


def _refuse(state_dir: Path, command: str, holder: dict | None, manual: bool) -> LockHeld:
    fix = ("`manage.py upstack unlock` when the maintenance is over" if manual else
           "wait for it to finish (the lock ends with its process)")
    return LockHeld(f"the deploy lock in {state_dir} is held by {describe(holder)}; `{command}` did not start. "
                    f"Fix: {fix}.")


@contextmanager
def held(state_dir: Path, command: str) -> Iterator[dict]:
    """Hold the lock while the block runs; ``LockHeld`` at once (no waiting) if anyone else has it."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(state_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _refuse(state_dir, command, _read(state_dir / HOLDER_FILE), False) from None
    try:
        manual = _read(state_dir / MANUAL_FILE)
        if manual:
            raise _refuse(state_dir, command, manual, True)
        holder = _holder(command)
        (state_dir / HOLDER_FILE).write_text(json.dumps(holder))
        try:
            yield holder
        finally:
            (state_dir / HOLDER_FILE).unlink(missing_ok=True)
    finally:
        lock.release()


def lock(state_dir: Path, reason: str = "") -> dict:
    """Take the lock by hand until :func:`unlock`; ``LockHeld`` if anyone holds it."""
    with held(state_dir, "upstack lock"):
        holder = _holder("upstack lock", reason)
        holder["pid"] = None  # no process holds it: the record is the lock
        (Path(state_dir) / MANUAL_FILE).write_text(json.dumps(holder))
    return holder


def unlock(state_dir: Path) -> dict | None:
    """Lift a lock taken by hand; returns its record (None if there was none). A lock held by a running
    command is not lifted (``LockHeld``): it ends with that command."""
    state_dir = Path(state_dir)
    current = status(state_dir)
    if current["held"] and not current["manual"]:
        raise LockHeld(f"the deploy lock in {state_dir} is held by {describe(current['holder'])}, a running command; "
                       "unlock lifts only a lock taken with `upstack lock`. Fix: wait for that command to finish.")
    (state_dir / MANUAL_FILE).unlink(missing_ok=True)
    return current["holder"]


__all__ = ["LockHeld", "describe", "held", "lock", "status", "unlock"]
