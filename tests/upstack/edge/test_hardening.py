"""Issue 14 at the edge: no single visitor can poison, bust or stall the cache for everyone else.

Each test sends an attack through a real varnishd running the rendered VCL, in front of the
scripted backend of ``test_vcl`` (which echoes what it was sent), with the default trust lists:
insiders and the load balancer are both 127.0.0.1. A client is "behind the load balancer" when it
comes from 127.0.0.1 with an X-Forwarded-For chain (what HAProxy and nginx send); 127.0.0.3 is a
client talking to the edge directly. ``test_stack_hardening`` repeats the attacks against the real
app server and load balancer.
"""

from __future__ import annotations

import dataclasses
import http.client
import socket
import ssl
import subprocess
import time

import pytest

from tests import servers
from tests.upstack.edge.test_vcl import request, running_edge
from upstack.edge import fresh
from upstack.stack import project, render
from upstack.stack.context import Resources
from upstack.stack.services import STANDARD_PORTS

pytestmark = pytest.mark.servers
SECRET = "hardening-test-secret"
OUTSIDER = "127.0.0.3"
VIA_LB = {"X-Forwarded-For": "203.0.113.9"}  # from 127.0.0.1: the load balancer forwarding an outsider


@pytest.fixture(scope="module")
def edge():
    with running_edge(SECRET) as pair:  # the default trust lists
        yield pair


class HAProxy(servers.Server):
    """The rendered load balancer (local target) in front of ``varnish``, with a throwaway certificate."""

    name = "haproxy"
    binary = "haproxy"

    def __init__(self, varnish_port: int):
        super().__init__()
        self.https_port = servers.free_port()
        ports = {**{name: 10000 + i for i, name in enumerate(STANDARD_PORTS)}, "varnish": varnish_port,
                 "haproxy": self.port, "haproxy-https": self.https_port}
        ctx = project.context(Resources(2, 2 << 30), ports=ports, local=True, with_haproxy=True)
        ctx = dataclasses.replace(ctx, state_dir=str(self.dir))
        self.config_text = render.render("local", ctx)["etc/haproxy/haproxy.cfg"]

    def prepare(self):
        (self.dir / "tls").mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-days", "1", "-keyout", str(self.dir / "key.pem"), "-out", str(self.dir / "cert.pem")],
                       check=True, capture_output=True)
        (self.dir / "tls" / "site.pem").write_bytes((self.dir / "cert.pem").read_bytes() +
                                                     (self.dir / "key.pem").read_bytes())
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(self.config_text)

    def command(self):
        return [self.path, "-db", "-f", str(self.config)]

    def ready(self):
        return socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close() is None


@pytest.fixture(scope="module")
def balancer(edge):
    servers.require_binary("haproxy")
    servers.require_binary("openssl")
    varnish, backend = edge
    with HAProxy(varnish.port) as lb:
        yield lb, backend


