"""``upstack loadtest`` gets its URL list from the project's LOADTEST_PREPARE hook (the package knows
no site), and without a hook from the home page only."""

import pytest

from upstack.ops import loadtest


def fake_prepare(top):
    return [f"/page/{n}/" for n in range(top)], {"UPSTACK_LOADTEST_EXTRA": "yes"}


@pytest.mark.django_db
def test_the_hook_gives_the_urls_and_the_environment(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": f"{__name__}.fake_prepare"}
    env = loadtest.prepare(tmp_path, top=3)
    assert (tmp_path / "urls.txt").read_text().split() == ["/page/0/", "/page/1/", "/page/2/"]
    assert env["UPSTACK_LOADTEST_EXTRA"] == "yes" and env["UPSTACK_LOADTEST_EDITOR_PASSWORD"]


@pytest.mark.django_db
def test_without_a_hook_the_home_page(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": None}
    loadtest.prepare(tmp_path)
    assert (tmp_path / "urls.txt").read_text().split() == ["/"]


def test_a_file_of_urls_comes_first(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": f"{__name__}.fake_prepare"}
    urls = tmp_path / "urls.txt"
    urls.write_text("# most visited first\n/b/\nhttp://example.org/c/?page=2\n")
    assert loadtest.site_urls(10, urls) == (["/b/", "/c/?page=2"], {})
    with pytest.raises(ValueError, match="no URL list at"):
        loadtest.site_urls(10, tmp_path / "missing.txt")


def test_without_a_hook_the_sitemap_through_the_target(settings, tmp_path):
    """A real HTTP server on loopback serves a sitemap index and a sitemap."""
    import http.server
    import threading

    pages = {"/sitemap.xml": '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
                             '<loc>http://site.example/sitemap-1.xml</loc></sitemap></sitemapindex>',
             "/sitemap-1.xml": '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
                               '<loc>http://site.example/a/</loc></url><url><loc>http://site.example/b/</loc></url></urlset>'}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write((body or "missing").encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": None}
        target = f"http://127.0.0.1:{server.server_port}"
        assert loadtest.site_urls(10, target=target) == (["/", "/a/", "/b/"], {})
        pages.clear()  # no sitemap: the home page
        assert loadtest.site_urls(10, target=target) == (["/"], {})
    finally:
        server.shutdown()
        server.server_close()


def test_scenarios_are_read_from_the_locustfile_without_importing_it(tmp_path):
    assert loadtest.scenarios(loadtest.PACKAGE_LOCUSTFILE) == ("anonymous",)
    own = tmp_path / "locustfile.py"
    own.write_text("import locust_that_is_not_installed\nSCENARIOS = {'shoppers': [], 'admins': []}\n")
    assert loadtest.scenarios(own) == ("shoppers", "admins")
    own.write_text("from locust import HttpUser\n")
    with pytest.raises(ValueError, match="declares no SCENARIOS"):
        loadtest.scenarios(own)


def test_the_locustfile_option_then_the_setting_then_the_package(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_LOCUSTFILE": None}
    assert loadtest.locustfile_for(None) == loadtest.PACKAGE_LOCUSTFILE
    own = tmp_path / "mine.py"
    own.write_text("SCENARIOS = ('x',)\n")
    assert loadtest.locustfile_for(str(own)) == own
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_LOCUSTFILE": "bench/locustfile.py"}
    assert loadtest.locustfile_for(None) == settings.BASE_DIR / "bench" / "locustfile.py"
    with pytest.raises(ValueError, match="no locustfile at"):
        loadtest.locustfile_for(str(tmp_path / "nope.py"))


def test_a_bad_scenario_is_bad_input_before_the_stack_is_looked_for(settings, tmp_path):
    from django.core.management import CommandError, call_command

    settings.UPSTACK = {**settings.UPSTACK, "STATE_DIR": str(tmp_path / "never-up")}
    with pytest.raises(CommandError, match="unknown scenario 'nope'") as raised:
        call_command("upstack", "loadtest", "--scenario", "nope")
    assert raised.value.returncode == 2
