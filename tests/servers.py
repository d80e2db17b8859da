"""Real servers for tests: PostgreSQL, Redis, memcached and Varnish from the system's packages.

Each server starts on a free loopback port in its own temporary directory, is waited for by speaking
its protocol, and is stopped (TERM, then KILL) and reaped afterwards. A missing binary skips the test
with the install hint, except under ``CI=true`` where it fails: CI must never pass by skipping.

Also a command-line wrapper that runs a command against fresh servers, used by ``make test`` to run the
newsroom's tests on PostgreSQL::

    python -m tests.servers run postgres [redis ...] -- python -m pytest tests/newsroom

No library starts these servers as real subprocesses for pytest (pytest-postgresql and
pytest-redis exist but cover one server each with different conventions, and none covers Varnish),
so this small module does it for all four the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from upstack.stack.machine import find_binary, free_port  # noqa: E402 - one lookup for tests and the runner

INSTALL_HINT = "run scripts/install-services (as root) to install it"
READY_TIMEOUT = 30.0


class ServerError(RuntimeError):
    pass


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str) -> str:
    """The binary's path; skip the test when missing - or fail under CI=true."""
    import pytest

    path = find_binary(name)
    if path:
        return path
    message = f"{name} is not installed; {INSTALL_HINT}"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing server is a failure, never a skip)", pytrace=False)
    pytest.skip(message)


# Set by ``python -m tests.servers run postgres -- ...`` (make test's PostgreSQL pass): every test
# there runs on PostgreSQL, so a PostgreSQL-only test that finds another database fails.
POSTGRES_PASS = "UPSTACK_TEST_POSTGRES_PASS"


def require_postgres(vendor: str) -> None:
    """For a PostgreSQL-only test on ``vendor`` (``connection.vendor``): nothing on PostgreSQL; on
    another database skip (the SQLite pass), but fail in the PostgreSQL pass - never a silent skip there."""
    import pytest

    if vendor == "postgresql":
        return
    message = f"this test needs PostgreSQL, and the database is {vendor}"
    if os.environ.get(POSTGRES_PASS) == "1":
        pytest.fail(message + " in the PostgreSQL pass (check DATABASE_URL and the settings)", pytrace=False)
    pytest.skip(message + " (make test's PostgreSQL pass runs it)")


def wait_until(check, timeout: float, what: str, log: Path | None = None, proc=None):
    """Poll ``check()`` until it returns true; raise with the server's log tail on timeout."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    state = f"exited with {proc.returncode}" if proc is not None and proc.poll() is not None else "not ready"
    raise ServerError(f"{what} {state} after {time.monotonic() - started:.1f}s (last error: {last_error}).\nlog tail:\n{tail}")


def broker_idle(client) -> bool:
    """No Celery message left in a Redis broker (``client``: a redis.Redis on its database): none
    queued (the queue lists) and none delivered but not acknowledged - reserved, or waiting for its
    countdown - (kombu's ``unacked`` hash). Then no further task can start."""
    queued = sum(client.llen(key) for key in client.scan_iter(_type="list") if not key.startswith(b"drill:"))
    return queued == 0 and client.hlen("unacked") == 0


class Server:
    """A server process on 127.0.0.1:``port`` in a temp dir; a context manager."""

    name = "server"
    binary = ""
    stop_signal = signal.SIGTERM
    run_as: str | None = None

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix=f"upstack-{self.name}-"))
        os.chmod(self.dir, 0o755)  # servers that drop privileges (varnish, postgres) must read it
        self.port = free_port()
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.path = find_binary(self.binary)
        if not self.path:
            raise ServerError(f"{self.binary} is not installed; {INSTALL_HINT}")

    # Subclasses: the command line, any preparation, and a readiness check.
    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        pass

    def ready(self) -> bool:
        raise NotImplementedError

    def _wrap(self, argv: list[str]) -> list[str]:
        if self.run_as and os.geteuid() == 0:
            return ["runuser", "-u", self.run_as, "--", *argv]
        return argv

    def start(self):
        self.prepare()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self._wrap(self.command()), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True,
            )
        try:
            wait_until(self.ready, READY_TIMEOUT, f"{self.name} on 127.0.0.1:{self.port}", self.log, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def halt(self, grace: float = 10.0):
        """Stop the process but keep its directory and port, so that ``resume`` brings it back (a fault)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, self.stop_signal)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def resume(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self._wrap(self.command()), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True,
            )
        wait_until(self.ready, READY_TIMEOUT, f"{self.name} on 127.0.0.1:{self.port}", self.log, self.proc)
        return self

    def stop(self, grace: float = 10.0):
        """Signal the whole process group, wait, KILL after ``grace`` seconds; always reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, self.stop_signal)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.proc.wait()
        # Children in the group (varnish's worker, postgres's backends) go with the group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point Django at this server."""
        return {}


