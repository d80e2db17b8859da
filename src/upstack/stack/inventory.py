"""The inventory: one TOML file naming the hosts of a multi-host deployment, their addresses and roles.

Pure: ``parse(text, source)`` returns an ``Inventory`` or raises ``InventoryError`` naming the file,
the line and the host (docs/scaling.md, docs/inventory.example.toml)::

    [defaults]              # optional: what every host is sized for (else --cpus/--memory)
    cpus = 4
    memory = "8G"

    [hosts.db1]
    address = "10.0.0.41"   # an IPv4 address: the host's services bind to it, the others point at it
    roles = ["db-primary", "db-replica", "cache", "broker"]
    ports = { db-replica = 5433 }   # optional: a role's port when two share a host

TOML is read with the standard library's ``tomllib``, which does not say where a value came from;
``_lines`` finds each host's table in the text, so errors can name its line.
``placement(inventory, host)`` is what one host sees of the layout (``context.Placement``).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field

from .context import Placement
from .services import STANDARD_PORTS
from .sizing import parse_size

# Role -> the services it runs on its host (beat runs once: on the first worker host).
ROLES = {
    "lb": ("haproxy",), "edge": ("varnish",), "app": ("app",), "worker": ("worker",),
    "db-primary": ("postgres",), "db-replica": ("postgres-replica",), "cache": ("redis-cache",),
    "memcached": ("memcached",), "broker": ("redis-broker",),
}
# Where each role listens unless the host's ``ports`` table says otherwise: its service's standard
# port (a replica's is PostgreSQL's); a worker listens nowhere.
DEFAULT_PORTS = {role: STANDARD_PORTS[names[0].removesuffix("-replica")] for role, names in ROLES.items()
                 if role != "worker"}
EXACTLY_ONE = ("db-primary", "cache", "broker")
AT_LEAST_ONE = ("edge", "app", "worker")
HOST_KEYS = {"address", "roles", "cpus", "memory", "ports"}
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class InventoryError(ValueError):
    """A bad inventory; the message names the file, the line and the host."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    roles: tuple[str, ...]
    cpus: int | None = None
    memory: int | None = None  # bytes
    ports: dict[str, int] = field(default_factory=dict)  # role -> port, overrides only
    line: int | None = None

    def port(self, role: str) -> int:
        return self.ports.get(role, DEFAULT_PORTS[role])


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[Host, ...]
    source: str = "inventory"

    def having(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if role in h.roles)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def replicas(self) -> dict[str, int]:
        """Replica counts for Compose and Kubernetes: one app, worker and edge per inventory host."""
        return {"app": len(self.having("app")), "worker": len(self.having("worker")),
                "varnish": len(self.having("edge"))}


def _lines(text: str) -> dict[str, int]:
    """``{host name: line of its [hosts.NAME] table}`` (1-based)."""
    found = {}
    pattern = re.compile(r"""^\s*\[\s*hosts\s*\.\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*\]""")
    for number, line in enumerate(text.splitlines(), 1):
        match = pattern.match(line)
        if match:
            found.setdefault(next(g for g in match.groups() if g is not None), number)
    return found


def _where(source: str, name: str, line: int | None) -> str:
    return f"{source}:{line}: host {name!r}" if line else f"{source}: host {name!r}"


def _size(value, what: str, where: str) -> tuple[int | None, int | None]:
    """``(cpus, memory bytes)`` from a host's or the defaults' table."""
    cpus, memory = value.get("cpus"), value.get("memory")
    if cpus is not None and (not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 1):
        raise InventoryError(f"{where}: {what}cpus must be a whole number of at least 1, got {cpus!r}")
    if memory is not None:
        try:
            memory = parse_size(str(memory))
        except ValueError as exc:
            raise InventoryError(f"{where}: {what}memory: {exc}") from None
    return cpus, memory


def _address(value, where: str) -> str:
    try:
        address = ipaddress.ip_address(str(value)) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or address.version != 4 or address.is_unspecified or address.is_multicast:
        raise InventoryError(f"{where}: address {value!r} is not a usable IPv4 address (e.g. \"10.0.0.11\"; "
                             "the host's services bind to it, so no name, no 0.0.0.0)")
    return str(address)


