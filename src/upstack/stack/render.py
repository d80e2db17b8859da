"""Render every server's configuration for a target from one ``StackContext``.

``render(target, ctx)`` is pure and deterministic: it returns ``{relative path: text}`` and never
touches the disk; ``write(files, out)`` is the thin adapter that does. Text configs are Django
templates under ``stack/templates/`` rendered by a standalone engine (no autoescaping: these are not
HTML); Kubernetes manifests and ``app.json`` are built as data (``kubernetes.py``, ``json``).

Targets:
  local       supervisord.conf + etc/ for one machine on free loopback ports (`upstack up`)
  systemd     unit files + etc/ for hosts where the servers come from system packages
  compose     compose.yaml, Dockerfile, .env.example + etc/
  kubernetes  kubernetes/*.yaml (the server configs travel in a ConfigMap)
  procfile    Procfile + app.json (web, worker, beat, release) + etc/gunicorn
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from . import compose, kubernetes, observability, services
from .context import StackContext
from .sizing import GB, MB, Sizing, pg_size, plan, redis_size
from .templating import TEMPLATES, engine, vcl_acl  # noqa: F401 - engine and vcl_acl are this module's API too
from .templating import template as _template

TARGETS = ("local", "systemd", "compose", "kubernetes", "procfile")
# The largest request body the edge and the load balancers accept (they buffer it whole).
MAX_BODY_MB = 20
# Where pgbouncer/start.sh writes the userlist inside a container (a writable place for any user).
PGBOUNCER_USERLIST_DIR = "/tmp/pgbouncer"

# Server configuration files every target but procfile ships: {output path: template}.
SERVER_CONFIGS = {
    "etc/varnish/default.vcl": "varnish/default.vcl",
    "etc/haproxy/haproxy.cfg": "haproxy/haproxy.cfg",
    "etc/nginx/nginx.conf": "nginx/nginx.conf",
    "etc/gunicorn/gunicorn.conf.py": "gunicorn/gunicorn.conf.py",
    "etc/granian/granian.env": "granian/granian.env",
    "etc/postgres/postgresql.conf": "postgres/postgresql.conf",
    "etc/pgbouncer/pgbouncer.ini": "pgbouncer/pgbouncer.ini",
    "etc/redis/cache.conf": "redis/cache.conf",
    "etc/redis/broker.conf": "redis/broker.conf",
    "etc/memcached/memcached.conf": "memcached/memcached.conf",
}
# A read replica's configuration, rendered where an inventory puts one (services.REPLICA).
REPLICA_CONFIG = "etc/postgres/replica.conf"
# Who may connect to PostgreSQL on an inventory's database host: its app, worker and replica hosts.
HBA_CONFIG = "etc/postgres/pg_hba.conf"
# The users Debian's packages create for each server; Django processes run as www-data.
SYSTEMD_USERS = {"memcached": "memcache", "redis-cache": "redis", "redis-broker": "redis", "pgbouncer": "postgres",
                 "postgres": "postgres", services.REPLICA: "postgres", "app": "www-data", "worker": "www-data", "beat": "www-data"}
SERVICE_DESCRIPTIONS = {
    "postgres": "PostgreSQL", services.REPLICA: "PostgreSQL read replica", "redis-cache": "Redis (cache: LRU, no persistence)",
    "redis-broker": "Redis (broker and sessions: persistent, noeviction)", "varnish": "Varnish edge cache",
    "app": "Django app server", "worker": "Celery worker", "beat": "Celery beat scheduler",
    "pgbouncer": "PgBouncer", "haproxy": "HAProxy load balancer", "memcached": "memcached",
}


def human(value: int) -> str:
    return f"{value / GB:.1f} GB" if value >= GB else f"{value // MB} MB"


def _check(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")


def django_env(ctx: StackContext, target: str) -> dict[str, str]:
    """The environment that points Django at the stack's servers (no secrets for non-local targets)."""
    host, port = services.hosts(ctx, target), services.ports(ctx, target)
    at = {name: f"{host[name]}:{port[name]}" for name in host}
    if ctx.placement:  # the other hosts' services, at their inventory ports
        at.update({name: f"{address}:{p}" for name, (address, p) in ctx.placement.reach.items()})
    password = {"compose": ":${POSTGRES_PASSWORD}", "kubernetes": ":$(POSTGRES_PASSWORD)",
                "systemd": ":CHANGE_ME"}.get(target, "")
    db = "pgbouncer" if ctx.with_pgbouncer else "postgres"
    env = {
        "DJANGO_SETTINGS_MODULE": ctx.settings_module,
        "DATABASE_URL": f"postgres://{ctx.db_user}{password}@{at[db]}/{ctx.db_name}",
        "REDIS_URL": f"redis://{at['redis-cache']}/0",
        "BROKER_URL": f"redis://{at['redis-broker']}/0",
        "SESSION_REDIS_URL": f"redis://{at['redis-broker']}/1",
        "EDGE_URL": f"http://{at['varnish']}",
        **({"EDGE_URL": f"http://{kubernetes.VARNISH_NODES}:{port['varnish']}", "EDGE_RESOLVE": "true"}
           if target == "kubernetes" else {}),
        # Compose with several edges: every address of the `varnish` service is purged.
        **({"EDGE_RESOLVE": "true"} if target == "compose" and ctx.replicas.get("varnish", 1) > 1 else {}),
        # The trust lists the VCL and gunicorn were rendered with: Django must not disagree (docs/security.md).
        "UPSTACK_INTERNAL_IPS": ",".join(ctx.internal_networks),
        "UPSTACK_LOAD_BALANCERS": ",".join(ctx.load_balancers),
    }
    if ctx.with_replica and target == "local":  # the settings add it (upstack.db.configure.add_replicas)
        env["REPLICA_DATABASE_URL"] = f"postgres://{ctx.db_user}@127.0.0.1:{port['postgres-replica']}/{ctx.db_name}"
    if ctx.with_memcached:
        env["MEMCACHED_LOCATION"] = at["memcached"]
    if ctx.placement:
        env.update(_inventory_env(ctx, password))
    if ctx.with_pgbouncer:
        env["DISABLE_SERVER_SIDE_CURSORS"] = "true"
        # Backups and restores talk to PostgreSQL itself (sessions, other databases).
        env["DIRECT_DATABASE_URL"] = f"postgres://{ctx.db_user}{password}@{host['postgres']}:{port['postgres']}/{ctx.db_name}"
    return env


