"""Django's PyMemcacheCache with upstack's namespaces, instrumentation and fault tolerance.

``BACKEND: "upstack.cache.backends.memcached.PyMemcacheCache"``. OPTIONS: ``connect_timeout`` and
``timeout`` (seconds, default ``UPSTACK["CACHE_TIMEOUT"]``), ``BREAKER_COOLDOWN``, ``NAMESPACE``,
``FLUSH_ON_RECOVERY``; anything else goes to pymemcache's HashClient. pymemcache's own dead-server
retry is switched off: the breaker does that job, the same way for every backend.
"""

from __future__ import annotations

from django.core.cache.backends.memcached import PyMemcacheCache as DjangoPyMemcacheCache
from pymemcache.exceptions import MemcacheError

from ... import conf
from .base import UpstackCacheMixin, install


@install
class PyMemcacheCache(UpstackCacheMixin, DjangoPyMemcacheCache):
    server_errors = (MemcacheError, OSError)
    connection_errors = (MemcacheError, OSError)
    breaker_kind = "memcached"

    def _server_options(self, options):
        timeout = conf.get("CACHE_TIMEOUT")
        return {"connect_timeout": timeout, "timeout": timeout, "retry_attempts": 0, "ignore_exc": False,
                "dead_timeout": 0, **options}

    def _raw_get(self, key):
        return self._cache.get(key)

    def _raw_incr(self, key, delta=1):
        return self._cache.incr(key, delta)

    def _raw_add(self, key, value):
        return bool(self._cache.add(key, value, noreply=False))
