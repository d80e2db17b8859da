"""Shared fixtures: real servers from ``tests/servers.py`` (marker ``servers``)."""

import pytest

from tests import servers


def _start(cls, *args, **kwargs):
    servers.require_binary(cls.binary)
    return cls(*args, **kwargs).start()


def clear_caches():
    """Forget every cache namespace of the current settings (generation bump; no server flush)."""
    from django.conf import settings
    from django.core.cache import caches

    for alias in settings.CACHES:
        caches[alias].clear()


@pytest.fixture(autouse=True)
def _fresh_caches(request):
    """Each test starts with empty caches: cached fragments or payloads never leak between tests."""
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        clear_caches()
    yield


@pytest.fixture(scope="session")
def postgres_server():
    server = _start(servers.Postgres)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = _start(servers.Redis)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def memcached_server():
    server = _start(servers.Memcached)
    yield server
    server.stop()


@pytest.fixture
def varnish_factory():
    """``varnish_factory(vcl=...)`` or ``varnish_factory(backend=(host, port))``; stopped after the test."""
    started = []

    def start(**kwargs):
        server = _start(servers.Varnish, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def pytest_report_header(config):
    names = ["postgres", "redis-server", "memcached", "varnishd", "haproxy", "chromium"]
    found = {n: bool(servers.find_binary(n)) for n in names}
    missing = [n for n, ok in found.items() if not ok]
    ci = " (CI=true: missing servers fail)" if servers.in_ci() else ""
    return f"servers: {'all present' if not missing else 'missing ' + ', '.join(missing)}{ci}"


@pytest.fixture
def open_tmp():
    """A temp dir readable by the users servers drop to (postgres, vcache): pytest's tmp_path is 0700."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="upstack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