def _inventory_env(ctx: StackContext, password: str) -> dict[str, str]:
    """An inventory host's Django environment: every edge is purged, the replicas and cache nodes listed."""
    place, env = ctx.placement, {}
    env["EDGE_URL"] = f"http://{place.edges[0][0]}:{place.edges[0][1]}"  # tools that take one edge (warm)
    env["EDGE_URLS"] = ",".join(f"http://{address}:{p}" for address, p in place.edges)
    if place.replicas:
        env["REPLICA_DATABASE_URL"] = ",".join(f"postgres://{ctx.db_user}{password}@{address}:{p}/{ctx.db_name}"
                                                for address, p in place.replicas)
    if place.memcached:
        env["MEMCACHED_LOCATION"] = ",".join(f"{address}:{p}" for address, p in place.memcached)
    return env


def _variables(target: str, ctx: StackContext, sizing: Sizing) -> dict:
    local = target == "local"
    port, host = services.ports(ctx, target), services.hosts(ctx, target)
    listen, place = services.bind(ctx, target), ctx.placement
    state = ctx.state_dir
    app_ports = list(ctx.app_ports) or [port["app"]]
    if local:
        backends = [{"name": f"app{i + 1}", "host": "127.0.0.1", "port": p} for i, p in enumerate(app_ports)]
    elif ctx.app_hosts:
        backends = [{"name": f"app{i + 1}", "host": h, "port": p} for i, (h, p) in enumerate(ctx.app_hosts)]
    else:
        backends = [{"name": "app1", "host": host["app"], "port": port["app"]}]
    pg = sizing.postgres
    return {
        "project": ctx.project, "target": target, "ctx": ctx, "sizing": sizing, "ports": port,
        "local_prometheus": f"127.0.0.1:{port['prometheus']}" if local and ctx.with_observability else None,
        "state_dir": state, "base_dir": ctx.base_dir, "memory_human": human(sizing.memory),
        "health_path": ctx.health_path, "ready_path": ctx.ready_path, "health_host": ctx.server_name,
        "esi_prefix": ctx.esi_prefix, "fresh_cookie": ctx.fresh_cookie,
        "server_name": ctx.server_name, "load_balancers": vcl_acl(ctx.load_balancers), "fresh_window": ctx.fresh_window,
        "forwarded_allow_ips": ",".join(ctx.internal_networks),
        "session_cookie": ctx.session_cookie_name, "csrf_cookie": ctx.csrf_cookie_name,
        "internal_networks": vcl_acl(ctx.internal_networks), "app_backends": backends,
        "backend_max_connections": sizing.app_workers * sizing.app_threads * 2,
        "grace_healthy": "0s", "grace_sick": "6h", "max_body_mb": MAX_BODY_MB,
        "bypass_param": ctx.bypass_param, "tracking_regex": "|".join(ctx.tracking_params),
        "pass_regex": "|".join(re.escape(p) for p in ctx.pass_paths) or "^$",
        "not_found": ctx.not_found, "redirects": ctx.redirects, "error_page": ctx.error_page,
        # Load balancers.
        "edge_nodes": [{"name": f"varnish{i + 1}", "host": h, "port": p}
                       for i, (h, p) in enumerate(place.edges if place else [(host["varnish"], port["varnish"])])],
        "lb_maxconn": 4096 if local else 20000, "tls_cert": f"{state}/tls/site.pem" if local else ctx.tls_cert,
        "tls_key": f"{state}/tls/site.pem" if local else ctx.tls_cert,
        "lb_http_bind": f"{listen}:{port['haproxy']}" if local or place else "0.0.0.0:80",
        "lb_https_bind": f"{listen}:{port['haproxy-https']}" if local or place else "0.0.0.0:443",
        "pidfile": f"{state}/haproxy.pid" if local else "",
        "nginx_pid": f"{state}/nginx.pid" if local else "",
        "nginx_temp": f"{state}/nginx" if local else "/var/cache/nginx",
        # App server.
        "app_host": listen,
        "app_port": port["app"], "app_bind": f"{listen}:{port['app']}" if local or place else f"0.0.0.0:{port['app']}",
        "wsgi_application": ctx.wsgi_application, "app_statsd": "",
        # PostgreSQL and PgBouncer.
        "pg": pg, "pg_local": local, "pg_data": f"{state}/postgres/data", "pg_socket_dir": f"{state}/run",
        "pg_shared_buffers": pg_size(pg.shared_buffers), "pg_work_mem": pg_size(pg.work_mem),
        "pg_maintenance_work_mem": pg_size(pg.maintenance_work_mem),
        "pg_effective_cache_size": pg_size(pg.effective_cache_size),
        "db_name": ctx.db_name, "db_user": ctx.db_user, "pg_host": host["postgres"],
        "pg_port": place.reach["postgres"][1] if place else port["postgres"],
        "pg_listen": listen if place else "*", "pg_listen_port": port["postgres"],
        "pgbouncer_listen": listen,
        "pgbouncer_port": port["pgbouncer"], "pgbouncer_socket_dir": f"{state}/run",
        "pgbouncer_userlist": {"local": f"{state}/etc/pgbouncer/userlist.txt",
                               "systemd": "/etc/pgbouncer/userlist.txt"}.get(target,
                                                                              f"{PGBOUNCER_USERLIST_DIR}/userlist.txt"),
        "pgbouncer_userlist_dir": PGBOUNCER_USERLIST_DIR,
        "pgbouncer_min_pool": max(1, sizing.pgbouncer_pool_size // 4),
        "pgbouncer_max_clients": 2000, "pgbouncer_max_db": max(1, pg.max_connections - 10),
        # Redis and memcached.
        "redis_bind": listen,
        # Clients on other hosts: protected mode would refuse them (firewall the port, docs/scaling.md).
        "redis_protected": "yes" if target in ("local", "systemd") and not place else "no",
        "redis_cache_port": port["redis-cache"], "redis_broker_port": port["redis-broker"],
        "redis_cache_dir": f"{state}/redis-cache" if local else "",
        "redis_broker_dir": f"{state}/redis-broker" if local else ("/var/lib/redis" if target == "systemd" else "/data"),
        "redis_cache_maxmemory": redis_size(sizing.redis_cache_maxmemory),
        "redis_broker_maxmemory": redis_size(sizing.redis_broker_maxmemory),
        "memcached_mb": sizing.memcached_memory // MB, "memcached_port": port["memcached"],
        "memcached_listen": listen,
    }


def _server_configs(variables: dict) -> dict[str, str]:
    files = {path: _template(name, variables) for path, name in SERVER_CONFIGS.items()}
    place = variables["ctx"].placement
    if place and {"postgres", services.REPLICA} & set(place.services):
        files[HBA_CONFIG] = _template("postgres/pg_hba.conf", {**variables, "db_clients": place.db_clients,
                                                                 "db_replicas": place.replica_hosts})
    if place and services.REPLICA in place.services:
        files[REPLICA_CONFIG] = _template("postgres/postgresql.conf", {
            **variables, "replica_of": place.primary, "pg_listen_port": variables["ports"][services.REPLICA]})
    app_targets = [f"{b['host']}:{b['port']}" for b in variables["app_backends"]]
    exporter_host = "127.0.0.1" if variables["target"] in ("local", "systemd") else "exporters"
    files.update(observability.files(variables["project"], app_targets, exporter_host,
                                     local_prometheus=variables.get("local_prometheus")))
    return files


def _command(argv) -> str:
    return shlex.join(argv)


def _local(ctx: StackContext, sizing: Sizing, variables: dict) -> dict[str, str]:
    root = os.geteuid() == 0
    procs = [{"name": s.name, "command": _command(s.argv), "priority": s.priority, "stop_signal": s.stop_signal,
              "stop_wait": s.stop_wait, "user": s.user if root else None, "autostart": s.autostart and not s.django,
              "directory": ctx.base_dir if s.django else ctx.state_dir}
             for s in services.services(ctx, "local", sizing)]
    files = _server_configs(variables)
    files["etc/pgbouncer/userlist.txt"] = f'"{ctx.db_user}" ""\n'
    files["supervisord.conf"] = _template("local/supervisord.conf", {**variables, "services": procs,
                                                                      "run_as_root": root})
    return files


def _systemd(ctx: StackContext, sizing: Sizing, variables: dict) -> dict[str, str]:
    files = _server_configs(variables)
    procs = services.services(ctx, "systemd", sizing)
    env_file = f"/etc/upstack/{ctx.project}.env"
    infra = [f"{ctx.project}-{s.name}.service" for s in procs if not s.django]
    for s in procs:
        unit = {
            "name": s.name, "description": SERVICE_DESCRIPTIONS[s.name], "command": _command(s.argv),
            "user": SYSTEMD_USERS.get(s.name, s.user), "django": s.django,
            "stop_signal": s.stop_signal, "stop_wait": s.stop_wait,
            "type": "simple", "after": infra if s.django else [],
            "reload": "/bin/kill -HUP $MAINPID" if s.name in ("app", "haproxy") else
                      (f"{services.VARNISH_RELOAD} /etc/upstack/varnish/default.vcl" if s.name == "varnish" else ""),
            "memory_max": "",
        }
        files[f"systemd/{ctx.project}-{s.name}.service"] = _template(
            "systemd/service.service", {**variables, "service": unit, "install_dir": ctx.install_dir,
                                        "env_file": env_file})
    files[f"systemd/{ctx.project}.target"] = _template("systemd/stack.target", {**variables, "services": procs})
    env = django_env(ctx, "systemd")
    files[f"etc/{ctx.project}.env.example"] = (
        f"# Environment of {ctx.project}'s Django processes; copy to {env_file} (mode 0600) and fill in.\n"
        + "".join(f"{k}={v}\n" for k, v in env.items()) + "SECRET_KEY=\nALLOWED_HOSTS=\nUPSTACK_FRESH_SECRET=\n")
    return files


def _compose(ctx: StackContext, sizing: Sizing, variables: dict) -> dict[str, str]:
    # The project network is trusted (its gateway excepted): the containers that purge and forward live there.
    ctx, net = compose.trusted(ctx)
    variables = _variables("compose", ctx, sizing)
    variables.update(internal_networks=compose.acl(ctx.internal_networks, net),
                     load_balancers=compose.acl(ctx.load_balancers, net))
    edges = ctx.replicas.get("varnish", 1)
    if edges > 1:  # HAProxy spreads over every replica; published alone, their ports would collide
        if not ctx.with_haproxy:
            raise ValueError(f"compose with {edges} edges needs a load balancer in front: give a host the role 'lb' "
                             "(or --with haproxy)")
        variables["edge_template"] = {"count": edges, "host": "varnish", "port": variables["ports"]["varnish"]}
    if not ctx.app_hosts:  # one backend per address of the scaled app service, written at start
        variables.update(app_pool_vcl=compose.APP_POOL_VCL, app_pool_init_vcl=compose.APP_POOL_INIT_VCL,
                         pool_backend={"name": "app$i", "host": "$address", "port": variables["app_port"]})
    files = {**_server_configs(variables), **_pgbouncer_start(ctx, variables)}
    if not ctx.app_hosts:
        files["etc/varnish/app-pool.sh"] = _template("varnish/app-pool.sh", variables)
    procs = {s.name: s for s in services.services(ctx, "compose", sizing)}
    compose_vars = compose.variables(ctx, sizing, procs, variables, django_env(ctx, "compose"), net)
    files.update({path: _template(name, compose_vars) for path, name in compose.TEMPLATES.items()})
    return files


def _kubernetes(ctx: StackContext, sizing: Sizing, variables: dict) -> dict[str, str]:
    # App and worker pods are sized per pod (--pod-cpus/--pod-memory), PostgreSQL for every pod the HPAs allow.
    sizing, app_max = kubernetes.cluster_sizing(ctx, sizing)
    variables = _variables("kubernetes", ctx, sizing)
    configs = {**_server_configs(variables), **_pgbouncer_start(ctx, variables)}
    procs = {s.name: s for s in services.services(ctx, "kubernetes", sizing)}
    return kubernetes.manifests(ctx, sizing, procs, configs, django_env(ctx, "kubernetes"), app_max=app_max)


def _pgbouncer_start(ctx: StackContext, variables: dict) -> dict[str, str]:
    """The script that writes PgBouncer's userlist from the secret in its environment, then starts it."""
    if not ctx.with_pgbouncer:
        return {}
    return {"etc/pgbouncer/start.sh": _template("pgbouncer/start.sh", variables)}


# Procfile platforms provide REDIS_URL (and DATABASE_URL): the broker defaults to the same Redis.
PLATFORM_ENV = 'BROKER_URL="${BROKER_URL:-$REDIS_URL}"'


def _procfile(ctx: StackContext, sizing: Sizing, variables: dict) -> dict[str, str]:
    procs = {s.name: s for s in services.services(ctx, "procfile", sizing)}
    web = ("gunicorn", "--config", "etc/gunicorn/gunicorn.conf.py", ctx.wsgi_application)
    worker = list(procs["worker"].argv[3:])
    # Celery processes are sized on the dyno that runs them (upstack.stack.here), not on this machine.
    worker[worker.index("--concurrency") + 1] = "CONCURRENCY"
    concurrency = '"${CELERY_CONCURRENCY:-$(python -m upstack.stack.here worker)}"'
    lines = {
        "web": _command(web) + " --bind 0.0.0.0:$PORT",
        "worker": _command(("celery", *worker)).replace("CONCURRENCY", concurrency),
        "beat": _command(("celery", *procs["beat"].argv[3:])),
        # Static files are collected at build (the Python buildpack runs collectstatic); a release
        # phase's files are thrown away.
        "release": "python manage.py migrate --noinput",
    }
    app_json = {
        "name": ctx.project,
        "description": f"{ctx.project}, served by upstack",
        "scripts": {"postdeploy": "python manage.py migrate --noinput"},
        "env": {
            "DJANGO_SETTINGS_MODULE": {"value": ctx.settings_module},
            "SECRET_KEY": {"description": "Django's secret key", "generator": "secret"},
            "ALLOWED_HOSTS": {"description": "Comma-separated host names", "required": True},
        },
        "formation": {"web": {"quantity": 2}, "worker": {"quantity": 1}, "beat": {"quantity": 1}},
        "addons": ["heroku-postgresql", "heroku-redis"],
        "buildpacks": [{"url": "heroku/python"}],
        "healthchecks": {"web": [{"type": "startup", "name": "web", "path": ctx.health_path}]},
    }
    files = {
        "Procfile": "".join(f"{name}: {PLATFORM_ENV} {command}\n" for name, command in lines.items()),
        "app.json": json.dumps(app_json, indent=2, sort_keys=True) + "\n",
        "etc/gunicorn/gunicorn.conf.py": _template("gunicorn/gunicorn.conf.py", {
            **variables, "app_bind": "0.0.0.0:8000", "runtime_sizing": True}),
        "etc/granian/granian.env": _template("granian/granian.env", variables),
    }
    return files


BUILDERS = {"local": _local, "systemd": _systemd, "compose": _compose, "kubernetes": _kubernetes,
            "procfile": _procfile}


def sizing_for(ctx: StackContext) -> Sizing:
    """The sizing of ``ctx``: PostgreSQL's connection budget counts every app server - the local
    stack's ports, or the hosts of ``--app-hosts`` - each with its workers x threads (docs/scaling.md);
    past the limit ``plan`` refuses with a clear error unless PgBouncer is in front."""
    return plan(ctx.resources.cpus, ctx.resources.memory_bytes,
                app_servers=max(1, len(ctx.app_ports), len(ctx.app_hosts)), with_pgbouncer=ctx.with_pgbouncer)


def render(target: str, ctx: StackContext) -> dict[str, str]:
    """Every file of ``target`` for ``ctx``: ``{relative path: text}``, sorted, deterministic."""
    _check(target)
    sizing = sizing_for(ctx)
    files = BUILDERS[target](ctx, sizing, _variables(target, ctx, sizing))
    return dict(sorted(files.items()))


def write(files: dict[str, str], out: str | os.PathLike) -> list[Path]:
    """Write rendered files under ``out``; files that may hold credentials get mode 0600."""
    root = Path(out)
    written = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        if path.name in ("userlist.txt",) or path.name.endswith(".env"):
            tmp.chmod(0o600)
        os.replace(tmp, path)
        written.append(path)
    return written
