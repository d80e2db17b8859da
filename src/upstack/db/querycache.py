"""The query cache (django-cachalot) with read replicas.

cachalot keys a table's invalidation by database alias: a write on the primary invalidated the results
read from the primary only, and a result read from a replica stayed cached - stale - for
``CACHALOT_TIMEOUT`` (an hour). The six-host drill found it (``make drill-hosts``): a new comment never
showed, on the edges nor straight from the app. ``table_cache_key`` (``CACHALOT_TABLE_KEYGEN``, set by
``configure.add_replicas``) gives every replica its primary's table keys, so a write invalidates them all.

A replica replays a write shortly after the primary commits it; a reader in that window stores the
replica's old answer after the invalidation. ``install`` invalidates the written tables once more
``PURGE_REPEAT_AFTER / 2`` seconds after the commit (0.25 s by default), before the edge's repeated purge
refetches the page. A replica further behind than that is what ``REPLICA_MAX_LAG`` takes out of rotation.
"""

from __future__ import annotations

import threading

from . import PRIMARY

KEYGEN = "upstack.db.querycache.table_cache_key"
_repeating = threading.local()


def _replicas() -> frozenset[str]:
    from django.conf import settings

    return frozenset(getattr(settings, "UPSTACK", {}).get("DATABASE_REPLICAS", ()))


def table_cache_key(db_alias: str, table: str) -> str:
    """cachalot's table key, the primary's for a replica alias."""
    from cachalot.utils import get_table_cache_key

    return get_table_cache_key(PRIMARY if db_alias in _replicas() else db_alias, table)


def _invalidate_again(tables: list[str]) -> None:
    from cachalot.api import invalidate

    _repeating.on = True
    try:
        invalidate(*tables, db_alias=PRIMARY)
    except Exception:  # noqa: BLE001 - the cache being down must not kill the timer thread noisily
        pass
    finally:
        _repeating.on = False


def _on_invalidation(sender, db_alias=None, **kwargs) -> None:
    from .. import conf

    if db_alias != PRIMARY or getattr(_repeating, "on", False):
        return
    delay = (conf.get("PURGE_REPEAT_AFTER") or 0) / 2
    if delay:
        timer = threading.Timer(delay, _invalidate_again, args=([sender],))
        timer.daemon = True
        timer.start()


def install() -> bool:
    """Repeat the primary's invalidations for the replicas' replay lag; only with replicas and cachalot."""
    from django.apps import apps
    from django.conf import settings

    if not _replicas() or not apps.is_installed("cachalot") or not getattr(settings, "CACHALOT_ENABLED", True):
        return False
    from cachalot.signals import post_invalidation

    post_invalidation.connect(_on_invalidation, dispatch_uid="upstack.db.querycache")
    return True
