"""Refresh-ahead data: expensive shared payloads computed in the background.

::

    from upstack.cache.refresh import refresh_ahead

    @refresh_ahead("most-read", every=10, serve_for=300)
    def most_read():
        return [...]          # shared, public data only: never per-user

    most_read.get()           # the current payload

Readers never compute inline, except once, single-flight, when the cache is completely cold. A
reader that finds the payload older than ``every`` seconds schedules one refresh (deduplicated
through the cache) and returns what is there; the payload is kept for ``serve_for`` seconds, so
if refreshing stops (worker down, database down) the last value is served that long. Refreshes run
as a Celery task when a broker is configured (``upstack.tasks``), in a background thread otherwise;
``refresh_all()`` is what the beat schedule calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from .api import get_or_compute

logger = logging.getLogger("upstack.cache")
_registry: dict[str, RefreshAhead] = {}


class RefreshAhead:
    def __init__(self, name: str, compute: Callable[[], Any], every: float, serve_for: float,
                 namespace: str = "data"):
        if every <= 0 or serve_for <= every:
            raise ValueError(f"refresh-ahead {name!r}: need 0 < every < serve_for (got {every}, {serve_for})")
        self.name, self.compute, self.every, self.serve_for, self.namespace = name, compute, every, serve_for, namespace
        self.key = f"refresh:{name}"

    @property
    def cache(self):
        return caches[self.namespace]

    def _build(self):
        return {"value": self.compute(), "computed_at": time.time()}

    @property
    def surrogate_key(self) -> str:
        """Pages that show this payload carry this key; a refresh that changes it purges them."""
        return f"upstack.refresh:{self.name}"

    def get(self) -> Any:
        from ..edge import keys

        keys.record(self.surrogate_key)
        stored = self.cache.get(self.key)  # get_or_compute's envelope: (payload, delta, expiry)
        if stored is None:
            # Completely cold: one reader computes (single flight), the others wait for it.
            payload = get_or_compute(self.key, self._build, self.serve_for, namespace=self.namespace, beta=0,
                                     jitter=0, stale_ttl=0)
        else:
            payload = stored[0]
            if time.time() - payload["computed_at"] >= self.every:
                self.schedule()
        return payload["value"]

    def schedule(self) -> None:
        """Ask for one refresh; concurrent askers within ``every`` seconds are deduplicated."""
        if not self.cache.add(f"{self.key}:scheduled", 1, max(1, int(self.every))):
            return
        from ..tasks import run_in_background

        run_in_background("upstack.refresh", self.name, fallback=self.refresh)

    def refresh(self) -> None:
        """Compute now and store (what the task runs)."""
        started = time.perf_counter()
        try:
            payload = self._build()
        except Exception:
            logger.exception("refreshing %r failed; the previous value stays in use", self.name)
            return
        envelope = (payload, time.perf_counter() - started, time.time() + self.serve_for)
        previous = self.cache.get(self.key)
        self.cache.set(self.key, envelope, int(self.serve_for))
        self.cache.delete(f"{self.key}:scheduled")
        if previous is None or previous[0]["value"] != payload["value"]:
            from ..edge import purge

            purge.add({self.surrogate_key})


def refresh_ahead(name: str, *, every: float, serve_for: float, namespace: str = "data"):
    def register(compute: Callable[[], Any]) -> RefreshAhead:
        item = RefreshAhead(name, compute, every, serve_for, namespace)
        _registry[name] = item
        return item
    return register


def get(name: str) -> RefreshAhead:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no refresh-ahead data named {name!r}; known: {', '.join(sorted(_registry))}") from None


def refresh_all() -> list[str]:
    for item in list(_registry.values()):
        item.refresh()
    return sorted(_registry)


