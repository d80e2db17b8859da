"""Namespaces on one server: `upstack cache flush NS` touches only NS, `upstack cache stats` sums
every process's counts; sessions keep working while the cache server is down."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import servers
from upstack.cache import NAMESPACES, caches_setting, namespaces

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def redis_caches(settings, redis_server):
    settings.CACHES = caches_setting(redis_server.url, prefix=f"ns{os.getpid()}-")
    return redis_server


def test_namespaces_share_the_server_with_their_own_prefixes(redis_caches):
    assert len({caches[ns]._location for ns in NAMESPACES}) == 1
    assert len({caches[ns].key_prefix for ns in NAMESPACES}) == len(NAMESPACES)
    for ns in NAMESPACES:
        caches[ns].set("same-key", ns)
    assert {ns: caches[ns].get("same-key") for ns in NAMESPACES} == {ns: ns for ns in NAMESPACES}


def test_flush_command_bumps_one_namespace_only(redis_caches):
    for ns in NAMESPACES:
        caches[ns].set("k", ns)
    out = io.StringIO()
    call_command("upstack", "cache", "flush", "templates", stdout=out)
    assert "Flushed the templates namespace" in out.getvalue()
    assert caches["templates"].get("k") is None
    assert {ns: caches[ns].get("k") for ns in NAMESPACES if ns != "templates"} == \
        {ns: ns for ns in NAMESPACES if ns != "templates"}
    with pytest.raises(CommandError):
        call_command("upstack", "cache", "flush", "everything")


def test_flush_says_so_when_the_server_is_unreachable(settings, dead_port):
    settings.CACHES = caches_setting(f"redis://127.0.0.1:{dead_port}/0")
    with pytest.raises(CommandError, match="could not reach"):
        call_command("upstack", "cache", "flush", "data")


def test_stats_sum_this_and_other_processes(redis_caches):
    prefix = f"ns{os.getpid()}-"
    baseline = namespaces.stats()["data"]
    caches["data"].set("a", 1)
    caches["data"].get("a")
    caches["data"].get("missing")
    script = ("import django; django.setup(); from django.core.cache import caches; "
              "from upstack.cache import caches_setting; from django.conf import settings; "
              "[caches['data'].get('a') for _ in range(3)]; caches['data'].get('nope'); "
              "from upstack.cache.namespaces import shipper; shipper.ship()")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    other = subprocess.run([sys.executable, "-c", _with_caches(redis_caches.url, prefix) + script], env=env,
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    out = io.StringIO()
    call_command("upstack", "cache", "stats", "--json", stdout=out)
    data = json.loads(out.getvalue())["data"]
    assert data["hits"] - baseline["hits"] == 1 + 3
    assert data["misses"] - baseline["misses"] == 1 + 1
    assert data["errors"] == baseline["errors"]
    table = io.StringIO()
    call_command("upstack", "cache", "stats", stdout=table)
    header = next(line for line in table.getvalue().splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][:4] == ["namespace", "calls", "hits", "misses"]
    data_row = next(line for line in table.getvalue().splitlines() if line.startswith("│ data "))
    assert data_row.split("│")[3].strip() == str(data["hits"])


def _with_caches(url: str, prefix: str) -> str:
    """Python that points the subprocess's CACHES at the same server and prefixes before setup."""
    return (f"import newsroom.settings.test as t; "
            f"from upstack.cache import caches_setting; t.CACHES = caches_setting({url!r}, prefix={prefix!r}); ")


@pytest.mark.django_db
def test_sessions_work_while_the_cache_server_is_down(settings, client, django_user_model):
    """cached_db: log in, stay logged in and log out with the sessions' cache server gone."""
    servers.require_binary("redis-server")
    server = servers.Redis().start()
    try:
        settings.CACHES = caches_setting(server.url)
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
        settings.SESSION_CACHE_ALIAS = "sessions"
        User.objects.create_user("reader", password="pw-for-tests-1")
        assert client.post("/accounts/login/", {"username": "reader", "password": "pw-for-tests-1"}).status_code == 302
        assert "reader" in client.get("/").content.decode()
        server.stop()  # the cache server dies mid-session
        assert "reader" in client.get("/").content.decode()  # still logged in: the session is in the db
        client.logout()
        assert client.post("/accounts/login/", {"username": "reader", "password": "pw-for-tests-1"}).status_code == 302
        assert "reader" in client.get("/").content.decode()
        assert client.post("/accounts/logout/").status_code == 302
        assert "reader" not in client.get("/").content.decode()
    finally:
        server.stop()