def _host(name: str, table, line: int | None, source: str, defaults: tuple) -> Host:
    where = _where(source, name, line)
    if not HOST_NAME.fullmatch(name):
        raise InventoryError(f"{where}: a host name is lower-case letters, digits and '-' (it names a folder)")
    if not isinstance(table, dict):
        raise InventoryError(f"{where}: expected a table with address and roles")
    unknown = sorted(set(table) - HOST_KEYS)
    if unknown:
        raise InventoryError(f"{where}: unknown key(s) {', '.join(unknown)}; a host has {', '.join(sorted(HOST_KEYS))}")
    if "address" not in table:
        raise InventoryError(f"{where}: no address")
    roles = table.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise InventoryError(f"{where}: roles must be a non-empty list, e.g. roles = [\"app\", \"worker\"]")
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InventoryError(f"{where}: unknown role(s) {', '.join(map(repr, bad))}; choose from {', '.join(ROLES)}")
    if len(set(roles)) != len(roles):
        raise InventoryError(f"{where}: a role is listed twice in {roles}")
    ports = table.get("ports", {})
    if not isinstance(ports, dict):
        raise InventoryError(f"{where}: ports must be a table of role = port")
    for role, port in ports.items():
        if role not in roles or role not in DEFAULT_PORTS:
            raise InventoryError(f"{where}: ports.{role}: not a role of this host that listens")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InventoryError(f"{where}: ports.{role} must be a port 1-65535, got {port!r}")
    cpus, memory = _size(table, "", where)
    host = Host(name, _address(table["address"], where), tuple(roles), cpus or defaults[0], memory or defaults[1],
                dict(ports), line)
    taken: dict[int, str] = {}
    for role in host.roles:
        if role in DEFAULT_PORTS:
            other = taken.setdefault(host.port(role), role)
            if other != role:
                raise InventoryError(f"{where}: {other} and {role} would both listen on port {host.port(role)}; "
                                     f"give one its own, e.g. ports = {{ {role} = {host.port(role) + 1} }}")
    if "lb" in host.roles and 443 in taken and taken[443] != "lb":
        raise InventoryError(f"{where}: {taken[443]} would take port 443, which the load balancer serves TLS on")
    return host


def parse(text: str, source: str = "inventory") -> Inventory:
    """The inventory in ``text`` (TOML), validated; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"defaults", "hosts"})
    if unknown:
        raise InventoryError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; an inventory has "
                             "[defaults] and [hosts.NAME] tables")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - {"cpus", "memory"}:
        raise InventoryError(f"{source}: [defaults] takes cpus and memory only")
    sized = _size(defaults, "defaults.", source)
    tables = data.get("hosts")
    if not isinstance(tables, dict) or not tables:
        raise InventoryError(f"{source}: no hosts; add [hosts.NAME] tables with address and roles")
    lines = _lines(text)
    hosts = tuple(_host(name, table, lines.get(name), source, sized) for name, table in tables.items())
    seen: dict[str, Host] = {}
    for host in hosts:
        first = seen.setdefault(host.address, host)
        if first is not host:
            raise InventoryError(f"{_where(source, host.name, host.line)}: address {host.address} is taken by "
                                 f"host {first.name!r}" + (f" (line {first.line})" if first.line else ""))
    inventory = Inventory(hosts, source)
    for role in (*EXACTLY_ONE, *AT_LEAST_ONE):
        having = inventory.having(role)
        if not having:
            raise InventoryError(f"{source}: no host has the role {role!r}; the layout needs "
                                 + ("exactly one" if role in EXACTLY_ONE else "at least one"))
        if role in EXACTLY_ONE and len(having) > 1:
            names = ", ".join(h.name + (f" line {h.line}" if h.line else "") for h in having)
            raise InventoryError(f"{source}: {len(having)} hosts have the role {role!r} ({names}); it takes exactly one")
    return inventory


def load(path) -> Inventory:
    """Read and parse an inventory file (the thin I/O part)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory {path}: {exc.strerror}") from None
    return parse(text, str(path))


def services_of(inventory: Inventory, host: Host) -> tuple[str, ...]:
    """The services ``host`` runs: its roles', plus beat on the first worker host."""
    names = [service for role in host.roles for service in ROLES[role]]
    if host is inventory.having("worker")[0]:
        names.append("beat")
    return tuple(names)


def _endpoints(inventory: Inventory, role: str) -> tuple[tuple[str, int], ...]:
    return tuple((h.address, h.port(role)) for h in inventory.having(role))


def placement(inventory: Inventory, name: str, with_pgbouncer: bool = False) -> Placement:
    """What host ``name`` runs, where it binds, and where it finds every other service."""
    host = inventory.host(name)
    services = services_of(inventory, host)
    if with_pgbouncer and "postgres" in services:
        services = (*services, "pgbouncer")
    (primary,), (cache,), (broker,) = (inventory.having(r) for r in EXACTLY_ONE)
    reach = {"postgres": (primary.address, primary.port("db-primary")),
             "pgbouncer": (primary.address, STANDARD_PORTS["pgbouncer"]),
             "redis-cache": (cache.address, cache.port("cache")),
             "redis-broker": (broker.address, broker.port("broker"))}
    ports = {service: host.port(role) for role in host.roles if role in DEFAULT_PORTS for service in ROLES[role]}
    return Placement(
        host=host.name, address=host.address, services=services, reach=reach, ports=ports,
        edges=_endpoints(inventory, "edge"), apps=_endpoints(inventory, "app"),
        replicas=_endpoints(inventory, "db-replica"), memcached=_endpoints(inventory, "memcached"),
        load_balancers=tuple(h.address for h in inventory.having("lb")),
        insiders=tuple(h.address for h in inventory.hosts if {"app", "worker", "edge"} & set(h.roles)),
        primary=(primary.address, primary.port("db-primary")),
        db_clients=tuple(h.address for h in inventory.hosts
                         if {"app", "worker"} & set(h.roles) or (with_pgbouncer and h is primary)),
        replica_hosts=tuple(dict.fromkeys(h.address for h in inventory.having("db-replica"))))
