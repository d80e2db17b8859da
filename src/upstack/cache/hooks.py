"""Instrumentation hooks for cache operations.

Every operation of an upstack cache backend is reported once (nested calls such as ``get_or_set``
calling ``get`` are reported as the outer operation only) to the functions subscribed here::

    from upstack.cache import hooks

    def record(event: hooks.CacheEvent) -> None:
        ...  # event.namespace, .operation, .seconds, .hits, .misses, .error, .skipped

    hooks.subscribe(record)

Listeners run inline on the request's thread: they must be cheap and must not raise (an exception
from a listener is logged and swallowed, never raised into the cache call). A plain list of
callables rather than a Django signal, because this runs on every cache call and signals cost
several times more per dispatch.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("upstack.cache")


@dataclass(frozen=True)
class CacheEvent:
    namespace: str
    operation: str
    seconds: float
    hits: int = 0
    misses: int = 0
    error: bool = False      # the server failed (timeout, refused, protocol error)
    skipped: bool = False    # the circuit breaker was open: no attempt was made


_listeners: list[Callable[[CacheEvent], None]] = []


def subscribe(listener: Callable[[CacheEvent], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Callable[[CacheEvent], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def report(event: CacheEvent) -> None:
    for listener in tuple(_listeners):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a broken listener must never break a cache call
            logger.exception("upstack cache listener %r failed", listener)


class Counters:
    """Per-namespace totals for this process: hits, misses, errors, skipped, calls, seconds."""

    FIELDS = ("calls", "hits", "misses", "errors", "skipped")

    def __init__(self):
        self._lock = threading.Lock()
        self._totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys((*self.FIELDS, "seconds"), 0))

    def __call__(self, event: CacheEvent) -> None:
        with self._lock:
            row = self._totals[event.namespace]
            row["calls"] += 1
            row["hits"] += event.hits
            row["misses"] += event.misses
            row["errors"] += int(event.error)
            row["skipped"] += int(event.skipped)
            row["seconds"] += event.seconds

    def snapshot(self, reset: bool = False) -> dict[str, dict[str, float]]:
        with self._lock:
            data = {ns: dict(row) for ns, row in self._totals.items()}
            if reset:
                self._totals.clear()
        return data


# This process's totals, always collected (a few additions per call).
counters = Counters()
subscribe(counters)
