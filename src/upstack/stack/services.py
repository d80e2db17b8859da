"""The processes of a stack and their command lines, for every target.

Pure: a ``StackContext`` and a target in, ``Service`` records out. The supervisord, systemd,
Compose, Kubernetes and Procfile renderers all build on this one list, so a process is started
the same way everywhere. Never starts anything and never reads settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .context import StackContext
from .sizing import MB, Sizing

# Standard ports, used by every target but "local" (which uses the context's free loopback ports).
STANDARD_PORTS = {
    "postgres": 5432, "pgbouncer": 6432, "redis-cache": 6379, "redis-broker": 6380, "memcached": 11211,
    "varnish": 6081, "varnish-admin": 6082, "app": 8000, "haproxy": 80, "haproxy-https": 443,
    "prometheus": 9090, "flower": 5555,
}
CORE = ("postgres", "redis-cache", "redis-broker", "varnish", "app", "worker", "beat")
OPTIONAL = ("pgbouncer", "haproxy", "memcached", "prometheus", "flower", "postgres-replica")
# Only the local stack runs these (`up --with observability,flower,replica`); a deployment runs its own
# monitoring, and its replicas on their own hosts (docs/scaling.md).
LOCAL_ONLY = ("prometheus", "flower", "postgres-replica")
CELERY_QUEUES = "high,default,low"


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    # Address clients use, "host:port" (None for worker and beat).
    address: str | None = None
    # Run as this user when started by root (PostgreSQL and PgBouncer refuse root).
    user: str | None = None
    stop_signal: str = "TERM"
    stop_wait: int = 30
    # Start order: lower first (the databases before the app).
    priority: int = 50
    # Django processes need the stack's environment (settings module, URLs, secret key).
    django: bool = False
    # supervisord starts it with the others (the Django processes and the replica, which needs its
    # pg_basebackup first, are started by `upstack up` when their turn comes).
    autostart: bool = True
    extra: dict = field(default_factory=dict)


# A read replica runs only where an inventory puts one (render --inventory), after its primary.
REPLICA = "postgres-replica"


def service_names(ctx: StackContext) -> list[str]:
    if ctx.placement:
        order = (CORE[0], REPLICA, *CORE[1:], *(name for name in OPTIONAL if name != REPLICA))
        return [name for name in order if name in ctx.placement.services]
    enabled = {"pgbouncer": ctx.with_pgbouncer, "haproxy": ctx.with_haproxy, "memcached": ctx.with_memcached,
               "prometheus": ctx.with_observability, "flower": ctx.with_flower, "postgres-replica": ctx.with_replica}
    return [*CORE, *[name for name in OPTIONAL if enabled[name]]]


def ports(ctx: StackContext, target: str) -> dict[str, int]:
    if target != "local":
        return {**STANDARD_PORTS, REPLICA: STANDARD_PORTS["postgres"], **(ctx.placement.ports if ctx.placement else {})}
    missing = [name for name in ["varnish-admin", *service_names(ctx)]
               if name not in ("worker", "beat") and name not in ctx.ports]
    if "haproxy" in service_names(ctx) and "haproxy-https" not in ctx.ports:
        missing.append("haproxy-https")
    if missing:
        raise ValueError(f"the local target needs a port for: {', '.join(missing)}")
    return dict(ctx.ports)


def hosts(ctx: StackContext, target: str) -> dict[str, str]:
    """Where each service is reached from the others: loopback, Compose/Kubernetes service names, or
    (an inventory's host) the host that runs it, this one for the services that run everywhere."""
    names = ("postgres", "pgbouncer", "redis-cache", "redis-broker", "memcached", "varnish", "app")
    if ctx.placement:
        reach = {name: address for name, (address, _) in ctx.placement.reach.items()}
        return {name: reach.get(name, ctx.placement.address) for name in names}
    if target in ("local", "systemd"):
        return {name: "127.0.0.1" for name in names}
    return {name: name for name in names}


def bind(ctx: StackContext, target: str) -> str:
    """The address servers listen on: the inventory host's, loopback on one host, any in a container."""
    if ctx.placement:
        return ctx.placement.address
    return "127.0.0.1" if target in ("local", "systemd") else "0.0.0.0"


def conf_dir(ctx: StackContext, target: str) -> str:
    return f"{ctx.state_dir}/etc" if target == "local" else "/etc/upstack"


# Where Debian/Ubuntu packages put the servers (systemd target); PostgreSQL's is versioned.
DEBIAN_BINARIES = {
    "postgres": "/usr/lib/postgresql/15/bin/postgres", "redis-server": "/usr/bin/redis-server",
    "memcached": "/usr/bin/memcached", "pgbouncer": "/usr/sbin/pgbouncer", "varnishd": "/usr/sbin/varnishd",
    "haproxy": "/usr/sbin/haproxy",
}
VARNISH_RELOAD = "/usr/share/varnish/varnishreload"
# Beat's schedule file, and the folder it lives in on systemd, Compose and Kubernetes (``beat_schedule``).
BEAT_DIR = "/var/lib/upstack-beat"
BEAT_SCHEDULE = "celerybeat-schedule"


def binary(ctx: StackContext, target: str, name: str) -> str:
    """The server binary: this machine's (local), the Debian package's (systemd), or the image's."""
    if target in ("local", "systemd") and name in ctx.binaries:
        return ctx.binaries[name]
    if target == "systemd":
        return DEBIAN_BINARIES.get(name, name)
    return name


def python(ctx: StackContext, target: str) -> str:
    if target == "local":
        return ctx.python
    if target == "systemd":
        return f"{ctx.install_dir}/.venv/bin/python"
    return "python"


def app_argv(ctx: StackContext, target: str, sizing: Sizing, port: int) -> tuple[str, ...]:
    py, conf = python(ctx, target), conf_dir(ctx, target)
    host = bind(ctx, target)
    if ctx.app_server == "granian":
        return (py, "-m", "granian", "--interface", "wsgi", "--host", host, "--port", str(port),
                "--workers", str(sizing.app_workers), "--blocking-threads", str(sizing.app_threads),
                "--respawn-failed-workers", ctx.wsgi_application)
    return (py, "-m", "gunicorn", "--config", f"{conf}/gunicorn/gunicorn.conf.py", "--bind", f"{host}:{port}",
            ctx.wsgi_application)


def celery_argv(ctx: StackContext, target: str, sizing: Sizing, kind: str) -> tuple[str, ...]:
    py = python(ctx, target)
    if kind == "worker":
        return (py, "-m", "celery", "--app", ctx.celery_app, "worker", "--queues", CELERY_QUEUES,
                "--concurrency", str(sizing.celery_concurrency), "--prefetch-multiplier", "1",
                "--max-tasks-per-child", "1000", "--loglevel", "INFO", "--without-gossip", "--without-mingle")
    return (py, "-m", "celery", "--app", ctx.celery_app, "beat", "--schedule", beat_schedule(ctx, target),
            "--loglevel", "INFO")


def beat_schedule(ctx: StackContext, target: str) -> str:
    """Beat's record of what ran, never in a temp folder (systemd's PrivateTmp empties /tmp on each
    restart; a container's /tmp goes with the container): the state dir (local); ``BEAT_DIR``, which is
    systemd's StateDirectory, the Compose volume and the Kubernetes PersistentVolumeClaim; on a Procfile
    platform, the app's root (relative: the platform runs the Procfile there). The nightly backup is a
    crontab, so a lost file (a new dyno) still runs it at its time of day."""
    if target == "local":
        return f"{ctx.state_dir}/{BEAT_SCHEDULE}"
    if target == "procfile":
        return BEAT_SCHEDULE
    return f"{BEAT_DIR}/{BEAT_SCHEDULE}"


def local_only(ctx: StackContext, port: dict[str, int]) -> dict[str, Service]:
    """Prometheus (the system's binary; its data in the state dir, its config rendered by
    ``observability.local_files``), Flower (run through celery's command line, never imported) and a
    PostgreSQL streaming replica of the stack's primary (`up --with replica`, upstack.stack.replica)."""
    state, conf = ctx.state_dir, conf_dir(ctx, "local")
    extra = {
        "prometheus": Service("prometheus", (binary(ctx, "local", "prometheus"),
                                             f"--config.file={conf}/prometheus/prometheus.yml",
                                             f"--storage.tsdb.path={state}/prometheus-data",
                                             "--storage.tsdb.retention.time=2d",
                                             f"--web.listen-address=127.0.0.1:{port['prometheus']}"),
                              f"127.0.0.1:{port['prometheus']}", priority=30),
        "flower": Service("flower", (ctx.python, "-m", "celery", "--app", ctx.celery_app, "flower",
                                     "--address=127.0.0.1", f"--port={port['flower']}"),
                          f"127.0.0.1:{port['flower']}", priority=60, django=True),
    }
    if ctx.with_replica:
        # The primary's configuration with the replica's own data directory and port; the data directory
        # (pg_basebackup -R: primary_conninfo, standby.signal) makes it follow the primary.
        data = f"{state}/postgres-replica/data"
        extra["postgres-replica"] = Service(
            "postgres-replica",
            (binary(ctx, "local", "postgres"), "-D", data, f"--config-file={conf}/postgres/postgresql.conf",
             "-c", f"data_directory={data}", "-c", f"hba_file={data}/pg_hba.conf",
             "-c", f"ident_file={data}/pg_ident.conf", "-c", f"port={port['postgres-replica']}"),
            f"127.0.0.1:{port['postgres-replica']}", user="postgres", stop_signal="INT", stop_wait=60, priority=15,
            autostart=False)
    return extra


def services(ctx: StackContext, target: str, sizing: Sizing) -> list[Service]:
    """Every process of the stack for ``target``, in start order."""
    port, host, conf = ports(ctx, target), hosts(ctx, target), conf_dir(ctx, target)
    local, listen = target == "local", bind(ctx, target)
    state = ctx.state_dir
    varnish_listen = f"{listen}:{port['varnish']}" if local or ctx.placement else f":{port['varnish']}"
    admin_listen = f"127.0.0.1:{port['varnish-admin']}" if local else f"localhost:{port['varnish-admin']}"
    varnish_workdir = ("-n", f"{state}/varnish") if local else ()
    pg_argv = (binary(ctx, target, "postgres"), "-D", f"{state}/postgres/data" if local else "/var/lib/postgresql/data",
               f"--config-file={conf}/postgres/postgresql.conf")
    catalog = {
        "postgres": Service("postgres", pg_argv, f"{host['postgres']}:{port['postgres']}", user="postgres",
                            stop_signal="INT", stop_wait=60, priority=10),
        "redis-cache": Service("redis-cache", (binary(ctx, target, "redis-server"), f"{conf}/redis/cache.conf"),
                               f"{host['redis-cache']}:{port['redis-cache']}", priority=10),
        "redis-broker": Service("redis-broker", (binary(ctx, target, "redis-server"), f"{conf}/redis/broker.conf"),
                                f"{host['redis-broker']}:{port['redis-broker']}", priority=10),
        "memcached": Service("memcached", (binary(ctx, target, "memcached"), "-l",
                                           listen if local or ctx.placement else "0.0.0.0", "-p", str(port["memcached"]),
                                           "-m", str(sizing.memcached_memory // MB), "-U", "0", "-c", "4096"),
                             f"{host['memcached']}:{port['memcached']}", user="nobody", priority=10),
        "pgbouncer": Service("pgbouncer", (binary(ctx, target, "pgbouncer"), f"{conf}/pgbouncer/pgbouncer.ini"),
                             f"{host['pgbouncer']}:{port['pgbouncer']}", user="postgres", stop_signal="INT",
                             priority=20),
        "varnish": Service("varnish", (binary(ctx, target, "varnishd"), "-F", *varnish_workdir, "-a", varnish_listen,
                                       "-T", admin_listen, "-f", f"{conf}/varnish/default.vcl",
                                       "-s", f"malloc,{sizing.varnish_memory // MB}m",
                                       "-p", "default_grace=10", "-p", "feature=+http2"),
                           f"{host['varnish']}:{port['varnish']}", priority=30),
        "haproxy": Service("haproxy", (binary(ctx, target, "haproxy"), "-W", "-db", "-f",
                                       f"{conf}/haproxy/haproxy.cfg"),
                           f"127.0.0.1:{port['haproxy']}" if local else f"haproxy:{port['haproxy']}",
                           stop_signal="USR1", priority=40),
        "app": Service("app", app_argv(ctx, target, sizing, port["app"]), f"{host['app']}:{port['app']}",
                       priority=40, django=True),
        "worker": Service("worker", celery_argv(ctx, target, sizing, "worker"), stop_wait=60, priority=50,
                          django=True),
        "beat": Service("beat", celery_argv(ctx, target, sizing, "beat"), priority=60, django=True),
    }
    names = service_names(ctx)
    if REPLICA in names:
        catalog[REPLICA] = Service(REPLICA, (binary(ctx, target, "postgres"), "-D", "/var/lib/postgresql/replica",
                                             f"--config-file={conf}/postgres/replica.conf"),
                                   f"{listen}:{port[REPLICA]}", user="postgres", stop_signal="INT", stop_wait=60,
                                   priority=15)
    # An inventory's replica host runs its replica (above); `up --with replica` makes the local one.
    if any(name in LOCAL_ONLY and not (name == REPLICA and ctx.placement) for name in names):
        if not local:
            raise ValueError("--with observability, flower and replica are for the local stack (`upstack up`); "
                             "a deployment runs its own Prometheus (the rendered etc/prometheus, docs/observability.md) "
                             "and its replicas on their own hosts (docs/scaling.md)")
        catalog.update(local_only(ctx, port))
    return [catalog[name] for name in names]
