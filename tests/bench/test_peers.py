"""The microcache peer is nginx's micro-caching as teams configure it: checked through a real nginx
(system package) in front of a small origin that counts what reaches it."""

import http.server
import re
import threading
import time
import urllib.request

import pytest

from bench import peers
from tests.servers import require_binary


class Origin(http.server.ThreadingHTTPServer):
    """Answers every GET with how many requests it has had, slowly (so concurrent misses overlap)."""

    def __init__(self):
        self.hits, self.lock = 0, threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        with self.server.lock:
            self.server.hits += 1
            body = f"hit {self.server.hits}".encode()
        if self.path != "/healthz":
            time.sleep(0.2)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def origin():
    server = Origin()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.read().decode(), response.headers.get("X-Cache")


def test_anonymous_pages_are_served_from_the_cache_until_the_ttl_and_refilled_once(origin):
    require_binary("nginx")
    with peers.microcache(origin.server_address[1], ttl=2) as url:
        first, status = get(url + "/page")
        assert status == "MISS"
        assert get(url + "/page") == (first, "HIT")
        time.sleep(3.5)  # past the TTL (nginx counts whole seconds): readers at once get the stale copy while one request refills it
        before = origin.hits
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(get(url + "/page"))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert origin.hits - before == 1  # the lock: one refill, not eight
        assert {status for _, status in answers} <= {"EXPIRED", "UPDATING", "HIT"}
        assert any(status == "UPDATING" and body == first for body, status in answers)  # stale while updating


def test_a_session_cookie_neither_reads_nor_fills_the_cache(origin):
    require_binary("nginx")
    with peers.microcache(origin.server_address[1]) as url:
        cached, _ = get(url + "/page")
        body, status = get(url + "/page", {"Cookie": "sessionid=abc"})
        assert status == "BYPASS" and body != cached
        assert get(url + "/page") == (cached, "HIT")  # the logged-in answer was not stored


def test_the_config_has_the_recipes_parts():
    conf = peers.nginx_conf(8081, 8000, "/tmp/x", ttl=5)
    for part in ("proxy_cache_valid 200 301 302 5s;", "proxy_cache_lock on;", "proxy_cache_use_stale updating;",
                 "proxy_cache_bypass $cookie_sessionid;", "proxy_no_cache $cookie_sessionid;",
                 "listen 127.0.0.1:8081;", "server 127.0.0.1:8000;"):
        assert part in conf
    # nginx closes an idle upstream connection before gunicorn does (its keep-alive: 2 s), so a POST is
    # never sent on a connection gunicorn is closing (a 502 that nginx does not retry).
    idle = re.search(r"keepalive_timeout (\d+)s;", conf)
    assert idle and int(idle.group(1)) < 2


def test_start_refuses_an_unknown_peer():
    with pytest.raises(ValueError, match="unknown peers"), peers.start({}, ("typical", "varnish")):
        pass
