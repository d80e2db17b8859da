"""A reader's path through the site in a real browser: home -> article -> log in -> comment.

The site runs in gunicorn (a real server, as in ``make run``) on a fresh SQLite database; headless
Chromium from the system's package is driven by Playwright.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import servers

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-pass"


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)


def start_site(tmp, env=None, port=None):
    """The newsroom in gunicorn on a fresh SQLite database; (url, process, log file)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}", "DEMO_PASSWORD": PASSWORD, **(env or {})}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed", "--articles", "40", "--users", "10", "--comments", "100", "--no-progress")
    manage(env, "demo_user")
    port = port or servers.free_port()
    log = open(tmp / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "newsroom.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    servers.wait_until(lambda: urllib.request.urlopen(url + "/healthz", timeout=2).status == 200, 30,
                       "gunicorn", tmp / "gunicorn.log", proc)
    return url, proc, log


def stop_site(proc, log):
    proc.terminate()
    proc.wait(15)
    log.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url, proc, log = start_site(tmp_path_factory.mktemp("browser"))
    yield url
    stop_site(proc, log)


@pytest.fixture(scope="module")
def edge_site(tmp_path_factory):
    """The same site behind a real Varnish with the rendered VCL, purged by the site, sharing the fresh
    cookie's secret: logged-in readers get the shared page with the reader include (docs/edge.md)."""
    import dataclasses
    from unittest import mock

    from upstack.edge import fresh
    from upstack.stack import project, render
    from upstack.stack.context import Resources
    from upstack.stack.services import STANDARD_PORTS

    servers.require_binary("varnishd")
    tmp, app_port, secret = tmp_path_factory.mktemp("browser-edge"), servers.free_port(), "browser-edge-fresh"
    ports = {**{name: servers.free_port() for name in STANDARD_PORTS}, "app": app_port}
    ctx = project.context(Resources(2, 2 << 30), ports=ports, local=True)
    varnish = servers.Varnish(vcl=render.render("local", dataclasses.replace(ctx))["etc/varnish/default.vcl"])
    _, proc, log = start_site(tmp, {"EDGE_URL": f"http://127.0.0.1:{varnish.port}", fresh.ENV: secret}, app_port)
    with mock.patch.dict(os.environ, {fresh.ENV: secret}):
        varnish.start()
    yield f"http://127.0.0.1:{varnish.port}", tmp / "gunicorn.log"
    varnish.stop()
    stop_site(proc, log)


@pytest.fixture(scope="module")
def browser():
    chromium = servers.require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


def test_home_article_login_comment(site, browser):
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(site + "/")
    assert page.locator("section.latest article.teaser").count() == 20
    first = page.locator("section.latest article.teaser h3 a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/articles/**")
    assert page.locator("h1").inner_text() == title
    article_url = page.url
    page.get_by_role("link", name="Log in").first.click()
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(article_url)
    assert "Demo Reader" in page.locator("nav.userbar").inner_text()
    comment = f"Written in a real browser at {time.time():.0f}."
    page.fill("textarea[name=body]", comment)
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_url("**#comments")
    assert page.locator(".comment").first.inner_text().endswith(comment)
    # The like button works by fetch, without a page reload.
    before = int(page.locator("[data-like-count]").inner_text())
    page.get_by_role("button", name="Like").click()
    page.get_by_role("button", name="Liked").wait_for()
    assert int(page.locator("[data-like-count]").inner_text()) == before + 1
    page.close()


def test_a_logged_in_reader_through_the_edge(edge_site, browser):
    """Through Varnish: the shared page plus the reader's own include, kept per session. The like
    state is CSS (the include is the same on every page): what a person sees is checked, with and
    without JavaScript; a like shows at once and stays after a reload; logging out shows nobody."""
    url, app_log = edge_site
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url + "/")
    links = page.locator("section.latest article.teaser h3 a")
    first, second = links.nth(0).get_attribute("href"), links.nth(1).get_attribute("href")
    page.goto(url + "/accounts/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")
    page.goto(url + first)
    fetched = app_log.read_text().count("/_esi/reader/")
    page.goto(url + second)
    page.goto(url + first)
    assert app_log.read_text().count("/_esi/reader/") == fetched  # the edge's copy, on every page
    assert "Demo Reader" in page.locator("nav.userbar").inner_text()
    like, liked = page.locator("form.like .like-add"), page.locator("form.like .like-done")
    assert like.is_visible() and not liked.is_visible()
    like.click()
    liked.wait_for(state="visible")
    assert not like.is_visible()
    page.reload()  # the like purged this reader's include: the edge's copy says so too
    assert liked.is_visible() and not like.is_visible()
    page.goto(url + second)  # the same include, another page: not liked here
    assert like.is_visible() and not liked.is_visible()
    assert page.locator("form.comment-form").is_visible()
    # Without JavaScript the parts stay at the end of the page, and still say the right thing.
    plain = browser.new_context(java_script_enabled=False)
    plain.add_cookies(context.cookies())
    bare = plain.new_page()
    bare.goto(url + first)
    assert bare.locator("form.like .like-done").is_visible() and not bare.locator("form.like .like-add").is_visible()
    assert "Demo Reader" in bare.locator("nav.userbar").inner_text()
    bare.goto(url + second)
    assert bare.locator("form.like .like-add").is_visible() and not bare.locator("form.like .like-done").is_visible()
    plain.close()
    page.get_by_role("button", name="Log out").click()
    page.goto(url + first)
    assert "Log in" in page.locator("nav.userbar").inner_text() and page.locator("form.like").count() == 0
    context.close()
