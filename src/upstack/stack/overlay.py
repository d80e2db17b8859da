"""What the local stack lays over a project's own settings, so that a project that only added
``"upstack"`` to ``INSTALLED_APPS`` and ``include("upstack.urls")`` to its URLs runs on the stack.

`upstack up` runs the stack's Django processes with ``DJANGO_SETTINGS_MODULE=upstack.stack.settings``
and ``UPSTACK_PROJECT_SETTINGS`` naming the project's module: that module copies the project's
settings and calls :func:`apply`, which points them at the stack's servers from the environment the
stack sets (``DATABASE_URL``, ``REPLICA_DATABASE_URL``, ``REDIS_URL``, ``BROKER_URL``, ``SESSION_REDIS_URL``, ``MEMCACHED_LOCATION``, ``EDGE_URL``, the
secrets, ``STATIC_ROOT``/``MEDIA_ROOT``, the trust lists) and adds upstack's middleware where the
project has none. A project whose settings already read that environment (the reference site's
deploy profile) names them in ``UPSTACK["STACK_SETTINGS"]`` or ``up --stack-settings`` instead, and
nothing is overlaid. docs/adopting.md says which settings are overlaid and why.

:func:`apply` is pure: it changes the mapping it is given and reads only the ``environ`` it is given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from importlib.util import find_spec

from .. import conf
from ..db.configure import add_replicas, replica_urls

OVERLAY_MODULE = "upstack.stack.settings"
PROJECT_VARIABLE = conf.PROJECT_SETTINGS_VARIABLE

METRICS = "upstack.metrics.middleware.RequestMetricsMiddleware"
LEAN = "upstack.edge.lean.LeanFragmentMiddleware"
PAGE = "upstack.page.middleware.UpstackPageMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
WHITENOISE = "whitenoise.middleware.WhiteNoiseMiddleware"


def _middleware(current: list[str], installed=find_spec) -> list[str]:
    """upstack's request metrics first, then the lean path for per-reader includes, WhiteNoise after
    the security middleware (static files from the app servers), and the page middleware just
    outside the session middleware, so it sees the cookies the session sets (a response that sets
    one is never shared). What is there stays."""
    middleware = list(current)
    if METRICS not in middleware:
        middleware.insert(0, METRICS)
    if LEAN not in middleware:
        middleware.insert(middleware.index(METRICS) + 1, LEAN)
    if WHITENOISE not in middleware and installed("whitenoise") is not None:
        middleware.insert(middleware.index(SECURITY) + 1 if SECURITY in middleware else 1, WHITENOISE)
    if PAGE not in middleware:
        middleware.insert(middleware.index(SESSIONS) if SESSIONS in middleware else len(middleware), PAGE)
    return middleware


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def apply(namespace: MutableMapping, environ: Mapping[str, str], installed=find_spec) -> None:
    """Point the settings in ``namespace`` at the stack described by ``environ``."""
    from environ import Env  # django-environ, a dependency of the package

    from ..cache import caches_setting

    missing = [name for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") if not environ.get(name)]
    if missing:
        raise RuntimeError(f"upstack's stack settings need {', '.join(missing)} in the environment; "
                           "run Django through `manage.py upstack env` or under `upstack up`")
    namespace["DEBUG"] = False
    namespace["SECRET_KEY"] = environ["SECRET_KEY"]
    hosts = list(namespace.get("ALLOWED_HOSTS") or [])
    namespace["ALLOWED_HOSTS"] = hosts + [h for h in _split(environ.get("ALLOWED_HOSTS", "")) if h not in hosts]

    databases = copy.deepcopy(dict(namespace.get("DATABASES") or {}))
    databases["default"] = {**Env.db_url_config(environ["DATABASE_URL"]), "CONN_MAX_AGE": 600,
                            "CONN_HEALTH_CHECKS": True,
                            "DISABLE_SERVER_SIDE_CURSORS": environ.get("DISABLE_SERVER_SIDE_CURSORS") == "true"}
    namespace["DATABASES"] = databases
    namespace["CACHES"] = caches_setting(environ["REDIS_URL"], sessions_url=environ.get("SESSION_REDIS_URL") or None,
                                         memcached_location=environ.get("MEMCACHED_LOCATION") or None)
    # Sessions off the database's hot path, and still working while the cache server is down.
    namespace["SESSION_ENGINE"] = "django.contrib.sessions.backends.cached_db"
    namespace["SESSION_CACHE_ALIAS"] = "sessions"
    namespace["CELERY_BROKER_URL"] = environ.get("BROKER_URL", "")

    for name in ("STATIC_ROOT", "MEDIA_ROOT"):
        if environ.get(name):
            namespace[name] = environ[name]
    if not namespace.get("MEDIA_URL"):  # startproject leaves it empty; uploads need a URL to be served at
        namespace["MEDIA_URL"] = "/media/"
    if installed("whitenoise") is not None:  # hashed, compressed static files (collectstatic runs in `up`)
        storages = copy.deepcopy(dict(namespace.get("STORAGES") or {}))
        storages.setdefault("default", {"BACKEND": "django.core.files.storage.FileSystemStorage"})
        storages["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
        namespace["STORAGES"] = storages
    if not namespace.get("LOGGING"):  # JSON lines, one per request: what `upstack logs` and `warm` read
        from ..metrics.logs import logging_config

        namespace["LOGGING"] = logging_config(environ.get("LOG_LEVEL", "INFO"))
    apps = list(namespace.get("INSTALLED_APPS") or [])
    namespace["INSTALLED_APPS"] = apps if "upstack" in apps else [*apps, "upstack"]
    namespace["MIDDLEWARE"] = _middleware(namespace.get("MIDDLEWARE") or [], installed)

    upstack = dict(namespace.get("UPSTACK") or {})
    backends = dict(upstack.get("PURGE_BACKENDS") or {"pages": {"BACKEND": "upstack.edge.backends.pagecache."
                                                                           "PageCacheBackend"}})
    edges = _split(environ.get("EDGE_URLS", "")) or _split(environ.get("EDGE_URL", ""))
    if edges:
        backends["edge"] = {"BACKEND": "upstack.edge.backends.varnish.VarnishBackend", "NODES": edges}
    upstack["PURGE_BACKENDS"] = backends
    for key, variable in (("BYPASS_SECRET", "BYPASS_SECRET"), ("FRESH_SECRET", "UPSTACK_FRESH_SECRET")):
        if environ.get(variable):
            upstack[key] = environ[variable]
    for key, variable in (("INTERNAL_IPS", "UPSTACK_INTERNAL_IPS"), ("LOAD_BALANCERS", "UPSTACK_LOAD_BALANCERS")):
        if environ.get(variable):
            upstack[key] = _split(environ[variable])
    for key, variable in (("SERVE_MEDIA", "UPSTACK_SERVE_MEDIA"), ("HTTP_ONLY", "UPSTACK_HTTP_ONLY")):
        if environ.get(variable) == "true":  # the local stack: no media server, plain HTTP on loopback
            upstack[key] = True
    upstack.pop("STACK_SETTINGS", None)  # these settings are the stack's
    namespace["UPSTACK"] = upstack
    # `up --with replica`: reads on the stack's streaming replica (docs/scaling.md).
    add_replicas(namespace, replica_urls(environ.get("REPLICA_DATABASE_URL", "")))
