"""Django's LocMemCache with upstack's namespaces and instrumentation (it cannot fail).

For the embedded default and tests. Everything lives in this process, so the generation and the
counters do too. ``clear()`` really empties the in-process store (as Django's does, so old entries
stop counting against ``MAX_ENTRIES`` and culling at once) and bumps the generation.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache

from .base import UpstackCacheMixin, install

_raw: dict[str, int] = {}
_raw_lock = threading.Lock()


@install
class LocMemCache(UpstackCacheMixin, DjangoLocMemCache):
    def clear(self):
        """Empty this store, as Django's ``clear()`` does, and bump the generation (which tells every
        other instance of the namespace in this process at once). ``caches_setting`` gives each
        namespace its own store, so clearing one leaves the others' entries alone."""
        with self._lock:
            self._cache.clear()
            self._expire_info.clear()
        super().clear()

    def _raw_key(self, key):
        return f"{self._location}|{key}"

    def _raw_get(self, key):
        return _raw.get(self._raw_key(key))

    def _raw_incr(self, key, delta=1):
        with _raw_lock:
            if self._raw_key(key) not in _raw:
                return None
            _raw[self._raw_key(key)] += delta
            return _raw[self._raw_key(key)]

    def _raw_add(self, key, value):
        with _raw_lock:
            if self._raw_key(key) in _raw:
                return False
            _raw[self._raw_key(key)] = int(value)
            return True
