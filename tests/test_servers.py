"""The harness itself: each real server starts, answers its protocol, and leaves nothing behind."""

import os
import subprocess
import sys

import pytest

from tests import servers

pytestmark = pytest.mark.servers


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it is gone once reaped or a zombie.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] == "Z"


@pytest.mark.parametrize("cls", [servers.Redis, servers.Memcached, servers.Postgres])
def test_server_starts_answers_and_stops(cls):
    servers.require_binary(cls.binary)
    server = cls().start()
    pid, directory = server.pid, server.dir
    assert server.ready()
    server.stop()
    assert gone(pid) and not directory.exists()
    with pytest.raises(OSError):
        servers.talk(server.port, b"PING\r\n")


def test_postgres_accepts_django_connections(postgres_server):
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=upstack dbname=upstack") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("upstack",)


def test_varnish_caches_in_front_of_a_backend(varnish_factory, live_server):
    host, port = live_server.url.removeprefix("http://").split(":")
    varnish = varnish_factory(backend=(host, int(port)))
    first = varnish.get("/")  # a shared page (health checks are never cached)
    second = varnish.get("/")
    assert b"Newsroom" in first.read() and first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    varnish.ban("req.url ~ .")
    assert varnish.get("/").headers["X-Cache"] == "MISS"


def test_readiness_failure_reports_the_log_tail():
    class Broken(servers.Redis):
        def command(self):
            return [self.path, "--port", str(self.port), "--no-such-option", "x"]

    servers.require_binary("redis-server")
    with pytest.raises(servers.ServerError, match="(?s)exited.*log tail.*no-such-option"):
        Broken().start()


def test_missing_binary_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="scripts/install-services"):
        servers.require_binary("no-such-server-binary")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="never a skip"):
        servers.require_binary("no-such-server-binary")


def test_a_postgresql_only_test_fails_in_the_postgresql_pass_on_another_database(monkeypatch):
    monkeypatch.delenv(servers.POSTGRES_PASS, raising=False)
    servers.require_postgres("postgresql")
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL pass runs it"):
        servers.require_postgres("sqlite")
    monkeypatch.setenv(servers.POSTGRES_PASS, "1")  # what `tests.servers run postgres` sets
    servers.require_postgres("postgresql")
    with pytest.raises(pytest.fail.Exception, match="in the PostgreSQL pass"):
        servers.require_postgres("sqlite")


def test_the_postgresql_pass_fails_when_its_tests_are_not_on_postgresql():
    """The wrapper marks the pass; a PostgreSQL-only test run there on SQLite fails instead of skipping."""
    servers.require_binary("postgres")
    code = ("import os, sys; from tests import servers; "
            "sys.exit(0 if os.environ.get(servers.POSTGRES_PASS) == '1' and 'DATABASE_URL' in os.environ else 3)")
    result = subprocess.run([sys.executable, "-m", "tests.servers", "run", "postgres", "--", sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_run_wrapper_points_the_command_at_fresh_servers():
    servers.require_binary("redis-server")
    code = "import os, sys; from tests.servers import talk; p = int(os.environ['REDIS_URL'].rsplit(':', 1)[1].split('/')[0]); sys.exit(0 if talk(p, b'PING\\r\\n').startswith(b'+PONG') else 3)"
    result = subprocess.run([sys.executable, "-m", "tests.servers", "run", "redis", "--", sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    bad = subprocess.run([sys.executable, "-m", "tests.servers", "run", "nosuch", "--", "true"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown: nosuch" in bad.stderr