class Postgres(Server):
    name = "postgres"
    binary = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown
    run_as = "postgres"
    user = "upstack"
    database = "upstack"

    def _directories(self):
        """The data and socket directories, owned by postgres when we are root."""
        self.data = self.dir / "data"
        self.sockets = self.dir / "run"
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sockets, "postgres")

    def prepare(self):
        self._directories()
        initdb = find_binary("initdb")
        subprocess.run(
            self._wrap([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def command(self):
        return [self.path, "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                "-k", str(self.sockets), "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100"]

    def _psql(self, sql: str, database: str = "postgres"):
        psql = find_binary("psql")
        return subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-v",
             "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True,
        ).stdout

    def ready(self):
        self._psql("SELECT 1")
        return True

    def start(self):
        super().start()
        self._psql(f"CREATE ROLE {self.user} LOGIN SUPERUSER")
        self._psql(f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def env(self):
        return {"DATABASE_URL": self.url}


class PostgresReplica(Postgres):
    """A hot standby of ``primary`` (a started ``Postgres``): ``pg_basebackup -R`` copies the primary's data
    directory and writes ``primary_conninfo`` and ``standby.signal``, so the replica streams the primary's
    WAL and replays it. The primary's initdb (``-A trust``) already lets loopback replication in; its
    default ``wal_level=replica`` and ``max_wal_senders`` suffice. Read-only: roles and databases come
    from the primary."""

    name = "postgres-replica"

    def __init__(self, primary: Postgres):
        super().__init__()
        self.primary = primary

    def prepare(self):
        self._directories()
        basebackup = find_binary("pg_basebackup")
        if not basebackup:
            raise ServerError(f"pg_basebackup is not installed; {INSTALL_HINT}")
        subprocess.run(
            self._wrap([basebackup, "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                        "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=READY_TIMEOUT,
        )

    def command(self):
        return [*super().command(), "-c", "hot_standby=on"]

    def start(self):
        Server.start(self)  # read-only: no roles or databases to create
        return self

    def sql(self, statement: str) -> str:
        """Run ``statement`` on the replica as the superuser (e.g. ``SELECT pg_wal_replay_pause()``)."""
        return self._psql(statement, self.database)

    def caught_up(self) -> bool:
        """The replica has replayed everything the primary has written so far."""
        lsn = self.primary._psql("SELECT pg_current_wal_lsn()").strip()
        return self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn").strip() == "t"


class Redis(Server):
    """redis-server; ``replica_of``: the port of the primary it replicates (on 127.0.0.1)."""

    name = "redis"
    binary = "redis-server"

    def __init__(self, replica_of: int | None = None):
        super().__init__()
        self.replica_of = replica_of

    def command(self):
        return [self.path, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "yes",
                *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else [])]

    def ready(self):
        return talk(self.port, b"PING\r\n").startswith(b"+PONG")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def env(self):
        return {"REDIS_URL": self.url, "CACHE_URL": f"rediscache://127.0.0.1:{self.port}/0"}


class RedisSentinel(Server):
    """Redis Sentinel (``redis-server CONFIG --sentinel``: Debian's ``redis-sentinel`` package is this
    binary under another name, plus a service) watching the primary on ``primary_port`` as ``master``,
    alone (quorum 1), quick to act: the primary is down after ``down_after_ms``."""

    name = "redis-sentinel"
    binary = "redis-server"

    def __init__(self, primary_port: int, master: str = "upstack", down_after_ms: int = 1000,
                 failover_timeout_ms: int = 5000):
        super().__init__()
        self.primary_port, self.master = primary_port, master
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms

    def prepare(self):
        # Sentinel rewrites this file as it learns (replicas, the new primary): it lives in our temp dir.
        (self.dir / "sentinel.conf").write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {self.master} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.master} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.master} 1\n")

    def command(self):
        return [self.path, str(self.dir / "sentinel.conf"), "--sentinel"]

    def ready(self):
        return talk(self.port, b"PING\r\n").startswith(b"+PONG")

    @property
    def url(self) -> str:
        return f"sentinel://127.0.0.1:{self.port}"


class Memcached(Server):
    name = "memcached"
    binary = "memcached"

    def command(self):
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        return [self.path, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64", *user]

    def ready(self):
        return talk(self.port, b"version\r\n").startswith(b"VERSION")

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self):
        return {"MEMCACHED_LOCATION": self.location}


class MotoS3(Server):
    """moto's S3-compatible server (PyPI ``moto[server]``) on loopback, for django-storages' S3 backend."""

    name = "moto"
    binary = "moto_server"

    def command(self):
        return [self.path, "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self):
        return talk(self.port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


class Prometheus(Server):
    """Prometheus (Debian's ``prometheus``) scraping ``targets``' /metrics every second."""

    name = "prometheus"
    binary = "prometheus"

    def __init__(self, targets: list[str]):
        super().__init__()
        self.targets = targets

    def prepare(self):
        import yaml

        (self.dir / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "django", "metrics_path": "/metrics",
                                "static_configs": [{"targets": self.targets}]}]}))

    def command(self):
        return [self.path, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}"]

    def ready(self):
        return talk(self.port, b"GET /-/ready HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200") or \
            talk(self.port, b"GET /-/ready HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Varnish(Server):
    """varnishd in the foreground with a VCL text, or a minimal VCL in front of ``backend``."""

    name = "varnish"
    binary = "varnishd"

    def __init__(self, vcl: str | None = None, backend: tuple[str, int] | None = None, storage="malloc,64m"):
        super().__init__()
        if vcl is None:
            if backend is None:
                raise ValueError("give a VCL text or a backend (host, port)")
            vcl = minimal_vcl(*backend)
        self.vcl_text = vcl
        self.admin_port = free_port()
        self.storage = storage

    def prepare(self):
        self.vcl = self.dir / "default.vcl"
        self.vcl.write_text(self.vcl_text)
        self.workdir = self.dir / "n"

    def command(self):
        return [self.path, "-F", "-n", str(self.workdir), "-a", f"127.0.0.1:{self.port}",
                "-T", f"127.0.0.1:{self.admin_port}", "-f", str(self.vcl), "-s", self.storage,
                "-p", "default_ttl=60"]

    def ready(self):
        return self.adm("ping").returncode == 0

    def adm(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([find_binary("varnishadm") or "varnishadm", "-n", str(self.workdir), *args],
                              capture_output=True, text=True, timeout=10)

    def ban(self, expression: str):
        result = self.adm("ban", expression)
        if result.returncode != 0:
            raise ServerError(f"varnishadm ban failed: {result.stdout}{result.stderr}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, headers=headers or {})
        return urllib.request.urlopen(request, timeout=10)


def minimal_vcl(host: str, port: int) -> str:
    return f"""vcl 4.1;
backend default {{ .host = "{host}"; .port = "{port}"; }}
sub vcl_deliver {{
  if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
}}
"""


def talk(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload)
        return s.recv(256)


SERVERS = {"postgres": Postgres, "redis": Redis, "memcached": Memcached}


def main(argv: list[str]) -> int:
    usage = "usage: python -m tests.servers run SERVER [SERVER ...] -- COMMAND [ARGS ...]"
    if len(argv) < 3 or argv[0] != "run" or "--" not in argv:
        print(usage, file=sys.stderr)
        return 2
    split = argv.index("--")
    names, command = argv[1:split], argv[split + 1 :]
    unknown = [n for n in names if n not in SERVERS]
    if unknown or not names or not command:
        print(f"{usage}\nservers: {', '.join(SERVERS)}; unknown: {', '.join(unknown) or '-'}", file=sys.stderr)
        return 2
    started: list[Server] = []
    try:
        env = dict(os.environ)
        for name in names:
            server = SERVERS[name]().start()
            started.append(server)
            env.update(server.env())
            if name == "postgres":
                env[POSTGRES_PASS] = "1"
            print(f"servers: {name} on 127.0.0.1:{server.port}", file=sys.stderr)
        return subprocess.call(command, env=env)
    except ServerError as exc:
        print(f"servers: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(started):
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
