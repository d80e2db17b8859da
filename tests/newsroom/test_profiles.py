"""The settings profiles: ``plain`` serves the same site with upstack switched off, ``deploy`` passes
Django's deployment checks, and the 12-factor variables are honoured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PAGES_SCRIPT = """
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
call_command("seed", articles=25, users=5, comments=50, no_progress=True, verbosity=0)
from newsroom.news.models import Article, Section
article = Article.objects.published().first()
client = Client()
for url in ["/", Section.objects.first().get_absolute_url(), article.get_absolute_url(), "/search/?q=a",
            "/feed/", "/sitemap.xml", "/healthz", "/api/most-read.json", "/accounts/login/"]:
    status = client.get(url).status_code
    assert status == 200, (url, status)
import re
home = client.get("/").content.decode()
assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', home)
assert len(assets) >= 2, assets
for asset in assets:
    response = client.get(asset)
    assert response.status_code == 200, (asset, response.status_code)
print("apps:", ",".join(settings.INSTALLED_APPS), "sessions:", settings.SESSION_ENGINE)
"""


def run(settings_module, code, tmp_path, **env):
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("profile", ["plain", "dev"])
def test_every_page_works_in_each_profile(profile, tmp_path):
    result = run(f"newsroom.settings.{profile}", PAGES_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    if profile == "plain":
        assert "upstack" not in result.stdout.split("apps:")[1].split()[0].split(",")
        assert "sessions.backends.db" in result.stdout


def test_deploy_profile_passes_check_deploy(tmp_path):
    code = "import sys; from django.core.management import execute_from_command_line; " \
           "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    complete = {"SECRET_KEY": "x" * 30 + "-Zq9!deploy-check-key-value-42", "REDIS_URL": "redis://127.0.0.1:6379/0",
                "BYPASS_SECRET": "a-long-random-bypass-secret-value"}
    ok = run("newsroom.settings.deploy", code, tmp_path, **complete)
    assert ok.returncode == 0, ok.stderr[-3000:]
    # upstack's own checks catch what Django's do not: here, a per-process cache in production.
    local = run("newsroom.settings.deploy", code, tmp_path, **{**complete, "REDIS_URL": ""})
    assert local.returncode != 0 and "upstack.E004" in local.stderr
    missing = run("newsroom.settings.deploy", code, tmp_path, SECRET_KEY="")
    assert missing.returncode != 0 and "SECRET_KEY" in missing.stderr


def test_environment_selects_database_cache_and_admin(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['NAME'], s.CACHES['default']['BACKEND'], s.ADMIN_URL, s.DEBUG)")
    result = run("newsroom.settings.dev", code, tmp_path, REDIS_URL="redis://127.0.0.1:1/0", ADMIN_URL="/desk-x/",
                 DEBUG="false")
    assert result.returncode == 0, result.stderr
    name, backend, admin, debug = result.stdout.split()
    assert name == str(tmp_path / "db.sqlite3")
    assert backend == "upstack.cache.backends.redis.RedisCache"
    assert (admin, debug) == ("desk-x/", "False")


def test_deploy_turns_every_cache_layer_on_and_plain_turns_them_off(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; import json; "
            "print(json.dumps({'backends': sorted({c['BACKEND'] for c in s.CACHES.values()}), "
            "'aliases': sorted(s.CACHES), 'session': s.SESSION_ENGINE, 'session_alias': s.SESSION_CACHE_ALIAS, "
            "'cachalot': s.CACHALOT_ENABLED, 'apps': s.INSTALLED_APPS, "
            "'cps': s.TEMPLATES[0]['OPTIONS']['context_processors']}))")
    env = {"SECRET_KEY": "x" * 50, "REDIS_URL": "redis://127.0.0.1:1/0", "SESSION_REDIS_URL": "redis://127.0.0.1:2/1"}
    deploy = run("newsroom.settings.deploy", code, tmp_path, **env)
    assert deploy.returncode == 0, deploy.stderr
    on = json.loads(deploy.stdout)
    assert on["backends"] == ["upstack.cache.backends.redis.RedisCache"]
    assert on["aliases"] == ["data", "default", "pages", "queries", "sessions", "templates"]
    assert (on["session"], on["session_alias"]) == ("django.contrib.sessions.backends.cached_db", "sessions")
    assert on["cachalot"] is True and "cachalot" in on["apps"] and "upstack" in on["apps"]
    assert "upstack.context_processors.upstack" in on["cps"]
    plain = run("newsroom.settings.plain", code, tmp_path, **env)
    assert plain.returncode == 0, plain.stderr
    off = json.loads(plain.stdout)
    assert off["backends"] == ["django.core.cache.backends.dummy.DummyCache"]
    assert off["session"] == "django.contrib.sessions.backends.db"
    assert off["cachalot"] is False and "cachalot" not in off["apps"] and "upstack" not in off["apps"]
    assert not [cp for cp in off["cps"] if cp.startswith("upstack")]


def test_plain_and_typical_have_no_upstack_middleware(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; import json; "
            "print(json.dumps([s.MIDDLEWARE, sorted({c['BACKEND'] for c in s.CACHES.values()}), "
            "s.DATABASES['default']['CONN_MAX_AGE'], s.SESSION_ENGINE]))")
    for profile, cache, age in (("plain", "django.core.cache.backends.dummy.DummyCache", 0),
                                ("typical", "django.core.cache.backends.redis.RedisCache", 600),
                                ("sitecache", "django.core.cache.backends.redis.RedisCache", 600)):
        result = run(f"newsroom.settings.{profile}", code, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
        assert result.returncode == 0, result.stderr
        middleware, backends, conn_age, sessions = json.loads(result.stdout)
        assert not [m for m in middleware if m.startswith("upstack.")]
        assert backends == [cache] and conn_age == age and sessions == "django.contrib.sessions.backends.db"


def test_without_a_shared_cache_nothing_per_worker_can_go_stale(tmp_path):
    """make run's gunicorn workers each have their own in-process cache: sessions stay in the
    database and the page cache is off, so a logout or a purge in one worker holds in all."""
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "from upstack import conf; print(json.dumps([s.SESSION_ENGINE, conf.get('PAGE_CACHE')]))")
    alone = run("newsroom.settings.dev", code, tmp_path)
    shared = run("newsroom.settings.dev", code, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    assert json.loads(alone.stdout) == ["django.contrib.sessions.backends.db", False]
    assert json.loads(shared.stdout) == ["django.contrib.sessions.backends.cached_db", True]


def test_sitecache_is_typical_with_djangos_per_site_cache_around_everything(tmp_path):
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.MIDDLEWARE, s.CACHE_MIDDLEWARE_SECONDS, s.CACHE_MIDDLEWARE_ALIAS, "
            "sorted({c['KEY_PREFIX'] for c in s.CACHES.values()})]))")
    result = run("newsroom.settings.sitecache", code, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stderr
    middleware, seconds, alias, prefixes = json.loads(result.stdout)
    assert middleware[0] == "django.middleware.cache.UpdateCacheMiddleware"
    assert middleware[-1] == "django.middleware.cache.FetchFromCacheMiddleware"
    assert seconds == 60 and alias == "pages"
    assert all(p.startswith("sitecache-") for p in prefixes)  # never typical's keys in the shared Redis
