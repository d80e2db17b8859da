"""Purges reach every edge, durably: nodes purged in parallel, a node that misses a batch gets it from
the purge backlog once it is back, and an unreachable node never holds up the write (docs/edge.md).

Real Varnish instances on loopback ports in front of a loopback origin whose pages carry an xkey.
The "stopped" edge sits behind a TCP proxy that closes its port: the node is unreachable and its
cache survives, as for a partitioned host (a restarted varnishd would come back empty, and the test
would prove nothing). The blackholed node is an address in a network namespace that drops every packet.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from django.test import override_settings

from tests.netns import Proxy, blackhole
from upstack.cache import breaker
from upstack.edge import backlog, purge
from upstack.edge.backends.varnish import VarnishBackend

EDGE_VCL = """vcl 4.1;
import xkey;
backend default {{ .host = "127.0.0.1"; .port = "{port}"; }}
sub vcl_recv {{
  if (req.method == "PURGE") {{ return (synth(200, "Purged " + xkey.purge(req.http.xkey))); }}
}}
"""


def serve_story(address: str = "127.0.0.1"):
    """An origin on ``address``: a page tagged ``story`` whose body is ``server.version`` (the write)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = f"v{server.version}".encode()
            self.send_response(200)
            for name, value in (("xkey", "story"), ("Cache-Control", "public, s-maxage=3600"),
                                ("Content-Length", str(len(body)))):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    server.version = 1
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def origin():
    server = serve_story()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _clean_backlog():
    breaker.reset_all()
    backlog._memory = backlog.MemoryStore()
    yield
    breaker.reset_all()
    backlog._memory = backlog.MemoryStore()


def _page(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + "/story", timeout=5) as response:
        return response.read().decode()


def _edge_settings(nodes, **options):
    edge = {"BACKEND": "upstack.edge.backends.varnish.VarnishBackend", "NODES": nodes, **options}
    return override_settings(UPSTACK={"PURGE_BACKENDS": {"edge": edge}, "PURGE_IN_WORKER": False,
                                      "PURGE_REPEAT_AFTER": 0}, CELERY_BROKER_URL="")


def _two_edges(varnish_factory, origin):
    first = varnish_factory(vcl=EDGE_VCL.format(port=origin.server_address[1]))
    second = varnish_factory(vcl=EDGE_VCL.format(port=origin.server_address[1]))
    proxy = Proxy(("127.0.0.1", second.port))
    for url in (first.url, proxy.url):
        assert _page(url) == "v1" and _page(url) == "v1"  # cached on both
    return first, proxy


def _wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_an_edge_unreachable_during_writes_is_caught_up_when_it_returns(varnish_factory, origin):
    first, second = _two_edges(varnish_factory, origin)
    with _edge_settings([first.url, second.url], WAIT=0.5, COOLDOWN=0.2):
        second.close()
        for version in (2, 3):  # two writes while the second edge is away
            origin.version = version
            purge.add({"story"})
        assert _page(first.url) == "v3"
        pending = backlog.summary()
        assert pending["pending"] == 1 and pending["oldest_age"] is not None, pending
        assert list(pending["nodes"]) == [backlog.node_id("edge", second.url, None)]
        second.open()
        # Back, and still holding the page of before the writes: only the backlog can fix that.
        assert _page(second.url) == "v1"
        # Without a broker, a thread of the web process retries the backlog (every second).
        assert _wait_for(lambda: _page(second.url) == "v3", 5), "the returning edge still serves the stale page"
        assert backlog.summary()["pending"] == 0


def test_a_node_that_stays_down_keeps_its_keys(varnish_factory, origin):
    """Negative case: the backlog is emptied only by a purge that reached the node."""
    first, second = _two_edges(varnish_factory, origin)
    with _edge_settings([first.url, second.url], WAIT=0.5, COOLDOWN=0.1):
        second.close()
        purge.purge_now({"story"})
        time.sleep(0.3)
        assert purge.retry_backlog() == {backlog.node_id("edge", second.url, None): False}
        assert backlog.summary()["pending"] == 1


