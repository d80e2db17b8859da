"""System checks with stable IDs. Registered with Django's check framework under
the ``upstack`` tag; the production ones only with ``--deploy``. Each message says how to fix it;
docs/checks.md lists them all."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .. import conf
from . import rules

SHARED_BACKENDS = ("redis", "memcached", "pymemcache", "pylibmc", "db.DatabaseCache")


def _error(id_, msg, hint, level=checks.Error):
    return level(msg, hint=hint, id=f"upstack.{id_}")


@checks.register("upstack")
def upstack_options(app_configs, **kwargs):
    """Every UPSTACK option against its type, range or choices (checks/rules.py; E100-E104)."""
    hint = "docs/settings.md gives the type, range and default of every UPSTACK option."
    try:
        values = conf.effective()
    except ImproperlyConfigured as exc:
        return [_error("E100", str(exc), hint)]
    return [_error(problem.code, problem.message, hint) for problem in rules.validate(values)]


@checks.register("upstack")
def read_replicas(app_configs, **kwargs):
    """The replica router, its aliases and middleware agree (checks/rules.py replica_problems; E120-E122)."""
    try:
        replicas = conf.get("DATABASE_REPLICAS")
    except ImproperlyConfigured:
        return []  # reported by upstack_options (E100)
    hint = "docs/scaling.md (Read replicas) shows the DATABASES, DATABASE_ROUTERS and MIDDLEWARE entries."
    problems = rules.replica_problems(list(settings.DATABASE_ROUTERS), settings.DATABASES,
                                      list(replicas) if isinstance(replicas, (list, tuple)) else [],
                                      list(settings.MIDDLEWARE))
    return [_error(problem.code, problem.message, hint) for problem in problems]


@checks.register("upstack", deploy=True)
def production_settings(app_configs, **kwargs):
    # DEBUG and a weak SECRET_KEY are Django's own security.W018 and security.W009: not repeated here
    # (upstack.E001 and E002 are retired; `release` stops on those two, upstack.ops.checklist).
    found = []
    if not settings.ALLOWED_HOSTS or "*" in settings.ALLOWED_HOSTS:
        found.append(_error("E003", "ALLOWED_HOSTS is empty or '*'.", "List the site's host names in ALLOWED_HOSTS."))
    for alias, cache in settings.CACHES.items():
        if not any(name in cache["BACKEND"] for name in SHARED_BACKENDS):
            found.append(_error("E004", f"Cache alias {alias!r} is per-process ({cache['BACKEND']}).",
                                "Set REDIS_URL (or CACHE_URL) so every app server shares one cache."))
            break
    template = settings.TEMPLATES[0] if settings.TEMPLATES else {}
    loaders = template.get("OPTIONS", {}).get("loaders")
    if loaders and not any("cached" in str(loader) for loader in loaders):
        found.append(_error("W001", "Templates are not loaded through the cached loader.",
                            "Wrap the loaders in django.template.loaders.cached.Loader.", checks.Warning))
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        found.append(_error("W002", "Sessions are read from the database on every request.",
                            "Use django.contrib.sessions.backends.cached_db.", checks.Warning))
    db = settings.DATABASES["default"]
    if not db.get("CONN_MAX_AGE") and not db.get("OPTIONS", {}).get("pool"):
        found.append(_error("W003", "Database connections are not kept between requests.",
                            "Set CONN_MAX_AGE (e.g. 600) with CONN_HEALTH_CHECKS, or the psycopg pool.", checks.Warning))
    if not _logs_to_stderr():
        found.append(_error("W004", "Logs do not go to stderr.",
                            "Log to stderr (upstack.metrics.logs.logging_config) and let the process manager keep them.",
                            checks.Warning))
    admin = getattr(settings, "ADMIN_URL", "admin/")
    if admin.strip("/") == "admin":
        found.append(_error("W005", "The admin is at /admin/.", "Set ADMIN_URL to a path that is not guessable.",
                            checks.Warning))
    if len(conf.get("BYPASS_SECRET") or "") < 20:
        found.append(_error("W006", "The cache-bypass secret is empty or short: signed fresh renders are off.",
                            "Set BYPASS_SECRET to a long random value (monitoring signs its bypass requests).",
                            checks.Warning))
    found.extend(shared_nothing())
    return found


def _logs_to_stderr() -> bool:
    handlers = (getattr(settings, "LOGGING", None) or {}).get("handlers", {})
    return any(h.get("class") == "logging.StreamHandler" and h.get("stream", "ext://sys.stderr") == "ext://sys.stderr"
               for h in handlers.values()) or any(
        isinstance(h, logging.StreamHandler) for h in logging.getLogger().handlers)


def shared_nothing() -> list:
    """With several app servers, nothing may live on one of them."""
    if conf.get("APP_SERVERS") <= 1:
        return []
    local = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        local.append("the SQLite database")
    if any("locmem" in c["BACKEND"] or "filebased" in c["BACKEND"] for c in settings.CACHES.values()):
        local.append("a per-process or per-host cache")
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage") and not conf.get("SHARED_MEDIA"):
        local.append("uploaded media on the local disk")
    if not local:
        return []
    return [_error("E005", f"{conf.get('APP_SERVERS')} app servers, but state lives on one of them: {', '.join(local)}.",
                   "Use PostgreSQL, Redis/memcached and S3-compatible storage (or set UPSTACK SHARED_MEDIA when "
                   "MEDIA_ROOT is a shared mount).")]
