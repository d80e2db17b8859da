"""Issue 14 end to end: the newsroom behind the rendered gunicorn config and the rendered VCL.

A real PostgreSQL, the newsroom under gunicorn started with the rendered ``gunicorn.conf.py`` (one
worker, so its in-process page cache is the only one), and a real varnishd with the rendered VCL in
front, on free loopback ports. Each test sends an attack of issue 14 through the edge as a client
(127.0.0.3, an outsider) and checks what every later visitor gets.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from unittest import mock

import pytest

from tests import servers
from upstack.edge import fresh
from upstack.stack import project, render
from upstack.stack.context import Resources
from upstack.stack.machine import free_port
from upstack.stack.services import STANDARD_PORTS

ROOT = Path(__file__).resolve().parents[3]
OUTSIDER = "127.0.0.3"
SECRET = "stack-hardening-fresh-secret"
pytestmark = [pytest.mark.servers, pytest.mark.slow]


class App(servers.Server):
    """The newsroom under gunicorn with the rendered config."""

    name = "gunicorn"
    binary = "python3"

    def __init__(self, config: str, env: dict):
        super().__init__()
        self.config_text, self.environment = config, env

    def prepare(self):
        self.config = self.dir / "gunicorn.conf.py"
        self.config.write_text(self.config_text)

    def command(self):
        return [sys.executable, "-m", "gunicorn", "--config", str(self.config), "--bind", f"127.0.0.1:{self.port}",
                "--workers", "1", "--chdir", str(ROOT), "newsroom.wsgi:application"]

    def start(self):
        with mock.patch.dict(os.environ, self.environment):
            return super().start()

    def resume(self):
        with mock.patch.dict(os.environ, self.environment):
            return super().resume()

    def ready(self):
        return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status == 200


@pytest.fixture(scope="module")
def stack():
    for name in ("postgres", "initdb", "psql", "varnishd"):
        servers.require_binary(name)
    postgres = servers.Postgres().start()
    varnish_port = free_port()
    app_port = free_port()
    env = {"DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "DATABASE_URL": postgres.url,
           "EDGE_URL": f"http://127.0.0.1:{varnish_port}", "PAGE_CACHE": "true", "SECRET_KEY": "stack-hardening",
           fresh.ENV: SECRET, "ALLOWED_HOSTS": "127.0.0.1,localhost", "SITE_URL": "http://127.0.0.1",
           "AXES_ENABLED": "true", "AXES_FAILURE_LIMIT": "5"}
    app = varnish = None
    try:
        for args in (["migrate", "--noinput", "-v", "0"],
                     ["seed", "--articles", "40", "--users", "5", "--comments", "60", "--no-progress", "--seed", "3"]):
            subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True,
                           capture_output=True, timeout=300)
        ports = {**{name: 10000 + i for i, name in enumerate(STANDARD_PORTS)}, "app": app_port}
        ctx = project.context(Resources(2, 2 << 30), ports=ports, local=True)
        files = render.render("local", ctx)
        app = App(files["etc/gunicorn/gunicorn.conf.py"], env)
        app.port = app_port
        app.start()
        varnish = servers.Varnish(vcl=files["etc/varnish/default.vcl"])
        varnish.port = varnish_port
        with mock.patch.dict(os.environ, {fresh.ENV: SECRET}):
            varnish.start()
        yield {"postgres": postgres, "app": app, "varnish": varnish, "env": env}
    finally:
        for server in (varnish, app, postgres):
            if server is not None:
                server.stop()


def get(port, path, source="127.0.0.1", headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request(method, path, headers={"Host": "127.0.0.1", **(headers or {})})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def manage(stack, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **stack["env"]},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def article_path(stack) -> str:
    return manage(stack, "shell", "-c", "from newsroom.news.models import Article; "
                  "print(Article.objects.published().order_by('-published_at').first().get_absolute_url())"
                  ).strip().splitlines()[-1]


def login(edge: int, username: str, password: str, source: str) -> int:
    """The site's login form through the edge, as a browser does it: GET (session, CSRF token), POST."""
    status, headers, body = get(edge, "/accounts/login/", source=source)
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    conn = http.client.HTTPConnection("127.0.0.1", edge, timeout=15, source_address=(source, 0))
    conn.request("POST", "/accounts/login/", body=form, headers={
        "Host": "127.0.0.1", "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
        "Referer": "http://127.0.0.1/accounts/login/"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def test_login_guessing_is_throttled_per_address_and_per_account_until_an_operator_clears_it(stack):
    """Item 8: any number of wrong passwords was accepted without delay, each one hashed."""
    edge = stack["varnish"].port
    manage(stack, "shell", "-c", "from django.contrib.auth.models import User; "
           "User.objects.create_user('victim', password='right-password-1'); "
           "User.objects.create_user('bystander', password='right-password-2')")
    statuses = [login(edge, "victim", f"guess-{i}", "127.0.0.5") for i in range(7)]
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429, statuses  # the form again, then locked out
    # The account is locked from any address, even with the right password ...
    assert login(edge, "victim", "right-password-1", "127.0.0.6") == 429
    # ... and the guessing address for any account; other readers are not affected.
    assert login(edge, "bystander", "right-password-2", "127.0.0.5") == 429
    assert login(edge, "bystander", "right-password-2", "127.0.0.7") == 302
    manage(stack, "axes_reset_username", "victim")
    manage(stack, "axes_reset_ip", "127.0.0.5")
    assert login(edge, "victim", "right-password-1", "127.0.0.5") == 302


def test_a_forwarded_script_name_cannot_store_a_404_for_everyone(stack):
    """Item 1: `SCRIPT_NAME: /articles` once stored a 404 for the article in the edge and the page cache."""
    edge = stack["varnish"].port
    path = article_path(stack)
    status, _, _ = get(edge, path, source=OUTSIDER, headers={"SCRIPT_NAME": "/articles"})
    assert status == 200
    status, headers, body = get(edge, path)
    assert status == 200 and "<article" in body
    # /feed/ with SCRIPT_NAME /feed served the home page as the feed.
    get(edge, "/feed/", source=OUTSIDER, headers={"SCRIPT_NAME": "/feed"})
    status, headers, body = get(edge, "/feed/")
    assert status == 200 and "xml" in headers["content-type"]
    # The app server itself drops it too, even from the edge's own address.
    status, _, body = get(stack["app"].port, path, headers={"SCRIPT_NAME": "/articles"})
    assert status == 200 and "<article" in body


def test_a_404_is_shared_only_briefly(stack):
    """Item 1: a stored 404 stuck for s-maxage (an hour), beyond any purge."""
    status, headers, _ = get(stack["varnish"].port, "/articles/no-such-article-yet/")
    assert status == 404 and "s-maxage=60" in headers["cache-control"]


def test_a_forged_scheme_does_not_put_https_links_in_the_shared_feed(stack):
    """Item 5: X-Forwarded-Proto/-Ssl/-Protocol from a client cached https:// links for everyone."""
    edge = stack["varnish"].port
    for header, value in (("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "ssl")):
        for path in ("/feed/", "/sitemap.xml"):
            get(edge, path, source=OUTSIDER, headers={header: value})
            status, _, body = get(edge, path)
            assert status == 200 and "https://" not in body and "http://127.0.0.1/" in body, (header, path)


def test_a_bad_host_is_a_400_with_the_error_page_and_no_traceback(stack):
    """Item 6: `Host: evil.example` answered 500 with ~13 KB of chained tracebacks."""
    log = stack["app"].log
    before = log.stat().st_size
    status, headers, body = get(stack["varnish"].port, "/", source=OUTSIDER, headers={"Host": "evil.example"})
    assert status == 400 and "Bad request" in body and "Traceback" not in body
    time.sleep(0.2)
    written = log.read_bytes()[before:].decode(errors="replace")
    about_it = [line for line in written.splitlines() if '"/readyz"' not in line]  # the edge's probe aside
    assert "Traceback" not in written and len(about_it) == 1 and '"status": 400' in about_it[0], about_it


@pytest.mark.parametrize("path", ["/search/?q=%00", "/sections/politics/?page=9223372036854775807",
                                  "/search/?q=x&page=9223372036854775807", "/_esi/like/?article=%00"])
def test_unauthenticated_bad_input_is_never_a_500(stack, path):
    """Item 9: three 500s found by hand; the fuzz test (tests/newsroom/test_fuzz.py) covers the rest."""
    status, _, _ = get(stack["varnish"].port, path, source=OUTSIDER)
    assert status in (200, 400, 404), (path, status)
    status, _, _ = get(stack["app"].port, path)
    assert status in (200, 400, 404), (path, status)


def test_a_forged_fresh_cookie_is_served_from_the_edge(stack):
    """Item 3: `Cookie: upstack_fresh=1` forced a full render per request; a real one still works."""
    edge = stack["varnish"].port
    path = article_path(stack)
    get(edge, path, headers={"Cookie": "sessionid=not-a-session"})
    for cookie in ("upstack_fresh=1", f"sessionid=not-a-session; upstack_fresh={int(time.time()) + 5}.1-2"):
        _, headers, _ = get(edge, path, source=OUTSIDER, headers={"Cookie": cookie})
        assert headers["x-cache"] == "HIT", cookie


def test_the_database_down_serves_recently_purged_pages_and_readiness_says_so(stack):
    """Item 7: with PostgreSQL stopped, every recently purged page answered 500."""
    edge, postgres = stack["varnish"].port, stack["postgres"]
    path = article_path(stack)
    assert get(stack["app"].port, "/readyz")[0] == 200
    get(edge, path)
    assert get(edge, path)[1]["x-cache"] == "HIT"
    assert get(edge, path, method="PURGE")[0] == 200  # what a write does (by key; here by URL)
    postgres.halt()
    try:
        assert get(stack["app"].port, "/readyz")[0] == 503
        assert get(stack["app"].port, "/healthz")[0] == 200  # liveness does not ask the database
        for _ in range(5):  # before and after the edge's probe notices
            status, _, body = get(edge, path, source=OUTSIDER)
            assert status == 200 and "<article" in body
    finally:
        postgres.resume()
    servers.wait_until(lambda: get(stack["app"].port, "/readyz")[0] == 200, 30, "readiness after the database")


def test_slow_request_bodies_do_not_starve_the_app(stack):
    """Item 2: ~40 POST bodies trickled at 1 byte/s turned every uncached request into a 503.

    Three times as many trickling POSTs as the app has threads (one gunicorn worker here) send half
    a body, then a byte every half second, for at most 8 s and then stop; meanwhile every uncached
    page view must still be answered. Before the fix each POST held an app thread while its body
    trickled in, and the page views queued behind them."""
    import socket
    import threading

    threads = int(re.search(r"^threads = (\d+)", stack["app"].config_text, re.M).group(1))
    edge, stop = stack["varnish"].port, threading.Event()
    sockets = []
    for _ in range(threads * 3):
        sock = socket.create_connection(("127.0.0.1", edge), timeout=10, source_address=(OUTSIDER, 0))
        sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-"
                     b"urlencoded\r\nContent-Length: 200\r\n\r\nusername=x&pass")
        sockets.append(sock)

    def trickle():
        deadline = time.monotonic() + 8
        while not stop.is_set() and time.monotonic() < deadline:
            for sock in sockets:
                try:
                    sock.sendall(b"w")
                except OSError:
                    pass
            stop.wait(0.5)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(1)
        answers = []
        for i in range(8):  # uncached: each search is a new page
            try:
                answers.append(get(edge, f"/search/?q=slowloris{i}", source="127.0.0.4")[0])
            except OSError as exc:  # a timeout: the page view waited behind the trickling bodies
                answers.append(repr(exc))
    finally:
        stop.set()
        trickler.join()
        for sock in sockets:
            sock.close()
    assert answers == [200] * 8, answers


def test_the_live_hardening_probes_pass_against_the_stack(stack):
    """`upstack check --live` probes items 1, 3, 4 and 5 (upstack.checks.live_hardening)."""
    from upstack.checks import live_hardening

    results = live_hardening.run(f"http://127.0.0.1:{stack['varnish'].port}", "127.0.0.1")
    assert len(results) == 4 and all(r["ok"] for r in results), results
