"""``get_or_compute``: the stampede-safe, fault-tolerant way to cache an expensive value.

The cached entry is ``(value, delta, expiry)``: the value, how long it took to compute, and its soft
expiry. It is stored for ``ttl + stale_ttl`` so that after the soft expiry a previous value is still
there to serve while one caller recomputes:

* fresh and XFetch says keep: return it;
* otherwise try to take the single-flight lock (``cache.add`` on the cache server, so it holds across
  processes; on locmem, within the process). The winner computes, stores with a jittered TTL and
  releases; everyone else returns the previous value at once, without waiting for the new one;
* with no previous value at all (a cold key), the others wait for the winner's value (polling, up
  to ``wait`` seconds) rather than computing it themselves;
* if compute raises and a previous value exists, it is served (stale-while-revalidate) and the
  error is logged; with nothing to serve, the error propagates;
* if the cache server is unavailable (the breaker is open), compute runs inline: slower, never wrong.

Django's ``cache.get_or_set`` has none of this: every reader that misses computes.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from .. import conf
from .stampede import jittered, should_recompute_early

logger = logging.getLogger("upstack.cache")
_rng = random.Random()
UNREAD = object()  # ``known``'s default: the key has not been read yet


def _available(cache) -> bool:
    check = getattr(cache, "is_available", None)
    return check() if check else True


def lock_key(key: str) -> str:
    return f"{key}:lock"


def get_or_compute(key: str, compute: Callable[[], Any], ttl: float, *, namespace: str = "data",
                   stale_ttl: float | None = None, jitter: float | None = None, beta: float = 1.0,
                   lock_ttl: float = 30.0, wait: float = 10.0, force: bool = False, known: Any = UNREAD,
                   store: Callable[[str, Any, int], Any] | None = None) -> Any:
    """Return the cached value of ``key``, computing it with ``compute()`` at most once per expiry.

    ``ttl``: seconds the value is fresh (jittered by ``jitter``, default ``UPSTACK["TTL_JITTER"]``).
    ``stale_ttl``: seconds a previous value may still be served after that (default: ``ttl``).
    ``beta``: XFetch eagerness (0 disables early recomputation). ``lock_ttl``: how long a
    computation may hold the lock. ``wait``: how long a reader of a cold key waits for another
    process's computation before computing itself. ``force``: recompute now and store (a trusted
    fresh render), without reading the key or taking the lock: one cache call instead of four, as a
    cold render makes one for each of its fragments. ``known``: the key's entry as already read
    (None: missing), e.g. by one ``get_many`` for a page's fragments (``upstack.cache.batch``), so
    it is not read again. ``store``: called as ``store(key, entry, timeout)`` instead of
    ``cache.set`` for a forced computation (a batch writing a page's fragments together).
    """
    cache = caches[namespace]
    jitter = conf.get("TTL_JITTER") if jitter is None else jitter
    stale_ttl = ttl if stale_ttl is None else stale_ttl
    if force:
        return _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, None, store)
    entry = cache.get(key) if known is UNREAD else known
    if entry is not None and not should_recompute_early(time.time(), entry[2], entry[1], beta, _rng.random()):
        return entry[0]
    if not _available(cache):
        return _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, entry)
    token = uuid.uuid4().hex
    if cache.add(lock_key(key), token, lock_ttl):
        try:
            # Double-check: another reader may have stored a fresh value between our read and our lock.
            current = cache.get(key)
            if current is not None and current is not entry and current[2] > time.time() and (
                    entry is None or current[2] > entry[2]):
                return current[0]
            return _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, current or entry)
        finally:
            if cache.get(lock_key(key)) == token:
                cache.delete(lock_key(key))
    if entry is not None:
        return entry[0]  # someone else is recomputing: serve the previous value now
    return _wait_for(cache, key, compute, ttl, stale_ttl, jitter, wait)


def _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, previous, store=None):
    started = time.perf_counter()
    try:
        value = compute()
    except Exception:
        if previous is None:
            raise
        logger.exception("recomputing cache key %r failed; serving the previous value", key)
        return previous[0]
    delta = time.perf_counter() - started
    fresh_for = jittered(ttl, jitter, _rng.random())
    (store or cache.set)(key, (value, delta, time.time() + fresh_for), max(1, int(round(fresh_for + stale_ttl))))
    return value


def _wait_for(cache, key, compute, ttl, stale_ttl, jitter, wait):
    deadline = time.monotonic() + wait
    pause = 0.01
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
        entry = cache.get(key)
        if entry is not None:
            return entry[0]
        if not cache.has_key(lock_key(key)):
            break  # finished (look again below) or died without storing: try ourselves
    if cache.add(lock_key(key), "late", 30):
        try:
            entry = cache.get(key)  # the winner may have stored and released between our two looks
            if entry is not None:
                return entry[0]
            return _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, None)
        finally:
            cache.delete(lock_key(key))
    entry = cache.get(key)
    if entry is not None:
        return entry[0]
    return _compute_and_store(cache, key, compute, ttl, stale_ttl, jitter, None)
