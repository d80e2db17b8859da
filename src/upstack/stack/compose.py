"""The Compose target's policy: its network, whom the edge trusts on it, and the templates it renders.

Pure. The project's network gets a subnet of its own (the first private IPv4 network in
``UPSTACK["INTERNAL_IPS"]``, else ``DEFAULT_SUBNET``), so the trust lists rendered into the VCL and
gunicorn name the containers that purge and forward - minus the network's gateway, which is where
Docker's proxy for published ports connects from (an outsider would otherwise pass for an insider).
Two images: the project's (``Dockerfile``, static files collected at build) and the servers' from
Debian's packages (``servers.Dockerfile``), both ``FROM`` a ``BASE`` build argument. docs/deploy.md.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from .context import StackContext
from .services import BEAT_DIR, STANDARD_PORTS
from .sizing import MB, Sizing
from .templating import vcl_acl

DEFAULT_SUBNET = "172.31.240.0/24"
# Where varnish/app-pool.sh writes the backends of the scaled app service (the container's tmpfs).
APP_POOL_VCL = "/var/lib/varnish/app-pool.vcl"
APP_POOL_INIT_VCL = "/var/lib/varnish/app-pool-init.vcl"
TEMPLATES = {
    "compose.yaml": "compose/compose.yaml",
    "Dockerfile": "compose/Dockerfile",
    "servers.Dockerfile": "compose/servers.Dockerfile",
    ".dockerignore": "compose/dockerignore",
    ".env.example": "compose/env.example",
    "etc/postgres/start.sh": "compose/postgres-start.sh",
}


def subnet(internal_networks) -> ipaddress.IPv4Network:
    """The project network's subnet: the first private, non-loopback IPv4 network insiders live on."""
    for text in internal_networks:
        net = ipaddress.ip_network(str(text), strict=False)
        if net.version == 4 and net.is_private and not net.is_loopback and 16 <= net.prefixlen <= 28:
            return net
    return ipaddress.ip_network(DEFAULT_SUBNET)


def gateway(net: ipaddress.IPv4Network) -> str:
    """Docker gives a bridge network's first address to the host side (the gateway)."""
    return str(next(net.hosts()))


def trusted(ctx: StackContext) -> tuple[StackContext, ipaddress.IPv4Network]:
    """``ctx`` with the project network among the insiders and the load balancers."""
    net = subnet(ctx.internal_networks)

    def plus(networks: tuple[str, ...]) -> tuple[str, ...]:
        return networks if str(net) in networks else (*networks, str(net))

    return dataclasses.replace(ctx, internal_networks=plus(ctx.internal_networks),
                               load_balancers=plus(ctx.load_balancers)), net


def acl(networks, net: ipaddress.IPv4Network) -> list[str]:
    """VCL ACL entries: ``networks`` without the network's gateway (VCL's ``!`` entry)."""
    return [*vcl_acl(networks), f'! "{gateway(net)}"']


def limits(sizing: Sizing) -> dict[str, str]:
    return {"postgres": f"{max(512, sizing.memory // 4 // MB * 2)}m",
            "redis_cache": f"{sizing.redis_cache_maxmemory * 3 // 2 // MB}m",
            "redis_broker": f"{sizing.redis_broker_maxmemory * 3 // 2 // MB}m",
            "memcached": f"{sizing.memcached_memory * 3 // 2 // MB}m",
            "varnish": f"{sizing.varnish_memory * 2 // MB}m",
            "app": f"{sizing.app_workers * 200}m", "app_cpus": f"{sizing.cpus}",
            "worker": f"{sizing.celery_concurrency * 250}m"}


def variables(ctx: StackContext, sizing: Sizing, procs: dict, base: dict, env: dict[str, str],
              net: ipaddress.IPv4Network) -> dict:
    packages = ["postgresql-15", "redis-server", "varnish", "varnish-modules"]
    packages += [name for name, on in (("pgbouncer", ctx.with_pgbouncer), ("haproxy", ctx.with_haproxy),
                                       ("memcached", ctx.with_memcached)) if on]
    return {
        **base, "image": ctx.image, "servers_image": f"{ctx.project}-servers:latest", "celery_app": ctx.celery_app,
        "limits": limits(sizing), "with_pgbouncer": ctx.with_pgbouncer, "with_memcached": ctx.with_memcached,
        "with_haproxy": ctx.with_haproxy, "django_env": sorted(env.items()), "subnet": str(net),
        "build_context": ctx.build_context, "dockerfile": ctx.dockerfile, "server_packages": " ".join(packages),
        "db_service": "pgbouncer" if ctx.with_pgbouncer else "postgres",
        "ports": {"redis_cache": STANDARD_PORTS["redis-cache"], "redis_broker": STANDARD_PORTS["redis-broker"],
                  "app": STANDARD_PORTS["app"], "varnish": STANDARD_PORTS["varnish"],
                  "pgbouncer": STANDARD_PORTS["pgbouncer"]},
        "beat_dir": BEAT_DIR, "app_args": procs["app"].argv, "worker_args": procs["worker"].argv, "beat_args": procs["beat"].argv,
        "varnish_args": procs["varnish"].argv,
        "memcached_args": procs["memcached"].argv if ctx.with_memcached else (),
        # render --inventory: its app, worker and edge counts (else Compose's one of each).
        "replicas": {name: ctx.replicas.get(name, 1) for name in ("app", "worker", "varnish")} if ctx.replicas else {},
    }
