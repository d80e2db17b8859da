"""An app pool behind each edge: ``render --app-hosts a:8000,b:8000`` gives the VCL one health-probed
backend per app server in a round-robin director; the render compiles (``varnishd -C``) and, loaded
into a real Varnish in front of two loopback app servers, spreads requests over both and stops sending
to one that dies."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import servers
from upstack.stack import machine, parse_app_hosts


class _App(http.server.ThreadingHTTPServer):
    """A stand-in app server: ready on /readyz, answers every other path with its own name."""

    def __init__(self, name: str):
        self.name = name

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "private, no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def _render_vcl(out, hosts: str) -> str:
    call_command("upstack", "render", "--target", "systemd", "--out", str(out), "--cpus", "2", "--memory", "2G",
                 "--app-hosts", hosts)
    return (out / "etc/varnish/default.vcl").read_text()


def test_app_hosts_are_parsed_with_clear_errors():
    assert parse_app_hosts("a:8000, 10.0.0.2:8001") == (("a", 8000), ("10.0.0.2", 8001))
    for bad, why in (("a", "not HOST:PORT"), ("a:0", "not HOST:PORT"), ("a:x", "not HOST:PORT"),
                     ("-a:80", "not HOST:PORT"), ("a:80,a:80", "twice"), ("", "not HOST:PORT")):
        with pytest.raises(ValueError, match=why):
            parse_app_hosts(bad)


def test_the_render_command_rejects_bad_app_hosts(open_tmp):
    with pytest.raises(CommandError, match="not HOST:PORT"):
        call_command("upstack", "render", "--target", "systemd", "--out", str(open_tmp / "x"), "--app-hosts", "a:b")
    with pytest.raises(CommandError, match="the local target runs its own"):
        call_command("upstack", "render", "--target", "local", "--out", str(open_tmp / "y"), "--app-hosts", "a:1")


def test_every_app_host_is_a_probed_backend_of_the_director_and_the_vcl_compiles(open_tmp):
    servers.require_binary("varnishd")
    vcl = _render_vcl(open_tmp / "r", "127.0.0.1:8001,127.0.0.2:8002,127.0.0.3:8003")
    for i, port in ((1, 8001), (2, 8002), (3, 8003)):
        assert f'backend app{i} {{\n    .host = "127.0.0.{i}";\n    .port = "{port}";\n    .probe = app_health;' in vcl
        assert f"app.add_backend(app{i});" in vcl
    path = open_tmp / "pool.vcl"
    path.write_text(vcl)
    result = subprocess.run([machine.find_binary("varnishd"), "-C", "-f", str(path), "-n", str(open_tmp / "vn")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    # Prometheus scrapes every app server too.
    assert "127.0.0.3:8003" in (open_tmp / "r/etc/prometheus/prometheus.yml").read_text()


def test_a_real_edge_spreads_over_the_pool_and_skips_a_dead_app(open_tmp, varnish_factory):
    apps = [_App("one"), _App("two")]
    try:
        vcl = _render_vcl(open_tmp / "r", ",".join(f"127.0.0.1:{a.server_address[1]}" for a in apps))
        edge = varnish_factory(vcl=vcl)

        def seen(count):
            names = []
            for _ in range(count):  # /admin/ is a pass path: every request reaches an app server
                with edge.get("/admin/x", headers={"Host": "localhost"}) as response:
                    names.append(response.read().decode())
            return names

        servers.wait_until(lambda: set(seen(4)) == {"one", "two"}, 10, "both app servers healthy behind the edge")
        apps[1].close()
        # The probe (1 s interval, 2 of 3) marks it sick; then every request goes to the live one.
        servers.wait_until(lambda: seen(6) == ["one"] * 6, 10, "the edge to stop sending to the dead app server")
        started = time.monotonic()
        assert seen(20) == ["one"] * 20 and time.monotonic() - started < 5
    finally:
        for app in apps:
            try:
                app.close()
            except OSError:
                pass
