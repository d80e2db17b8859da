"""The "sitecache" benchmark peer: the typical template plus Django's own per-site cache
(``UpdateCacheMiddleware`` first, ``FetchFromCacheMiddleware`` last) on Redis, with a 60 s TTL.

This is what a team reaches for first when it wants speed from Django alone. The TTL is the
documented choice of docs/benchmarks.md: long enough for most views to be hits, and the bound on
how long a page stays stale after a write (nothing purges it). Django keys cached pages by the
``Vary`` headers, so a logged-in reader's pages are cached per session cookie, as Django does.
"""

from .typical import *  # noqa: F403
from .typical import CACHES, MIDDLEWARE

MIDDLEWARE = ["django.middleware.cache.UpdateCacheMiddleware", *MIDDLEWARE,
              "django.middleware.cache.FetchFromCacheMiddleware"]
CACHES = {alias: {**config, "KEY_PREFIX": f"sitecache-{alias}"} for alias, config in CACHES.items()}
CACHE_MIDDLEWARE_ALIAS = "pages"
CACHE_MIDDLEWARE_SECONDS = 60
CACHE_MIDDLEWARE_KEY_PREFIX = "sitecache"
