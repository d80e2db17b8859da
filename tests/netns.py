"""Network faults for tests, built with ``ip netns`` and removed afterwards (root only).

``blackhole()`` makes a network namespace joined to this one by a veth pair on a /30 of its own,
drops every packet that enters it (iptables inside the namespace only: the host's firewall is not
touched), and yields ``(address, port)``: a TCP connect there gets no answer at all, like a host that
died or a firewall that drops. ``Proxy`` is a TCP forwarder on loopback that can close and reopen
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


@contextlib.contextmanager
def blackhole():
    require_netns()
    tag = f"{os.getpid() % 10000}{random.randrange(100, 999)}"
    name, host_if, peer_if = f"upbh{tag}", f"ubh{tag}h", f"ubh{tag}p"
    # 10.213.x.y/30, x and y random: other tests on this machine make namespaces too.
    base = random.randrange(0, 256), random.randrange(0, 64) * 4
    host_ip, peer_ip = f"10.213.{base[0]}.{base[1] + 1}", f"10.213.{base[0]}.{base[1] + 2}"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", name)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{peer_ip}/30", "dev", peer_if)
        _ip("-n", name, "link", "set", peer_if, "up")
        subprocess.run(["ip", "netns", "exec", name, "iptables", "-w", "-A", "INPUT", "-j", "DROP"],
                       check=True, capture_output=True, timeout=10)
        yield peer_ip, free_port()
    finally:
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", name, check=False)


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