def via(lb, method, path, source=OUTSIDER, headers=None):
    """HTTPS through the load balancer, as a browser outside would come."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", lb.https_port, timeout=10, source_address=(source, 0),
                                       context=context)
    conn.request(method, path, headers={"Host": "127.0.0.1", **(headers or {})})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_default_trust_lists_are_loopback_only_and_one_list_for_every_layer():
    """Item 4: the VCL trusted 127.0.0.1 and Django 127.0.0.0/8, both with every private network."""
    from upstack import conf
    from upstack.metrics.prometheus import is_internal

    ctx = project.context(Resources(2, 2 << 30), ports={"app": 1, **STANDARD_PORTS}, local=False)
    assert ctx.internal_networks == ("127.0.0.1/32", "::1/128") == tuple(conf.get("INTERNAL_IPS"))
    assert ctx.load_balancers == ("127.0.0.1/32", "::1/128")
    files = render.render("systemd", ctx)
    vcl, gunicorn = files["etc/varnish/default.vcl"], files["etc/gunicorn/gunicorn.conf.py"]
    assert 'acl purgers {\n    "127.0.0.1"/32;\n    "::1"/128;\n}' in vcl
    # Compose adds its own project network, and nothing else: the app containers purge from there.
    compose = render.render("compose", ctx)["etc/varnish/default.vcl"]
    acl = compose[compose.index("acl purgers"):compose.index("}", compose.index("acl purgers"))]
    assert [line.strip() for line in acl.splitlines()[1:]] == ['"127.0.0.1"/32;', '"::1"/128;', '"172.31.240.0"/24;',
                                                               '! "172.31.240.1";']
    assert 'forwarded_allow_ips = "127.0.0.1/32,::1/128"' in gunicorn and 'forwarder_headers = ""' in gunicorn
    assert not any(is_internal(ip) for ip in ("127.0.0.2", "10.1.2.3", "172.16.0.9", "192.168.1.1"))


def sent(backend, path) -> dict:
    """The headers the backend got for the last request of ``path`` (names in lower case)."""
    return {k.lower(): v for k, v in [headers for p, headers in backend.hits if p == path][-1].items()}


def test_headers_the_app_server_would_trust_never_reach_it(edge):
    """Item 1: SCRIPT_NAME / PATH_INFO from a client moved the app under another prefix (a stored 404)."""
    varnish, backend = edge
    attack = {"SCRIPT_NAME": "/articles", "PATH_INFO": "/feed/", "REMOTE_USER": "admin", "X-Script-Name": "/x",
              "X-Original-URL": "/admin/", "X-Forwarded-Prefix": "/articles"}
    request(varnish, "GET", "/poison-path", source=OUTSIDER, headers=attack)
    got = set(sent(backend, "/poison-path"))
    assert not got & {k.lower() for k in attack}, got


def test_scheme_headers_only_from_the_load_balancer(edge):
    """Item 5: X-Forwarded-Proto/-Ssl/-Protocol from a client cached https links for everyone."""
    varnish, backend = edge
    for header, value in (("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "ssl")):
        request(varnish, "GET", "/scheme-feed", source=OUTSIDER, headers={header: value})
        assert header.lower() not in sent(backend, "/scheme-feed")
        # Even the load balancer only says X-Forwarded-Proto; the other two are never passed on.
        request(varnish, "GET", "/scheme-feed-lb", headers={**VIA_LB, header: value})
        assert (header.lower() in sent(backend, "/scheme-feed-lb")) == (header == "X-Forwarded-Proto")
    # What the load balancer says splits the cache: an https page never answers a plain-http request.
    before = backend.count("/scheme-split")
    request(varnish, "GET", "/scheme-split", headers={**VIA_LB, "X-Forwarded-Proto": "https"})
    request(varnish, "GET", "/scheme-split", headers={**VIA_LB, "X-Forwarded-Proto": "http"})
    assert backend.count("/scheme-split") == before + 2


def test_behind_the_load_balancer_an_outsider_stays_an_outsider(edge):
    """Item 4: the ACL checked the TCP peer, which behind a load balancer is the load balancer."""
    varnish, backend = edge
    request(varnish, "GET", "/lb-page")
    status, _, _ = request(varnish, "PURGE", "/", headers={**VIA_LB, "xkey": "page:/lb-page"})
    assert status == 403
    _, headers, _ = request(varnish, "GET", "/lb-page?flush-the-cache=1", headers=VIA_LB)
    assert headers["x-cache"] == "HIT" and backend.count("/lb-page?flush-the-cache=1") == 0
    # A client cannot claim to be an insider with its own X-Forwarded-For, through the balancer or not.
    status, _, _ = request(varnish, "PURGE", "/", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9",
                                                           "xkey": "page:/lb-page"})
    assert status == 403
    status, _, _ = request(varnish, "PURGE", "/", source=OUTSIDER, headers={"X-Forwarded-For": "127.0.0.1",
                                                                           "xkey": "page:/lb-page"})
    assert status == 403
    # The app sees the client's address last in X-Forwarded-For, before the load balancer's.
    assert sent(backend, "/lb-page")["x-forwarded-for"] == "127.0.0.1"
    request(varnish, "GET", "/lb-xff", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.9"})
    request(varnish, "GET", "/direct-xff", source=OUTSIDER, headers={"X-Forwarded-For": "10.9.9.9"})
    assert sent(backend, "/lb-xff")["x-forwarded-for"].endswith("203.0.113.9, 127.0.0.1")
    assert sent(backend, "/direct-xff")["x-forwarded-for"] == OUTSIDER
    # Insiders (here: loopback itself, not behind the balancer) still purge.
    assert request(varnish, "PURGE", "/", headers={"xkey": "page:/lb-page"})[0] == 200


def test_a_forged_or_replayed_fresh_cookie_is_an_edge_hit(edge):
    """Item 3: `Cookie: upstack_fresh=1` forced a full render on every request (28k -> 53 req/s)."""
    varnish, backend = edge
    session = "sessionid=reader-a"
    request(varnish, "GET", "/busted")  # both variants: anonymous and logged-in
    request(varnish, "GET", "/busted", headers={"Cookie": session})
    now = time.time()
    forged = [
        "upstack_fresh=1",
        f"{session}; upstack_fresh=1",
        f"{session}; upstack_fresh={int(now) + 5}.1-2",  # a made-up mac
        f"{session}; upstack_fresh={fresh.token('wrong-secret', 'reader-a', now, 5)}",
        f"{session}; upstack_fresh={fresh.token(SECRET, 'reader-b', now, 5)}",  # another session's, replayed
        f"{session}; upstack_fresh={fresh.token(SECRET, 'reader-a', now - 60, 5)}",  # expired
        f"{session}; upstack_fresh={fresh.token(SECRET, 'reader-a', now + 3600, 5)}",  # too far ahead
    ]
    for cookie in forged:
        _, headers, _ = request(varnish, "GET", "/busted", headers={"Cookie": cookie})
        assert headers["x-cache"] == "HIT", cookie
    assert backend.count("/busted") == 2
    # The writer's own, fresh cookie works.
    _, headers, _ = request(varnish, "GET", "/busted", headers={
        "Cookie": f"{session}; upstack_fresh={fresh.token(SECRET, 'reader-a', time.time(), 5)}"})
    assert headers["x-cache"] == "MISS" and backend.count("/busted") == 3


def test_soft_purge_keeps_the_last_good_page_for_when_the_app_fails(edge):
    """Item 7: hard purges left nothing for grace to serve while the app or its database was down."""
    varnish, backend = edge
    request(varnish, "GET", "/purged-then-down")
    assert request(varnish, "PURGE", "/", headers={"xkey": "page:/purged-then-down"})[0] == 200
    assert request(varnish, "GET", "/purged-then-down")[1]["x-cache"] == "MISS"  # healthy: refetched at once
    assert request(varnish, "PURGE", "/", headers={"xkey": "page:/purged-then-down"})[0] == 200
    backend.fail = True
    try:
        status, _, body = request(varnish, "GET", "/purged-then-down")
        assert status == 200 and "page /purged-then-down" in body
    finally:
        backend.fail = False


def test_url_purge_reaches_the_logged_in_variant(edge):
    """Item 10: a URL PURGE removed the anonymous object only."""
    varnish, backend = edge
    before = backend.count("/both-variants")
    for cookie in ({}, {"Cookie": "sessionid=s1"}):
        request(varnish, "GET", "/both-variants", headers=cookie)
        assert request(varnish, "GET", "/both-variants", headers=cookie)[1]["x-cache"] == "HIT"
    assert request(varnish, "PURGE", "/both-variants")[0] == 200
    for cookie in ({}, {"Cookie": "sessionid=s1"}):
        assert request(varnish, "GET", "/both-variants", headers=cookie)[1]["x-cache"] == "MISS"
    assert backend.count("/both-variants") == before + 4


def test_repeated_and_bare_parameters_normalise_like_the_page_cache(edge):
    """Item 10: ?page=3&page=2 and ?utm_x (no '=') split the cache, differently from Django's page cache."""
    from upstack.page.policy import normalize_query

    varnish, backend = edge
    request(varnish, "GET", "/norm?page=2")
    for query in ("page=3&page=2", "utm_x&page=2", "page=2&utm_x", "fbclid&page=1&page=2&utm_source=a"):
        _, headers, _ = request(varnish, "GET", f"/norm?{query}")
        assert headers["x-cache"] == "HIT", query
        assert normalize_query(query, ["utm_*", "fbclid"]) == "page=2"  # the same key in Django
    request(varnish, "GET", "/norm?b=1&a=2&a=3")
    assert backend.hits[-1][0] == "/norm?a=3&b=1"  # the app renders exactly what the key says
    assert normalize_query("b=1&a=2&a=3", []) == "a=3&b=1"


