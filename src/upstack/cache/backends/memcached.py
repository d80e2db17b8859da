"""Django's PyMemcacheCache with upstack's namespaces, instrumentation and fault tolerance.

``BACKEND: "upstack.cache.backends.memcached.PyMemcacheCache"``. OPTIONS: ``connect_timeout`` and
``timeout`` (seconds, default ``UPSTACK["CACHE_TIMEOUT"]``), ``BREAKER_COOLDOWN``, ``NAMESPACE``,
``FLUSH_ON_RECOVERY``; anything else goes to pymemcache's HashClient. With several nodes each node
has its own breaker and fails alone (``memcached_nodes``): only that node's keys are misses, no
namespace is invalidated, and the node alone is flushed when it is back. pymemcache's own dead-server
handling (which would move a dead node's keys to the others) is replaced by those breakers.

Only an unreachable server counts as down (socket errors, an unexpected close, and HashClient's
"all servers down"). A client error (a non-numeric ``incr``) or a server's refusal of one item
(``SERVER_ERROR object too large``) propagates exactly as from Django's backend.

Keys: a key is validated as Django would make it (250 characters at most, no spaces or control
characters), with Django's error. The key sent to the server carries the namespace generation as
well; when that makes it longer than memcached's 250 bytes, the server key is a SHA-256 of it
instead, so every key Django accepts works here too.
"""

from __future__ import annotations

import hashlib

from django.core.cache.backends.base import MEMCACHE_MAX_KEY_LENGTH, InvalidCacheKey, memcache_key_warnings
from django.core.cache.backends.memcached import PyMemcacheCache as DjangoPyMemcacheCache
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from ... import conf
from .base import UpstackCacheMixin, install
from .memcached_nodes import NodeBreakerClient, faults, node_breaker, node_name

ALL_DOWN = "All servers seem to be down"  # HashClient's MemcacheError when no server is left


@install
class PyMemcacheCache(UpstackCacheMixin, DjangoPyMemcacheCache):
    connection_errors = (MemcacheUnexpectedCloseError, OSError)
    breaker_kind = "memcached"

    def __init__(self, server, params):
        super().__init__(server, params)
        # Node failures stay inside the client: this backend's own breaker (the whole node list) is
        # tripped only by what the nodes' breakers cannot absorb.
        self._class = NodeBreakerClient
        self._options = {**self._options, "cooldown": self.cooldown, "flush_on_recovery": self.flush_on_recovery}

    def node_breakers(self) -> dict:
        """``{"host:port": breaker}`` for every node of this backend's list."""
        return {name: node_breaker(name, self.cooldown) for name in map(node_name, self.client_servers)}

    def _guarded(self, name, method, args, kwargs, outcome):
        faults.clear()
        try:
            return super()._guarded(name, method, args, kwargs, outcome)
        finally:
            outcome["error"] = outcome["error"] or faults.failed
            outcome["skipped"] = outcome["skipped"] or (faults.skipped and not faults.failed)

    def is_available(self) -> bool:
        """False only while every node's breaker is open (one node down still serves the others' keys)."""
        return any(not b.is_open for b in self.node_breakers().values())

    def _server_options(self, options):
        timeout = conf.get("CACHE_TIMEOUT")
        return {"connect_timeout": timeout, "timeout": timeout, "retry_attempts": 0, "ignore_exc": False,
                "dead_timeout": 0, **options}

    def is_connection_error(self, exc):
        if type(exc) is MemcacheError and str(exc).startswith(ALL_DOWN):
            return True
        return super().is_connection_error(exc)

    def make_key(self, key, version=None):
        if version is None:
            version = self.version
        made = super().make_key(key, version=version)
        if len(made.encode()) > MEMCACHE_MAX_KEY_LENGTH and \
                len(self.key_func(key, self.key_prefix, version)) <= MEMCACHE_MAX_KEY_LENGTH:
            # Valid for Django, too long only because of the generation: send a digest of it.
            return "upstack-sha256:" + hashlib.sha256(made.encode()).hexdigest()
        return made

    def make_and_validate_key(self, key, version=None):
        """Django's limits on Django's key; the error names the key as this backend makes it."""
        if version is None:
            version = self.version
        django_key = self.key_func(key, self.key_prefix, version)
        made = self.make_key(key, version=version)
        for warning in memcache_key_warnings(django_key):
            raise InvalidCacheKey(warning.replace(repr(django_key), repr(made)))
        return made

    def _raw_get(self, key):
        return self._cache.get(key)

    def _raw_incr(self, key, delta=1):
        return self._cache.incr(key, delta)

    def _raw_add(self, key, value):
        return bool(self._cache.add(key, value, noreply=False))
