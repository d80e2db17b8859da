"""{% fragment %} reads in one get_many per page and a fresh render writes in one set_many per outer
fragment (upstack.cache.batch): counted on real caches (in-process LocMem and a real Redis server),
with freshness kept (a changed object is read and re-rendered on its own)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.cache import caches
from django.template import Context, Template
from django.test import RequestFactory

from newsroom.news.models import Article
from tests import servers
from tests.upstack.cache.conftest import disconnect
from upstack.cache import batch, caches_setting, hooks
from upstack.cache.bypass import bypass_signature

pytestmark = pytest.mark.django_db

N = 5
FLAT = Template(
    "{% load upstack %}{% for a in articles %}"
    "{% fragment 'teaser' a ttl='long' %}<{{ a.title }}|{{ probe.render }}>{% endfragment %}"
    "{% endfor %}"
)
NESTED = Template(
    "{% load upstack %}{% fragment 'outer' articles ttl='long' %}{% for a in articles %}"
    "{% fragment 'inner' a ttl='short' %}<{{ a.title }}|{{ probe.render }}>{% endfragment %}"
    "{% endfor %}{% endfragment %}"
)


class Probe:
    def __init__(self):
        self.renders = 0

    @property
    def render(self):
        self.renders += 1
        return ""


class Calls:
    """The templates namespace's cache operations, as the backends report them (upstack.cache.hooks)."""

    def __init__(self):
        self.ops = Counter()

    def __call__(self, event: hooks.CacheEvent):
        if event.namespace == "templates":
            self.ops[event.operation] += 1

    def __enter__(self):
        hooks.subscribe(self)
        return self.ops

    def __exit__(self, *exc):
        hooks.unsubscribe(self)

    @property
    def round_trips(self) -> int:
        return sum(self.ops.values())


@pytest.fixture(autouse=True)
def clean():
    caches["templates"].clear()
    batch.forget()
    yield
    batch.forget()


@pytest.fixture
def articles(db):
    from django.core.management import call_command

    call_command("seed", articles=N + 2, users=3, comments=5, no_progress=True, verbosity=0)
    return list(Article.objects.published().order_by("pk")[:N])


def render(template, articles, probe, request=...):
    request = RequestFactory().get("/page/") if request is ... else request
    return template.render(Context({"articles": articles, "probe": probe, "request": request}))


def count(template, articles, probe, request=...):
    calls = Calls()
    with calls:
        html = render(template, articles, probe, request)
    return html, calls


def test_a_warm_page_reads_all_its_fragments_in_one_round_trip(articles):
    probe = Probe()
    first, calls = count(FLAT, articles, probe)
    assert probe.renders == N and "get_many" not in calls.ops  # nothing remembered yet: read one by one
    again, calls = count(FLAT, articles, probe)
    assert again == first and probe.renders == N  # every fragment a hit
    assert dict(calls.ops) == {"get_many": 1}


def test_without_a_request_each_fragment_is_read_on_its_own(articles):
    """The negative case: no page to remember keys for, so the count above is not vacuous."""
    probe = Probe()
    render(FLAT, articles, probe, None)
    _, calls = count(FLAT, articles, probe, None)
    assert dict(calls.ops) == {"get": N}


def test_a_changed_object_is_read_and_rendered_on_its_own(articles):
    probe = Probe()
    render(FLAT, articles, probe)
    render(FLAT, articles, probe)
    changed = articles[2]
    changed.title = "A new headline"
    changed.save()  # a new key: not among the remembered ones
    html, calls = count(FLAT, articles, probe)
    assert "A new headline" in html and probe.renders == N + 1
    # the new key went the single-flight way on its own: one lock, one store
    assert calls.ops["get_many"] == 1 and calls.ops["add"] == 1 and calls.ops["set"] == 1
    _, calls = count(FLAT, articles, probe)
    assert dict(calls.ops) == {"get_many": 1} and probe.renders == N + 1  # remembered the new key


def test_pages_remember_their_own_keys(articles):
    probe = Probe()
    render(FLAT, articles[:2], probe, RequestFactory().get("/a/"))
    render(FLAT, articles[2:], probe, RequestFactory().get("/b/"))
    _, calls = count(FLAT, articles[:2], probe, RequestFactory().get("/a/"))
    assert dict(calls.ops) == {"get_many": 1}
    assert batch.remembered("/a/") != batch.remembered("/b/")
    assert batch.page_id(RequestFactory().get("/a/", {"page": "2"})) == "/a/?page=2"