def test_encoded_paths_are_matched_decoded(edge):
    """Item 10: /%6detrics passed the VCL's /metrics check."""
    varnish, backend = edge
    for path in ("/%6detrics", "/%6D%65trics", "/metric%73"):
        status, _, _ = request(varnish, "GET", path, source=OUTSIDER)
        assert status == 404 and backend.count(path) == 0, path
    assert request(varnish, "GET", "/bad%zzescape")[0] == 400
    assert request(varnish, "GET", "/search/?q=%00")[0] == 400


def test_a_failed_fragment_is_a_tiny_placeholder_not_an_error_page(edge):
    """Item 10: with the app down, logged-in readers got whole error pages where fragments go."""
    varnish, backend = edge
    request(varnish, "GET", "/esi-cookie-page", headers={"Cookie": "sessionid=s5"})
    backend.fail = True
    try:  # the page is a hit; its per-user fragment (a pass) fails
        _, _, body = request(varnish, "GET", "/esi-cookie-page", headers={"Cookie": "sessionid=s5"})
    finally:
        backend.fail = False
    assert body == "<html><!-- fragment unavailable --></html>"


def test_through_the_load_balancer_the_edge_knows_the_real_client(balancer):
    """Items 4, 5, 10 through the rendered HAProxy: everyone was an insider behind it."""
    lb, backend = balancer
    via(lb, "GET", "/through-lb")
    # The bypass parameter and Server-Timing are for insiders; this client is not one.
    status, headers, _ = via(lb, "GET", "/through-lb?flush-the-cache=1")
    assert status == 200 and headers["x-cache"] == "HIT" and "server-timing" not in headers
    assert via(lb, "PURGE", "/through-lb")[0] == 405  # and the balancer refuses purges outright
    # What the client says about itself never reaches the app; what the balancer says does.
    via(lb, "GET", "/through-lb-headers", headers={
        "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl", "X-Forwarded-Proto": "http", "SCRIPT_NAME": "/x",
        "X-Request-ID": "forged-by-client", "X-Forwarded-For": "127.0.0.1"})
    got = sent(backend, "/through-lb-headers")
    assert got["x-forwarded-proto"] == "https" and got["x-forwarded-for"] == f"{OUTSIDER}, 127.0.0.1"
    assert got["x-request-id"] != "forged-by-client" and got["x-request-id"]
    assert not {"x-forwarded-ssl", "x-forwarded-protocol", "script_name"} & set(got)


def test_a_trickled_request_body_reaches_the_app_whole_or_not_at_all(edge):
    """Item 2: ~40 POST bodies at 1 byte/s held every app thread; the edge now reads bodies first."""
    varnish, backend = edge
    sock = socket.create_connection(("127.0.0.1", varnish.port), timeout=10, source_address=(OUTSIDER, 0))
    try:
        sock.sendall(b"POST /slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n" + b"x" * 100_000)
        time.sleep(1.0)  # half a body, for a while: an app server would already hold a thread for it
        assert backend.count("POST /slow-body") == 0
        sock.sendall(b"y" * 100_000)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        status, body = reply.status, reply.read().decode()
    finally:
        sock.close()
    assert status == 200 and body == "got 200000 bytes"
    assert backend.count("POST /slow-body") == 1 and backend.bodies[-1] == b"x" * 100_000 + b"y" * 100_000
