"""Run the whole stack on this machine: ``upstack up``, ``down``, ``status``, ``stop|start|restart``, ``env``.

Renders the local target into the state directory (``.upstack/``), initialises PostgreSQL on the
first run, starts everything under supervisord, migrates and seeds, and waits until every service
answers. State (ports, options, the generated secret key) lives in ``.upstack/`` so a second ``up``
reuses it. ``down`` stops exactly what supervisord started - by pid, nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import machine, overlay, project, render, replica, rolling, services
from .errors import StackError
from .probes import http_status, talk
from .release_steps import ReleaseSteps
from .supervisor import Supervisor, SupervisorError

PORT_NAMES = ("postgres", "redis-cache", "redis-broker", "varnish", "varnish-admin", "app", "pgbouncer",
              "haproxy", "haproxy-https", "memcached", "prometheus", "flower", "postgres-replica")
SWITCHES = ("with_pgbouncer", "with_haproxy", "with_memcached", "with_observability", "with_flower", "with_replica")
READY_TIMEOUT = 120.0


def closed_to_others(path: Path) -> Path | None:
    """The first directory on ``path``'s way from / that other users cannot enter (no o+x), if any."""
    for directory in [*reversed(path.resolve().parents), path.resolve()]:
        if not directory.stat().st_mode & 0o001:
            return directory
    return None


@dataclass
class Options:
    with_pgbouncer: bool = False
    with_haproxy: bool = False
    with_memcached: bool = False
    with_observability: bool = False
    with_flower: bool = False
    with_replica: bool = False
    app_server: str = "gunicorn"
    seed_articles: int = 3000


