"""Plain Django: every upstack feature switched off.

This is the "plain" peer of the benchmark: the same site, database sessions, no page,
fragment, query or edge caching. The site must work exactly as with upstack on.
"""

from .base import *  # noqa: F403
from .base import DATABASES, INSTALLED_APPS, MIDDLEWARE, TEMPLATES, env

DEBUG = env.bool("DEBUG", default=False)
INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("upstack", "cachalot")]
CACHALOT_ENABLED = False
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("upstack.")]
DATABASES["default"]["CONN_MAX_AGE"] = 0
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# No caching anywhere: every alias the newsroom's code names is Django's DummyCache, so helpers
# such as refresh-ahead data compute on every call, as plain Django would.
CACHES = {alias: {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
          for alias in ("default", "templates", "queries", "pages", "sessions", "data")}
SESSION_CACHE_ALIAS = "default"
TEMPLATES[0]["OPTIONS"]["context_processors"] = [
    cp for cp in TEMPLATES[0]["OPTIONS"]["context_processors"] if not cp.startswith("upstack.")]
# Templates load the upstack library; in plain it is a stand-in whose {% fragment %} renders its
# contents every time (newsroom/plain_tags.py), so the page is identical with no caching at all.
TEMPLATES[0]["OPTIONS"]["libraries"] = {"upstack": "newsroom.plain_tags"}
