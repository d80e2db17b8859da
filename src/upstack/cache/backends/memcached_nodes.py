"""A memcached node list where each node fails alone: pymemcache's HashClient with one circuit
breaker per node (``cache.breaker``), shared by every alias and thread of the process.

Keys keep their node: a node that is down is never taken out of the hash ring (HashClient's own
``dead_timeout`` would move its keys to the other nodes, which then serve values the failed node's
deletes never reached once it comes back). While a node's breaker is open, operations on its keys
are misses and no-ops, without a connection attempt; keys on the other nodes work as before. So
with two nodes and one down, about half the lookups still hit, and no namespace is invalidated.

When a node's breaker closes again, the node may hold values whose deletes and invalidations were
lost while it was away - for every namespace it stores. With ``FLUSH_ON_RECOVERY`` (the default)
that node alone is flushed (``flush_all`` on it; the other nodes, and every namespace's generation,
are untouched). A node that restarted is empty anyway.

Subclassing HashClient rather than writing a client: pymemcache keeps the hashing, batching and
serialisation; only its failure policy (remove the node, retry after a timeout) is replaced.
"""

from __future__ import annotations

import logging
import threading

from pymemcache.client.base import normalize_server_spec
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import MemcacheUnexpectedCloseError

from .. import breaker as breakers

logger = logging.getLogger("upstack.cache")
NODE_DOWN = (MemcacheUnexpectedCloseError, OSError)


class Faults(threading.local):
    """What the nodes did during this thread's current cache operation: a node ``failed`` (an error),
    or was ``skipped`` (its breaker open). The backend reports it like a whole-server fault."""

    failed = False
    skipped = False

    def clear(self) -> None:
        self.failed = self.skipped = False


faults = Faults()


def node_name(server) -> str:
    """``"host:port"`` (or a socket path) for a server as Django or pymemcache spells it."""
    spec = normalize_server_spec(server) if isinstance(server, str) else server
    return f"{spec[0]}:{spec[1]}" if isinstance(spec, (list, tuple)) else spec


def node_breaker(name: str, cooldown: float) -> breakers.CircuitBreaker:
    return breakers.for_server("memcached-node", name, cooldown)


class NodeBreakerClient(HashClient):
    def __init__(self, servers, *, cooldown: float = 5.0, flush_on_recovery: bool = True, **options):
        self.cooldown = cooldown
        self.flush_on_recovery = flush_on_recovery
        super().__init__(servers, **options)

    def breaker(self, server) -> breakers.CircuitBreaker:
        return node_breaker(node_name(server), self.cooldown)

    def _get_client(self, key):
        client = super()._get_client(key)
        if client is not None and not self.breaker(client.server).allow():
            faults.skipped = True
            return None  # its node is down: a miss (or a no-op) without trying it
        return client

    def _run(self, client, call):
        node = self.breaker(client.server)
        try:
            result = call()
        except NODE_DOWN as exc:
            node.failure()
            faults.failed = True
            logger.warning("memcached node %s failed: %s: %s; its keys are misses for %.0f s",
                           node_name(client.server), type(exc).__name__, exc, self.cooldown)
            return False, None
        if node.success():
            # The trial call's answer may be one of those stale values: it is not used.
            self._recovered(client)
            return False, None
        return True, result

    def _recovered(self, client) -> None:
        name = node_name(client.server)
        if not self.flush_on_recovery:
            logger.warning("memcached node %s is back", name)
            return
        try:
            client.flush_all(noreply=False)
            logger.warning("memcached node %s is back; flushed it (deletes sent while it was away were lost)", name)
        except NODE_DOWN:
            self.breaker(client.server).failure()

    def _safely_run_func(self, client, func, default_val, *args, **kwargs):
        ok, result = self._run(client, lambda: func(*args, **kwargs))
        return result if ok else default_val

    def _safely_run_set_many(self, client, values, *args, **kwargs):
        ok, result = self._run(client, lambda: client.set_many(values, *args, **kwargs))
        return result if ok else list(values)

    # A missing counter is None (Django raises "not found"), also when its node is down; HashClient says False.
    def incr(self, key, *args, **kwargs):
        return self._run_cmd("incr", key, None, *args, **kwargs)

    def decr(self, key, *args, **kwargs):
        return self._run_cmd("decr", key, None, *args, **kwargs)

