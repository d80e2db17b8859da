"""Test profile: the dev profile with fast hashing and DATABASE_URL honoured (SQLite by default)."""

from .dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The query cache is exercised by its own tests (tests/upstack/query/); elsewhere query counts are
# the uncached ones.
CACHALOT_ENABLED = False
# Tests run in one process, where the in-process cache is shared: exercise the page cache and
# cached sessions as production runs them.
# The delayed repeat purge (a timer thread) would land in whichever test runs half a second later
# and invalidate its pages: tests that need it set it themselves; the stack tests run with it on.
UPSTACK = {**UPSTACK, "PAGE_CACHE": True, "PURGE_REPEAT_AFTER": 0}  # noqa: F405
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# A second, CMS-shaped model set for the surrogate-key tests (inheritance, proxies, trees).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.inheritance_app"]  # noqa: F405
# Django's test client logs in without a request, which django-axes refuses; the login throttle is
# tested end to end with it switched on (tests/upstack/stack/test_hardening_stack.py).
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)  # noqa: F405
