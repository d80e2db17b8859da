"""Where the URLs to warm come from: the sitemap, a file, an access log (most requested first)."""

from upstack.ops import warm


def test_access_log_gives_the_most_requested_successful_paths(tmp_path):
    log = tmp_path / "access.log"
    lines = ['127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET /a/ HTTP/1.1" 200 10 "-" "x"'] * 3 + \
            ['127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET /b/?page=2 HTTP/1.1" 200 10 "-" "x"'] * 2 + \
            ['127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET /gone/ HTTP/1.1" 404 10 "-" "x"'] * 9 + \
            ['127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "POST /a/ HTTP/1.1" 302 10 "-" "x"'] * 9 + ["garbage"]
    log.write_text("\n".join(lines))
    assert warm.from_access_log(log, 10) == ["/a/", "/b/?page=2"]
    assert warm.from_access_log(log, 1) == ["/a/"]


def test_a_file_of_urls_or_paths(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# popular\nhttps://news.example.com/articles/x/\n/sections/world/\n\n/?page=2\n")
    assert warm.from_file(urls, 10) == ["/articles/x/", "/sections/world/", "/?page=2"]


def test_nothing_to_warm_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="no URLs"):
        warm.warm("http://127.0.0.1:9", [])


def test_load_test_durations_are_bounded():
    import pytest

    from upstack.ops.loadtest import parse_duration

    assert parse_duration("60s") == 60 and parse_duration("5m") == 300 and parse_duration("90") == 90
    for bad in ("0s", "2h", "soon", "-5s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_access_log_reads_the_stacks_json_request_lines_and_haproxy_lines(tmp_path):
    import json

    request = {"level": "info", "logger": "upstack.request", "message": "request", "method": "GET", "view": "x"}
    lines = [json.dumps({**request, "path": "/json/", "status": 200})] * 4 + \
            [json.dumps({**request, "path": "/json-404/", "status": 404})] * 9 + \
            [json.dumps({**request, "method": "POST", "path": "/json-post/", "status": 200})] * 9 + \
            [json.dumps({"level": "info", "logger": "celery", "message": "GET /not-a-request/"})] * 9 + \
            ['{"path": "/broken/", "status": 200'] * 9 + \
            ['[2026-11-25 10:00:00 +0000] [12] [INFO] Booting worker with pid: 12'] + \
            ['haproxy[14389]: 10.0.1.2:33317 [25/Nov/2026:12:14:14.655] http-in varnish/edge 10/0/30/69/109 200 '
             '2750 - - ---- 1/1/1/1/0 0/0 "GET /haproxy/?page=2 HTTP/1.1"'] * 3 + \
            ['haproxy[14389]: 10.0.1.2:33317 [25/Nov/2026:12:14:14.655] http-in varnish/edge 10/0/30/69/109 503 '
             '2750 - - ---- 1/1/1/1/0 0/0 "GET /haproxy-down/ HTTP/1.1"'] * 9 + \
            ['127.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /nginx/ HTTP/1.1" 301 0 "-" "curl/8"'] * 2
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    assert warm.from_access_log(log, 10) == ["/json/", "/haproxy/?page=2", "/nginx/"]


def test_the_source_names_its_choices(tmp_path):
    import pytest

    own = tmp_path / "app.log"
    assert warm.parse_source("sitemap", own) == ("sitemap", None)
    with pytest.raises(ValueError, match="no log at"):
        warm.parse_source("access-log", own)  # the stack has not logged yet
    own.write_text("")
    assert warm.parse_source("access-log", own) == ("access-log", own)
    assert warm.parse_source(f"access-log:{own}", tmp_path / "other") == ("access-log", own)
    assert warm.parse_source(str(own), tmp_path) == ("file", own)
    with pytest.raises(ValueError, match="sitemap, access-log"):
        warm.parse_source("sitemaps", own)
