"""The rendered VCL's behaviour in a real varnishd, in front of a small scripted backend.

The backend (a thread with http.server) answers what each test asks for and counts requests, so
each edge rule is checked on its own: caching and X-Cache, xkey purges and the purge ACL, the
bypass parameter, tracking parameters, cookies, synthetic 404s, redirects, the error page, grace,
ESI, the request id, and that surrogate keys never leave the edge.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest

from tests import servers
from upstack.edge import fresh
from upstack.stack import project, render
from upstack.stack.context import Resources
from upstack.stack.services import STANDARD_PORTS

pytestmark = pytest.mark.servers
FRESH_SECRET = "edge-test-fresh-secret"


class Backend:
    """Answers GET with a page whose body names the path; knobs per path."""

    def __init__(self):
        self.hits: list[tuple[str, dict]] = []
        self.set_cookie_paths: set[str] = set()
        self.fail = False
        self.version = 1
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits.append((self.path, dict(self.headers)))
                if outer.fail and self.path != "/healthz":
                    self.close_connection = True  # a dead app server: no response at all
                    return
                if self.path.startswith(("/members", "/greeting")):
                    return self.personal()
                if self.path.startswith("/_esi/reader/"):
                    return self.reader()
                if self.path.startswith("/esi-page"):
                    body = b'<html>before <esi:include src="/fragment"/> after</html>'
                elif self.path.startswith("/reader-page"):  # a page with a reader include (upstack.edge.personal)
                    query = self.path.partition("?")[2] or "userbar"
                    body = f'<html>shared <esi:include src="/_esi/reader/?{query}"/></html>'.encode()
                elif self.path == "/esi-cookie-page":
                    body = b'<html><esi:include src="/_esi/who/"/></html>'
                elif self.path == "/_esi/who/":
                    body = f"FRAGMENT-cookie={self.headers.get('Cookie')}".encode()
                elif self.path == "/fragment":
                    body = b"FRAGMENT"
                elif self.path.startswith("/big"):  # a page's worth of HTML (tests/upstack/edge/test_wire.py)
                    body = ("<html>" + "".join(f'<p class="teaser"><a href="/articles/{n}/">Article {n}</a> '
                                               f"v{outer.version}</p>" for n in range(400)) + "</html>").encode()
                else:
                    body = f"<html>page {self.path} v{outer.version} cookie={self.headers.get('Cookie')}</html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                ttl = 1 if self.path.startswith("/short") else 3600
                self.send_header("Cache-Control", f"public, max-age=0, s-maxage={ttl}")
                self.send_header("xkey", f"page:{self.path.split('?')[0]} common")
                self.send_header("X-Seen-Request-ID", self.headers.get("X-Request-ID", ""))
                self.send_header("Server-Timing", "app;dur=1.0")
                if self.path in outer.set_cookie_paths:
                    self.send_header("Set-Cookie", "sessionid=abc; Path=/")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def personal(self):
                """A page that needs the session (upstack.page.session): login-only, or one that
                greets the reader; a reader's answer is private, the anonymous one is marked."""
                cookie = self.headers.get("Cookie") or ""
                if "sessionid=" in cookie:
                    self.send_response(200)
                    self.send_header("Cache-Control", "private, no-cache")
                    body = f"hello {cookie}".encode()
                elif self.path.startswith("/members"):
                    self.send_response(302)
                    self.send_header("Location", f"/accounts/login/?next={self.path}")
                    self.send_header("Cache-Control", "private, no-cache")
                    body = b""
                else:
                    self.send_response(200)
                    self.send_header("Cache-Control", "public, max-age=0, s-maxage=3600")
                    body = b"hello stranger"
                if "sessionid=" not in cookie:
                    self.send_header("X-Upstack-Session", "required")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def reader(self):
                """The reader include as upstack.edge.personal answers it: private for the browser,
                kept by the edge per session when it says X-Upstack-Reader-TTL (not for "?nottl"),
                never when it sets a cookie ("?setcookie")."""
                cookie = self.headers.get("Cookie") or ""
                body = f"READER cookie={cookie} v{outer.version}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "private, no-cache")
                self.send_header("Vary", "Cookie")
                if "nottl" not in self.path:
                    self.send_header("X-Upstack-Reader-TTL", "300")
                if "setcookie" in self.path:
                    self.send_header("Set-Cookie", "sessionid=new; Path=/")
                self.send_header("xkey", "upstack-reader:" + cookie.partition("sessionid=")[2].partition(";")[0])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                outer.hits.append((f"POST {self.path}", dict(self.headers)))  # as soon as the headers arrive
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append(body)
                reply = f"got {len(body)} bytes".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.bodies: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.hits if p == path)


