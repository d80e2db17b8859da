"""Replica lag: how far behind the primary each replica is, measured at most every
``REPLICA_CHECK_EVERY`` seconds per process, and whether it stays in rotation (``REPLICA_MAX_LAG``).

The lag in seconds is how old the replica's view is: 0 when it has replayed everything the primary
has written (``pg_last_wal_replay_lsn()`` at or past the primary's ``pg_current_wal_lsn()``), else
the time since the last transaction it replayed (``now() - pg_last_xact_replay_timestamp()``). On an
idle primary the replica is caught up and its lag is 0, not the age of the last write; with replay
paused (or a slow replay) it grows second by second. A replica that cannot be reached, or is not in
recovery (promoted, or a wrong alias), is out of rotation with no lag figure.

Policy in pure functions (``lag_seconds``, ``in_rotation``, ``due``); ``measure`` is the I/O, and
``reading`` caches it per process under a lock so that one thread measures while the others use the
last reading. Home-made because Django has no replica-aware router with lag checks and the maintained
packages that route to replicas (django-replicated, django-multidb-router) check no lag and keep their
own pinning cookie rather than upstack's signed read-your-own-writes one (docs/scaling.md).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from .. import conf
from . import PRIMARY


@dataclass(frozen=True)
class Reading:
    alias: str
    checked_at: float  # time.monotonic() of the measurement
    lag: float | None  # seconds behind; None: unknown (unreachable, or not a replica)
    problem: str = ""


def lag_seconds(bytes_behind: float, replay_age: float | None) -> float:
    """Seconds the replica's view is behind: 0 when it has replayed all the primary's WAL, else the age
    of the last transaction it replayed (infinite when it has replayed none since it started)."""
    if bytes_behind <= 0:
        return 0.0
    return math.inf if replay_age is None else max(0.0, float(replay_age))


def in_rotation(reading: Reading | None, max_lag: float) -> bool:
    return reading is not None and reading.lag is not None and reading.lag <= max_lag


def due(reading: Reading | None, now: float, every: float) -> bool:
    return reading is None or now - reading.checked_at >= every


PRIMARY_LSN = "SELECT pg_current_wal_lsn()::text"
REPLICA_STATE = ("SELECT pg_is_in_recovery(), pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()),"
                 " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())")


def measure(alias: str, now: float | None = None) -> Reading:
    """Ask the primary for its WAL position and the replica how far it has replayed (two tiny queries)."""
    from django.db import DatabaseError, connections

    now = time.monotonic() if now is None else now
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute(PRIMARY_LSN)
            primary_lsn = cursor.fetchone()[0]
        with connections[alias].cursor() as cursor:
            cursor.execute(REPLICA_STATE, [primary_lsn])
            recovering, behind, age = cursor.fetchone()
    except DatabaseError as exc:
        connections[alias].close()  # reconnect on the next measurement
        return Reading(alias, now, None, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
    if not recovering:
        return Reading(alias, now, None, "not in recovery: not a replica (promoted, or the alias names the primary)")
    return Reading(alias, now, lag_seconds(float(behind or 0), None if age is None else float(age)))


_readings: dict[str, Reading] = {}
_lock = threading.Lock()


def reading(alias: str, measure=measure) -> Reading:
    """The last reading of ``alias``, measured anew when ``REPLICA_CHECK_EVERY`` seconds have passed."""
    every = conf.get("REPLICA_CHECK_EVERY")
    last = _readings.get(alias)
    if not due(last, time.monotonic(), every):
        return last
    if not _lock.acquire(blocking=last is None):
        return last  # another thread is measuring: use the previous reading meanwhile
    try:
        last = _readings.get(alias)
        if due(last, time.monotonic(), every):
            _readings[alias] = last = measure(alias)
        return last
    finally:
        _lock.release()


def rotation(aliases) -> list[str]:
    """The replicas in rotation now (each within ``REPLICA_MAX_LAG``)."""
    max_lag = conf.get("REPLICA_MAX_LAG")
    return [alias for alias in aliases if in_rotation(reading(alias), max_lag)]


def forget() -> None:
    """Drop every cached reading (tests; settings changes)."""
    with _lock:
        _readings.clear()
