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

    def __init__(self, name: str, address=("127.0.0.1", 0)):
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

        super().__init__(address, Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        if self.socket.fileno() != -1:
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


def _names(edge, count):
    names = []
    for _ in range(count):  # /admin/ is a pass path: every request reaches an app server
        with edge.get("/admin/x", headers={"Host": "localhost"}) as response:
            names.append(response.read().decode())
    return names


def test_a_real_edge_spreads_over_the_pool_and_skips_a_dead_app(open_tmp, varnish_factory):
    apps = [_App("one"), _App("two")]
    try:
        vcl = _render_vcl(open_tmp / "r", ",".join(f"127.0.0.1:{a.server_address[1]}" for a in apps))
        edge = varnish_factory(vcl=vcl)
        servers.wait_until(lambda: set(_names(edge, 4)) == {"one", "two"}, 10, "both app servers healthy behind the edge")
        apps[1].close()
        # The probe (1 s interval, 2 of 3) marks it sick; then every request goes to the live one.
        servers.wait_until(lambda: _names(edge, 6) == ["one"] * 6, 10, "the edge to stop sending to the dead app server")
        started = time.monotonic()
        assert _names(edge, 20) == ["one"] * 20 and time.monotonic() - started < 5
    finally:
        for app in apps:
            app.close()


def compose_pool(out, resolver_lines: str, port: int) -> str:
    """Render compose, run its app-pool.sh with a resolver printing ``resolver_lines`` (getent's
    format; Docker's DNS gives one line per replica), and return the VCL pointing at the pool file."""
    call_command("upstack", "render", "--target", "compose", "--out", str(out), "--cpus", "2", "--memory", "2G")
    resolver = out / "resolver.sh"
    resolver.write_text(f"#!/bin/sh\ncat <<'EOF'\n{resolver_lines}EOF\n")
    resolver.chmod(0o755)
    script = (out / "etc/varnish/app-pool.sh").read_text().replace('.port = "8000"', f'.port = "{port}"')
    (out / "app-pool.sh").write_text(script)
    pool = out / "app-pool.vcl"
    result = subprocess.run(["sh", str(out / "app-pool.sh")], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", "APP_POOL_VCL": str(pool), "APP_POOL_RESOLVE": str(resolver),
                                 "APP_POOL_TRIES": "2"})
    assert result.returncode == 0, result.stderr
    vcl = (out / "etc/varnish/default.vcl").read_text()
    assert 'include "/var/lib/varnish/app-pool.vcl";' in vcl and 'include "/var/lib/varnish/app-pool-init.vcl";' in vcl
    return vcl.replace("/var/lib/varnish/app-pool", str(out / "app-pool"))


def test_compose_scale_gives_the_edge_every_replica(open_tmp, varnish_factory):
    """`docker compose up --scale app=2`: the name `app` has two addresses; app-pool.sh makes one
    backend of each (one backend per name would not compile: "resolves to too many addresses")."""
    first = _App("one")
    port = first.server_address[1]
    try:
        second = _App("two", ("127.0.0.2", port))
    except OSError:
        first.close()
        pytest.skip("127.0.0.2 is not usable on this loopback")
    try:
        vcl = compose_pool(open_tmp / "c", "127.0.0.1       STREAM app\n127.0.0.2       STREAM app\n"
                                             "127.0.0.2       DGRAM  \n", port)
        assert vcl.count("app.add_backend") == 0  # the template adds none itself; the pool file does
        pool = (open_tmp / "c/app-pool.vcl").read_text()
        assert pool.count("backend app") == 2 and '.host = "127.0.0.2";' in pool
        assert (open_tmp / "c/app-pool-init.vcl").read_text().split() == ["app.add_backend(app1);", "app.add_backend(app2);"]
        edge = varnish_factory(vcl=vcl)
        servers.wait_until(lambda: set(_names(edge, 4)) == {"one", "two"}, 10, "both replicas behind the edge")
    finally:
        first.close()
        second.close()


def test_app_pool_fails_clearly_when_the_app_does_not_resolve(open_tmp):
    with pytest.raises(AssertionError, match="does not resolve"):
        compose_pool(open_tmp / "n", "", 8000)
