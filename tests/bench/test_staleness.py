"""The staleness probe: its figures (pure), and its reads against a small real server that shows a
comment only some time after the write (and one that never does)."""

import http.server
import threading
import time
import urllib.parse

import pytest

from bench import staleness
from bench.workloads import Session


def test_writes_fall_at_random_over_the_ttl_and_the_gaps():
    plan = staleness.schedule(5, 1.0, 60, seed=3)
    assert all(0 <= w <= 65 for w in plan) and len({round(w, 3) for w in plan}) == 5
    assert max(plan) - min(plan) > 10  # spread, so the cached copies are of different ages
    assert plan == staleness.schedule(5, 1.0, 60, seed=3)


def test_the_stale_share_is_weighted_by_time():
    # stale for the first 3 s of a 6 s window, read often while stale and rarely after
    reads = [(0.0, False), (0.05, False), (0.1, False), (3.0, True), (6.0, True)]
    assert staleness.stale_share(reads, 6.0) == pytest.approx(0.5)
    assert staleness.stale_share([(0.0, True), (6.0, True)], 6.0) == 0
    assert staleness.stale_share([(0.0, False), (80.0, True)], 6.0) == 1  # stale past the window


def test_summary_gives_lags_stale_reads_after_a_second_and_writes_never_shown():
    fresh = [(0.0, False), (0.05, True), (6.0, True)]
    slow = [(0.0, False), (1.2, False), (2.0, True), (6.0, True)]
    never = [(0.0, False), (staleness.HORIZON, False)]
    figures = staleness.summarize([fresh, slow, never])
    assert figures["lag_ms_p50"] == 2000.0 and figures["lag_ms_max"] == staleness.HORIZON * 1000
    assert figures["stale_reads_after_1s"] == 2 and figures["stale_at_horizon"] == 1
    assert staleness.summarize([fresh])["stale_reads_after_1s"] == 0


class Site(http.server.ThreadingHTTPServer):
    """A page that shows a posted comment ``delay`` seconds after the POST (None: never)."""

    def __init__(self, delay):
        self.delay, self.comments = delay, []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if self.headers.get("Cookie") == "sessionid=s" and body.get("csrfmiddlewaretoken") == ["t"]:
            self.server.comments.append((time.monotonic(), body["body"][0]))
            self.send_response(302)
            self.send_header("Location", "/a/#comments")
        else:
            self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802
        now, delay = time.monotonic(), self.server.delay
        page = "".join(text for at, text in self.server.comments if delay is not None and now - at >= delay).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


@pytest.fixture
def site(request):
    server = Site(request.param)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("site", [0.3], indirect=True)
def test_follow_measures_how_long_the_page_kept_the_write_out(site, monkeypatch):
    monkeypatch.setattr(staleness, "WINDOW", 1.0)
    url = f"http://127.0.0.1:{site.server_address[1]}"
    reads = staleness.follow(url, "/a/", Session("sessionid=s", "t"), "marker-1")
    lag = next(at for at, fresh in reads if fresh)
    assert 0.3 <= lag < 0.45  # read every 50 ms in the first second
    assert not reads[0][1] and reads[-1][0] >= 1.0  # stale at first; read until the window ended


@pytest.mark.parametrize("site", [None], indirect=True)
def test_a_write_that_never_shows_is_stale_at_the_horizon(site, monkeypatch):
    monkeypatch.setattr(staleness, "HORIZON", 1.5)
    url = f"http://127.0.0.1:{site.server_address[1]}"
    figures = staleness.summarize([staleness.follow(url, "/a/", Session("sessionid=s", "t"), "marker-2")])
    assert figures["stale_at_horizon"] == 1 and figures["stale_reads_after_1s"] > 0


@pytest.mark.parametrize("site", [0], indirect=True)
def test_a_refused_write_fails_the_probe(site):
    url = f"http://127.0.0.1:{site.server_address[1]}"
    with pytest.raises(RuntimeError, match="not 302"):
        staleness.follow(url, "/a/", Session("sessionid=other", "t"), "marker-3")


def test_the_stacks_are_probed_one_after_another(monkeypatch):
    """Each stack alone on the machine: one stack's probe reads (plain's renders) must not be another's
    load. Every request of the first site comes before the second site's first."""
    monkeypatch.setattr(staleness, "WINDOW", 0.3)
    sites = {"one": Site(0), "two": Site(0)}
    seen: list[tuple[str, float]] = []
    for name, server in sites.items():
        original = server.finish_request

        def finish_request(request, address, name=name, original=original):
            seen.append((name, time.monotonic()))
            original(request, address)

        server.finish_request = finish_request
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        urls = {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in sites.items()}
        figures = staleness.probe(urls, {name: ["/a/", "/b/"] for name in sites},
                                  {name: Session("sessionid=s", "t") for name in sites}, {"one": 0.5, "two": 0.5}, 2, 0.1)
    finally:
        for server in sites.values():
            server.shutdown()
            server.server_close()
    assert set(figures) == {"one", "two"} and all(f["writes"] == 2 for f in figures.values())
    last_of_one = max(at for name, at in seen if name == "one")
    first_of_two = min(at for name, at in seen if name == "two")
    assert last_of_one < first_of_two
