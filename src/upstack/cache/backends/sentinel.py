"""Redis Sentinel for the Redis cache backend: a ``sentinel://`` location finds its primary through
Sentinel, and finds the new one after a failover, with no change of configuration.

The location is kombu's broker URL for Sentinel, so one URL serves the cache and Celery:
``sentinel://[[user]:password@]host:26379[/db];sentinel://host2:26379`` - every Sentinel, ``;``
between them; the password and database are the primary's. The primary's name is the ``master_name``
cache option (kombu's transport option of the same name), else ``UPSTACK["REDIS_SENTINEL_MASTER"]``.

Django's ``RedisCache`` has no Sentinel support, but takes a ``pool_class`` with a ``from_url``:
``SentinelPool.from_url`` parses the location (pure: ``parse``) and returns redis-py's own
``SentinelConnectionPool`` (``redis.sentinel.Sentinel.master_for``), whose connections ask Sentinel
for the primary on each connect and turn a demoted primary's READONLY into a ConnectionError, so the
backend's breaker (connection errors only) covers a failover like any other outage.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SCHEME = "sentinel"
DEFAULT_PORT = 26379


def is_sentinel(location) -> bool:
    return isinstance(location, str) and location.startswith(SCHEME + "://")


@dataclass(frozen=True)
class SentinelLocation:
    sentinels: list[tuple[str, int]]
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse(location: str) -> SentinelLocation:
    """``sentinel://a:26379/1;sentinel://b:26380`` -> the Sentinels, the database and the primary's credentials."""
    sentinels, db, username, password = [], None, None, None
    for chunk in (c.strip() for c in location.split(";")):
        if not chunk:
            continue
        parts = urlsplit(chunk)
        if parts.scheme != SCHEME or not parts.hostname:
            raise ImproperlyConfigured(f"bad Sentinel location {location!r}: each ';'-separated part must be "
                                       "sentinel://HOST:PORT (e.g. sentinel://10.0.0.5:26379/0;sentinel://10.0.0.6:26379)")
        try:
            sentinels.append((parts.hostname, parts.port or DEFAULT_PORT))
            path = parts.path.strip("/")
            if path and db is None:
                db = int(path)
        except ValueError:
            raise ImproperlyConfigured(f"bad Sentinel location {location!r}: a port and the database must be "
                                       "numbers") from None
        username = username or (unquote(parts.username) if parts.username else None)
        password = password or (unquote(parts.password) if parts.password else None)
    if not sentinels:
        raise ImproperlyConfigured(f"bad Sentinel location {location!r}: no sentinel://HOST:PORT in it")
    return SentinelLocation(sentinels, db or 0, username, password)


@functools.cache
def _closing_pool():
    """redis-py's ``SentinelConnectionPool``, whose ``disconnect`` also closes its connections to the
    Sentinels. Made on first use: redis is the redis extra, and the broker's URL helpers below are
    imported without it (``REDIS_SCHEMES``)."""
    from redis.sentinel import SentinelConnectionPool

    class ClosingPool(SentinelConnectionPool):
        def disconnect(self, *args, **kwargs):
            super().disconnect(*args, **kwargs)
            self.sentinel_manager.close()

    return ClosingPool


def master_client(url: str, master_name: str = "", sentinel_kwargs: dict | None = None, **options):
    """A ``redis.Redis`` on the primary that the Sentinels of ``url`` name ``master_name``, over a
    ``SentinelConnectionPool``; ``options`` go to its connections (timeouts, the parser...)."""
    if not master_name:
        raise ImproperlyConfigured(f"{url.split('@')[-1]!r} uses Sentinel but names no primary: set "
                                   "UPSTACK['REDIS_SENTINEL_MASTER'] (or the cache's OPTIONS['master_name']) "
                                   "to the name Sentinel monitors")
    from redis.sentinel import Sentinel

    where = parse(url)
    # Sentinel itself answers within the same timeouts, unless told otherwise.
    timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    manager = Sentinel(where.sentinels, sentinel_kwargs={**timeouts, **(sentinel_kwargs or {})}, **options)
    credentials = {k: v for k, v in (("username", where.username), ("password", where.password)) if v}
    return manager.master_for(master_name, connection_pool_class=_closing_pool(), db=where.db, **credentials)


class SentinelPool:
    """Django's ``pool_class`` for a ``sentinel://`` location (see the module docstring)."""

    @classmethod
    def from_url(cls, url: str, **options):
        return master_client(url, **options).connection_pool


def connect(url: str, **options):
    """A ``redis.Redis`` for a ``redis://``, ``rediss://`` or ``sentinel://`` URL (the broker's, for the
    purge backlog and the task counters); Sentinel's primary is ``UPSTACK["REDIS_SENTINEL_MASTER"]``."""
    import redis

    from ... import conf

    if is_sentinel(url):
        return master_client(url, conf.get("REDIS_SENTINEL_MASTER"), **options)
    return redis.Redis.from_url(url, **options)


@functools.lru_cache(maxsize=8)
def shared(url: str, timeout: float = 1.0):
    """One client (and pool) per URL and process - the broker's Redis, for the purge backlog and the
    task counters, through Sentinel when the URL says so; redis-py clients are thread-safe."""
    return connect(url, socket_timeout=timeout, socket_connect_timeout=timeout)


REDIS_SCHEMES = ("redis://", "rediss://", SCHEME + "://")


__all__ = ["REDIS_SCHEMES", "SentinelPool", "connect", "is_sentinel", "master_client", "parse", "shared"]
