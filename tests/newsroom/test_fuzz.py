"""No bad input is a 5xx (issue 14, item 9): every URL pattern, every query parameter, bad values.

The URL patterns come from the resolver, so a new view is fuzzed without touching this file. Each
pattern is filled with real values (a published article's slug, a section's...) and with bad ones;
each query parameter any view reads - plus unknown ones - gets NUL bytes, huge and negative numbers,
invalid UTF-8, very long values and markup. Anonymous and logged-in, GET and the POST forms. A 5xx
fails the test with the request that caused it. ``make test`` runs it on SQLite and again on
PostgreSQL (which rejects NUL bytes and out-of-range integers that SQLite accepts).
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path

from newsroom.news.models import Article, Author, Section, Tag

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    "%00", "a%00b", "9223372036854775807", "9223372036854775808", "1" + "0" * 40, "-1", "-9223372036854775809",
    "0", "1e309", "NaN", "%ff%fe%fd", "%c3%28", "%", "%zz", "x" * 5000, "<script>alert(1)</script>", "../../etc/passwd",
    "%E2%80%AE", "a&b=c", "[]", "{}",
]
PARAMS = ["page", "q", "next", "article", "utm_source", "flush-the-cache", "format", "id"]
BAD_SEGMENTS = ["x" * 3000, "%ff", "0", "-", "__", "a" * 50 + "-" * 50]


def patterns(resolver=None, prefix=""):
    """(regex-ish route, converter names) for every URL pattern, admin aside (behind its login)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if "admin" in (entry.app_name or "") or "admin" in str(entry.urlconf_name):
                continue
            yield from patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def fill(route: str, value: str) -> str:
    path = re.sub(r"<(?:\w+:)?\w+>", value, route).lstrip("^").rstrip("$")
    return "/" + path


def good_values():
    article = Article.objects.published().first()
    return {"article": article.slug, "section": Section.objects.first().slug, "tag": Tag.objects.first().slug,
            "author": Author.objects.first().slug}


def paths():
    """(path, real): every pattern filled with a real value, then with each bad segment."""
    values = good_values()
    for route in patterns():
        if "<" not in route:
            yield fill(route, ""), True
            continue
        yield fill(route, next((v for k, v in values.items() if k in route.split("/")[0]), values["article"])), True
        for segment in BAD_SEGMENTS:
            yield fill(route, segment), False


def requests():
    """Every parameter with every bad value on the real pages; a few on the bad paths."""
    for url, real in sorted(set(paths())):
        if real:
            for param, value in itertools.product(PARAMS, BAD_VALUES):
                yield f"{url}?{param}={value}"
        yield url
        yield f"{url}?page=3&page=2&utm_x&q=%00"


def check(client: Client, method: str, url: str, failures: list, **data):
    response = getattr(client, method)(url, data=data or None, HTTP_HOST="127.0.0.1") if data else \
        getattr(client, method)(url, HTTP_HOST="127.0.0.1")
    if response.status_code >= 500:
        failures.append(f"{method.upper()} {url[:120]} -> {response.status_code}")


@pytest.fixture
def fuzz_client():
    return Client(raise_request_exception=False)


def test_no_bad_query_or_path_is_a_server_error_for_anonymous_readers(seeded, fuzz_client):
    failures: list[str] = []
    for url in requests():
        check(fuzz_client, "get", url, failures)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:30])


def test_no_bad_input_is_a_server_error_for_logged_in_readers(seeded, fuzz_client, reader):
    fuzz_client.force_login(reader)
    failures: list[str] = []
    for url in itertools.islice(requests(), 0, None, 7):  # a spread sample: every 7th request
        check(fuzz_client, "get", url, failures)
    article = good_values()["article"]
    for value in BAD_VALUES:
        check(fuzz_client, "post", f"/articles/{article}/comments/", failures, body=value)
        check(fuzz_client, "post", f"/articles/{article}/like/?next={value}", failures)
        check(fuzz_client, "post", f"/articles/{value}/comments/", failures, body="hello")
        check(fuzz_client, "post", "/accounts/login/", failures, username=value, password=value)
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:30])


def test_the_fuzz_reaches_every_view():
    routes = list(patterns())
    assert {"articles/<slug:slug>/", "search/", "_esi/<slug:name>/", "feed/", "sitemap.xml"} <= set(routes)


def _boom(request):
    raise RuntimeError("a view that fails")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.urls(__name__)
def test_a_server_error_is_reported_not_skipped(fuzz_client):
    failures: list[str] = []
    check(fuzz_client, "get", "/boom/?page=1", failures)
    assert failures == ["GET /boom/?page=1 -> 500"]
