"""The benchmark's own checks before and while it measures: a write must land where a successful
one redirects, a like counts as fresh only when the page shows the new count, and the static-object
limit is an edge hit (a real bare Varnish)."""

import pytest

from bench import freshness, report, writers
from bench.limits import hit_run, varnish_static


@pytest.mark.parametrize("kind, path, location", [
    ("comments", "/articles/a-story/comments/", "/articles/a-story/#comments"),
    ("like", "/articles/a-story/like/", "/articles/a-story/"),
    ("admin", "/edit-room/news/article/42/change/", "/edit-room/news/article/"),
])
def test_a_write_must_redirect_where_a_successful_one_does(kind, path, location):
    assert writers.expected_location(kind, path) == location
    assert writers.expected_location(kind, path) != "/accounts/login/"  # the redirect of a write that did not happen


def test_a_like_is_fresh_only_when_the_page_shows_the_new_count():
    page = '<p class="likes"><span class="like-count" data-like-count>{}</span> likes'
    assert freshness.shows(200, page.format(7), freshness.like_count_html(7))
    assert not freshness.shows(200, page.format(6), freshness.like_count_html(7))  # a stale page (a PASS, a MISS...)
    assert not freshness.shows(503, "<html>will be right back</html>", freshness.like_count_html(7))
    assert not freshness.shows(503, page.format(7), freshness.like_count_html(7))  # an error is never fresh


@pytest.mark.servers
def test_an_uncacheable_static_object_is_not_a_verified_limit():
    from tests.servers import require_binary

    require_binary("varnishd")
    require_binary("wrk")
    page = b"<html>the article</html>"
    limits = {}
    for name, headers in (("varnish_static", [("Cache-Control", "private")]),  # never a hit
                          ("upstack_edge_hit", [("Cache-Control", "public, max-age=60")])):
        with varnish_static(page, headers) as url:
            limits[name] = hit_run(url, "/article", 1, 2)
    assert limits["varnish_static"]["hit"] is False and limits["upstack_edge_hit"]["hit"] is True
    assert "varnish static: not an edge hit" in report.limit_problems(limits)
