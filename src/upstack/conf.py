"""Every ``UPSTACK_*`` setting, in one place.

Defaults live in ``DEFAULTS``. Code reads options only through :func:`get` (or the ``upstack_settings``
mapping), which merges the project's ``UPSTACK`` dict and any top-level ``UPSTACK_<NAME>`` settings over
the defaults once and caches the result. The cache is dropped on Django's ``setting_changed`` signal so
``override_settings`` works in tests. No other module may read ``django.conf.settings`` for an upstack
option. Each option's type and range is in ``checks/rules.py`` (checked by ``manage.py check``) and
docs/settings.md.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Where `upstack up` keeps its state (pids, data dirs, logs), relative to BASE_DIR.
    "STATE_DIR": ".upstack",
    # Seconds a cache server may take to connect or answer before the call is a miss.
    "CACHE_TIMEOUT": 0.25,
    # The primary's name in Redis Sentinel, for sentinel:// cache, broker and result backend URLs.
    "REDIS_SENTINEL_MASTER": "",
    # Named fragment lifetimes, seconds.
    "TTLS": {"short": 60, "medium": 600, "long": 3600, "forever": 86400 * 30},
    # +/- fraction applied to every TTL upstack writes.
    "TTL_JITTER": 0.2,
    # Query parameter that asks for a fresh render; honoured only for trusted callers.
    "BYPASS_PARAM": "flush-the-cache",
    # Secret used to sign bypass requests from non-staff trusted callers; empty disables signing.
    "BYPASS_SECRET": "",
    # --- page cache and surrogate keys ---
    # Store anonymous GET responses in the "pages" namespace.
    "PAGE_CACHE": True,
    # Seconds shared caches (the edge, the page cache) keep a page; writes purge it sooner.
    "PAGE_CACHE_TTL": 3600,
    # Seconds they keep a 404: a wrong one (a page published a minute later) must not stick for long.
    "NOT_FOUND_TTL": 60,
    # Seconds browsers may keep a shared page (short: the edge is purged on writes, browsers are not).
    "BROWSER_MAX_AGE": 0,
    # Path prefixes that are always personal: never cached by the edge or the page cache.
    "PASS_PATHS": ["/accounts/", "/admin/", "/metrics"],
    # Query parameters that never change a page (dropped from the page-cache key); fnmatch patterns.
    "TRACKING_PARAMS": ["utm_*", "fbclid", "gclid", "mc_cid", "mc_eid", "_ga"],
    # The response header carrying surrogate keys: "xkey" (Varnish), "Surrogate-Key", "Cache-Tag"; "" for none.
    "KEY_HEADER": "xkey",
    # Models no page is built from ("app_label.model"), beyond Django's bookkeeping tables.
    "EDGE_UNTRACKED_MODELS": [],
    # {"app_label.model": [fields]}: saves that touch only these fields purge nothing.
    "EDGE_IGNORED_FIELDS": {"auth.user": ["last_login"]},
    # {"app_label.model": [fields]}: fields no list shows, used at most as a version (a fragment key's
    # updated_at): a list that loads them still carries the row's lean key (docs/edge.md).
    "EDGE_VERSION_FIELDS": {},
    # {"app_label.model": [fk fields]}: a write also purges the FK target (it shows a count of these).
    "EDGE_TOUCH": {},
    # "precise": list keys scoped by filters, fields and ranks (docs/edge.md); "table": one key per model's
    # lists, purged by every write of the model (Drupal's node_list; a fallback, and the benchmark's "before").
    "EDGE_KEYS": "precise",
    # Where purges go, configured like CACHES; every entry gets every batch of keys.
    "PURGE_BACKENDS": {"pages": {"BACKEND": "upstack.edge.backends.pagecache.PageCacheBackend"}},
    # Read your own writes: after a request whose writes purge pages (with the replica router, upstack.db:
    # any database write), the browser gets a cookie that makes the edge render that reader's pages fresh,
    # and the router read from the primary, for this many seconds (0: off). The cookie is
    # signed and bound to the reader's session (upstack.edge.fresh) with FRESH_SECRET, which the edge
    # reads from its UPSTACK_FRESH_SECRET environment variable; empty: derived from SECRET_KEY (then
    # only Django can check it, and the edge ignores every such cookie).
    "FRESH_AFTER_WRITE": 5,
    # Seconds the edge may keep a reader's own include (made only of reader-only parts) under their
    # session cookie; logout, user saves and forget_reader purge it sooner (upstack.edge.personal). 0: never.
    "READER_EDGE_TTL": 300,
    "FRESH_SECRET": "",
    # Send purges through Celery when a broker is configured (else synchronously after commit).
    "PURGE_IN_WORKER": True,
    # Purge each batch once more this many seconds later, for renders that raced the write (0: off).
    "PURGE_REPEAT_AFTER": 0.5,
    # URL regexes the edge answers 404 without asking Django (probes for other software).
    "EDGE_NOT_FOUND": [r"^/wp-(admin|login|content)", r"^/\.(env|git)", r"\.php(\?|$)"],
    # {"/old-path": "/new-path"}: permanent redirects answered by the edge.
    "EDGE_REDIRECTS": {},
    # Thumbnail sizes, {name: [width, height]}; each is made as JPEG and WebP (upstack.images).
    "THUMBNAIL_SIZES": {"small": [320, 180], "medium": [640, 360], "large": [1280, 720]},
    # --- observability ---
    # Send Server-Timing to "trusted" callers (internal addresses, staff), "always" or "never".
    "SERVER_TIMING": "trusted",
    # Insiders, one list for every layer: the edge's purge ACL (also the bypass parameter,
    # Server-Timing and /metrics), Django's internal addresses and the peers gunicorn believes
    # X-Forwarded-Proto from are all rendered from it. Matched against the real client address, which
    # behind a load balancer is the one it saw. Never all private networks by default.
    "INTERNAL_IPS": ["127.0.0.1/32", "::1/128"],
    # The load balancers in front of the edge: the only peers whose X-Forwarded-For, X-Forwarded-Proto
    # and X-Request-ID the edge believes (everyone else's are replaced or dropped).
    "LOAD_BALANCERS": ["127.0.0.1/32", "::1/128"],
    # A bearer token that also opens /metrics (for a Prometheus outside the private network).
    "METRICS_TOKEN": "",
    # Statements slower than this (ms) are logged; a share of them with their EXPLAIN plan (0: off).
    "SLOW_QUERY_MS": 200,
    "SLOW_QUERY_SAMPLE": 0.1,
    # --- operations ---
    # Where backups go (relative to BASE_DIR) and how many to keep.
    "BACKUP_DIR": "var/backups",
    "BACKUP_KEEP": 7,
    # An alias of STORAGES every backup is copied to (e.g. a django-storages S3 bucket); None: local only.
    "BACKUP_STORAGE": None,
    # When the beat schedule takes the nightly backup, "HH:MM" in TIME_ZONE (a celery crontab).
    "BACKUP_TIME": "03:30",
    # PostgreSQL itself, when DATABASE_URL goes through PgBouncer (backups, restores, verification).
    "DIRECT_DATABASE_URL": "",
    # Read replicas (upstack.db, docs/scaling.md): the DATABASES aliases of PostgreSQL streaming replicas of
    # "default" that upstack.db.router.ReplicaRouter sends reads to; a replica more than REPLICA_MAX_LAG
    # seconds behind is out of rotation, measured at most every REPLICA_CHECK_EVERY seconds per process.
    "DATABASE_REPLICAS": [],
    "REPLICA_MAX_LAG": 5,
    "REPLICA_CHECK_EVERY": 1,
    # How many app servers run this site (shared-nothing check), and whether MEDIA_ROOT is a shared mount.
    "APP_SERVERS": 1,
    "SHARED_MEDIA": False,
    # Serve MEDIA_URL from MEDIA_ROOT through upstack.urls (the local stack, which has no media server;
    # `upstack up` turns it on). Never in production: a web server or object storage serves media there.
    "SERVE_MEDIA": False,
    # This stack serves plain HTTP on loopback on purpose (the local stack, CI): `upstack check` reports
    # Django's TLS checks as not applicable, and fails if a served host is not loopback.
    "HTTP_ONLY": False,
    # The site's name as visitors know it, on the edge's error page (default: the project's package name,
    # which is "config" in many layouts).
    "SITE_NAME": None,
    # The WSGI application for the stack runner.
    "WSGI_APPLICATION": None,
    # The Django project's settings module the stack runs with (default: the current one).
    "STACK_SETTINGS": None,
    # The Celery application, "module:attribute" (default: "<project>.celery:app").
    "CELERY_APP": None,
    # A callable, "module.function": prepare(top) -> (URL paths, most visited first; extra environment for
    # the locustfile), for `upstack loadtest` (default: the home page only).
    "LOADTEST_PREPARE": None,
    # The project's own locustfile for `upstack loadtest` (relative to BASE_DIR); None: the package's,
    # whose one scenario ("anonymous") browses the URL list.
    "LOADTEST_LOCUSTFILE": None,
    # A callable, "module.function": seed(size) fills an empty database with demo content when `upstack up`
    # starts the stack (size: --seed-articles); None: `up` seeds nothing.
    "SEED": None,
}


# Under the local stack's overlay (upstack.stack.settings) the project's own settings module is here.
PROJECT_SETTINGS_VARIABLE = "UPSTACK_PROJECT_SETTINGS"


def project_module() -> str:
    """The project's settings module: the one the stack's overlay wraps, else the current one."""
    import os

    return (os.environ.get(PROJECT_SETTINGS_VARIABLE) or settings.SETTINGS_MODULE
            or os.environ.get("DJANGO_SETTINGS_MODULE") or "site.settings")


@lru_cache(maxsize=1)
def _merged() -> dict[str, Any]:
    user = getattr(settings, "UPSTACK", {}) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("UPSTACK must be a dict of upstack options.")
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown UPSTACK option(s): {', '.join(unknown)}. Known: {', '.join(sorted(DEFAULTS))}."
        )
    merged = dict(DEFAULTS)
    merged.update(user)
    for name in DEFAULTS:
        flat = f"UPSTACK_{name}"
        if hasattr(settings, flat):
            merged[name] = getattr(settings, flat)
    return merged


def get(name: str) -> Any:
    """Return the effective value of upstack option ``name``."""
    try:
        return _merged()[name]
    except KeyError:
        raise ImproperlyConfigured(f"Unknown upstack option {name!r}.") from None


def effective() -> dict[str, Any]:
    """Every option's effective value (the system checks validate them: upstack.checks.rules)."""
    return dict(_merged())


def reset(**kwargs) -> None:
    """Forget the cached settings (connected to ``setting_changed``)."""
    setting = kwargs.get("setting", "UPSTACK")
    if setting == "UPSTACK" or setting.startswith("UPSTACK_"):
        _merged.cache_clear()


def connect() -> None:
    setting_changed.connect(reset, dispatch_uid="upstack.conf.reset")