class LocalStack(ReleaseSteps):
    def __init__(self, state_dir: Path | None = None):
        self.dir = Path(state_dir or project.state_dir())
        self.state_file = self.dir / "state.json"
        self.supervisor = Supervisor(self.dir)

    # --- state ---------------------------------------------------------------------------------
    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StackError(f"{self.state_file} is not valid JSON ({exc}); fix or delete it") from None

    def _save(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, self.state_file)

    def _secret(self, name: str = "secret_key") -> str:
        """A generated secret kept in the state dir (mode 0600), the same on every `up`."""
        path = self.dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        return path.read_text().strip()

    def context(self, state: dict, resources=None):
        opts = state["options"]
        resources = resources or machine.resources(state["resources"]["cpus"], state["resources"]["memory"])
        return project.context(resources, ports=state["ports"], local=True, settings_override=state["settings"],
                               app_server=opts["app_server"], **{k: opts.get(k, False) for k in SWITCHES})

    def env(self) -> dict[str, str]:
        """The environment that points Django at the running stack."""
        state = self.state()
        if not state:
            raise StackError("the stack has never been up here; run `manage.py upstack up` first")
        env = render.django_env(self.context(state), "local")
        env.update({
            "SECRET_KEY": self._secret(), "BYPASS_SECRET": self._secret("bypass_secret"),
            # Read by Django and by Varnish (std.getenv): supervisord passes its environment to both.
            "UPSTACK_FRESH_SECRET": self._secret("fresh_secret"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # Plain HTTP on loopback: the deploy profile's HTTPS-only switches would lock us out.
            "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0", "UPSTACK_HTTP_ONLY": "true", "STATIC_ROOT": str(self.dir / "static"), "MEDIA_ROOT": str(self.dir / "media"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.dir / "prometheus"),
            rolling.READY_DIR_VARIABLE: str(self.dir / "run" / "workers"),
            "UPSTACK_SERVE_MEDIA": "true",  # no media server on the local stack (docs/settings.md)
        })
        if state.get("project_settings"):  # the overlay's input (upstack.stack.settings)
            env[overlay.PROJECT_VARIABLE] = state["project_settings"]
        return env

    def edge_url(self) -> str:
        state = self.state()
        if not state:
            raise StackError("the stack has never been up here; run `manage.py upstack up` first")
        return f"http://127.0.0.1:{state['ports']['varnish']}"

    def prometheus_url(self) -> str | None:
        """The stack's own Prometheus (`up --with observability`) when it runs, else None."""
        state = self.state()
        if not state or not state["options"].get("with_observability") or not self.supervisor.running():
            return None
        info = self.supervisor.processes().get("prometheus")
        return f"http://127.0.0.1:{state['ports']['prometheus']}" if info and info["statename"] == "RUNNING" else None

    # --- up --------------------------------------------------------------------------------------
    def up(self, options: Options, resources, settings_module: str, project_settings: str | None = None,
           say=print) -> dict:
        """Start the stack; its Django processes run ``settings_module``, which overlays
        ``project_settings`` when that is given (upstack.stack.overlay)."""
        if self.supervisor.running():
            say(f"The stack is already up at {self.edge_url()}; nothing to do.")
            return self.status()
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)  # postgres and varnish drop privileges and must traverse it
        if os.geteuid() == 0 and (closed := closed_to_others(self.dir)) is not None:
            raise StackError(f"PostgreSQL and Varnish run as their own users and cannot enter {closed} (mode "
                             f"{closed.stat().st_mode & 0o777:o}), which holds the stack's state {self.dir}. Put the "
                             "state where they can reach it - UPSTACK['STATE_DIR'], e.g. /var/tmp/upstack-{self.dir.parent.name} - or run "
                             f"`chmod o+x {closed}`.", returncode=2)
        gitignore = self.dir / ".gitignore"  # the state is this machine's: never committed, in any project
        if not gitignore.exists():
            gitignore.write_text("# upstack up: this machine's local stack (data, logs, rendered configs)\n*\n")
        state = self._prepare_state(options, resources, settings_module, project_settings)
        ctx = self.context(state, resources)
        self._check_ports(ctx)
        shutil.rmtree(self.dir / "prometheus", ignore_errors=True)  # metrics of processes long gone
        for sub in ("logs", "run", "varnish", "redis-cache", "redis-broker", "static", "media", "nginx", "prometheus"):
            (self.dir / sub).mkdir(exist_ok=True)
        render.write(render.render("local", ctx), self.dir)
        if os.geteuid() == 0:  # PgBouncer runs as postgres and must read its (0600) user list
            shutil.chown(self.dir / "etc" / "pgbouncer" / "userlist.txt", "postgres")
        if options.with_haproxy:
            self._tls_certificate()
        if options.with_flower and importlib.util.find_spec("flower") is None:
            raise StackError("--with flower needs Flower in this environment: pip install 'django-upstack[flower]'",
                             returncode=2)
        fresh_db = self._initdb(ctx)
        env = {**os.environ, **self.env()}
        self.supervisor.start(env)
        say(f"  supervisord and servers started: {time.monotonic() - started:.1f}s")
        try:
            self._wait_infrastructure(ctx)
            if fresh_db:
                self._create_database(ctx)
            if options.with_replica:
                self._start_replica(ctx)
            say(f"  databases ready: {time.monotonic() - started:.1f}s")
            self._manage(env, say, "migrate", "--noinput", "-v", "0")
            self._manage(env, say, "collectstatic", "--noinput", "-v", "0")
            if project.seeds():  # the project's hook, run in the stack's environment
                self._manage(env, say, "upstack", "seed", "--size", str(options.seed_articles))
            else:
                say("  no UPSTACK['SEED'] hook: nothing seeded")
            for name in ("app", "worker", "beat", *(("flower",) if options.with_flower else ())):  # together;
                # the health checks below wait for them
                self.supervisor.start_program(name, wait=False)
            self._wait_django(ctx, env, say)
        except BaseException:
            say(f"upstack up failed; stopping what started. Logs are in {self.dir / 'logs'}.")
            self.supervisor.shutdown()
            raise
        state["up_seconds"] = round(time.monotonic() - started, 1)
        self._save(state)
        say(f"The stack is up at {self.edge_url()} ({state['up_seconds']:.1f}s).")
        return self.status()

    def _prepare_state(self, options: Options, resources, settings_module: str, project_settings: str | None) -> dict:
        state = self.state() or {"ports": {}}
        state["options"] = {k: getattr(options, k) for k in (*SWITCHES, "app_server")}
        state["settings"] = settings_module
        state["project_settings"] = project_settings
        state["resources"] = {"cpus": resources.cpus, "memory": resources.memory_bytes}
        taken = set(state["ports"].values())
        for name in PORT_NAMES:
            if name not in state["ports"]:
                port = machine.free_port()
                while port in taken:
                    port = machine.free_port()
                state["ports"][name] = port
                taken.add(port)
        self._save(state)
        return state

    def _check_ports(self, ctx) -> None:
        names = {*services.service_names(ctx), "varnish-admin", *(("haproxy-https",) if ctx.with_haproxy else ())}
        wanted = {name: port for name, port in ctx.ports.items() if name in names}
        busy = {name: port for name, port in wanted.items() if machine.port_in_use(port)}
        if busy:
            listed = ", ".join(f"{name} on 127.0.0.1:{port}" for name, port in busy.items())
            raise StackError(
                f"port collision: {listed} already in use by another process. Stop that process, or delete "
                f"{self.state_file} so `upstack up` picks new free ports.", returncode=3)

    def _tls_certificate(self) -> None:
        pem = self.dir / "tls" / "site.pem"
        if pem.exists():
            return
        pem.parent.mkdir(exist_ok=True)
        key, cert = pem.parent / "key.pem", pem.parent / "cert.pem"
        subprocess.run([machine.require("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
                        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        pem.write_text(cert.read_text() + key.read_text())
        pem.chmod(0o600)
        key.unlink()

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _initdb(self, ctx) -> bool:
        data = self.dir / "postgres" / "data"
        if (data / "PG_VERSION").exists():
            return False
        shutil.rmtree(data, ignore_errors=True)
        data.parent.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            for path in (data.parent, self.dir / "run"):
                shutil.chown(path, "postgres", "postgres")
        result = subprocess.run(self._as_postgres([ctx.binaries["initdb"], "-D", str(data), "-A", "trust", "-U",
                                                   "postgres", "-E", "UTF8", "--locale=C.UTF-8"]),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip()[-1500:]}")
        return True

    def _start_replica(self, ctx) -> None:
        """pg_basebackup -R from the primary (once), then the replica; ready when it is in recovery."""
        try:
            replica.basebackup(ctx, self.dir, self._as_postgres)
        except (replica.ReplicaError, subprocess.TimeoutExpired) as exc:
            raise StackError(str(exc)) from None
        self.supervisor.start_program("postgres-replica", wait=False)
        self._wait(lambda: self._psql(ctx, replica.IN_RECOVERY, port="postgres-replica").strip() == "t",
                   "postgres-replica")

    def _psql(self, ctx, sql: str, database: str = "postgres", port: str = "postgres") -> str:
        result = subprocess.run([ctx.binaries["psql"], "-h", "127.0.0.1", "-p", str(ctx.ports[port]), "-U",
                                 "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise StackError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def _create_database(self, ctx) -> None:
        if not self._psql(ctx, f"SELECT 1 FROM pg_roles WHERE rolname = '{ctx.db_user}'").strip():
            self._psql(ctx, f"CREATE ROLE {ctx.db_user} LOGIN CREATEDB")
        if not self._psql(ctx, f"SELECT 1 FROM pg_database WHERE datname = '{ctx.db_name}'").strip():
            self._psql(ctx, f"CREATE DATABASE {ctx.db_name} OWNER {ctx.db_user}")
        self._psql(ctx, f"ALTER DATABASE {ctx.db_name} SET statement_timeout = '30s'")
        self._psql(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database=ctx.db_name)

    def _wait(self, check, what: str, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``check`` until true; fail at once when the service ``what`` names has given up (FATAL)."""
        deadline = time.monotonic() + timeout
        error = None
        program = what.split()[0]
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001 - anything means "not ready yet"
                error = exc
            info = self.supervisor.processes().get(program)
            if info and info["statename"] == "FATAL":
                log = self.dir / "logs" / f"{program}.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise StackError(f"{program} could not start (supervisord gave up); the end of {log}:\n{tail}")
            time.sleep(0.2)
        states = {name: info["statename"] for name, info in self.supervisor.processes().items()}
        raise StackError(f"{what} not ready after {timeout:.0f}s (last error: {error}); services: {states}; "
                         f"logs in {self.dir / 'logs'}")

    def _wait_infrastructure(self, ctx) -> None:
        self._wait(lambda: self._psql(ctx, "SELECT 1").strip() == "1", "postgres")
        for name in ("redis-cache", "redis-broker"):
            self._wait(lambda port=ctx.ports[name]: talk(port, b"PING\r\n").startswith(b"+PONG"), name)
        if ctx.with_memcached:
            self._wait(lambda: talk(ctx.ports["memcached"], b"version\r\n").startswith(b"VERSION"), "memcached")

    def _wait_django(self, ctx, env, say) -> None:
        started = time.monotonic()
        self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['app']}{ctx.health_path}") == 200, "app")
        say(f"  app answers: {time.monotonic() - started:.1f}s")
        self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['varnish']}{ctx.health_path}") == 200,
                   "varnish (edge -> app)")
        self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['varnish']}/") == 200, "the home page via the edge")
        if ctx.with_haproxy:
            self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['haproxy']}{ctx.health_path}") == 200,
                       "haproxy")
        say(f"  edge answers: {time.monotonic() - started:.1f}s")
        self._wait(lambda: self._celery_ping(env), "worker", timeout=60)
        say(f"  worker answers: {time.monotonic() - started:.1f}s")
        self._wait(lambda: self.supervisor.processes()["beat"]["statename"] == "RUNNING", "beat", timeout=30)
        if ctx.with_observability:
            self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['prometheus']}/-/ready") == 200, "prometheus")
        if ctx.with_flower:
            self._wait(lambda: http_status(f"http://127.0.0.1:{ctx.ports['flower']}/healthcheck") == 200, "flower",
                       timeout=60)

    def _celery_ping(self, env) -> bool:
        from ..tasks import ping_workers

        return bool(ping_workers(env["BROKER_URL"], timeout=1.0))

    def _manage(self, env, say, *args: str) -> None:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=project.base_dir(),
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"manage.py {args[0]} failed:\n{(result.stdout + result.stderr).strip()[-3000:]}")
        say(f"  manage.py {args[0]}: {time.monotonic() - started:.1f}s")

    # --- the rest --------------------------------------------------------------------------------
    def down(self, say=print) -> list[int]:
        if not self.supervisor.running():
            say("The stack is not running; nothing to stop.")
            return []
        killed = self.supervisor.shutdown()
        say("The stack is down." + (f" Had to kill {killed}." if killed else ""))
        return killed

    def status(self) -> dict:
        state = self.state()
        ports = state.get("ports", {})
        names = services.service_names(self.context(state)) if state else list(services.CORE)
        infos = self.supervisor.processes() if self.supervisor.running() else {}
        result = []
        for name in names:
            info = infos.get(name)
            port = ports.get(name)
            result.append({"name": name, "pid": (info or {}).get("pid") or None,
                           "state": info["statename"].lower() if info else "stopped",
                           "address": f"127.0.0.1:{port}" if port and name not in ("worker", "beat") else None})
        return {"edge_url": f"http://127.0.0.1:{ports['varnish']}" if "varnish" in ports else None,
                "running": bool(infos), "services": result}

    def control(self, action: str, name: str) -> None:
        if not self.supervisor.running():
            raise StackError("the stack is not running; start it with `manage.py upstack up`")
        names = [s["name"] for s in self.status()["services"]]
        if name not in names:
            raise StackError(f"service {name!r} is not part of this stack; its services: {', '.join(names)} "
                             "(`upstack up --with ...` adds the optional ones)", returncode=2)
        try:
            if action in ("stop", "restart"):
                self.supervisor.stop_program(name)
            if action in ("start", "restart"):
                self.supervisor.start_program(name)
        except SupervisorError as exc:
            raise StackError(str(exc)) from None
