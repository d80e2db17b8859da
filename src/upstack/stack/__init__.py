"""The stack around Django: render server configurations (``render``, ``sizing``) and run them on
one machine (``runner``, ``supervisor``). Pure rendering never touches the network or processes.

The functions here are what ``manage.py upstack render|up|down|status|stop|start|restart|env`` call.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from . import inventory as inventories
from . import machine, multihost, project, render
from .context import Resources
from .runner import LocalStack, Options, StackError
from .sizing import parse_size

OPTIONAL_SERVICES = ("pgbouncer", "haproxy", "memcached", "observability", "flower", "replica")


def render_target(target: str, out: str | Path, *, cpus: int | None = None, memory: str | None = None,
                  with_services: tuple[str, ...] = (), app_server: str = "gunicorn", pod_cpus: int | None = None,
                  pod_memory: str | None = None, app_hosts: str | None = None,
                  inventory: str | Path | None = None) -> list[Path]:
    """Render ``target`` sized for the given (or this machine's) resources and write it under ``out``;
    ``pod_cpus``/``pod_memory`` size each app and worker pod of the kubernetes target (1 CPU, 1 GiB);
    ``app_hosts`` (``"a:8000,b:8000"``) are the app servers behind the edge's director; ``inventory``
    (a TOML file, docs/scaling.md): systemd writes one folder per host, compose and kubernetes take
    their replica counts from it."""
    ctx = project.context(machine.resources(cpus, memory), **_switches(with_services), app_server=app_server,
                          local=target == "local", ports=_placeholder_ports() if target == "local" else None,
                          pod_resources=_pod(target, pod_cpus, pod_memory))
    if app_hosts:
        if target == "local":
            raise ValueError("--app-hosts names app servers on other hosts: the local target runs its own")
        ctx = dataclasses.replace(ctx, app_hosts=parse_app_hosts(app_hosts))
    if inventory is not None:
        if target not in INVENTORY_TARGETS:
            raise ValueError(f"--inventory is for the targets {', '.join(INVENTORY_TARGETS)}, not {target}")
        if app_hosts:
            raise ValueError("--inventory names the app hosts already: leave out --app-hosts")
        hosts = inventories.load(inventory)
        if target == "systemd":
            return render.write(multihost.render_hosts(hosts, ctx), out)
        ctx = _scaled(ctx, hosts)
    if target != "compose":
        return render.write(render.render(target, ctx), out)
    # The app image builds from the project root, with the rendered Dockerfile; its .dockerignore must
    # sit in that root, so one is written there when the project has none.
    root, out = Path(ctx.base_dir), Path(out).resolve()
    ctx = dataclasses.replace(ctx, build_context=os.path.relpath(root, out),
                              dockerfile=os.path.relpath(out / "Dockerfile", root))
    files = render.render(target, ctx)
    written = render.write(files, out)
    if out != root and not (root / ".dockerignore").exists():
        written += render.write({".dockerignore": files[".dockerignore"]}, root)
    return written


INVENTORY_TARGETS = ("systemd", "compose", "kubernetes")


def _scaled(ctx, hosts: inventories.Inventory):
    """Compose and Kubernetes from an inventory: its replica counts; its load balancer hosts switch on
    HAProxy (Compose needs it in front of more than one edge)."""
    replicas = hosts.replicas()
    return dataclasses.replace(ctx, replicas=replicas, with_haproxy=ctx.with_haproxy or bool(hosts.having("lb")))


def parse_app_hosts(text: str) -> tuple[tuple[str, int], ...]:
    """``"a:8000,10.0.0.2:8000"`` -> ``(("a", 8000), ("10.0.0.2", 8000))``; a clear error otherwise."""
    hosts = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host or "-") \
                or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--app-hosts: {item!r} is not HOST:PORT (a host name or IPv4 address, a port 1-65535)")
        hosts.append((host, int(port)))
    if len(set(hosts)) != len(hosts):
        raise ValueError(f"--app-hosts names a server twice: {text}")
    return tuple(hosts)


def _switches(with_services) -> dict:
    unknown = sorted(set(with_services) - set(OPTIONAL_SERVICES))
    if unknown:
        raise ValueError(f"unknown optional service(s) {', '.join(unknown)}; choose from {', '.join(OPTIONAL_SERVICES)}")
    return {f"with_{name}": name in with_services for name in OPTIONAL_SERVICES}


def _pod(target: str, cpus: int | None, memory: str | None) -> Resources | None:
    if cpus is None and memory is None:
        return None
    if target != "kubernetes":
        raise ValueError("--pod-cpus and --pod-memory size Kubernetes pods: use them with --target kubernetes")
    if cpus is not None and cpus < 1:
        raise ValueError(f"--pod-cpus must be at least 1, got {cpus}")
    return Resources(cpus or 1, parse_size(memory or "1G"))


def _placeholder_ports() -> dict[str, int]:
    """Fixed loopback ports for a local render outside `up` (which picks free ones)."""
    from .services import STANDARD_PORTS

    return {name: 10000 + port % 10000 if port < 10000 else port for name, port in STANDARD_PORTS.items()}


def up(*, cpus=None, memory=None, with_services=(), app_server="gunicorn", seed_articles=3000,
       settings_module: str | None = None, say=print) -> dict:
    options = Options(**_switches(with_services), app_server=app_server, seed_articles=seed_articles)
    return LocalStack().up(options, machine.resources(cpus, memory), *project.local_stack_settings(settings_module), say)


__all__ = ["LocalStack", "Options", "StackError", "render_target", "up"]
