"""A per-process circuit breaker for one cache server.

Closed: calls go through. A failure opens it for ``cooldown`` seconds, during which calls are not
attempted at all (the cache is a miss). After the cooldown one trial call is let through
(half-open): success closes the breaker, failure opens it again. So a dead or blackholed server
costs at most one timeout per cooldown per process, not one per call.

Pure state and a clock; thread-safe. Written here rather than taken from pybreaker because the
cache needs the half-open trial to be a non-blocking "one caller tries, the rest skip", and
``recovered`` to tell the backend that writes may have been lost while it was open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic):
        if cooldown <= 0:
            raise ValueError("cooldown must be positive")
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._open = False
        self._trial = False
        self.failures = 0
        self.opened = 0

    @property
    def is_open(self) -> bool:
        return self._open

    def allow(self) -> bool:
        """May a call be attempted now? (In half-open state, only the first caller gets True.)"""
        with self._lock:
            if not self._open:
                return True
            if self.clock() < self._open_until or self._trial:
                return False
            self._trial = True
            return True

    def success(self) -> bool:
        """Record a successful call; returns True when this closed an open breaker (a recovery)."""
        with self._lock:
            recovered = self._open
            self._open = False
            self._trial = False
            return recovered

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if not self._open:
                self.opened += 1
            self._open = True
            self._trial = False
            self._open_until = self.clock() + self.cooldown


_registry: dict[tuple, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def for_server(kind: str, location, cooldown: float) -> CircuitBreaker:
    """The breaker shared by every alias (namespace) that talks to the same server in this process."""
    key = (kind, str(location))
    with _registry_lock:
        breaker = _registry.get(key)
        if breaker is None or breaker.cooldown != cooldown:
            breaker = _registry[key] = CircuitBreaker(cooldown)
        return breaker


def reset_all() -> None:
    with _registry_lock:
        _registry.clear()
