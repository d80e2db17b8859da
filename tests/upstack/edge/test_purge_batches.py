"""Purge batches fit what a backend accepts: Varnish answers 400 to a PURGE whose xkey header is
longer than its request-header limit (8 KB), and the whole batch would fail."""

from __future__ import annotations

from upstack.edge.backends.varnish import VarnishBackend

PURGE_VCL = """vcl 4.1;
import xkey;
backend default { .host = "127.0.0.1"; .port = "9"; }
sub vcl_recv {
  if (req.method == "PURGE") { return (synth(200, "Purged " + xkey.softpurge(req.http.xkey))); }
}
"""


def test_batches_respect_both_the_key_count_and_the_byte_budget():
    from upstack.edge.backends.base import batches

    keys = [f"news.article~published_at@slug=story-{i}&status=published" for i in range(500)]
    split = list(batches(keys, max_keys=200, max_bytes=6000))
    assert [k for batch in split for k in batch] == keys
    assert all(len(" ".join(batch).encode()) <= 6000 and len(batch) <= 200 for batch in split)
    assert list(batches(["a", "b", "c"], max_keys=2)) == [["a", "b"], ["c"]]
    assert list(batches([], max_keys=2)) == []


def test_a_large_purge_of_long_keys_reaches_a_real_varnish(varnish_factory):
    edge = varnish_factory(vcl=PURGE_VCL)
    keys = [f"news.article~published_at@slug=a-rather-long-article-slug-{i}&status=published" for i in range(2000)]
    VarnishBackend("edge", nodes=[edge.url]).purge(keys)  # raises ConnectionError on any 400


def _recorders(count):
    """Loopback HTTP servers that answer PURGE 200 and record (xkey, Host) - stand-ins for Varnish replicas."""
    import http.server
    import threading

    servers, seen = [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PURGE(self):  # noqa: N802 - the method name is the HTTP verb
            seen.append((self.server.server_address[1], self.headers["xkey"], self.headers["Host"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    for _ in range(count):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers, seen


def test_resolve_purges_every_address_a_headless_service_name_has(monkeypatch):
    import socket

    servers, seen = _recorders(2)
    ports = [s.server_address[1] for s in servers]
    real = socket.getaddrinfo

    def headless(host, port, *args, **kwargs):  # DNS of a headless Service: one record per ready replica
        if host == "varnish-nodes":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p)) for p in ports]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", headless)
    try:
        VarnishBackend("edge", nodes=["http://varnish-nodes:6081"], resolve=True).purge(["a", "b"])
        assert sorted(seen) == sorted((p, "a b", "varnish-nodes:6081") for p in ports)
        # Without RESOLVE the name is one node: one replica is purged, the other keeps its stale copy.
        seen.clear()
        VarnishBackend("edge", nodes=["http://varnish-nodes:6081"], timeout=0.5).purge(["a"])
        assert len(seen) == 1
        seen.clear()
        servers[1].shutdown()
        servers[1].server_close()
        # A replica that misses a purge gets it from the purge backlog (test_purge_backlog.py).
        missed = VarnishBackend("edge", nodes=["http://varnish-nodes:6081"], resolve=True, timeout=0.5).purge_batch(["c"])
        assert [url for url, host, why in missed] == [f"http://127.0.0.1:{ports[1]}"]
        assert [s[0] for s in seen] == [ports[0]]
    finally:
        from upstack.edge import backlog

        backlog._memory = backlog.MemoryStore()
        for server in servers:
            server.shutdown()
            server.server_close()
