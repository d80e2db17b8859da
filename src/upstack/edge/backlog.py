"""The purge backlog: ``(node, keys)`` pairs that an edge node missed, kept until a retry reaches it.

A Varnish node that is down, slow or blackholed when a batch is purged does not fail the batch: its
keys are added here and the worker (beat task ``upstack.purge_backlog``, and every ``upstack.purge``
task after its own batch) or, without a broker, a thread of this process retries them until the node
answers. A node given by name with ``RESOLVE`` whose address no longer resolves has been replaced
(a new pod starts with an empty cache): its entry is dropped.

Stored in the broker's Redis (``CELERY_BROKER_URL``, the persistent one) - durable across restarts of
the web and worker processes - as one set of keys per node (``upstack:purge:pending:<node>``, so a
key missed twice is purged once) and one sorted set ``upstack:purge:nodes`` scoring each node by the
time its oldest pending key was added. Without a Redis broker the backlog is this process's memory:
retried, but lost on restart (docs/edge.md). Redis is reached through redis-py; the layout is ours
because no maintained library keeps a per-destination, deduplicated retry set with an age.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("upstack.edge")
NODES = "upstack:purge:nodes"
PENDING = "upstack:purge:pending:"
# Remove a node from the index only if its set is empty: one atomic step against a concurrent add.
_FORGET = "if redis.call('scard', KEYS[1]) == 0 then return redis.call('zrem', KEYS[2], ARGV[1]) end return 0"


def node_id(backend_alias: str, url: str, host: str | None) -> str:
    return f"{backend_alias} {url} {host or ''}".rstrip()


def parse_node(node: str) -> tuple[str, str, str | None]:
    alias, url, *host = node.split(" ")
    return alias, url, (host[0] if host else None)


class MemoryStore:
    """The backlog without Redis: this process only."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, set[str]] = {}
        self._since: dict[str, float] = {}

    def add(self, node: str, keys, now: float) -> None:
        with self._lock:
            self._pending.setdefault(node, set()).update(keys)
            self._since.setdefault(node, now)

    def nodes(self) -> dict[str, float]:
        with self._lock:
            return dict(self._since)

    def keys(self, node: str) -> list[str]:
        with self._lock:
            return sorted(self._pending.get(node, ()))

    def done(self, node: str, keys) -> None:
        with self._lock:
            left = self._pending.get(node, set())
            left.difference_update(keys)
            if not left:
                self._pending.pop(node, None)
                self._since.pop(node, None)

    def count(self, node: str) -> int:
        with self._lock:
            return len(self._pending.get(node, ()))


class RedisStore:
    def __init__(self, client):
        self.client = client

    def add(self, node: str, keys, now: float) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(PENDING + node, *keys)
            pipe.zadd(NODES, {node: now}, nx=True)
            pipe.execute()

    def nodes(self) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.client.zrange(NODES, 0, -1, withscores=True)}

    def keys(self, node: str) -> list[str]:
        return sorted(k.decode() for k in self.client.smembers(PENDING + node))

    def done(self, node: str, keys) -> None:
        if keys:
            self.client.srem(PENDING + node, *keys)
        self.client.eval(_FORGET, 2, PENDING + node, NODES, node)

    def count(self, node: str) -> int:
        return int(self.client.scard(PENDING + node))


_memory = MemoryStore()


def store():
    """The broker's Redis when it is one, else this process's memory."""
    from django.conf import settings

    from ..cache.backends.sentinel import REDIS_SCHEMES, shared

    url = getattr(settings, "CELERY_BROKER_URL", "")
    if url.startswith(REDIS_SCHEMES):
        return RedisStore(shared(url))
    return _memory


def durable() -> bool:
    return isinstance(store(), RedisStore)


def add(node: str, keys, now: float | None = None) -> None:
    """Keep ``keys`` for ``node``; never raises (a Redis that is away falls back to memory)."""
    keys = list(keys)
    if not keys:
        return
    now = time.time() if now is None else now
    place = store()
    try:
        place.add(node, keys, now)
    except Exception:  # noqa: BLE001 - the write that caused this purge must not fail
        logger.warning("purge backlog unreachable; %d keys for %s kept in memory", len(keys), node, exc_info=True)
        place = _memory
        place.add(node, keys, now)
    _wake_drainer(in_memory=place is _memory)


def _places() -> list:
    main = store()
    return [main] if main is _memory else [main, _memory]


def summary(now: float | None = None) -> dict:
    """``{"store": "redis"|"memory", "pending": keys waiting, "nodes": {node: keys}, "oldest_age": seconds
    or None}``."""
    now = time.time() if now is None else now
    places = _places()
    result = {"store": "memory" if places[0] is _memory else "redis", "pending": 0, "nodes": {}, "oldest_age": None}
    for place in places:
        since = place.nodes()
        for node in since:
            count = place.count(node)
            result["nodes"][node] = result["nodes"].get(node, 0) + count
            result["pending"] += count
        if since:
            result["oldest_age"] = max(now - min(since.values()), result["oldest_age"] or 0.0)
    return result


def drain(purge_node) -> dict[str, bool]:
    """Retry every pending node once: ``purge_node(node, keys)`` returns True (reached), False (still
    unreachable: the keys stay) or None (the node is gone: the keys are dropped)."""
    outcome = {}
    for place in _places():
        try:
            pending = place.nodes()
        except Exception:  # noqa: BLE001
            logger.warning("purge backlog unreachable", exc_info=True)
            continue
        for node in pending:
            keys = place.keys(node)
            reached = purge_node(node, keys)
            if reached is not False:
                place.done(node, keys)
                if reached is None:
                    logger.warning("purge backlog: %s is gone; %d keys dropped", node, len(keys))
            outcome[node] = reached is not False
    return outcome


# Without a broker no worker retries the backlog, and no worker sees this process's memory: one daemon
# thread per process retries it, while it is not empty.
_drainer: threading.Thread | None = None
_drainer_lock = threading.Lock()
INTERVAL = 1.0


def _wake_drainer(in_memory: bool) -> None:
    global _drainer
    from ..tasks import broker_configured

    if broker_configured() and not in_memory:  # the worker's beat retries it
        return
    with _drainer_lock:
        if _drainer is not None and _drainer.is_alive():
            return
        _drainer = threading.Thread(target=_drain_loop, name="upstack:purge-backlog", daemon=True)
        _drainer.start()


def _drain_loop() -> None:
    global _drainer
    from .purge import retry_backlog

    while True:
        time.sleep(INTERVAL)
        try:
            retry_backlog()
        except Exception:  # noqa: BLE001 - keep retrying; the next round may reach it
            logger.warning("purge backlog retry failed", exc_info=True)
        with _drainer_lock:
            try:
                empty = not summary()["pending"]
            except Exception:  # noqa: BLE001
                empty = False
            if empty:
                _drainer = None
                return
