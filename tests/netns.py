"""Simulated hosts and network faults for tests, built with ``ip netns`` and removed afterwards (root only).

``hosts(n)`` makes ``n`` network namespaces, each joined to this one by a veth pair on a /30 of its
own (``Host``: its ``address``, and ``gateway``, ours as it sees it); ``Host.drop_everything()``
partitions one (iptables inside the namespace only: the machine's firewall is not touched).
``blackhole()`` yields ``(address, port)`` of such a host: a TCP connect there gets no answer at all,
like a host that died or a firewall that drops. ``Proxy`` is a TCP forwarder on loopback that can close and reopen
its port, so the server behind it is unreachable for a while and keeps its state (a Varnish keeps
its cache, as a partitioned edge does, which a restart would lose).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading

import pytest

from .servers import free_port, in_ci


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def require_netns() -> None:
    missing = [tool for tool in ("ip", "iptables") if not shutil.which(tool)]
    why = f"missing {missing}" if missing else ("" if os.geteuid() == 0 else "network namespaces need root")
    if why:
        if in_ci():
            raise RuntimeError(why)
        pytest.skip(why)


class Host:
    """A network namespace joined to this one by a veth pair on a /30 of its own: ``address`` is the
    host's, ``gateway`` this namespace's end (what the host reaches us at)."""

    def __init__(self):
        tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
        self.name, self.outer_if, self.inner_if = f"upns{tag}", f"uns{tag}o", f"uns{tag}i"
        # 10.213.x.y/30, x and y random: other tests on this machine make namespaces too.
        a, b = random.randrange(0, 256), random.randrange(0, 64) * 4
        self.gateway, self.address = f"10.213.{a}.{b + 1}", f"10.213.{a}.{b + 2}"

    def create(self) -> Host:
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.outer_if, "type", "veth", "peer", "name", self.inner_if)
            _ip("link", "set", self.inner_if, "netns", self.name)
            _ip("addr", "add", f"{self.gateway}/30", "dev", self.outer_if)
            _ip("link", "set", self.outer_if, "up")
            _ip("-n", self.name, "addr", "add", f"{self.address}/30", "dev", self.inner_if)
            _ip("-n", self.name, "link", "set", self.inner_if, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], check=True, capture_output=True,
                              text=True, timeout=10)

    def drop_everything(self, on: bool = True) -> None:
        """Drop every packet that enters the host (its own firewall; ours is not touched): a partition."""
        self.run("iptables", "-w", "-A" if on else "-D", "INPUT", "-j", "DROP")

    def remove(self) -> None:
        _ip("link", "del", self.outer_if, check=False)
        _ip("netns", "del", self.name, check=False)


@contextlib.contextmanager
def hosts(count: int):
    """``count`` fresh hosts (``Host``), removed afterwards whatever happens."""
    require_netns()
    made: list[Host] = []
    try:
        while len(made) < count:
            host = Host()
            if any(host.name == m.name or host.gateway.rsplit(".", 1)[0] == m.gateway.rsplit(".", 1)[0] for m in made):
                continue  # the same name or /24 drawn twice: draw again (no overlapping routes)
            made.append(host.create())
        yield made
    finally:
        for host in made:
            host.remove()


@contextlib.contextmanager
def blackhole():
    """``(address, port)`` of a host that drops every packet."""
    with hosts(1) as (host,):
        host.drop_everything()
        yield host.address, free_port()


class Proxy:
    """Forward 127.0.0.1:``port`` to ``target``; ``close()`` refuses connections, ``open()`` takes them again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        if self.listener is not None:
            # shutdown wakes the thread blocked in accept() and stops listening; close alone does neither.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
