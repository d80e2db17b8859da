"""``upstack check --live`` probes against a real varnishd running upstack's rendered VCL, in front of
a scripted app that answers as Django does (its real CSRF 403 and DEBUG 404 pages).

The good stack passes every probe; then each probe is shown failing on the stack broken the way
it guards against: a VCL that lets purges through (to Django's CSRF 403, or honoured for anyone),
a bypass parameter the probe must read from the settings, DEBUG on, the app down, /metrics public.
"""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.http import Http404
from django.test import RequestFactory

from upstack.checks import live
from upstack.stack import project, render
from upstack.stack.context import Resources
from upstack.stack.services import STANDARD_PORTS

pytestmark = pytest.mark.servers
HOST = "127.0.0.1"


class App:
    """Answers like the newsroom's Django: cacheable pages, /healthz, /metrics refused with 404."""

    def __init__(self, debug=False, metrics_public=False):
        self.debug, self.metrics_public = debug, metrics_public
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status: int, body: bytes, cacheable: bool = False):
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "public, max-age=0, s-maxage=3600" if cacheable else "private")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/":
                    self.answer(200, b"<html><body>front page</body></html>", cacheable=True)
                elif path == "/healthz":
                    self.answer(200, b"ok")
                elif path == "/metrics":
                    self.answer(*((200, b"# HELP up 1\n# TYPE up gauge\nup 1\n") if outer.metrics_public
                                  else (404, b"<html>Not Found</html>")))
                else:
                    self.answer(404, outer.not_found(self.path))

            def do_PURGE(self):  # noqa: N802 - what Django answers to a PURGE that reached it
                from django.views.csrf import csrf_failure

                self.answer(403, csrf_failure(RequestFactory().generic("PURGE", self.path)).content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def not_found(self, path: str) -> bytes:
        if self.debug:
            from django.views.debug import technical_404_response

            return technical_404_response(RequestFactory().get(path), Http404("no such page")).content
        return b"<html><body>Page not found</body></html>"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def vcl_for(app: App, bypass_param: str = "flush-the-cache") -> str:
    """upstack's own VCL for the local stack; purges trusted from 127.0.0.1 only (127.0.0.2 is the
    outsider the probes send from)."""
    ports = {**{name: 10000 + i for i, name in enumerate(STANDARD_PORTS)}, "app": app.port}
    ctx = project.context(Resources(2, 2 << 30), ports=ports, local=True)
    ctx = dataclasses.replace(ctx, internal_networks=("127.0.0.1",), not_found=(r"^/wp-admin",),
                              bypass_param=bypass_param)
    return render.render("local", ctx)["etc/varnish/default.vcl"]


REFUSE = '            return (synth(403, "Forbidden"));\n'
PURGE_TO_DJANGO = REFUSE.replace('synth(403, "Forbidden")', "pass")  # the bad VCL: Django answers 403 (CSRF)
METRICS_BLOCK = ('    if (req.http.X-Upstack-Path ~ "^/metrics" && !req.http.X-Upstack-Insider) {\n'
                 '        return (synth(404, "Not Found"));\n    }\n')
PURGE_GUARD = 'if (req.method == "PURGE") {\n        if (!req.http.X-Upstack-Insider) {\n' + REFUSE


def probes(edge_url: str) -> dict[str, dict]:
    return {item["check"]: item for item in live.run(edge_url, HOST)}


@pytest.fixture
def stack(varnish_factory):
    started = []

    def start(vcl_edit=lambda vcl: vcl, **app_options):
        app = App(**app_options)
        started.append(app)
        vcl = vcl_for(app)
        edited = vcl_edit(vcl)
        assert edited != vcl or vcl_edit.__name__ == "<lambda>", "the edit must change the VCL"
        return varnish_factory(vcl=edited).url, app

    yield start
    for app in started:
        app.stop()


def test_every_probe_passes_on_a_sound_stack(stack):
    edge, _ = stack()
    failed = {title: item["detail"] for title, item in probes(edge).items() if not item["ok"]}
    assert failed == {}


def test_a_vcl_that_passes_purges_to_django_fails_although_django_says_403(stack):
    def purge_to_django(vcl):
        assert REFUSE in vcl
        return vcl.replace(REFUSE, PURGE_TO_DJANGO)

    edge, _ = stack(purge_to_django)
    item = probes(edge)["a purge from outside is refused"]
    assert not item["ok"] and "[403, 403]" in item["detail"] and "CSRF" in item["detail"], item


def test_a_vcl_that_honours_anyone_s_purge_fails(stack):
    def purge_for_anyone(vcl):
        assert PURGE_GUARD in vcl
        return vcl.replace(PURGE_GUARD, 'if (req.method == "PURGE") {\n        if (false) {\n' + REFUSE)

    edge, _ = stack(purge_for_anyone)
    item = probes(edge)["a purge from outside is refused"]
    assert not item["ok"] and "after MISS" in item["detail"], item


def test_the_bypass_probe_uses_the_configured_parameter(stack, settings):
    # The site's bypass parameter is not the default one; the edge (rendered before the change) only
    # strips the default, so an outsider's ?my-fresh-render=1 misses the cache. A probe that spelled
    # the default name would pass.
    edge, _ = stack()
    settings.UPSTACK = {**settings.UPSTACK, "BYPASS_PARAM": "my-fresh-render"}
    item = probes(edge)["the bypass parameter is ignored for outsiders"]
    assert not item["ok"] and "my-fresh-render=1" in item["detail"] and "X-Cache MISS" in item["detail"], item


def test_debug_on_fails_the_error_page_probe(stack):
    edge, _ = stack(debug=True)
    item = probes(edge)["error pages at the edge and in Django"]
    assert not item["ok"] and "a DEBUG page" in item["detail"], item


def test_the_app_down_fails_the_metrics_probe(stack):
    edge, app = stack()
    app.stop()
    item = probes(edge)["/metrics is not public"]
    assert not item["ok"] and "/healthz 503" in item["detail"], item


def test_public_metrics_fail_the_metrics_probe(stack):
    def no_metrics_rule(vcl):
        assert METRICS_BLOCK in vcl
        return vcl.replace(METRICS_BLOCK, "")

    edge, _ = stack(no_metrics_rule, metrics_public=True)
    item = probes(edge)["/metrics is not public"]
    assert not item["ok"] and item["detail"].startswith("GET /metrics from an outsider: 200, metrics in the body"), item
