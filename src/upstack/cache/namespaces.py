"""Cache namespaces: ``templates``, ``queries``, ``pages``, ``sessions`` and ``data``
are cache aliases that share servers, each with its own key prefix and generation.

``caches_setting(url)`` builds the ``CACHES`` dict for a project from one URL; ``flush(ns)`` bumps one
namespace's generation (never FLUSHDB or flush_all); ``stats()`` returns hits, misses, errors and
skipped calls per namespace, summed over every process that talks to the same servers (each process
adds its counts to counters on the cache server every few seconds, from a background thread).
"""

from __future__ import annotations

import atexit
import threading
import time
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from . import hooks

NAMESPACES = ("templates", "queries", "pages", "sessions", "data")
BACKENDS = {
    "redis": "upstack.cache.backends.redis.RedisCache",
    "rediss": "upstack.cache.backends.redis.RedisCache",
    "sentinel": "upstack.cache.backends.redis.RedisCache",  # sentinel://HOST:PORT;sentinel://... (docs/scaling.md)
    "memcached": "upstack.cache.backends.memcached.PyMemcacheCache",
    "pymemcache": "upstack.cache.backends.memcached.PyMemcacheCache",
    "locmem": "upstack.cache.backends.locmem.LocMemCache",
}
# Namespaces whose entries are invalidated by messages (cachalot's table stamps, purges): after an
# outage those messages may have been lost, so the namespace is flushed when the server is back.
FLUSH_ON_RECOVERY = {"queries", "pages", "default"}
# Fragments and query results: large, rebuilt on a miss, each memcached node may lose its share.
MEMCACHED_NAMESPACES = ("templates", "queries")
STATS_FIELDS = ("calls", "hits", "misses", "errors", "skipped")
STATS_INTERVAL = 5.0


def _alias(url: str, namespace: str, prefix: str, timeout: int) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in BACKENDS:
        raise ImproperlyConfigured(f"unsupported cache URL {url!r}: use one of {', '.join(sorted(BACKENDS))}://")
    if parts.scheme in ("memcached", "pymemcache"):
        location = [host for host in parts.netloc.split(",") if host]
    elif parts.scheme == "locmem":
        location = f"{parts.netloc or 'upstack'}-{namespace}"  # a store each: clear() empties one namespace
    else:
        location = url
    return {"BACKEND": BACKENDS[parts.scheme], "LOCATION": location, "KEY_PREFIX": f"{prefix}{namespace}",
            "TIMEOUT": timeout, "OPTIONS": {"NAMESPACE": namespace, "FLUSH_ON_RECOVERY": namespace in FLUSH_ON_RECOVERY}}


def caches_setting(url: str | None = None, *, sessions_url: str | None = None, prefix: str = "",
                   timeout: int = 300, memcached_location: str | None = None) -> dict:
    """``CACHES`` for ``default`` + the five namespaces on one server (``redis://``, ``memcached://``)
    or in-process (``None`` or ``locmem://``). ``sessions_url`` puts sessions on another server;
    ``memcached_location`` (``"host:port,host:port"``, the ``MEMCACHED_LOCATION`` the stack renders)
    puts the rebuildable namespaces (``MEMCACHED_NAMESPACES``) on those memcached nodes."""
    url = url or "locmem://upstack"
    urls = {"sessions": sessions_url} if sessions_url else {}
    if memcached_location:
        urls.update(dict.fromkeys(MEMCACHED_NAMESPACES, f"memcached://{memcached_location}"))
    result = {"default": _alias(url, "default", prefix, timeout)}
    for namespace in NAMESPACES:
        result[namespace] = _alias(urls.get(namespace, url), namespace, prefix, timeout)
    return result


def _check(namespace: str) -> None:
    if namespace not in NAMESPACES and namespace != "default":
        raise ValueError(f"unknown namespace {namespace!r}; namespaces: {', '.join(NAMESPACES)}")


def flush(namespace: str) -> None:
    """Invalidate every key of ``namespace`` by bumping its generation; other namespaces keep theirs."""
    _check(namespace)
    cache = caches[namespace]
    if not hasattr(cache, "bump_generation"):
        raise ImproperlyConfigured(f"cache alias {namespace!r} is not an upstack backend; it cannot be flushed "
                                   "without flushing the whole server")
    if not cache.bump_generation():
        raise ConnectionError(f"could not reach the cache server of namespace {namespace!r}; nothing was flushed")


class _Shipper:
    """Adds this process's counts to the shared counters on the cache servers every few seconds."""

    def __init__(self):
        self._pending: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = None

    def __call__(self, event: hooks.CacheEvent) -> None:
        with self._lock:
            row = self._pending.setdefault(event.namespace, dict.fromkeys(STATS_FIELDS, 0))
            row["calls"] += 1
            row["hits"] += event.hits
            row["misses"] += event.misses
            row["errors"] += int(event.error)
            row["skipped"] += int(event.skipped)
        self._ensure_thread()

    def _ensure_thread(self):
        import os

        if self._thread is None or self._pid != os.getpid():  # again after a fork (gunicorn workers)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="upstack-cache-stats", daemon=True)
            self._thread.start()

    def _loop(self):
        while True:
            time.sleep(STATS_INTERVAL)
            self.ship()

    def take(self) -> dict[str, dict[str, int]]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def ship(self) -> None:
        for namespace, row in self.take().items():
            try:
                cache = caches[namespace]
            except Exception:  # noqa: BLE001 - an alias that is not configured here
                continue
            if hasattr(cache, "incr_counter"):
                for field, value in row.items():
                    if value:
                        cache.incr_counter(field, value)


shipper = _Shipper()
hooks.subscribe(shipper)
atexit.register(shipper.ship)


def stats() -> dict[str, dict[str, float]]:
    """Totals per namespace across processes: calls, hits, misses, errors, skipped, hit_ratio."""
    shipper.ship()
    result = {}
    for namespace in NAMESPACES:
        cache = caches[namespace]
        row = {field: cache.read_counter(field) if hasattr(cache, "read_counter") else 0 for field in STATS_FIELDS}
        lookups = row["hits"] + row["misses"]
        row["hit_ratio"] = round(row["hits"] / lookups, 4) if lookups else None
        result[namespace] = row
    return result
