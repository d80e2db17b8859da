"""Live probes for issue 14 (docs/security.md): can one visitor poison, bust or stall the running stack's cache?

Run by ``upstack check --live EDGE_URL`` after the launch probes of ``upstack.checks.live``; each
returns ``(ok, detail, fix)``. They send what an attacker would, from outside the trust lists
(127.0.0.2 when the edge is on loopback), but only to URLs of their own (a random query string), so
a stack that fails a probe is not poisoned for real visitors by the probe itself.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

from . import live
from .live import _request

FEED = "/feed/"


def _unique(path: str) -> str:
    return f"{path}?upstack-probe={secrets.token_hex(6)}"


def forwarded_path_ignored(edge: str, host: str):
    """Item 1: a client's SCRIPT_NAME must not move the app under another prefix; 404s are short-lived."""
    url = _unique(FEED)
    status, headers, _ = _request(edge, "GET", url, outsider=True, host=host, headers={"SCRIPT_NAME": FEED.rstrip("/")})
    feed_ok = status == 200 and "xml" in headers.get("content-type", "")
    missing = f"/upstack-probe-{secrets.token_hex(6)}/"
    status_404, headers_404, _ = _request(edge, "GET", missing, outsider=True, host=host)
    ttl = re.search(r"s-maxage=(\d+)", headers_404.get("cache-control", ""))
    short = status_404 == 404 and (ttl is None or int(ttl.group(1)) <= 300)
    return feed_ok and short, (f"GET {FEED} with SCRIPT_NAME: {status} {headers.get('content-type')}; "
                               f"a 404's Cache-Control: {headers_404.get('cache-control')}"), \
        "Render the configs again (upstack render): the VCL drops forwarded-path headers, gunicorn trusts " \
        "none (forwarder_headers), and 404s are shared for UPSTACK['NOT_FOUND_TTL'] seconds."


def forged_fresh_cookie_ignored(edge: str, host: str):
    """Item 3: a made-up read-your-own-writes cookie must be an edge hit, not a forced render."""
    session = {"Cookie": "sessionid=upstack-probe"}
    _request(edge, "GET", "/", host=host, outsider=True, headers=session)
    _request(edge, "GET", "/", host=host, outsider=True, headers=session)
    forged = {"Cookie": f"sessionid=upstack-probe; upstack_fresh={int(time.time()) + 3}.1-2"}
    results = [_request(edge, "GET", "/", host=host, outsider=True, headers=forged)[1].get("x-cache") for _ in range(3)]
    return results == ["HIT"] * 3, f"GET / with a forged upstack_fresh cookie, 3 times: X-Cache {results}", \
        "Render the VCL again: it must check the cookie's signature (UPSTACK_FRESH_SECRET in Varnish's environment)."


def spoofed_client_address_ignored(edge: str, host: str):
    """Item 4: behind the load balancer an outside client is an outsider, and so is one claiming an
    insider's address in X-Forwarded-For. On a loopback stack the probe plays the load balancer
    (127.0.0.1) forwarding a client from 203.0.113.9; elsewhere run it from the balancer's host, or
    give --live the balancer's URL."""
    _request(edge, "GET", "/", host=host)
    outcomes = []
    for outsider, forwarded in ((False, "203.0.113.9"), (True, "127.0.0.1")):
        headers = {"X-Forwarded-For": forwarded, "X-Real-IP": forwarded}
        purge = _request(edge, "PURGE", "/", outsider=outsider, host=host, headers={**headers, "xkey": "upstack-probe"})[0]
        _, got, _ = _request(edge, "GET", "/?flush-the-cache=1", outsider=outsider, host=host, headers=headers)
        outcomes.append((purge, got.get("x-cache"), "server-timing" in got))
    ok = all(purge in (403, 405) and cache == "HIT" and not timing for purge, cache, timing in outcomes)
    return ok, f"(PURGE, bypass X-Cache, Server-Timing) forwarded for an outsider / spoofed: {outcomes}", \
        "The edge must match its ACL on the address the load balancer saw (UPSTACK['LOAD_BALANCERS']), never on " \
        "the balancer's own or a client's X-Forwarded-For; render the VCL again."


def forged_scheme_ignored(edge: str, host: str):
    """Item 5: X-Forwarded-Proto/-Ssl/-Protocol from a client must not change the links everyone gets."""
    clean = _request(edge, "GET", _unique(FEED), outsider=True, host=host)[2].decode(errors="replace")
    url = _unique(FEED)
    _request(edge, "GET", url, outsider=True, host=host, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl"})
    after = _request(edge, "GET", url, outsider=True, host=host)[2].decode(errors="replace")

    def scheme(body: str) -> str | None:
        found = re.search(r"<link>(https?)://", body)
        return found.group(1) if found else None

    ok = scheme(clean) is not None and scheme(after) == scheme(clean)
    return ok, f"{FEED} links: {scheme(clean)}:// for everyone, {scheme(after)}:// after a forged scheme", \
        "Only the load balancer may state the scheme: render the VCL again (it drops the client's) and " \
        "gunicorn's secure_scheme_headers."


PROBES: list[tuple[str, Callable]] = [
    ("a client's forwarded path is ignored and 404s are short-lived", forwarded_path_ignored),
    ("a forged read-your-own-writes cookie is an edge hit", forged_fresh_cookie_ignored),
    ("a spoofed client address is not an insider", spoofed_client_address_ignored),
    ("a client cannot set the scheme of shared pages", forged_scheme_ignored),
]


def run(edge: str, host: str) -> list[dict]:
    return live.run(edge, host, PROBES)
