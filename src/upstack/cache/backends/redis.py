"""Django's RedisCache with upstack's namespaces, instrumentation and fault tolerance.

``BACKEND: "upstack.cache.backends.redis.RedisCache"``. OPTIONS: ``socket_timeout`` and
``socket_connect_timeout`` (seconds, default ``UPSTACK["CACHE_TIMEOUT"]``), ``BREAKER_COOLDOWN``
(seconds, default 5), ``NAMESPACE``, ``FLUSH_ON_RECOVERY``; anything else goes to redis-py's pool.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis import exceptions as redis_errors

from ... import conf
from .base import UpstackCacheMixin, install


@install
class RedisCache(UpstackCacheMixin, DjangoRedisCache):
    # Unreachable: refused, timed out, reset, closed (redis-py wraps socket errors in these two).
    connection_errors = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
    breaker_kind = "redis"

    def _server_options(self, options):
        timeout = conf.get("CACHE_TIMEOUT")
        return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry_on_timeout": False, **options}

    def _client(self):
        return self._cache.get_client(write=True)

    def _raw_get(self, key):
        return self._client().get(key)

    def _raw_incr(self, key, delta=1):
        client = self._client()
        if not client.exists(key):
            return None
        return client.incrby(key, delta)

    def _raw_add(self, key, value):
        return bool(self._client().set(key, value, nx=True))
