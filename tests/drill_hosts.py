"""``make drill-hosts``: the six-host drill on simulated hosts (issue 19 item 6, docs/scaling.md).

    python -m tests.drill_hosts [--state-dir var/drill-hosts] [--keep-logs]

Builds six hosts as network namespaces - lb, edge1, edge2, app1 (also the Celery worker and beat),
app2, db (PostgreSQL primary and a ``pg_basebackup -R`` replica, Redis cache and broker) - with
memcached on both app hosts. Each host has a veth pair into a seventh namespace holding a bridge (the
"switch"), on a /24 of its own (10.77.N.0/24, N free on this machine); this namespace reaches the
switch over one more veth at 10.77.N.1, which is where the load comes from. Nothing else of the
machine's network is touched, and no traffic leaves the namespaces or loopback.

It writes a drill inventory, renders it with ``upstack render --target systemd --inventory``, starts
every host's services from its ``manifest.json`` inside its namespace (``ip netns exec``; paths under
/etc/upstack point at the host's folder, data and state go to the state directory), migrates and
seeds a small newsroom, then runs the drills, each with bounded load through the load balancer:

1. ``write_on_both_edges``: a comment posted through the load balancer shows on both edges within 1 s.
2. ``edge_partitioned``: edge2 drops every packet while comments are posted; within 5 s of its
   return it serves no stale page (the purge backlog caught it up).
3. ``app_host_killed``: every process of app2 is killed under load: 0 5xx for cached pages, < 1%
   failed requests overall.
4. ``memcached_node_killed``: app2's memcached is killed: the hit ratio falls only by its share.
5. ``replica_lagging``: WAL replay is paused on the replica: a writer still reads its own writes,
   readers get no errors.

Prints one JSON object: per drill ``passed``, its figures and ``seconds``. Exits 1 when a drill
failed, 2 when the hosts could not be set up. Every namespace and process it made is removed at the
end, on failure and on Ctrl-C or SIGTERM; the whole run is bounded (``--budget``, 540 s).
Root only (network namespaces); with CI=true a missing binary is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARIES = ("ip", "iptables", "runuser", "curl", "openssl", "varnishd", "haproxy", "redis-server", "memcached",
            "postgres", "initdb", "pg_basebackup", "psql")
HOSTS = {  # name -> (last octet, roles, ports)
    "lb": (10, ["lb"], ""), "edge1": (21, ["edge"], ""), "edge2": (22, ["edge"], ""),
    "app1": (31, ["app", "worker", "memcached"], ""), "app2": (32, ["app", "memcached"], ""),
    "db": (41, ["db-primary", "db-replica", "cache", "broker"], "db-replica = 5433"),
}
SITE = "localhost"  # the Host header of every request (ALLOWED_HOSTS, the health checks')


class DrillError(RuntimeError):
    """The hosts could not be set up; the message says which step and where its log is."""


class Budget(BaseException):
    """The whole run took longer than its budget (raised from SIGALRM)."""


def _run(argv: list[str], timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        raise DrillError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return done


def _which(name: str) -> str:
    from upstack.stack.machine import find_binary

    path = find_binary(name)
    if not path:
        raise DrillError(f"{name} is not installed; run scripts/install-services (as root)")
    return path


def free_subnet() -> int:
    """N of a 10.77.N.0/24 no route of this machine covers (several drills may run at once)."""
    routes = _run(["ip", "-4", "route", "show"]).stdout
    for n in range(77, 250):
        if f"10.77.{n}." not in routes and not re.search(r"^10\.77\.0\.0/16|^10\.0\.0\.0/8", routes, re.M):
            return n
    raise DrillError("no free 10.77.N.0/24 on this machine")


# -- the network --------------------------------------------------------------------------------------

class Network:
    """A switch namespace with a bridge, one namespace per host joined to it by a veth pair, and a veth
    from this namespace (10.77.N.1) to the switch."""

    def __init__(self, subnet: int):
        self.subnet = subnet
        self.tag = f"{os.getpid() % 100000}"
        self.switch = f"udh{self.tag}-sw"
        self.outer = f"udh{self.tag}c"  # this namespace's end (at most 15 characters)
        self.ns = {name: f"udh{self.tag}-{name}" for name in HOSTS}
        self.made: list[str] = []

    def address(self, host: str) -> str:
        return f"10.77.{self.subnet}.{HOSTS[host][0]}"

    @property
    def controller(self) -> str:
        return f"10.77.{self.subnet}.1"

    def up(self) -> None:
        ip = _which("ip")
        _run([ip, "netns", "add", self.switch])
        self.made.append(self.switch)
        _run([ip, "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        _run([ip, "-n", self.switch, "link", "set", "br0", "up"])
        for index, (host, ns) in enumerate(self.ns.items()):
            _run([ip, "netns", "add", ns])
            self.made.append(ns)
            port = f"p{index}"
            _run([ip, "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run([ip, "-n", self.switch, "link", "set", port, "master", "br0", "up"])
            _run([ip, "-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0"])
            _run([ip, "-n", ns, "link", "set", "eth0", "up"])
            _run([ip, "-n", ns, "link", "set", "lo", "up"])
        _run([ip, "link", "add", self.outer, "type", "veth", "peer", "name", "ctl", "netns", self.switch])
        _run([ip, "-n", self.switch, "link", "set", "ctl", "master", "br0", "up"])
        _run([ip, "addr", "add", f"{self.controller}/24", "dev", self.outer])
        _run([ip, "link", "set", self.outer, "up"])

    def exec(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[host]]

    def kill_all(self, host: str) -> int:
        """SIGKILL every process in ``host``'s namespace (the host dies); returns how many."""
        pids = _run(["ip", "netns", "pids", self.ns[host]], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        return len(pids)

    def partition(self, host: str, on: bool = True) -> None:
        """Drop every packet that enters ``host`` (its own firewall, inside its namespace)."""
        _run([*self.exec(host), "iptables", "-w", "-A" if on else "-D", "INPUT", "-j", "DROP"], timeout=10)

    def down(self) -> None:
        for ns in reversed(self.made):
            if ns != self.switch:
                host = next(h for h, n in self.ns.items() if n == ns)
                self.kill_all(host)
        _run(["ip", "link", "del", self.outer], check=False, timeout=10)
        for ns in reversed(self.made):
            _run(["ip", "netns", "del", ns], check=False, timeout=10)
        self.made.clear()


# -- the services -------------------------------------------------------------------------------------

@dataclass
class Service:
    host: str
    name: str
    argv: list[str]
    log: Path
    listen: tuple[str, int] | None = None
    user: str | None = None
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)


