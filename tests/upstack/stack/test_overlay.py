"""The stack's overlay on a project's own settings (upstack.stack.overlay): pure, on a startproject-like
settings mapping."""

import pytest

from upstack.stack import overlay, project

STARTPROJECT = {
    "DEBUG": True, "SECRET_KEY": "django-insecure-x", "ALLOWED_HOSTS": [],
    "INSTALLED_APPS": ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                       "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles", "upstack"],
    "MIDDLEWARE": ["django.middleware.security.SecurityMiddleware",
                   "django.contrib.sessions.middleware.SessionMiddleware",
                   "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}},
    "STATIC_URL": "static/",
}
ENVIRON = {"DATABASE_URL": "postgres://upstack@127.0.0.1:5433/upstack", "REDIS_URL": "redis://127.0.0.1:6380/0",
           "SESSION_REDIS_URL": "redis://127.0.0.1:6381/1", "BROKER_URL": "redis://127.0.0.1:6381/0",
           "EDGE_URL": "http://127.0.0.1:6081", "SECRET_KEY": "from-the-stack", "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "STATIC_ROOT": "/srv/static", "UPSTACK_FRESH_SECRET": "f", "UPSTACK_HTTP_ONLY": "true", "UPSTACK_INTERNAL_IPS": "127.0.0.1/32,::1/128"}


def overlaid(settings=STARTPROJECT, environ=ENVIRON, whitenoise=True) -> dict:
    namespace = {k: (list(v) if isinstance(v, list) else v) for k, v in settings.items()}
    overlay.apply(namespace, environ, installed=lambda name: object() if whitenoise else None)
    return namespace


def test_the_project_is_pointed_at_the_stack():
    s = overlaid()
    assert s["DEBUG"] is False and s["SECRET_KEY"] == "from-the-stack"
    assert s["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    db = s["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == ("django.db.backends.postgresql", "127.0.0.1", 5433,
                                                                  "upstack")
    assert s["CACHES"]["default"]["LOCATION"].startswith("redis://127.0.0.1:6380")
    assert s["CACHES"]["sessions"]["LOCATION"].startswith("redis://127.0.0.1:6381")
    assert s["SESSION_ENGINE"].endswith("cached_db") and s["CELERY_BROKER_URL"] == ENVIRON["BROKER_URL"]
    assert s["UPSTACK"]["PURGE_BACKENDS"]["edge"]["NODES"] == ["http://127.0.0.1:6081"]
    assert "pages" in s["UPSTACK"]["PURGE_BACKENDS"]
    assert s["UPSTACK"]["HTTP_ONLY"] is True and "SERVE_MEDIA" not in s["UPSTACK"]
    assert s["UPSTACK"]["FRESH_SECRET"] == "f" and s["UPSTACK"]["INTERNAL_IPS"] == ["127.0.0.1/32", "::1/128"]
    assert s["STATIC_ROOT"] == "/srv/static" and s["LOGGING"]["version"] == 1
    assert STARTPROJECT["DATABASES"]["default"]["NAME"] == "db.sqlite3"  # the project's own mapping untouched


def test_middleware_order():
    middleware = overlaid()["MIDDLEWARE"]
    assert middleware[:2] == [overlay.METRICS, overlay.LEAN]
    assert middleware.index(overlay.WHITENOISE) == middleware.index(overlay.SECURITY) + 1
    assert middleware.index(overlay.PAGE) + 1 == middleware.index(overlay.SESSIONS)
    assert overlay.WHITENOISE not in overlaid(whitenoise=False)["MIDDLEWARE"]


def test_what_the_project_has_stays():
    own = {**STARTPROJECT, "MIDDLEWARE": [overlay.PAGE, *STARTPROJECT["MIDDLEWARE"]],
           "UPSTACK": {"EDGE_TOUCH": {"a.b": ["c"]}, "STACK_SETTINGS": "x.y"}, "INSTALLED_APPS": ["upstack"]}
    s = overlaid(own)
    assert s["MIDDLEWARE"].count(overlay.PAGE) == 1 and s["INSTALLED_APPS"] == ["upstack"]
    assert s["UPSTACK"]["EDGE_TOUCH"] == {"a.b": ["c"]} and "STACK_SETTINGS" not in s["UPSTACK"]


def test_without_the_stack_environment_a_clear_error():
    with pytest.raises(RuntimeError, match="DATABASE_URL, REDIS_URL"):
        overlaid(environ={"SECRET_KEY": "k"})


def test_up_overlays_unless_stack_settings_are_named(settings):
    settings.UPSTACK = {**settings.UPSTACK, "STACK_SETTINGS": None}
    assert project.local_stack_settings() == (overlay.OVERLAY_MODULE, "newsroom.settings.test")
    assert project.local_stack_settings("site.deploy") == ("site.deploy", None)
    settings.UPSTACK = {**settings.UPSTACK, "STACK_SETTINGS": "site.production"}
    assert project.local_stack_settings() == ("site.production", None)


def test_the_celery_app_is_the_projects_or_upstacks(settings, monkeypatch):
    """Every process sends tasks through the same app the worker runs (upstack.tasks.queue): under the
    overlay, the project is the wrapped module's, not upstack's."""
    from upstack.tasks.queue import celery_app_path

    settings.UPSTACK = {**settings.UPSTACK, "CELERY_APP": None}
    assert celery_app_path() == "newsroom.celery:app"
    monkeypatch.setenv(overlay.PROJECT_VARIABLE, "no_such_project_here.settings")
    assert celery_app_path() == "upstack.tasks.default:app"
    assert project.project_name() == "no_such_project_here"
    settings.UPSTACK = {**settings.UPSTACK, "CELERY_APP": "site.jobs:app"}
    assert celery_app_path() == "site.jobs:app"


def test_the_edge_error_page_names_the_site(settings):
    """A project laid out as config/settings.py would be called "config" on the error page."""
    from upstack.stack.context import Resources

    settings.UPSTACK = {**settings.UPSTACK, "SITE_NAME": "The Daily Example"}
    ctx = project.context(Resources(2, 2 << 30))
    assert "The Daily Example" in ctx.error_page and "newsroom" not in ctx.error_page
    settings.UPSTACK = {**settings.UPSTACK, "SITE_NAME": None}
    assert "newsroom" in project.context(Resources(2, 2 << 30)).error_page


def test_a_state_dir_others_cannot_enter_is_found():
    """As root, `up` refuses a state dir inside a 0700 folder (initdb failed there with "Permission
    denied"), naming the folder and the fix."""
    import shutil
    import tempfile
    from pathlib import Path

    from upstack.stack.runner import closed_to_others

    base = Path(tempfile.mkdtemp(prefix="upstack-closed-"))  # under /tmp, which others may enter
    try:
        base.chmod(0o755)
        closed = base / "private"
        (closed / "project" / ".upstack").mkdir(parents=True)
        closed.chmod(0o700)
        assert closed_to_others(closed / "project" / ".upstack") == closed
        closed.chmod(0o755)
        assert closed_to_others(closed / "project" / ".upstack") is None
    finally:
        shutil.rmtree(base)


def test_memcached_location_puts_the_rebuildable_namespaces_on_every_memcached_node():
    """The stack renders MEMCACHED_LOCATION (``--with memcached``); the settings read it."""
    s = overlaid(environ={**ENVIRON, "MEMCACHED_LOCATION": "10.0.0.7:11211,10.0.0.8:11211"})
    for namespace in ("templates", "queries"):
        alias = s["CACHES"][namespace]
        assert alias["BACKEND"].endswith("memcached.PyMemcacheCache")
        assert alias["LOCATION"] == ["10.0.0.7:11211", "10.0.0.8:11211"]
    assert all(s["CACHES"][ns]["LOCATION"].startswith("redis://") for ns in ("default", "pages", "sessions", "data"))
    # Without it (the negative case) nothing is on memcached.
    assert not any("memcached" in a["BACKEND"] for a in overlaid()["CACHES"].values())


def test_the_reference_site_reads_memcached_location_too():
    import os
    import subprocess
    import sys

    code = "from newsroom.settings import base; print(base.CACHES['queries']['LOCATION'])"
    env = {**os.environ, "MEMCACHED_LOCATION": "127.0.0.1:11311,127.0.0.1:11312", "DJANGO_SETTINGS_MODULE": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "['127.0.0.1:11311', '127.0.0.1:11312']", out.stderr[-2000:]
