"""Fixtures for the cache tests: backend factories on real servers, a dead port and a blackhole."""

from __future__ import annotations

import socket
import threading

import pytest

from tests import servers
from upstack.cache import breaker
from upstack.cache.backends.locmem import LocMemCache
from upstack.cache.backends.memcached import PyMemcacheCache
from upstack.cache.backends.redis import RedisCache

CLASSES = {"redis": RedisCache, "memcached": PyMemcacheCache, "locmem": LocMemCache}


_built: list = []


@pytest.fixture(autouse=True)
def fresh_breakers():
    breaker.reset_all()
    yield
    breaker.reset_all()
    while _built:
        disconnect(_built.pop())


def disconnect(cache) -> None:
    """Close a backend's sockets (tests build many; warnings are errors)."""
    client = cache.__dict__.get("_cache")
    if client is None:
        return
    if hasattr(client, "disconnect_all"):
        client.disconnect_all()
    for pool in getattr(client, "_pools", {}).values():
        pool.disconnect()


def build(kind: str, location, namespace: str = "data", **options):
    params = {"KEY_PREFIX": f"t-{namespace}", "OPTIONS": {"NAMESPACE": namespace, **options}}
    cache = CLASSES[kind](location, params)
    _built.append(cache)
    return cache


def location_of(kind: str, server) -> object:
    if kind == "redis":
        return server.url
    if kind == "memcached":
        return [server.location]
    return "tests"


@pytest.fixture(params=["redis", "memcached", "locmem"])
def backend_kind(request):
    return request.param


@pytest.fixture
def server_for(request):
    """``server_for(kind)``: the running session server of that kind (None for locmem)."""
    def get(kind):
        if kind == "redis":
            return request.getfixturevalue("redis_server")
        if kind == "memcached":
            return request.getfixturevalue("memcached_server")
        return None
    return get


class Blackhole:
    """Accepts TCP connections and never answers: the worst kind of dead server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self.held.append(conn)

    def close(self):
        self._stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def blackhole():
    hole = Blackhole()
    yield hole
    hole.close()


@pytest.fixture
def dead_port():
    return servers.free_port()
