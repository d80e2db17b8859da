"""The per-host render runs: an inventory whose hosts are loopback addresses (127.0.0.10, .21, .22, .31,
.32, .41) is rendered, and the load balancer, both edges and the database host's two Redis are started
from their hosts' ``manifest.json`` commands and configurations (``/etc/upstack/`` pointing at the host's
folder), in front of two stand-in app servers on the app hosts' addresses. Requests go through the load
balancer to both edges and both app servers; every server answers on its host's address and not on
127.0.0.1; an app host may purge every edge of its ``EDGE_URLS``, the load balancer may not."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

from tests import servers
from tests.upstack.stack.test_app_pool import _App
from tests.upstack.stack.test_multihost import _tls
from upstack.stack import inventory, multihost, project
from upstack.stack.context import Resources
from upstack.stack.sizing import GB

LB, EDGES, APPS, DB = "127.0.0.10", ("127.0.0.21", "127.0.0.22"), ("127.0.0.31", "127.0.0.32"), "127.0.0.41"


def _free(*addresses: str) -> int:
    """A port free on every one of ``addresses``."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if all(_connects(a, port) is False and _bindable(a, port) for a in addresses):
            return port
    raise RuntimeError(f"no common free port on {addresses}")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
            return True
        except OSError:
            return False


def _connects(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


class Rendered(servers.Server):
    """One service of a rendered host, started from its manifest's command."""

    def __init__(self, folder: Path, name: str, listen: tuple[str, int], rewrite: dict[str, str] | None = None,
                 extra: tuple[str, ...] = ()):
        service = next(s for s in json.loads((folder / "manifest.json").read_text())["services"] if s["name"] == name)
        self.name, self.binary = f"{folder.name}-{name}", Path(service["command"][0]).name
        super().__init__()
        self.argv = [self.path, *extra,
                     *(arg.replace("/etc/upstack/", f"{folder}/etc/") for arg in service["command"][1:])]
        for old, new in (rewrite or {}).items():
            self.argv = [arg.replace(old, new) for arg in self.argv]
        self.listen = listen

    def command(self):
        return self.argv

    def ready(self):
        return _connects(*self.listen)


def _inventory(ports: dict[str, int]) -> str:
    hosts = [("lb1", LB, ["lb"], f"lb = {ports['lb']}"), ("edge1", EDGES[0], ["edge"], f"edge = {ports['edge']}"),
             ("edge2", EDGES[1], ["edge"], f"edge = {ports['edge']}"),
             ("app1", APPS[0], ["app", "worker"], f"app = {ports['app']}"), ("app2", APPS[1], ["app"], f"app = {ports['app']}"),
             ("db1", DB, ["db-primary", "cache", "broker"],
              f"db-primary = {ports['pg']}, cache = {ports['cache']}, broker = {ports['broker']}")]
    return "".join(f'[hosts.{name}]\naddress = "{address}"\nroles = {json.dumps(roles)}\nports = {{ {p} }}\n\n'
                   for name, address, roles, p in hosts)


def _get(address: str, port: int, path: str, method="GET", source: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection(address, port, timeout=10,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, headers={"Host": "localhost"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_rendered_hosts_bind_their_addresses_and_reach_each_other(open_tmp):
    for name in ("varnishd", "haproxy", "redis-server", "openssl"):
        servers.require_binary(name)
    ports = {"lb": _free(LB), "edge": _free(*EDGES), "app": _free(*APPS), "pg": _free(DB), "cache": _free(DB),
             "broker": _free(DB)}
    while ports["broker"] == ports["cache"]:
        ports["broker"] = _free(DB)
    hosts = inventory.parse(_inventory(ports), "loopback.toml")
    out = open_tmp / "hosts"
    for relative, text in multihost.render_hosts(hosts, project.context(Resources(1, 1 * GB))).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    # What only an installed host has: a certificate, a free HTTPS port, Redis' data directory, and
    # the unit's LimitNOFILE=65536 (HAProxy's maxconn needs it).
    cfg = out / "lb1/etc/haproxy/haproxy.cfg"
    cfg.write_text(cfg.read_text().replace("/etc/upstack/tls/site.pem", str(_tls(open_tmp)))
                   .replace(f"{LB}:443 ", f"{LB}:{_free(LB)} ").replace("maxconn 20000", "maxconn 1000"))
    broker = out / "db1/etc/redis/broker.conf"
    broker.write_text(broker.read_text().replace("dir /var/lib/redis", f"dir {open_tmp}"))

    apps = [_App(f"app{i + 1}", (address, ports["app"])) for i, address in enumerate(APPS)]
    started = []
    try:
        for folder, name, listen, rewrite, extra in [
                # Two edges on one machine: each its own working directory and admin port.
                *[(out / f"edge{i + 1}", "varnish", (address, ports["edge"]),
                   {"localhost:6082": f"{address}:{_free(address)}"}, ("-n", f"{open_tmp}/varnish{i + 1}"))
                  for i, address in enumerate(EDGES)],
                (out / "db1", "redis-cache", (DB, ports["cache"]), None, ()),
                (out / "db1", "redis-broker", (DB, ports["broker"]), None, ()),
                (out / "lb1", "haproxy", (LB, ports["lb"]), None, ())]:
            started.append(Rendered(folder, name, listen, rewrite, extra).start())
        # Every server answers on its host's address and on no other.
        for address, port in [*((e, ports["edge"]) for e in EDGES), (DB, ports["cache"]), (DB, ports["broker"]),
                              (LB, ports["lb"])]:
            assert _connects(address, port) and not _connects("127.0.0.1", port), (address, port)
        # Through the load balancer (round robin over the edges, each a director over both app hosts).
        servers.wait_until(lambda: {_get(LB, ports["lb"], "/healthz")[1] for _ in range(8)} == {"app1", "app2"},
                           20, "the load balancer to reach both app hosts through the edges")
        for edge in EDGES:
            assert {_get(edge, ports["edge"], "/healthz")[1] for _ in range(6)} == {"app1", "app2"}
        # An app host purges every edge its env file names; the load balancer is no insider.
        env = dict(line.split("=", 1) for line in (out / "app1/etc/newsroom.env.example").read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
        assert env["EDGE_URLS"] == ",".join(f"http://{e}:{ports['edge']}" for e in EDGES)
        assert env["REDIS_URL"] == f"redis://{DB}:{ports['cache']}/0"
        for edge in EDGES:
            assert _get(edge, ports["edge"], "/x", "PURGE", source=APPS[0])[0] == 200
            assert _get(edge, ports["edge"], "/x", "PURGE", source=LB)[0] == 403
        with socket.create_connection((DB, ports["cache"]), timeout=5) as redis:
            redis.sendall(b"PING\r\n")
            assert redis.recv(64).startswith(b"+PONG")
    finally:
        for server in reversed(started):
            server.stop()
        for app in apps:
            app.close()


def test_the_negative_a_server_on_127_0_0_1_is_seen():
    """The "on its host's address, not on 127.0.0.1" check above can fail: it sees a listener on 127.0.0.1."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert _connects("127.0.0.1", listener.getsockname()[1])
        assert not _connects(DB, listener.getsockname()[1])
