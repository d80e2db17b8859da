"""The limits bench/run.py measures upstack's edge against: a bare varnishd serving the article
page's bytes as a static object (the edge's ceiling here) and upstack's edge hit on the same
article, interleaved, each run an edge hit before and after it (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.request

from bench import report as reports
from bench import workloads, wrk

# What the edge adds on delivery; the rest of an edge response is the stored object's own headers.
EDGE_ADDED = {"date", "content-length", "x-varnish", "age", "via", "accept-ranges", "x-cache", "x-request-id",
              "connection", "transfer-encoding"}


def fetch(url: str, headers: dict | None = None) -> tuple[bytes, list[tuple[str, str]]]:
    """One GET as wrk sends it (its Host header): the body and the response headers."""
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": wrk.HOST, **(headers or {})}),
                                timeout=30) as response:
        return response.read(), response.getheaders()


def x_cache(url: str, path: str) -> str | None:
    """The X-Cache header of one GET (the edge's word on whether it was a hit)."""
    return next((v for k, v in fetch(url + path)[1] if k.lower() == "x-cache"), None)


def hit_run(url: str, path: str, seconds: int, connections: int) -> dict:
    """A wrk run on one object that must be an edge hit before and after it (``hit``)."""
    x_cache(url, path)  # (re)fill it
    before = x_cache(url, path)
    result = wrk.run(url, [workloads.view(path)], seconds, connections)  # as a browser: compressed
    after = x_cache(url, path)
    return {**result, "hit": before == after == "HIT", "x_cache": [before, after]}


def wait_for_idle_broker(broker_url: str, timeout: float = 120) -> None:
    """Until the stack's Celery has no task left - the workload's writes queue purges, some of them
    repeated after a delay - so no purge lands on the objects the limits measure."""
    import redis

    from tests.servers import broker_idle, wait_until

    client = redis.Redis.from_url(broker_url)
    try:
        wait_until(lambda: broker_idle(client), timeout, "the stack's task queues to empty")
    finally:
        client.close()


@contextlib.contextmanager
def varnish_static(page: bytes, headers: list[tuple[str, str]]):
    """A bare varnishd (built-in VCL) serving ``page`` with its stored ``headers`` at /article as a
    static object: the same object as upstack's edge hit, without upstack's VCL - the edge's ceiling
    here. Yields its URL."""
    from tests.servers import Varnish

    stored = [(k, v) for k, v in headers if k.lower() not in EDGE_ADDED]

    class Static(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response_only(200)
            for name, value in stored:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Static)
    thread = threading.Thread(target=origin.serve_forever, daemon=True)
    thread.start()
    try:
        with Varnish(backend=("127.0.0.1", origin.server_address[1])) as varnish:
            x_cache(varnish.url, "/article")  # cache it
            yield varnish.url
    finally:
        origin.shutdown()
        origin.server_close()


def edge_limits(edge: str, article: str, page: bytes, headers: list, rounds: int, seconds: int,
                connections: int) -> dict:
    """The static-object limit and upstack's edge hit on the same article, interleaved over ``rounds``
    (each figure a median; ``hit`` only if every run was a hit before and after, errors summed)."""
    runs = {"varnish_static": [], "upstack_edge_hit": []}
    with varnish_static(page, headers) as static:
        for _ in range(rounds):
            runs["varnish_static"].append(hit_run(static, "/article", seconds, connections))
            runs["upstack_edge_hit"].append(hit_run(edge, article, seconds, connections))
    return {name: {**reports.median_run(r), "hit": all(x["hit"] for x in r), "errors": sum(x["errors"] for x in r),
                   "x_cache": [x["x_cache"] for x in r]} for name, r in runs.items()}