def test_the_backlog_retry_probes_a_node_whose_breaker_is_still_open(varnish_factory, origin):
    """The retry is the breaker's probe: with COOLDOWN longer than the retry period (the default 5 s
    against the beat's 5 s), a node that came back is caught up at the next retry, not after the
    cooldown - skipping it while the breaker was open cost the six-host drill up to 10 s."""
    first, second = _two_edges(varnish_factory, origin)
    with _edge_settings([first.url, second.url], WAIT=0.5, COOLDOWN=60):
        second.close()
        origin.version = 2
        purge.purge_now({"story"})
        node = backlog.node_id("edge", second.url, None)
        assert purge.retry_backlog() == {node: False}  # still away: the keys stay
        second.open()
        assert _page(second.url) == "v1"
        assert purge.retry_backlog() == {node: True}
        assert _page(second.url) == "v2" and backlog.summary()["pending"] == 0


def test_the_backlog_is_durable_in_the_brokers_redis(varnish_factory, origin, redis_server):
    """With a Redis broker the missed keys are in Redis: a new process (a fresh memory) retries them,
    as the beat task ``upstack.purge_backlog`` does."""
    import redis

    first, second = _two_edges(varnish_factory, origin)
    client = redis.Redis.from_url(redis_server.url)
    client.delete(backlog.NODES, *client.keys(backlog.PENDING + "*"))
    with _edge_settings([first.url, second.url], WAIT=0.5, COOLDOWN=0.1), \
            override_settings(CELERY_BROKER_URL=redis_server.url):
        second.close()
        origin.version = 2
        assert purge.purge_now({"story"}) == {"edge": True}  # the write is done; the miss is queued
        summary = backlog.summary()
        assert summary["store"] == "redis" and summary["pending"] == 1, summary
        backlog._memory = backlog.MemoryStore()  # nothing of it lived in this process
        breaker.reset_all()
        second.open()
        assert _page(second.url) == "v1"
        from upstack.tasks.app import purge_backlog

        assert purge_backlog() == {backlog.node_id("edge", second.url, None): True}
        assert _page(second.url) == "v2" and _page(first.url) == "v2"
        assert backlog.summary()["pending"] == 0 and client.zcard(backlog.NODES) == 0
        from upstack.tasks import stats

        assert stats()["purge_backlog"]["pending"] == 0


def test_a_blackholed_edge_does_not_delay_the_write(varnish_factory, origin):
    first = varnish_factory(vcl=EDGE_VCL.format(port=origin.server_address[1]))
    assert _page(first.url) == "v1"
    with blackhole() as (address, port):
        dead = f"http://{address}:{port}"
        # The deliberately broken case first: the address really swallows connections.
        import urllib.request

        started = time.monotonic()
        with pytest.raises(OSError):
            urllib.request.urlopen(dead + "/", timeout=1.0)
        assert time.monotonic() - started >= 0.9, "the blackhole answered: the test would prove nothing"
        with _edge_settings([dead, first.url], WAIT=0.25, TIMEOUT=2.0, COOLDOWN=30):
            took = []
            for version in (2, 3, 4):
                origin.version = version
                started = time.monotonic()
                purge.add({"story"})
                took.append(time.monotonic() - started)
                assert _page(first.url) == f"v{version}"  # the live edge was purged by that write
            # At most WAIT once (the breaker then skips the node), never the connect timeout.
            assert took[0] < 1.0 and max(took[1:]) < 0.1, took
            assert backlog.summary()["nodes"] == {backlog.node_id("edge", dead, None): 1}


def test_nodes_are_purged_in_parallel(varnish_factory, origin):
    """Two slow nodes cost one wait, not two: a backend that purged them one after the other fails this."""
    import socket

    tarpits = []
    for _ in range(2):  # accept and never answer
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        tarpits.append(s)
    try:
        nodes = [f"http://127.0.0.1:{s.getsockname()[1]}" for s in tarpits]
        started = time.monotonic()
        missed = VarnishBackend("edge", nodes=nodes, wait=0.6, timeout=3.0).purge_batch(["story"])
        took = time.monotonic() - started
        assert len(missed) == 2 and 0.5 < took < 1.0, (missed, took)
    finally:
        for s in tarpits:
            s.close()
