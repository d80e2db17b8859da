"""Purge Django's page cache (``upstack.page``) by surrogate key: bump each key's version in the
``pages`` namespace; a cached page remembers the versions of its keys and is a miss once any moved."""

from __future__ import annotations

from ...page import store
from .base import PurgeBackend


class PageCacheBackend(PurgeBackend):
    max_keys = 1000

    def purge_batch(self, keys):
        store.bump(keys)
