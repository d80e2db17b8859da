"""Build a ``StackContext`` for this Django project: the adapter between settings and the renderers.

Reads Django settings (cookie names, WSGI application, BASE_DIR) and upstack's own options through
``upstack.conf``, plus the machine's resources. ``render.py`` stays pure; this module does the
reading. Never starts processes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .. import conf
from ..tasks.queue import celery_app_path
from . import machine, overlay
from .context import Resources, StackContext

# Binaries the local target runs, by service (looked up on PATH for the supervisord config).
BINARIES = {
    "postgres": ("postgres", "initdb", "psql"), "redis-cache": ("redis-server",), "redis-broker": ("redis-server",),
    "varnish": ("varnishd", "varnishadm"), "pgbouncer": ("pgbouncer",), "haproxy": ("haproxy", "openssl"),
    "memcached": ("memcached",), "prometheus": ("prometheus",), "postgres-replica": ("postgres", "pg_basebackup"),
}


def project_name() -> str:
    module = conf.project_module()
    return module.split(".")[0]


def wsgi_application() -> str:
    dotted = conf.get("WSGI_APPLICATION") or getattr(settings, "WSGI_APPLICATION", None)
    if not dotted:
        return f"{project_name()}.wsgi:application"
    module, _, attribute = dotted.rpartition(".")
    return f"{module}:{attribute}"


def current_settings_module() -> str:
    # Under override_settings (tests) SETTINGS_MODULE reads None: the environment still names it.
    return settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE", "site.settings")


def settings_module() -> str:
    return conf.get("STACK_SETTINGS") or current_settings_module()


# A settings module whose last part is one of these is a development profile; its production sibling
# is the first of PRODUCTION_PROFILES that exists.
DEVELOPMENT_PROFILES = ("dev", "development", "local", "test", "testing")
PRODUCTION_PROFILES = ("deploy", "production", "prod")


def production_settings(current: str, exists: Callable[[str], bool]) -> str:
    """The settings module a production render writes when ``UPSTACK["STACK_SETTINGS"]`` is unset.

    ``current`` unless it is a development profile (``myproject.settings.dev``): then its sibling
    ``deploy``/``production``/``prod`` module, or a ValueError rather than DEBUG settings in production.
    """
    package, _, leaf = current.rpartition(".")
    if leaf not in DEVELOPMENT_PROFILES:
        return current
    for name in PRODUCTION_PROFILES:
        candidate = f"{package}.{name}" if package else name
        if exists(candidate):
            return candidate
    raise ValueError(f"{current} is a development settings module and no {'/'.join(PRODUCTION_PROFILES)} "
                     "module sits beside it: set UPSTACK['STACK_SETTINGS'] to the settings module production "
                     "runs with")


def _module_exists(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ImportError:
        return False


def deploy_settings_module() -> str:
    return conf.get("STACK_SETTINGS") or production_settings(current_settings_module(), _module_exists)


def seeds() -> bool:
    """Whether the project has a seed hook for `up` (``UPSTACK["SEED"]``)."""
    return bool(conf.get("SEED"))


def local_stack_settings(explicit: str | None = None) -> tuple[str, str | None]:
    """The settings module of the local stack's Django processes, and the project module it overlays:
    the one named (``--stack-settings``, ``UPSTACK["STACK_SETTINGS"]``) as it is, else the project's
    current settings with the stack's servers overlaid (upstack.stack.overlay)."""
    chosen = explicit or conf.get("STACK_SETTINGS")
    if chosen:
        return chosen, None
    return overlay.OVERLAY_MODULE, conf.project_module()


def base_dir() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path.cwd())).resolve()


def state_dir() -> Path:
    path = Path(conf.get("STATE_DIR"))
    return path if path.is_absolute() else base_dir() / path


def context(resources: Resources, *, ports: dict[str, int] | None = None, with_pgbouncer: bool = False,
            with_haproxy: bool = False, with_memcached: bool = False, with_observability: bool = False,
            with_flower: bool = False, with_replica: bool = False, app_server: str = "gunicorn",
            local: bool = False, settings_override: str | None = None,
            pod_resources: Resources | None = None) -> StackContext:
    """The context for this project; ``local=True`` fills in binaries, loopback ports and paths."""
    if app_server not in ("gunicorn", "granian"):
        raise ValueError(f"unknown app server {app_server!r}; choose gunicorn or granian")
    name = project_name()
    binaries = {}
    if local:
        wanted = ["postgres", "redis-cache", "redis-broker", "varnish"]
        wanted += [svc for svc, on in (("pgbouncer", with_pgbouncer), ("haproxy", with_haproxy),
                                       ("memcached", with_memcached), ("prometheus", with_observability),
                                       ("postgres-replica", with_replica)) if on]
        for service in wanted:
            for binary in BINARIES[service]:
                binaries[binary] = machine.require(binary)
    return StackContext(
        resources=resources,
        base_dir=str(base_dir()),
        state_dir=str(state_dir()),
        # A production target never gets the development profile (docs/deploy.md).
        settings_module=settings_override or (settings_module() if local else deploy_settings_module()),
        wsgi_application=wsgi_application(),
        celery_app=celery_app_path(),
        session_cookie_name=settings.SESSION_COOKIE_NAME,
        csrf_cookie_name=settings.CSRF_COOKIE_NAME,
        python=sys.executable,
        ports=dict(ports or {}),
        binaries=binaries,
        with_pgbouncer=with_pgbouncer,
        with_haproxy=with_haproxy,
        with_memcached=with_memcached,
        with_observability=with_observability,
        with_flower=with_flower,
        with_replica=with_replica,
        app_server=app_server,
        project=name,
        install_dir=f"/srv/{name}",
        image=f"{name}:latest",
        server_name="127.0.0.1" if local else "localhost",
        bypass_param=conf.get("BYPASS_PARAM"),
        tracking_params=tuple(_param_regex(p) for p in conf.get("TRACKING_PARAMS")),
        not_found=tuple(conf.get("EDGE_NOT_FOUND")),
        redirects=tuple(sorted(conf.get("EDGE_REDIRECTS").items())),
        error_page=error_page(conf.get("SITE_NAME") or name),
        pass_paths=tuple(conf.get("PASS_PATHS")),
        internal_networks=tuple(conf.get("INTERNAL_IPS")),
        load_balancers=tuple(conf.get("LOAD_BALANCERS")),
        fresh_window=int(conf.get("FRESH_AFTER_WRITE")),
        pod_resources=pod_resources,
    )


def _param_regex(pattern: str) -> str:
    """A query-parameter name pattern (``utm_*``) as a VCL regex that stays within one parameter."""
    return "".join("[^=&]*" if ch == "*" else re.escape(ch) for ch in pattern)


def error_page(site_name: str) -> str:
    """The edge's error page, rendered from the site's ``upstack/edge_error.html`` (overridable)."""
    from django.template.loader import render_to_string

    html = render_to_string("upstack/edge_error.html", {"site_name": site_name})
    return " ".join(html.split()).replace('"}', '" }')  # one line; never closes VCL's {" "} string
