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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}", "DEMO_PASSWORD": PASSWORD}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed", "--articles", "40", "--users", "10", "--comments", "100", "--no-progress")
    manage(env, "demo_user")
    port = servers.free_port()
    log = open(tmp / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "newsroom.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    servers.wait_until(lambda: urllib.request.urlopen(url + "/healthz", timeout=2).status == 200, 30,
                       "gunicorn", tmp / "gunicorn.log", proc)
    yield url
    proc.terminate()
    proc.wait(15)
    log.close()


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