@contextmanager
def running_edge(secret: str, **changes):
    """A real varnishd with the rendered VCL (the local target's context, with ``changes``) in front
    of a new ``Backend``; ``secret`` is the read-your-own-writes key varnishd reads (std.getenv)."""
    servers.require_binary("varnishd")
    backend = Backend()
    ports = {**{name: 10000 + i for i, name in enumerate(STANDARD_PORTS)}, "app": backend.port}
    ctx = dataclasses.replace(project.context(Resources(2, 2 << 30), ports=ports, local=True), **changes)
    varnish = servers.Varnish(vcl=render.render("local", ctx)["etc/varnish/default.vcl"])
    with mock.patch.dict(os.environ, {fresh.ENV: secret}):
        varnish.start()
    try:
        yield varnish, backend
    finally:
        varnish.stop()
        backend.server.shutdown()
        backend.server.server_close()


@pytest.fixture(scope="module")
def edge():
    # Purges and the bypass parameter are trusted only from 127.0.0.2: 127.0.0.1 is an outsider here.
    with running_edge(FRESH_SECRET, internal_networks=("127.0.0.2",), redirects=(("/old-home", "/"),),
                      not_found=(r"^/wp-admin",)) as pair:
        yield pair


def request(varnish, method, path, source="127.0.0.1", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", varnish.port, timeout=10, source_address=(source, 0))
    conn.request(method, path, headers={"Host": "127.0.0.1", **(headers or {})})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_anonymous_pages_are_cached_with_x_cache_and_age(edge):
    varnish, backend = edge
    first = request(varnish, "GET", "/cached")
    second = request(varnish, "GET", "/cached")
    assert (first[1]["x-cache"], second[1]["x-cache"]) == ("MISS", "HIT")
    assert "age" in second[1] and backend.count("/cached") == 1
    assert "xkey" not in second[1]  # surrogate keys stay at the edge


def test_xkey_purge_only_from_the_acl(edge):
    varnish, backend = edge
    request(varnish, "GET", "/purge-me")
    request(varnish, "GET", "/keep-me")
    status, _, _ = request(varnish, "PURGE", "/", headers={"xkey": "page:/purge-me"})
    assert status == 403  # 127.0.0.1 is not in this ACL
    assert request(varnish, "GET", "/purge-me")[1]["x-cache"] == "HIT"
    status, _, body = request(varnish, "PURGE", "/", source="127.0.0.2", headers={"xkey": "page:/purge-me"})
    assert status == 200 and "Purged 1" in body
    assert request(varnish, "GET", "/purge-me")[1]["x-cache"] == "MISS"
    assert request(varnish, "GET", "/keep-me")[1]["x-cache"] == "HIT"
    assert request(varnish, "PURGE", "/keep-me")[0] == 403


def test_bypass_parameter_only_for_trusted_callers(edge):
    varnish, backend = edge
    request(varnish, "GET", "/bypass")
    outsider = request(varnish, "GET", "/bypass?flush-the-cache=1")
    assert outsider[1]["x-cache"] == "HIT" and backend.count("/bypass?flush-the-cache=1") == 0
    trusted = request(varnish, "GET", "/bypass?flush-the-cache=1", source="127.0.0.2")
    assert trusted[1]["x-cache"] == "MISS" and backend.count("/bypass?flush-the-cache=1") == 1


def test_tracking_parameters_and_analytics_cookies_do_not_split_the_cache(edge):
    varnish, backend = edge
    request(varnish, "GET", "/track?page=2")
    again = request(varnish, "GET", "/track?utm_source=x&page=2&fbclid=abc", headers={"Cookie": "_ga=1; csrftoken=zz"})
    assert again[1]["x-cache"] == "HIT" and "cookie=None" in again[2]


def test_logged_in_pages_are_shared_and_only_fragments_get_the_cookie(edge):
    varnish, backend = edge
    request(varnish, "GET", "/shared", headers={"Cookie": "sessionid=s0"})
    status, headers, body = request(varnish, "GET", "/shared", headers={"Cookie": "sessionid=s1; _ga=2"})
    assert headers["x-cache"] == "HIT" and "s1" not in body and "s0" not in body
    status, headers, body = request(varnish, "GET", "/_esi/userbar/?next=/", headers={"Cookie": "sessionid=s1"})
    assert headers["x-cache"] == "PASS" and "cookie=sessionid=s1" in body
    assert request(varnish, "GET", "/accounts/login/", headers={"Cookie": "sessionid=s1"})[1]["x-cache"] == "PASS"
    _, _, body = request(varnish, "GET", "/esi-cookie-page", headers={"Cookie": "sessionid=s2"})
    assert "FRAGMENT-cookie=sessionid=s2" in body and backend.hits[-2][1].get("Cookie") is None


def test_set_cookie_responses_are_not_shared(edge):
    varnish, backend = edge
    backend.set_cookie_paths.add("/sets-cookie")
    request(varnish, "GET", "/sets-cookie")
    second = request(varnish, "GET", "/sets-cookie")
    assert second[1]["x-cache"] != "HIT" and backend.count("/sets-cookie") == 2


def test_synthetic_404_redirects_and_request_id(edge):
    varnish, backend = edge
    status, _, _ = request(varnish, "GET", "/wp-admin/setup.php")
    assert status == 404 and backend.count("/wp-admin/setup.php") == 0
    status, headers, _ = request(varnish, "GET", "/old-home")
    assert status == 301 and headers["location"] == "/"
    # The load balancer's request id is kept (its X-Forwarded-For chain shows it is one); a client's is not.
    _, headers, _ = request(varnish, "GET", "/rid", headers={"X-Request-ID": "abc-123", "X-Forwarded-For": "203.0.113.9"})
    assert headers["x-request-id"] == "abc-123"
    assert dict(backend.hits)["/rid"]["X-Request-ID"] == "abc-123"
    _, headers, _ = request(varnish, "GET", "/rid2", source="127.0.0.3", headers={"X-Request-ID": "forged-id"})
    assert headers["x-request-id"] != "forged-id" and dict(backend.hits)["/rid2"]["X-Request-ID"] != "forged-id"


def test_esi_is_processed_for_logged_in_readers_and_anonymous_ones_get_the_inline_variant(edge):
    varnish, backend = edge
    _, headers, body = request(varnish, "GET", "/esi-page", headers={"Cookie": "sessionid=s1"})
    assert body == "<html>before FRAGMENT after</html>"
    assert "Surrogate-Capability" in dict(backend.hits)["/esi-page"]
    # Anonymous: another object, asked for without ESI (Django inlines the fragments), so the edge
    # delivers it as it is stored.
    _, headers, _ = request(varnish, "GET", "/esi-page")
    assert headers["x-cache"] == "MISS" and "Surrogate-Capability" not in backend.hits[-1][1]
    assert request(varnish, "GET", "/esi-page")[1]["x-cache"] == "HIT"
    assert request(varnish, "GET", "/esi-page", headers={"Cookie": "sessionid=s2"})[1]["x-cache"] == "HIT"
    # A client cannot ask for the ESI variant without a session.
    request(varnish, "GET", "/esi-page", headers={"Surrogate-Capability": "x=ESI/1.0"})
    assert backend.count("/esi-page") == 2
    # One purge by surrogate key reaches both variants.
    status, _, _ = request(varnish, "PURGE", "/", source="127.0.0.2", headers={"xkey": "page:/esi-page"})
    assert status == 200
    request(varnish, "GET", "/esi-page")
    request(varnish, "GET", "/esi-page", headers={"Cookie": "sessionid=s1"})
    assert backend.count("/esi-page") == 4


def test_grace_serves_stale_pages_while_the_app_fails_and_errors_get_the_error_page(edge):
    varnish, backend = edge
    request(varnish, "GET", "/short-lived")
    time.sleep(1.5)  # past its 1 s TTL, inside the 10 s grace a healthy director allows
    backend.fail = True
    try:
        for _ in range(3):  # the background refetch fails and is not stored: the stale copy stays
            status, headers, body = request(varnish, "GET", "/short-lived")
            assert status == 200 and "page /short-lived v1" in body
        status, headers, body = request(varnish, "GET", "/never-cached")
        assert status == 503 and "will be right back" in body and headers["retry-after"] == "5"
    finally:
        backend.fail = False
    servers.wait_until(lambda: request(varnish, "GET", "/never-cached")[0] == 200, 10, "recovery")


def test_the_fresh_after_write_cookie_refreshes_the_shared_copy(edge):
    varnish, backend = edge
    request(varnish, "GET", "/own-write", headers={"Cookie": "sessionid=s1"})
    backend.version = 2
    assert "v1" in request(varnish, "GET", "/own-write", headers={"Cookie": "sessionid=s1"})[2]
    cookie = f"sessionid=s9; upstack_fresh={fresh.token(FRESH_SECRET, 's9', time.time(), 5)}"
    status, headers, body = request(varnish, "GET", "/own-write", headers={"Cookie": cookie})
    assert "v2" in body and headers["x-cache"] == "MISS"
    assert dict(backend.hits)["/own-write"].get("X-Upstack-Fresh") == "1"
    # Every logged-in reader now gets the fresh copy (anonymous readers' variant waits for the purge).
    assert "v2" in request(varnish, "GET", "/own-write", headers={"Cookie": "sessionid=s1"})[2]
    backend.version = 1


@pytest.mark.parametrize("path", ["/members/", "/greeting"])
def test_a_page_that_needs_the_session_gets_it_for_readers_who_have_one(edge, path):
    """A login-only page, and a cached page that greets the reader: the shared answer is marked, and a
    reader with a session is asked for again, with their cookies, privately; nobody else is."""
    varnish, backend = edge
    anonymous = request(varnish, "GET", path)
    reader = request(varnish, "GET", path, headers={"Cookie": "sessionid=reader1; _ga=x"})
    other = request(varnish, "GET", path, headers={"Cookie": "sessionid=reader2"})
    again = request(varnish, "GET", path)
    if path == "/greeting":
        assert (anonymous[0], anonymous[2], again[1]["x-cache"]) == (200, "hello stranger", "HIT")
    else:
        assert anonymous[0] == 302 and anonymous[1]["location"].startswith("/accounts/login/")
    assert (reader[0], reader[2]) == (200, "hello sessionid=reader1")
    assert (other[0], other[2]) == (200, "hello sessionid=reader2")
    assert reader[1]["x-cache"] == "PASS"
    assert all("x-upstack-session" not in r[1] for r in (anonymous, reader, other, again))


def test_no_client_can_ask_for_the_session_pass_itself(edge):
    """The restart's marker comes only from the edge: a client that sends it, without a session,
    gets the shared page, and a reader's cookies never reach a page that did not ask for them."""
    varnish, backend = edge
    request(varnish, "GET", "/greeting")
    forged = request(varnish, "GET", "/greeting", headers={"X-Upstack-With-Session": "1",
                                                           "X-Upstack-Cookie": "sessionid=victim"})
    assert (forged[0], forged[2], forged[1]["x-cache"]) == (200, "hello stranger", "HIT")
    plain = request(varnish, "GET", "/plain-page", headers={"Cookie": "sessionid=reader1",
                                                            "X-Upstack-With-Session": "1"})
    assert "cookie=None" in plain[2]


def test_a_readers_own_include_is_kept_per_session_and_never_crosses_sessions(edge):
    varnish, backend = edge

    def view(cookie, path="/reader-page", **headers):
        status, response, body = request(varnish, "GET", path, headers={"Cookie": cookie, **headers})
        assert status == 200 and body.startswith("<html>shared READER cookie=")
        return body.removeprefix("<html>shared READER cookie=").removesuffix("</html>")

    assert view("sessionid=ra; _ga=1") == "sessionid=ra v1" and view("sessionid=rb") == "sessionid=rb v1"
    include = "/_esi/reader/?userbar"
    fetched = backend.count(include)
    backend.version = 2
    for _ in range(3):  # kept: each reader gets their own copy, with no backend request
        assert view("sessionid=ra") == "sessionid=ra v1" and view("sessionid=rb; _ga=2") == "sessionid=rb v1"
    assert backend.count(include) == fetched
    # Any other cookie value is another reader; so is the same session with another CSRF cookie (a
    # token made from the cookie); a client's own copy of the edge's key header counts for nothing.
    assert view("sessionid=ra2") == "sessionid=ra2 v2" and view("sessionid=r") == "sessionid=r v2"
    assert view("sessionid=ra; csrftoken=c1") == "sessionid=ra; csrftoken=c1 v2"
    assert view("sessionid=rc", **{"X-Upstack-Reader": "sessionid=ra"}) == "sessionid=rc v2"
    assert view("sessionid=ra") == "sessionid=ra v1" and view("sessionid=rb") == "sessionid=rb v1"
    # The reader's fresh-after-write window: fetched again (and kept), without splitting the cache.
    cookie = f"sessionid=ra; upstack_fresh={fresh.token(FRESH_SECRET, 'ra', time.time(), 5)}"
    assert view(cookie) == "sessionid=ra v2" and view("sessionid=ra") == "sessionid=ra v2"
    # A client's own fresh header counts for nothing: only a signed fresh cookie refetches.
    backend.version = 3
    assert view("sessionid=ra", **{"X-Upstack-Fresh": "1"}) == "sessionid=ra v2"
    backend.version = 2
    # A purge of the reader's key (logout, a like) drops their copy only.
    assert request(varnish, "PURGE", "/", source="127.0.0.2", headers={"xkey": "upstack-reader:rb"})[0] == 200
    assert view("sessionid=rb") == "sessionid=rb v2" and view("sessionid=ra2") == "sessionid=ra2 v2"
    backend.version = 3
    assert view("sessionid=rb") == "sessionid=rb v2"
    # Not kept: an include Django did not mark, or one that sets a cookie.
    for query in ("nottl", "setcookie"):
        view("sessionid=ra", f"/reader-page?{query}")
        before = backend.count(f"/_esi/reader/?{query}")
        assert view("sessionid=ra", f"/reader-page?{query}") == "sessionid=ra v3"
        assert backend.count(f"/_esi/reader/?{query}") == before + 1
    # Django is told it is a reader include, never given the cookies again in a header of its own.
    assert {h.get("X-Upstack-Reader") for p, h in backend.hits if p.startswith("/_esi/reader/")} == {"1"}
    # An include starts from the client's request as it arrived: its own copies of the edge's headers
    # are dropped there too (another session's cookies, a stale-serving flag, a fresh flag).
    forged = {"X-Upstack-Cookie": "sessionid=rb", "X-Upstack-Stale": "1", "X-Upstack-Fresh": "1"}
    assert view("sessionid=rd", **forged) == "sessionid=rd v3"
    assert all(backend.hits[-1][1].get(h) is None for h in ("X-Upstack-Cookie", "X-Upstack-Stale", "X-Upstack-Fresh"))
    # ... and on any other request the marker would only split the cache: it is dropped.
    request(varnish, "GET", "/plain-for-marker")
    assert request(varnish, "GET", "/plain-for-marker", headers={"X-Upstack-Reader": "x"})[1]["x-cache"] == "HIT"
    # A purged copy is never served in grace, even while the app is down.
    assert request(varnish, "PURGE", "/", source="127.0.0.2", headers={"xkey": "upstack-reader:rc"})[0] == 200
    backend.fail = True
    try:
        status, _, body = request(varnish, "GET", "/reader-page", headers={"Cookie": "sessionid=rc"})
    finally:
        backend.fail = False
    assert status == 200 and body.startswith("<html>shared ") and "sessionid=rc" not in body
    # Other per-user fragments stay passed, and the marker never reaches a browser.
    assert request(varnish, "GET", "/_esi/userbar/", headers={"Cookie": "sessionid=ra"})[1]["x-cache"] == "PASS"
    _, headers, _ = request(varnish, "GET", include, headers={"Cookie": "sessionid=ra"})
    assert "x-upstack-reader-ttl" not in headers and headers["cache-control"] == "private, no-cache"
    backend.version = 1
