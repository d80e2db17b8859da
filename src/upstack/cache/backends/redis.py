"""Django's RedisCache with upstack's namespaces, instrumentation and fault tolerance.

``BACKEND: "upstack.cache.backends.redis.RedisCache"``. OPTIONS: ``socket_timeout`` and
``socket_connect_timeout`` (seconds, default ``UPSTACK["CACHE_TIMEOUT"]``), ``BREAKER_COOLDOWN``
(seconds, default 5), ``NAMESPACE``, ``FLUSH_ON_RECOVERY``; anything else goes to redis-py's pool.
A ``sentinel://`` location finds the primary through Redis Sentinel (``master_name``, default
``UPSTACK["REDIS_SENTINEL_MASTER"]``; ``upstack.cache.backends.sentinel``).

One ``redis.Redis`` per connection pool serves every operation (``OnePerPool``): Django's client
makes a new one per operation, and redis-py fills a case-insensitive table of ~250 response
callbacks in each constructor - in the render profiles (docs/benchmarks.md) that was the largest
single cost of a fragment cache hit. A ``redis.Redis`` over a pool is safe to share between threads.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property
from redis import exceptions as redis_errors

from ... import conf
from .base import UpstackCacheMixin, install
from .sentinel import SentinelPool, is_sentinel


class OnePerPool:
    """Stands in for ``redis.Redis`` in Django's client (its ``_client``): the same instance for the
    same pool, instead of a new one per operation. Django's client class and methods stay as they are."""

    def __init__(self, factory):
        self.factory, self.made = factory, {}

    def __call__(self, connection_pool):
        client = self.made.get(id(connection_pool))
        if client is None:
            client = self.made.setdefault(id(connection_pool), self.factory(connection_pool=connection_pool))
        return client


@install
class RedisCache(UpstackCacheMixin, DjangoRedisCache):
    # Unreachable: refused, timed out, reset, closed (redis-py wraps socket errors in these two).
    connection_errors = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
    breaker_kind = "redis"

    def __init__(self, server, params):
        self._sentinel = is_sentinel(server)
        super().__init__(server, params)
        if self._sentinel:
            self._servers = [server]  # one primary, found through every Sentinel listed (Django splits on ';')

    @cached_property
    def _cache(self):
        client = self._class(self._servers, **self._options)
        client._client = OnePerPool(client._client)
        return client

    def _server_options(self, options):
        timeout = conf.get("CACHE_TIMEOUT")
        if self._sentinel:
            options = {"pool_class": SentinelPool, "master_name": conf.get("REDIS_SENTINEL_MASTER"), **options}
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
