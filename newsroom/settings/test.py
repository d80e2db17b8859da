"""Test profile: the dev profile with fast hashing and DATABASE_URL honoured (SQLite by default)."""

from .dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The query cache is exercised by its own tests (tests/upstack/query/); elsewhere query counts are
# the uncached ones.
CACHALOT_ENABLED = False
# Tests run in one process, where the in-process cache is shared: exercise the page cache and
# cached sessions as production runs them.
UPSTACK = {**UPSTACK, "PAGE_CACHE": True}  # noqa: F405
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
