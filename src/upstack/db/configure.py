"""Settings for read replicas in one call, for a settings module or the local stack's overlay:
``add_replicas(globals(), replica_urls(os.environ.get("REPLICA_DATABASE_URL", "")))`` adds each replica
to ``DATABASES`` (with the primary's connection options), the router to ``DATABASE_ROUTERS``, the
middleware first in ``MIDDLEWARE`` and the aliases to ``UPSTACK["DATABASE_REPLICAS"]``. Empty URLs are
skipped, so the call is a no-op without replicas. Pure: changes only the mapping it is given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping

from . import MIDDLEWARE, PRIMARY, ROUTER

# Connection options a replica shares with the primary (persistent connections and their health checks).
SHARED = ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS")


def replica_urls(value: str) -> dict[str, str]:
    """Aliases for ``REPLICA_DATABASE_URL``: one URL, or several separated by commas (what the
    inventory's render writes for its ``db-replica`` hosts): ``replica``, ``replica2``, ..."""
    urls = [url.strip() for url in value.split(",") if url.strip()]
    return {("replica" if i == 0 else f"replica{i + 1}"): url for i, url in enumerate(urls)}


def add_replicas(namespace: MutableMapping, urls: Mapping[str, str]) -> list[str]:
    """Route reads to the replicas at ``urls`` (alias -> database URL); returns the aliases added."""
    from environ import Env  # django-environ, a dependency of the package

    urls = {alias: url for alias, url in urls.items() if url}
    if not urls:
        return []
    if PRIMARY in urls:
        raise ValueError(f"a replica cannot take the primary's alias {PRIMARY!r}")
    databases = copy.deepcopy(dict(namespace.get("DATABASES") or {}))
    primary = databases.get(PRIMARY, {})
    for alias, url in urls.items():
        databases[alias] = {**Env.db_url_config(url), **{key: primary[key] for key in SHARED if key in primary}}
    namespace["DATABASES"] = databases
    routers = list(namespace.get("DATABASE_ROUTERS") or [])
    namespace["DATABASE_ROUTERS"] = routers if ROUTER in routers else [ROUTER, *routers]
    middleware = list(namespace.get("MIDDLEWARE") or [])
    namespace["MIDDLEWARE"] = middleware if MIDDLEWARE in middleware else [MIDDLEWARE, *middleware]
    upstack = dict(namespace.get("UPSTACK") or {})
    upstack["DATABASE_REPLICAS"] = [*[a for a in upstack.get("DATABASE_REPLICAS", []) if a not in urls], *urls]
    namespace["UPSTACK"] = upstack
    # The query cache: a write on the primary invalidates what was read from the replicas (querycache.py).
    namespace.setdefault("CACHALOT_TABLE_KEYGEN", "upstack.db.querycache.table_cache_key")
    return list(urls)