class Stack:
    """The rendered hosts' services, started and stopped inside their namespaces."""

    def __init__(self, net: Network, rendered: Path, state: Path):
        self.net, self.rendered, self.state = net, rendered, state
        self.services: list[Service] = []
        self.password = secrets.token_hex(12)

    # What an installed host has and a rendered folder does not: paths, a certificate, secrets.
    def localize(self) -> None:
        for path in self.rendered.rglob("*"):
            if path.is_file() and path.suffix != ".json":
                text = path.read_text()
                text = text.replace("/etc/upstack/", f"{self._folder(path)}/etc/")
                path.write_text(text)
        db = self.rendered / "db/etc"
        for conf in ("cache", "broker"):
            path = db / f"redis/{conf}.conf"
            (self.state / f"redis-{conf}").mkdir(parents=True, exist_ok=True)
            path.write_text(path.read_text().replace("dir /var/lib/redis", f"dir {self.state}/redis-{conf}"))
        pem = self.rendered / "lb/etc/tls/site.pem"
        pem.parent.mkdir(parents=True, exist_ok=True)
        key, cert = self.state / "tls.key", self.state / "tls.crt"
        _run([_which("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
              f"/CN={SITE}", "-keyout", str(key), "-out", str(cert)])
        pem.write_text(cert.read_text() + key.read_text())
        cfg = self.rendered / "lb/etc/haproxy/haproxy.cfg"
        cfg.write_text(cfg.read_text().replace("maxconn 20000", "maxconn 1000"))
        fresh = secrets.token_hex(16)
        for env_file in self.rendered.glob("*/etc/*.env.example"):
            lines = []
            for line in env_file.read_text().splitlines():
                key_, _, value = line.partition("=")
                value = {"SECRET_KEY": secrets.token_urlsafe(40), "UPSTACK_FRESH_SECRET": fresh,
                         "ALLOWED_HOSTS": f"{SITE},{self.net.address('lb')}"}.get(key_, value)
                lines.append(f"{key_}={value.replace('CHANGE_ME', self.password)}" if "=" in line else line)
            env_file.write_text("\n".join(lines) + "\n")
        # Every Django host gets app1's env file: SECRET_KEY (sessions, CSRF) must be the same on all.
        app_env = self.rendered / "app1/etc/newsroom.env.example"
        for env_file in self.rendered.glob("app*/etc/*.env.example"):
            env_file.write_text(app_env.read_text())

    def _folder(self, path: Path) -> Path:
        return self.rendered / path.relative_to(self.rendered).parts[0]

    def manifest(self, host: str) -> dict:
        return json.loads((self.rendered / host / "manifest.json").read_text())

    def django_env(self, host: str) -> dict[str, str]:
        env_file = self.rendered / host / "etc/newsroom.env.example"
        env = {k: v for k, _, v in (line.partition("=") for line in env_file.read_text().splitlines())
               if k and not k.startswith("#")}
        return {**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")},
                **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", "PYTHONUNBUFFERED": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(self.state / f"prometheus-{host}"), "STATIC_ROOT": str(self.state / "static")}

    def command(self, host: str, name: str) -> tuple[list[str], str | None, tuple[str, int] | None]:
        service = next(s for s in self.manifest(host)["services"] if s["name"] == name)
        folder = self.rendered / host
        argv = [arg.replace("/etc/upstack/", f"{folder}/etc/") for arg in service["command"]]
        if argv[0].endswith("/.venv/bin/python"):
            argv[0] = sys.executable
        argv = [a.replace("/var/lib/upstack-beat/", f"{self.state}/") for a in argv]
        listen = None
        if service["listen"]:
            address, port = service["listen"].rsplit(":", 1)
            listen = (address, int(port))
        return argv, service["user"], listen

    def start(self, host: str, name: str, argv: list[str] | None = None, user: str | None = None,
              env: dict[str, str] | None = None, timeout: float = 60) -> Service:
        rendered_argv, rendered_user, listen = self.command(host, name)
        argv = argv or rendered_argv
        user = user if user is not None else rendered_user
        log = self.state / "logs" / f"{host}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        wrap = ["runuser", "-u", user, "--"] if user and user != "root" else []
        service = Service(host, name, argv, log, listen, user, env)
        with open(log, "ab") as out:
            service.proc = subprocess.Popen([*self.net.exec(host), *wrap, *argv], stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env, start_new_session=True)
        self.services.append(service)
        if listen:
            self.wait(lambda: connects(*listen), timeout, f"{host} {name} on {listen[0]}:{listen[1]}", service)
        return service

    def wait(self, check, timeout: float, what: str, service: Service | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service and service.proc.poll() is not None:
                raise DrillError(f"{what}: exited {service.proc.returncode}; log {service.log}:\n{tail(service.log)}")
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(0.2)
        raise DrillError(f"{what}: not ready after {timeout:.0f} s" + (f"; log {service.log}:\n{tail(service.log)}"
                                                                       if service else ""))

    def stop(self, service: Service, sig=signal.SIGKILL) -> None:
        if service.proc and service.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.proc.wait(10)
        if service.listen:  # the group is gone; its sockets may take a moment to close
            self.wait(lambda: not connects(*service.listen), 10, f"{service.host} {service.name} to stop listening")
        self.services.remove(service)

    def stop_all(self) -> None:
        for service in reversed(self.services):
            if service.proc and service.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.proc.pid, signal.SIGKILL)
        for service in self.services:
            with contextlib.suppress(Exception):
                service.proc.wait(5)
        self.services.clear()

    # -- per service --
    def psql(self, sql: str, port: int = 5432, database: str = "postgres") -> str:
        sockets = self.state / ("pg-run" if port == 5432 else "pg-replica-run")
        return _run([*self.net.exec("db"), "runuser", "-u", "postgres", "--", _which("psql"), "-h", str(sockets),
                     "-p", str(port), "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], timeout=30).stdout.strip()

    def start_database(self) -> None:
        for folder in ("pg-data", "pg-run", "pg-replica-run"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(self.state / folder, "postgres")
        data, replica = self.state / "pg-data" / "primary", self.state / "pg-data" / "replica"
        _run(["runuser", "-u", "postgres", "--", _which("initdb"), "-D", str(data), "-A", "peer", "-U", "postgres",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], timeout=120)
        # The drill's only departures from the rendered configuration: where the data and sockets are,
        # and less memory and no fsync on a shared two-core machine.
        small = ["-c", "shared_buffers=32MB", "-c", "fsync=off",
                 "-c", "effective_cache_size=128MB"]
        argv, user, _ = self.command("db", "postgres")
        argv[argv.index("-D") + 1] = str(data)
        self.start("db", "postgres", [*argv, "-c", f"unix_socket_directories={self.state}/pg-run", *small], user)
        self.psql(f"CREATE ROLE upstack LOGIN PASSWORD '{self.password}'")
        self.psql(f"CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{self.password}'")
        self.psql("CREATE DATABASE upstack OWNER upstack")
        _run([*self.net.exec("db"), "runuser", "-u", "postgres", "--", "env", f"PGPASSWORD={self.password}",
              _which("pg_basebackup"), "-h", self.net.address("db"), "-p", "5432", "-U", "replicator",
              "-D", str(replica), "-R", "-X", "stream", "-c", "fast", "--no-sync"], timeout=120)
        argv, user, _ = self.command("db", "postgres-replica")
        argv[argv.index("-D") + 1] = str(replica)
        self.start("db", "postgres-replica",
                   [*argv, "-c", f"unix_socket_directories={self.state}/pg-replica-run", *small], user)

    def start_varnish(self, host: str) -> Service:
        argv, _, _ = self.command(host, "varnish")
        workdir = self.state / f"varnish-{host}"
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)
        env = {"PATH": os.environ.get("PATH", ""), **{k: v for k, v in self.django_env(host).items()
                                                       if k == "UPSTACK_FRESH_SECRET"}}
        return self.start(host, "varnish", [argv[0], "-n", str(workdir), *argv[1:]], "root", env)

    def start_memcached(self, host: str) -> Service:
        argv, _, _ = self.command(host, "memcached")
        return self.start(host, "memcached", argv, "memcache")

    def start_django(self, host: str, name: str) -> Service:
        argv, _, _ = self.command(host, name)
        (self.state / f"prometheus-{host}").mkdir(parents=True, exist_ok=True)
        # The Django processes run as root here: the checkout is root's (an installed host runs them
        # as the manifest's www-data).
        return self.start(host, name, argv, "root", self.django_env(host), timeout=90)

    def manage(self, *args: str, timeout: float = 300) -> str:
        (self.state / "prometheus-app1").mkdir(parents=True, exist_ok=True)
        return _run([*self.net.exec("app1"), sys.executable, "manage.py", *args], timeout=timeout, cwd=ROOT,
                    env=self.django_env("app1")).stdout


def connects(address: str, port: int, timeout: float = 1) -> bool:
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- the clients --------------------------------------------------------------------------------------

class Client:
    """HTTPS through the load balancer (its self-signed certificate), keeping cookies like a browser."""

    def __init__(self, address: str):
        self.address = address
        self.cookies: dict[str, str] = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.connection: http.client.HTTPSConnection | None = None
        self.location: str | None = None

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, str]:
        data = urllib.parse.urlencode(body).encode() if body is not None else None
        sent = {"Host": SITE, "User-Agent": "upstack-drill", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Referer"] = f"https://{SITE}{path}"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(self.address, 443, timeout=timeout, context=self.context)
            try:
                self.connection.request(method, path, data, sent)
                response = self.connection.getresponse()
                text = response.read().decode(errors="replace")
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the server closed: once more on a new one
                if attempt == 2:
                    raise
        self.location = response.getheader("Location")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, text

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not token:
            raise DrillError(f"the login page answered {status} without a CSRF token")
        status, _ = self.request("POST", "/accounts/login/", {"csrfmiddlewaretoken": token.group(1),
                                                              "username": username, "password": password})
        if status != 302 or "sessionid" not in self.cookies:
            raise DrillError(f"logging in as {username} answered {status} (no session)")

    def comment(self, slug: str, body: str) -> int:
        status, page = self.request("GET", f"/articles/{slug}/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not token:
            raise DrillError(f"/articles/{slug}/ for the logged-in writer ({status}) has no comment form")
        status, _ = self.request("POST", f"/articles/{slug}/comments/",
                                 {"csrfmiddlewaretoken": token.group(1), "body": body})
        return status


def edge_page(net: Network, edge: str, path: str) -> tuple[int, str]:
    """``path`` from one edge, as the load balancer host asks it (the edge believes its X-Forwarded-Proto)."""
    done = _run([*net.exec("lb"), "curl", "-s", "-m", "3", "-o", "-", "-w", "\n%{http_code}", "-H", f"Host: {SITE}",
                 "-H", "X-Forwarded-Proto: https", "-H", f"X-Forwarded-For: {net.controller}", f"http://{net.address(edge)}:6081{path}"], timeout=10, check=False)
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


class Load:
    """``threads`` readers through the load balancer for ``seconds``, each request's path from
    ``pick(i)``; records (kind, status) - status 0 for a failed connection or a timeout."""

    def __init__(self, address: str, pick, seconds: float, threads: int = 4, pause: float = 0.01):
        self.address, self.pick, self.seconds, self.threads, self.pause = address, pick, seconds, threads, pause
        self.results: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()
        self.workers: list[threading.Thread] = []

    def start(self) -> Load:
        self.started = time.monotonic()
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self.workers.append(worker)
        return self

    def _run(self, n: int) -> None:
        client, i = Client(self.address), n
        while time.monotonic() - self.started < self.seconds:
            kind, path = self.pick(i)
            i += self.threads
            try:
                status, _ = client.request("GET", path, timeout=5)
            except (OSError, http.client.HTTPException):
                status = 0
                client.close()
            with self.lock:
                self.results.append((kind, status, time.monotonic() - self.started))
            time.sleep(self.pause)
        client.close()

    def join(self) -> Load:
        for worker in self.workers:
            worker.join(self.seconds + 30)
        return self

    def figures(self) -> dict:
        by_kind: dict[str, Counter] = {}
        for kind, status, _ in self.results:
            by_kind.setdefault(kind, Counter())["failed" if status == 0 else f"{status // 100}xx"] += 1
        total = len(self.results)
        failed = sum(1 for _, status, _ in self.results if status == 0 or status >= 500)
        return {"requests": total, "failed": failed, "failed_share": round(failed / total, 4) if total else None,
                "by_kind": {kind: dict(counts) for kind, counts in by_kind.items()}}


def memcached_stats(address: str) -> dict[str, int]:
    with socket.create_connection((address, 11211), timeout=3) as conn:
        conn.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    stats = {}
    for line in data.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
            stats[parts[1]] = int(parts[2])
    return stats


def wait_for(check, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until ``check()`` was true, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if check():
                return round(time.monotonic() - started, 3)
        time.sleep(step)
    return None


# -- the drill ----------------------------------------------------------------------------------------

def inventory(net: Network) -> str:
    return "".join(f'[hosts.{name}]\naddress = "{net.address(name)}"\nroles = {json.dumps(roles)}\n'
                   + (f"ports = {{ {ports} }}\n" if ports else "") + "\n"
                   for name, (_, roles, ports) in HOSTS.items())


class Drill:
    def __init__(self, state: Path):
        self.state = state
        self.net = Network(free_subnet())
        self.stack = Stack(self.net, state / "hosts", state)
        self.lb = self.net.address("lb")
        self.edges = ("edge1", "edge2")
        self.slugs: list[str] = []
        self.demo_password = secrets.token_hex(8)
        self.summary: dict = {"hosts": {name: self.net.address(name) for name in HOSTS}, "drills": {}}

    def log(self, message: str) -> None:
        print(f"[drill-hosts {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # -- setup --
    def render(self) -> None:
        (self.state / "inventory.toml").write_text(inventory(self.net))
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev"}
        _run([sys.executable, "manage.py", "upstack", "render", "--target", "systemd", "--inventory",
              str(self.state / "inventory.toml"), "--out", str(self.stack.rendered), "--cpus", "1", "--memory", "1G"],
             timeout=120, cwd=ROOT, env=env)
        self.stack.localize()

    def up(self) -> None:
        started = time.monotonic()
        self.render()
        self.net.up()
        stack = self.stack
        stack.start_database()
        for name in ("redis-cache", "redis-broker"):
            stack.start("db", name, user="root")
        for host in ("app1", "app2"):
            stack.start_memcached(host)
        self.log("database, Redis and memcached up; migrating and seeding")
        stack.manage("migrate", "--noinput", "-v", "0")
        stack.manage("collectstatic", "--noinput", "-v", "0")  # a release step (docs/deploy.md)
        stack.manage("seed", "--articles", "120", "--users", "20", "--comments", "200", "--seed", "1",
                     "--if-empty", "--no-progress")
        _run([*self.net.exec("app1"), sys.executable, "manage.py", "demo_user"], cwd=ROOT, timeout=120,
             env={**stack.django_env("app1"), "DEMO_PASSWORD": self.demo_password})
        out = stack.manage("shell", "-c", "import json; from newsroom.news.models import Article; "
                           "print(json.dumps(list(Article.objects.published().order_by('pk')"
                           ".values_list('slug', flat=True)[:100])))")
        self.slugs = json.loads(out.strip().splitlines()[-1])
        if len(self.slugs) < 80:
            raise DrillError(f"the seed made {len(self.slugs)} published articles, the drills need 80")
        for host in ("app1", "app2"):
            stack.start_django(host, "app")
        stack.start_django("app1", "worker")
        stack.start_django("app1", "beat")
        for edge in self.edges:
            stack.start_varnish(edge)
        stack.start("lb", "haproxy", user="root")
        stack.wait(lambda: all(edge_page(self.net, e, "/healthz")[0] == 200 for e in self.edges), 60,
                   "both edges to reach the app hosts")
        probe = Client(self.lb)
        stack.wait(lambda: probe.request("GET", "/healthz")[0] == 200, 30, "the load balancer to reach the edges")
        self.summary["setup_seconds"] = round(time.monotonic() - started, 1)
        self.log(f"six hosts up in {self.summary['setup_seconds']} s")

    def warm(self, slugs) -> None:
        for slug in slugs:
            for edge in self.edges:
                edge_page(self.net, edge, f"/articles/{slug}/")

    def writer(self) -> Client:
        client = Client(self.lb)
        client.login("demo", self.demo_password)
        return client

    def run(self, name: str, drill) -> None:
        started = time.monotonic()
        self.log(f"drill {name}")
        try:
            passed, figures = drill()
        except Exception as exc:  # a drill that cannot run has failed; the others still run
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            passed, figures = False, {"error": f"{type(exc).__name__}: {exc}",
                                      "where": f"{Path(frame.filename).name}:{frame.lineno}"}
        self.summary["drills"][name] = {"passed": passed, **figures, "seconds": round(time.monotonic() - started, 2)}
        self.log(f"drill {name}: {'passed' if passed else 'FAILED'} {json.dumps(figures)}")

    # -- the drills --
    def write_on_both_edges(self) -> tuple[bool, dict]:
        slug, writer = self.slugs[0], self.writer()
        self.warm([slug])
        load = Load(self.lb, lambda i: ("cached", f"/articles/{self.slugs[1 + i % 20]}/"), 4, threads=2).start()
        body = f"drill1 {secrets.token_hex(6)}"
        status = writer.comment(slug, body)
        visible = {edge: wait_for(lambda e=edge: body in edge_page(self.net, e, f"/articles/{slug}/")[1], 3.0)
                   for edge in self.edges}
        load.join()
        seconds = [v for v in visible.values() if v is not None]
        passed = status == 302 and len(seconds) == 2 and max(seconds) <= 1.0 and load.figures()["failed"] == 0
        return passed, {"post_status": status, "visible_after_s": visible, "load": load.figures()}

    def edge_partitioned(self) -> tuple[bool, dict]:
        slug, writer, path = self.slugs[2], self.writer(), f"/articles/{self.slugs[2]}/"
        first = f"drill2a {secrets.token_hex(6)}"
        writer.comment(slug, first)
        if wait_for(lambda: all(first in edge_page(self.net, e, path)[1] for e in self.edges), 3.0) is None:
            return False, {"error": "the first write did not reach both edges"}
        self.net.partition("edge2")
        load = Load(self.lb, lambda i: ("cached", f"/articles/{self.slugs[3 + i % 20]}/"), 6, threads=2).start()
        writes, last = [], None
        try:
            for n in range(3):
                last = f"drill2b{n} {secrets.token_hex(6)}"
                began = time.monotonic()
                status = writer.comment(slug, last)
                writes.append({"status": status, "seconds": round(time.monotonic() - began, 3)})
            on_edge1 = wait_for(lambda: last in edge_page(self.net, "edge1", path)[1], 3.0)
            load.join()
        finally:
            self.net.partition("edge2", on=False)
        returned = time.monotonic()
        status, page = edge_page(self.net, "edge2", path)
        stale_on_return = first in page and last not in page
        caught = wait_for(lambda: last in edge_page(self.net, "edge2", path)[1], 5.0 - (time.monotonic() - returned))
        caught = None if caught is None else round(time.monotonic() - returned, 3)
        still_fresh = all(last in edge_page(self.net, "edge2", path)[1] for _ in range(3))
        passed = (on_edge1 is not None and caught is not None and caught <= 5.0 and still_fresh
                  and all(w["status"] == 302 for w in writes))
        return passed, {"writes_while_partitioned": writes, "visible_on_edge1_s": on_edge1,
                        "stale_on_return": stale_on_return, "caught_up_after_return_s": caught,
                        "load": load.figures()}

    def app_host_killed(self) -> tuple[bool, dict]:
        cached = [f"/articles/{slug}/" for slug in self.slugs[10:40]]
        self.warm(self.slugs[10:40])

        def pick(i):
            if i % 5 == 4:
                return "uncached", f"/search/?q={secrets.token_hex(3)}"
            return "cached", cached[i % len(cached)]

        load = Load(self.lb, pick, 12, threads=4).start()
        time.sleep(3)
        killed = self.net.kill_all("app2")
        load.join()
        for service in [s for s in self.stack.services if s.host == "app2"]:
            self.stack.services.remove(service)
        figures = load.figures()
        cached_5xx = sum(n for k, n in figures["by_kind"].get("cached", {}).items() if k in ("5xx", "failed"))
        passed = killed > 0 and cached_5xx == 0 and figures["failed_share"] is not None and figures["failed_share"] < 0.01
        # Bring the host back for the drills that follow.
        self.stack.start_memcached("app2")
        self.stack.start_django("app2", "app")
        time.sleep(4)  # the edges' probes (1 s interval, 2 of 3) see it again
        return passed, {"processes_killed": killed, "cached_5xx": cached_5xx, "load": figures}

    def memcached_node_killed(self) -> tuple[bool, dict]:
        # Article pages with a query string no one asked for before: a miss at the edge and in the page
        # cache, so Django renders them - from the query and fragment caches, which are on memcached.
        reader, slugs, passes = Client(self.lb), self.slugs[40:80], iter(range(1000))
        nodes = {host: self.net.address(host) for host in ("app1", "app2")}

        def one_pass() -> dict[str, tuple[int, int]]:
            before = {h: memcached_stats(a) for h, a in nodes.items() if connects(a, 11211)}
            failed, n = 0, next(passes)
            for slug in slugs:
                status, _ = reader.request("GET", f"/articles/{slug}/?drill={n}")
                failed += status >= 500
            after = {h: memcached_stats(nodes[h]) for h in before}
            counts = {h: (after[h]["get_hits"] - before[h]["get_hits"], after[h]["cmd_get"] - before[h]["cmd_get"])
                      for h in before}
            counts["failed"] = (failed, len(slugs))
            return counts

        one_pass()  # warm: every fragment and query of these pages is stored
        warm = one_pass()
        gets = warm["app1"][1] + warm["app2"][1]
        if gets == 0:
            return False, {"error": "the article renders made no memcached reads: nothing to measure"}
        ratio_before = (warm["app1"][0] + warm["app2"][0]) / gets
        share = warm["app2"][1] / gets
        memcached = next(s for s in self.stack.services if s.host == "app2" and s.name == "memcached")
        self.stack.stop(memcached)
        one_pass()  # the first requests open app2's breaker
        after = one_pass()
        ratio_after = after["app1"][0] / gets  # the same requests: the dead node's reads are misses
        floor = ratio_before - share
        passed = ratio_after >= floor - 0.05 and ratio_after > 0 and after["failed"][0] == 0
        self.stack.start_memcached("app2")
        return passed, {"hit_ratio_before": round(ratio_before, 3), "killed_node_share": round(share, 3),
                        "hit_ratio_after": round(ratio_after, 3), "gets_per_pass": gets,
                        "gets_on_survivor_after": after["app1"][1], "failed_requests": after["failed"][0]}

    def replica_lagging(self) -> tuple[bool, dict]:
        writer = self.writer()
        reads = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'upstack'"
        replica_reads = int(self.stack.psql(reads, 5433))
        self.stack.psql("SELECT pg_wal_replay_pause()", 5433)
        try:
            def pick(i):
                if i % 3 == 2:
                    return "uncached", f"/search/?q={secrets.token_hex(3)}"
                return "cached", f"/articles/{self.slugs[10 + i % 30]}/"

            load = Load(self.lb, pick, 8, threads=3).start()
            seen = []
            for n in range(3):
                slug = self.slugs[90 + n]
                body = f"drill4 {secrets.token_hex(6)}"
                status = writer.comment(slug, body)
                code, page = writer.request("GET", f"/articles/{slug}/")
                seen.append(status == 302 and code == 200 and body in page)
                time.sleep(1.5)
            load.join()
            lag = float(self.stack.psql("SELECT coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)",
                                        5433) or 0)
            replica_reads = int(self.stack.psql(reads, 5433)) - replica_reads
        finally:
            self.stack.psql("SELECT pg_wal_replay_resume()", 5433)
        figures = load.figures()
        passed = all(seen) and figures["failed"] == 0
        return passed, {"writer_saw_own_writes": f"{sum(seen)}/{len(seen)}", "replica_lag_s": round(lag, 1),
                        "replica_transactions_during_drill": replica_reads, "readers": figures}

    def main(self, only: list[str] | None = None, hold: float = 0) -> dict:
        started = time.monotonic()
        self.up()
        for name in DRILLS:
            if not only or name in only:
                self.run(name, getattr(self, name))
        if hold:
            self.log(f"holding the hosts for {hold:.0f} s (logs in {self.state / 'logs'})")
            time.sleep(hold)
        self.summary["passed"] = all(d["passed"] for d in self.summary["drills"].values())
        self.summary["seconds"] = round(time.monotonic() - started, 1)
        return self.summary

    def down(self) -> None:
        self.stack.stop_all()
        self.net.down()


DRILLS = ("write_on_both_edges", "edge_partitioned", "app_host_killed", "memcached_node_killed", "replica_lagging")


def preflight() -> str | None:
    """Why the drill cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [name for name in BINARIES if not shutil.which(name) and not _found(name)]
    return f"missing {', '.join(missing)} (scripts/install-services installs them)" if missing else None


def _found(name: str) -> bool:
    try:
        _which(name)
        return True
    except DrillError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.drill_hosts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=ROOT / "var/drill-hosts",
                        help="rendered hosts, data and logs (emptied first; default var/drill-hosts)")
    parser.add_argument("--budget", type=float, default=540, help="seconds before the run is stopped (default 540)")
    parser.add_argument("--only", action="append", choices=DRILLS, help="run only this drill (repeatable)")
    parser.add_argument("--hold", type=float, default=0, help="keep the hosts up this many seconds after the "
                        "drills, to look around with ip netns exec (within the budget)")
    args = parser.parse_args(argv)
    why = preflight()
    if why:
        print(f"drill-hosts: cannot run: {why}", file=sys.stderr)
        return 2
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    state = args.state_dir.resolve()
    state.parent.mkdir(parents=True, exist_ok=True)
    lock = open(state.parent / f".{state.name}.lock", "w")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"drill-hosts: another drill is using {state}; give this one its own --state-dir", file=sys.stderr)
        return 2
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    os.chmod(state, 0o755)

    def stop(signum, frame):
        raise Budget("the drill ran out of time" if signum == signal.SIGALRM else f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(int(args.budget))
    drill = Drill(state)
    code = 0
    try:
        summary = drill.main(args.only, args.hold)
        code = 0 if summary["passed"] else 1
    except (DrillError, Budget, KeyboardInterrupt) as exc:
        drill.summary.update(passed=False, error=f"{type(exc).__name__}: {exc}")
        code = 2 if isinstance(exc, DrillError) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the teardown
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        drill.log("tearing down every namespace and process")
        drill.down()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print(json.dumps(drill.summary, indent=2))
    (state / "summary.json").write_text(json.dumps(drill.summary, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
