"""One cache read per page for its ``{% fragment %}`` tags, and one write per outer fragment.

Fragment keys depend on the objects a fragment shows, so a page cannot know all of them before it
renders. It can know the keys it asked for *last time*: each page (path and query string) remembers,
in this process, the fragment keys its last render looked up, and the first fragment of the next
render reads all of them with one ``get_many``. A fragment whose key is among them uses that entry
(a hit, or a known miss); a key that is new this time (an object changed) is read on its own, and
the page remembers this render's keys for the next one. A warm page therefore costs one cache
round trip for all its fragments instead of one each (docs/caching.md, "One round trip per page").

A trusted fresh render (``force``) reads nothing and leaves the remembered keys alone; its stores
(one per fragment, nested ones included) are kept and written with one ``set_many``: at the end of
the request when ``UpstackPageMiddleware`` owns the request (``own``/``finish``), else when the
outermost fragment is done, so a nested fragment's value reaches the cache no later than the
fragment that contains it.

Why home-made: Django's cache API has ``get_many``/``set_many`` but nothing that collects a
template's keys across tags; the state is per request (an attribute of it) and the memory per page
is a bounded LRU of key lists (``MAX_PAGES``), so a crawler's distinct URLs cannot grow it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from django.core.cache import caches

from .api import UNREAD

MAX_PAGES = 1024  # pages whose last fragment keys this process remembers (LRU)
MAX_KEYS = 64  # keys remembered per page: a page with more reads the rest one by one (a few MB at most)
_ATTR = "_upstack_fragment_batch"
_OWNED = "_upstack_fragment_batch_owned"

logger = logging.getLogger("upstack.cache")
_learned: OrderedDict[str, list[str]] = OrderedDict()
_learned_lock = threading.Lock()


def page_id(request) -> str | None:
    """What identifies a page for remembering its keys: the path and the query string."""
    if request is None or not hasattr(request, "path"):
        return None
    query = request.META.get("QUERY_STRING", "") if hasattr(request, "META") else ""
    return f"{request.path}?{query}" if query else request.path


def remembered(page: str) -> list[str]:
    with _learned_lock:
        keys = _learned.get(page)
        if keys is not None:
            _learned.move_to_end(page)
        return list(keys) if keys else []


def _remember(page: str, keys: list[str]) -> None:
    with _learned_lock:
        _learned[page] = keys  # the live list of the current render: later lookups extend it
        _learned.move_to_end(page)
        while len(_learned) > MAX_PAGES:
            _learned.popitem(last=False)


def forget() -> None:
    """Drop every page's remembered keys (tests; a deploy does it by restarting)."""
    with _learned_lock:
        _learned.clear()


class PageBatch:
    """A page's fragment lookups in one request: the prefetched entries, the keys used, the stores
    waiting for the outermost fragment to finish."""

    def __init__(self, namespace: str, page: str | None, prefetch: bool, owned: bool = False):
        self.namespace = namespace
        self.owned = owned  # written by ``finish`` at the end of the request, not per outer fragment
        self.used: list[str] = []
        self._seen: set[str] = set()
        self.entries: dict[str, object] = {}
        self.prefetched: frozenset[str] = frozenset()
        self.pending: dict[str, tuple] = {}
        self.depth = 0
        if page is not None and prefetch:  # a fresh render's keys (nested ones too) are not the warm page's
            keys = remembered(page)
            if keys:
                self.prefetched = frozenset(keys)
                self.entries = caches[namespace].get_many(keys)
            _remember(page, self.used)

    def entry(self, key: str):
        """The prefetched entry of ``key`` (None: known to be missing), or ``UNREAD``."""
        if key not in self._seen and len(self.used) < MAX_KEYS:
            self._seen.add(key)
            self.used.append(key)
        if key in self.pending:
            return self.pending[key][0]
        if key in self.prefetched:
            return self.entries.get(key)
        return UNREAD

    def store(self, key: str, entry: tuple, timeout: int) -> None:
        """Keep a store for the outermost fragment's ``flush``."""
        self.pending[key] = (entry, timeout)

    def flush(self) -> None:
        """Write the kept stores with one ``set_many``, for the longest of their (jittered) timeouts:
        each entry still carries its own soft expiry, so only how long a previous value may be
        served while it is recomputed grows, by at most the jitter."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        timeout = max(timeout for _, timeout in pending.values())
        try:
            caches[self.namespace].set_many({key: entry for key, (entry, _) in pending.items()}, timeout)
        except Exception:  # noqa: BLE001 - the page is rendered: a failed store must not fail it
            logger.exception("storing %d fragments in one set_many failed; they render again next time",
                             len(pending))


def for_request(request, namespace: str, *, prefetch: bool) -> PageBatch | None:
    """The request's batch, made (and its remembered keys read) on its first fragment."""
    if request is None:
        return None
    batch = getattr(request, _ATTR, None)
    if batch is None or batch.namespace != namespace:
        batch = PageBatch(namespace, page_id(request), prefetch, owned=getattr(request, _OWNED, False))
        try:
            setattr(request, _ATTR, batch)
        except AttributeError:  # a request-like object that takes no attributes: no batching
            return None
    return batch


def own(request) -> None:
    """The caller (the page middleware) will call ``finish(request)`` once the response is rendered:
    a fresh render's stores then go out in one ``set_many`` for the whole page."""
    try:
        setattr(request, _OWNED, True)
    except AttributeError:
        pass


def finish(request) -> None:
    """Write what the request's fragments kept (nothing for a warm page)."""
    found = getattr(request, _ATTR, None)
    if found is not None:
        found.flush()
