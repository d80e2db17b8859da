"""Live launch probes: does the running stack do what the checklist promises?

Each probe returns ``(ok, detail, fix)``. Probes that must look like an outsider send from
127.0.0.2 when the edge is on loopback (outside the purge ACL, which lists 127.0.0.1); against a
remote edge, run the checklist from a host outside the ACL.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from urllib.parse import urlsplit

from ..edge import contract


def _request(edge: str, method: str, path: str, outsider: bool = False, headers: dict | None = None,
             host: str | None = None):
    parts = urlsplit(edge)
    source = ("127.0.0.2", 0) if outsider and parts.hostname in ("127.0.0.1", "localhost") else None
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10, source_address=source)
    try:
        conn.request(method, path, headers={"Host": host or parts.netloc, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def edge_caches_pages(edge: str, host: str):
    _request(edge, "GET", "/", host=host)
    status, headers, _ = _request(edge, "GET", "/", host=host)
    ok = status == 200 and headers.get("x-cache") == "HIT"
    return ok, f"GET / twice: {status}, X-Cache {headers.get('x-cache')}", \
        "Anonymous pages must be cacheable: no Set-Cookie, public Cache-Control, cookies normalised in the VCL."


def _hit_first(edge: str, path: str, host: str) -> str | None:
    """GET ``path`` twice; the second answer's X-Cache (a probe that expects a hit after something
    must first see one, or it proves nothing)."""
    _request(edge, "GET", path, host=host)
    return _request(edge, "GET", path, host=host)[1].get("x-cache")


def purge_refused_from_outside(edge: str, host: str):
    """PURGEs from an outsider (by URL and by surrogate key) must be refused by the edge itself - not
    by Django's CSRF check after the edge let them through - and the page must still be a hit."""
    before = _hit_first(edge, "/", host)
    answers = [_request(edge, "PURGE", "/", outsider=True, headers=headers, host=host)
               for headers in ({}, {"xkey": "news.article@*"})]
    after = _request(edge, "GET", "/", host=host)[1].get("x-cache")
    statuses = [status for status, _, _ in answers]
    from_django = any(b"CSRF" in body for _, _, body in answers)
    ok = before == "HIT" and after == "HIT" and all(s in (403, 405) for s in statuses) and not from_django
    return ok, (f"PURGE / from an outsider (URL, xkey): {statuses}{', refused by Django (CSRF), not the edge' if from_django else ''}; "
                f"X-Cache of / before {before}, after {after}"), \
        "Restrict PURGE to the ACL in the VCL (synth 403 there; never pass a PURGE to Django)."


def bypass_ignored_for_outsiders(edge: str, host: str):
    from upstack import conf

    param = conf.get("BYPASS_PARAM")
    before = _hit_first(edge, "/", host)
    status, headers, _ = _request(edge, "GET", f"/?{param}=1", outsider=True, host=host)
    ok = before == "HIT" and status == 200 and headers.get("x-cache") == "HIT"
    return ok, f"GET /?{param}=1 from an outsider: {status}, X-Cache {headers.get('x-cache')} (/ before: {before})", \
        "Honour the bypass parameter only for the ACL in the VCL (and staff/signed requests in Django)."


# What only Django's debug pages say (technical_404/500): an error page with it means DEBUG is on.
DEBUG_MARKERS = (b"DEBUG = True", b"Traceback (most recent call last)")


def error_pages(edge: str, host: str):
    status_edge, _, body_edge = _request(edge, "GET", "/wp-admin/install.php", host=host)
    status_app, headers, body_app = _request(edge, "GET", "/no-such-page-at-all/", host=host)
    debug = any(marker in body for marker in DEBUG_MARKERS for body in (body_edge, body_app))
    ok = status_edge == 404 and status_app == 404 and b"<html" in body_app.lower() and not debug
    return ok, f"edge 404 {status_edge}, app 404 {status_app}{', a DEBUG page' if debug else ''}", \
        "Render the edge error page (upstack render) and give Django 404/500 templates; DEBUG must be off."


def health_behind_the_proxy(edge: str, host: str):
    status, _, body = _request(edge, "GET", contract.HEALTH_PATH, host=host)
    return status == 200, f"GET {contract.HEALTH_PATH} with Host {host}: {status}", \
        f"Add the public host to ALLOWED_HOSTS and exempt {contract.HEALTH_PATH} from the HTTPS redirect."


def metrics_not_public(edge: str, host: str):
    """/metrics must be refused (403 or 404) to an outsider while the app is up: a 503 from a dead
    app, or any answer carrying metrics, proves nothing or the opposite."""
    health = _request(edge, "GET", contract.HEALTH_PATH, host=host)[0]
    status, _, body = _request(edge, "GET", "/metrics", outsider=True, host=host)
    exposed = b"# TYPE " in body or b"# HELP " in body
    ok = health == 200 and status in (403, 404) and not exposed
    return ok, f"GET /metrics from an outsider: {status}{', metrics in the body' if exposed else ''} " \
               f"({contract.HEALTH_PATH} {health})", \
        "Serve /metrics only to internal addresses or with UPSTACK METRICS_TOKEN; the app must be up to tell."


PROBES: list[tuple[str, Callable]] = [
    ("the edge caches anonymous pages", edge_caches_pages),
    ("a purge from outside is refused", purge_refused_from_outside),
    ("the bypass parameter is ignored for outsiders", bypass_ignored_for_outsiders),
    ("error pages at the edge and in Django", error_pages),
    ("the health endpoint works behind the proxy", health_behind_the_proxy),
    ("/metrics is not public", metrics_not_public),
]


def run(edge: str, host: str, probes: list[tuple[str, Callable]] | None = None) -> list[dict]:
    results = []
    for title, probe in PROBES if probes is None else probes:
        try:
            ok, detail, fix = probe(edge.rstrip("/"), host)
        except OSError as exc:
            ok, detail, fix = False, f"could not reach the edge: {exc}", "Start the stack (upstack up) or fix --live."
        results.append({"check": title, "ok": ok, "detail": detail, "fix": None if ok else fix})
    return results
