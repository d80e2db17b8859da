"""Page-cache storage in the ``pages`` namespace.

An entry is ``(rendered_at, status, headers, content, surrogate keys)``. A purge stores the purge
time under each key (``purged:<key>``). An entry is served only if none of its keys was purged
after (or within ``MARGIN`` seconds before) the moment its render began - so a render that raced a
write never survives the write's purge, and no per-entry bookkeeping is written at purge time.
"""

from __future__ import annotations

import time

from django.core.cache import caches

NAMESPACE = "pages"
MARGIN = 1.0  # seconds of clock skew tolerated between the hosts that purge and render


def _cache():
    return caches[NAMESPACE]


def _purge_key(key: str) -> str:
    return f"purged:{key}"


def get(page_key: str):
    entry = _cache().get(page_key)
    if entry is None:
        return None
    rendered_at, keys = entry[0], entry[4]
    if keys:
        purged = _cache().get_many([_purge_key(k) for k in keys])
        if purged and max(purged.values()) > rendered_at - MARGIN:
            return None
    return entry


def put(page_key: str, rendered_at: float, status: int, headers: list, content: bytes, keys: set[str],
        ttl: int) -> None:
    _cache().set(page_key, (rendered_at, status, headers, content, sorted(keys)), ttl)


def bump(keys) -> None:
    now = time.time()
    _cache().set_many({_purge_key(k): now for k in keys}, 86400)
