"""Every ``UPSTACK_*`` setting, in one place.

Defaults live in ``DEFAULTS``. Code reads options only through :func:`get` (or the ``upstack_settings``
mapping), which merges the project's ``UPSTACK`` dict and any top-level ``UPSTACK_<NAME>`` settings over
the defaults once and caches the result. The cache is dropped on Django's ``setting_changed`` signal so
``override_settings`` works in tests. No other module may read ``django.conf.settings`` for an upstack
option.
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
    # Seconds a cache server may take to connect or answer before the call is a miss (BLUEPRINT C6).
    "CACHE_TIMEOUT": 0.25,
    # Named fragment lifetimes, seconds (BLUEPRINT C4).
    "TTLS": {"short": 60, "medium": 600, "long": 3600, "forever": 86400 * 30},
    # +/- fraction applied to every TTL upstack writes (BLUEPRINT C5).
    "TTL_JITTER": 0.2,
    # Query parameter that asks for a fresh render; honoured only for trusted callers (F3).
    "BYPASS_PARAM": "flush-the-cache",
    # Secret used to sign bypass requests from non-staff trusted callers; empty disables signing.
    "BYPASS_SECRET": "",
    # The WSGI application for the stack runner.
    "WSGI_APPLICATION": None,
    # The Django project's settings module the stack runs with (default: the current one).
    "STACK_SETTINGS": None,
    # The Celery application, "module:attribute" (default: "<project>.celery:app").
    "CELERY_APP": None,
}


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


def reset(**kwargs) -> None:
    """Forget the cached settings (connected to ``setting_changed``)."""
    setting = kwargs.get("setting", "UPSTACK")
    if setting == "UPSTACK" or setting.startswith("UPSTACK_"):
        _merged.cache_clear()


def connect() -> None:
    setting_changed.connect(reset, dispatch_uid="upstack.conf.reset")
