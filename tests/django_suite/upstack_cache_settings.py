"""Settings for Django's own test runner (``tests/runtests.py`` of Django's source distribution) that
run Django's cache tests against upstack's backends.

Django's ``tests/cache/tests.py`` picks its Redis and memcached parameters from ``CACHES`` by the
*Django* backend path, and builds every cache through ``django.core.cache`` with those paths. This
module leaves Django's tests untouched and swaps the classes where Django loads them: the cache
handler's ``create_connection`` maps each Django backend path to upstack's subclass. Every backend
that is built is recorded in ``$UPSTACK_SUITE_LOG`` (one ``alias<TAB>module.Class`` line), so the
harness can prove that upstack's classes are the ones that ran.

``UPSTACK_SUITE_SWAP=0`` keeps Django's own classes: the control run. ``UPSTACK_SUITE_DEFAULT``
(``locmem``, ``redis`` or ``memcached``) chooses the backend of the ``default`` alias, which
Django's session and ``{% cache %}`` tests use. Server locations come from the environment: ``UPSTACK_SUITE_REDIS`` (``redis://host:port``, no
database number: one of Django's tests sets ``db`` in OPTIONS) and ``UPSTACK_SUITE_MEMCACHED``
(``host:port``). Without them Django skips its Redis or memcached tests.
"""

from __future__ import annotations

import os

from django.core import cache as django_cache
from django.core.cache import InvalidCacheBackendError
from django.utils.module_loading import import_string

SWAP = {
    "django.core.cache.backends.locmem.LocMemCache": "upstack.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.redis.RedisCache": "upstack.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache": "upstack.cache.backends.memcached.PyMemcacheCache",
}
_LOG = os.environ.get("UPSTACK_SUITE_LOG")
_SWAP = os.environ.get("UPSTACK_SUITE_SWAP", "1") != "0"
_seen: set[tuple[str, str]] = set()


def _create_connection(self, alias):
    params = self.settings[alias].copy()
    backend = params.pop("BACKEND")
    location = params.pop("LOCATION", "")
    try:
        cls = import_string(SWAP.get(backend, backend) if _SWAP else backend)
    except ImportError as exc:  # as Django's own handler does (a test checks the error)
        raise InvalidCacheBackendError(f"Could not find backend '{backend}': {exc}") from exc
    if _LOG and (alias, backend) not in _seen:
        _seen.add((alias, backend))
        with open(_LOG, "a") as log:
            log.write(f"{backend}\t{cls.__module__}.{cls.__qualname__}\n")
    return cls(location, params)


django_cache.CacheHandler.create_connection = _create_connection

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}, "other": {"ENGINE": "django.db.backends.sqlite3"}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False

_BACKENDS = {"locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("UPSTACK_SUITE_REDIS"):
    _BACKENDS["redis"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": os.environ["UPSTACK_SUITE_REDIS"]}
if os.environ.get("UPSTACK_SUITE_MEMCACHED"):
    _BACKENDS["memcached"] = {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                            "LOCATION": os.environ["UPSTACK_SUITE_MEMCACHED"]}
_default = os.environ.get("UPSTACK_SUITE_DEFAULT", "locmem")
CACHES = {"default": _BACKENDS[_default], **{name: params for name, params in _BACKENDS.items() if name != _default}}