def test_the_remembered_pages_are_bounded(articles, monkeypatch):
    monkeypatch.setattr(batch, "MAX_PAGES", 3)
    probe = Probe()
    for n in range(5):
        render(FLAT, articles[:1], probe, RequestFactory().get(f"/p{n}/"))
    assert batch.remembered("/p0/") == [] and batch.remembered("/p4/") != []


def test_a_page_remembers_a_bounded_number_of_keys(articles, monkeypatch):
    monkeypatch.setattr(batch, "MAX_KEYS", 2)
    probe = Probe()
    render(FLAT, articles, probe)
    _, calls = count(FLAT, articles, probe)
    assert probe.renders == N and dict(calls.ops) == {"get_many": 1, "get": N - 2}


def test_an_outer_hit_leaves_the_inner_keys_out(articles):
    probe = Probe()
    render(NESTED, articles, probe)
    _, calls = count(NESTED, articles, probe)
    assert dict(calls.ops) == {"get_many": 1} and len(batch.remembered("/page/")) == 1


def test_a_fresh_render_writes_each_outer_fragment_with_one_set_many(articles, settings):
    settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "BYPASS_SECRET": "s3cret-for-tests"}
    probe = Probe()
    fresh = RequestFactory().get("/page/", {"flush-the-cache": bypass_signature("/page/")})
    _, calls = count(NESTED, articles, probe, fresh)
    assert probe.renders == N
    assert dict(calls.ops) == {"set_many": 1}  # outer and its N inner fragments together, nothing read
    probe.renders = 0
    render(NESTED, articles, probe, None)  # what it stored is there: the plain path hits
    assert probe.renders == 0
    assert batch.remembered(batch.page_id(fresh)) == []  # a fresh render remembers no keys


def test_a_fresh_render_re_renders_what_a_warm_page_would_read(articles, settings):
    settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "BYPASS_SECRET": "s3cret-for-tests"}
    probe = Probe()
    render(FLAT, articles, probe)
    render(FLAT, articles, probe)
    fresh = RequestFactory().get("/page/", {"flush-the-cache": bypass_signature("/page/")})
    _, calls = count(FLAT, articles, probe, fresh)
    assert probe.renders == 2 * N and calls.ops["get_many"] == 0 and calls.ops["get"] == 0
    assert calls.ops["set_many"] == N  # N outermost fragments


def test_one_round_trip_on_a_real_redis(articles, settings):
    servers.require_binary("redis-server")
    with servers.Redis() as server:
        settings.CACHES = caches_setting(server.url)
        probe = Probe()
        first = render(FLAT, articles, probe)
        again, calls = count(FLAT, articles, probe)
        assert again == first and probe.renders == N
        assert dict(calls.ops) == {"get_many": 1}
        assert len(caches["templates"].get_many(batch.remembered("/page/"))) == N  # all really on the server
        for cache in caches.all(initialized_only=True):
            disconnect(cache)  # warnings are errors: no socket left to a stopped server


@pytest.mark.parametrize("page", ["home", "article"])
def test_the_newsrooms_pages_make_one_fragment_round_trip(client, articles, settings, page):
    """Through the middleware: a warm render (page cache bypassed) reads every fragment with one
    get_many; a signed fresh render writes them all with one set_many at the end of the page."""
    settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "BYPASS_SECRET": "s3cret-for-tests"}
    path = "/" if page == "home" else articles[0].get_absolute_url()
    warm = {"HTTP_X_UPSTACK_FRESH": "1", "REMOTE_ADDR": "127.0.0.1"}
    first = client.get(path, **warm)
    calls = Calls()
    with calls:
        again = client.get(path, **warm)
    assert again.content == first.content and again["X-Page-Cache"] == "BYPASS"
    assert dict(calls.ops) == {"get_many": 1}
    calls = Calls()
    with calls:
        fresh = client.get(path, {"flush-the-cache": bypass_signature(path)})
    assert fresh.status_code == 200
    assert dict(calls.ops) == {"set_many": 1}  # nothing read, every fragment written at once


def test_a_failed_batch_store_does_not_fail_the_page(articles, settings, monkeypatch, caplog):
    """The one place a mock stands in: a cache that raises on set_many (upstack's backends turn a
    lost server into a miss; another backend may raise)."""
    settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "BYPASS_SECRET": "s3cret-for-tests"}

    def broken(*args, **kwargs):
        raise RuntimeError("set_many failed")

    monkeypatch.setattr(caches["templates"], "set_many", broken)
    fresh = RequestFactory().get("/page/", {"flush-the-cache": bypass_signature("/page/")})
    html = render(NESTED, articles, Probe(), fresh)
    assert all(a.title in html for a in articles)
    assert "one set_many failed" in caplog.text
