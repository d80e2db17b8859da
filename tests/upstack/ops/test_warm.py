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
