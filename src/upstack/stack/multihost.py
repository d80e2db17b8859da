"""Per-host renders from an inventory: ``upstack render --target systemd --inventory FILE``.

Pure: ``render_hosts(inventory, ctx)`` returns ``{"<host>/<path>": text}``. Each host gets the systemd
target rendered with its own ``Placement`` (``render.render``): its services bind to its address and
point at the hosts that run the rest. Only the units and configurations of the services it runs are
kept, and ``<host>/manifest.json`` lists them - per service the command, the user, the unit, the
configuration files and the address it listens on - for a script that starts a host's services
without systemd (the namespace drill). ``hosts.json`` at the top lists every host.
docs/scaling.md.
"""

from __future__ import annotations

import dataclasses
import json

from . import render, services
from .context import Resources, StackContext
from .inventory import Inventory, placement

# The configuration files of each service (the Django processes share the env file).
SERVICE_FILES = {
    "postgres": ("etc/postgres/postgresql.conf", render.HBA_CONFIG),
    services.REPLICA: (render.REPLICA_CONFIG, render.HBA_CONFIG),
    "pgbouncer": ("etc/pgbouncer/pgbouncer.ini",), "redis-cache": ("etc/redis/cache.conf",),
    "redis-broker": ("etc/redis/broker.conf",), "memcached": ("etc/memcached/memcached.conf",),
    "varnish": ("etc/varnish/default.vcl",), "haproxy": ("etc/haproxy/haproxy.cfg", "etc/nginx/nginx.conf"),
    "app": ("etc/gunicorn/gunicorn.conf.py", "etc/granian/granian.env"),
}
# Services that read the env file: Django's, and Varnish (the read-your-own-writes cookie's secret).
ENV_READERS = {"app", "worker", "beat", "varnish"}
# Optional services the inventory's roles place instead of --with.
PLACED = {"haproxy": "lb", "memcached": "memcached"}


def _plus(networks: tuple[str, ...], addresses) -> tuple[str, ...]:
    extra = [f"{address}/32" for address in addresses if f"{address}/32" not in networks]
    return (*networks, *dict.fromkeys(extra))


def host_context(inventory: Inventory, name: str, ctx: StackContext) -> StackContext:
    """``ctx`` for host ``name``: its resources (the inventory's, else ``ctx``'s), its placement, the app
    hosts behind its director, and the inventory's hosts among the trusted peers."""
    for service, role in PLACED.items():
        if getattr(ctx, f"with_{service}"):
            raise ValueError(f"--with {service}: with --inventory the hosts with the role {role!r} run it")
    host, place = inventory.host(name), placement(inventory, name, ctx.with_pgbouncer)
    return dataclasses.replace(
        ctx, resources=Resources(host.cpus or ctx.resources.cpus, host.memory or ctx.resources.memory_bytes),
        placement=place, app_hosts=place.apps, with_memcached=bool(place.memcached),
        with_haproxy="haproxy" in place.services,
        # App and worker hosts purge the edges and edges forward to the app servers: insiders. The
        # edges believe X-Forwarded-For from the load balancer hosts.
        internal_networks=_plus(ctx.internal_networks, place.insiders),
        load_balancers=_plus(ctx.load_balancers, place.load_balancers))


def _manifest(inventory: Inventory, hctx: StackContext, kept: list[str]) -> dict:
    host, place = inventory.host(hctx.placement.host), hctx.placement
    ports = services.ports(hctx, "systemd")
    procs = services.services(hctx, "systemd", render.sizing_for(hctx))
    env = f"etc/{hctx.project}.env.example"
    return {
        "host": host.name, "address": host.address, "roles": list(host.roles),
        "resources": {"cpus": hctx.resources.cpus, "memory_bytes": hctx.resources.memory_bytes},
        "env_file": env if env in kept else None, "target": f"systemd/{hctx.project}.target",
        "services": [{
            "name": s.name, "unit": f"systemd/{hctx.project}-{s.name}.service", "command": list(s.argv),
            "user": render.SYSTEMD_USERS.get(s.name, s.user), "django": s.django,
            "listen": f"{place.address}:{ports[s.name]}" if s.name in ports and s.address else None,
            "configs": [path for path in SERVICE_FILES.get(s.name, ()) if path in kept],
        } for s in procs],
    }


def render_host(inventory: Inventory, name: str, ctx: StackContext) -> dict[str, str]:
    """Host ``name``'s files, relative to its folder."""
    hctx = host_context(inventory, name, ctx)
    files, runs = render.render("systemd", hctx), hctx.placement.services
    keep = {f"systemd/{ctx.project}.target"}
    keep |= {f"systemd/{ctx.project}-{service}.service" for service in runs}
    keep |= {path for service in runs for path in SERVICE_FILES.get(service, ())}
    if ENV_READERS & set(runs):
        keep.add(f"etc/{ctx.project}.env.example")
    kept = {path: text for path, text in files.items() if path in keep}
    kept["manifest.json"] = json.dumps(_manifest(inventory, hctx, list(kept)), indent=2) + "\n"
    return kept


def render_hosts(inventory: Inventory, ctx: StackContext) -> dict[str, str]:
    """Every host's folder, and ``hosts.json``: each host's address, roles and services."""
    files = {}
    for host in inventory.hosts:
        files.update({f"{host.name}/{path}": text for path, text in render_host(inventory, host.name, ctx).items()})
    summary = [{"host": h.name, "address": h.address, "roles": list(h.roles),
                "services": list(placement(inventory, h.name, ctx.with_pgbouncer).services)} for h in inventory.hosts]
    files["hosts.json"] = json.dumps(summary, indent=2) + "\n"
    return dict(sorted(files.items()))
