"""The page cache: anonymous GET/HEAD stored and purged by key; never a cookie-setting or per-user
response; tracking parameters normalised; one Cache-Control policy."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from newsroom.news.models import Article, Comment
from upstack.edge import fresh
from upstack.page import policy, store

pytestmark = pytest.mark.django_db(transaction=True)  # purges run on commit


@pytest.fixture(autouse=True)
def seeded(monkeypatch):
    monkeypatch.setattr(store, "MARGIN", 0.0)  # the seed's purges are not "racing" these renders
    call_command("seed", articles=10, users=3, comments=20, no_progress=True, verbosity=0)
    seeded_at = time.time()
    while time.time() <= seeded_at:  # the next render begins strictly after the seed's purges
        pass


def get(client, url, **extra):
    return client.get(url, HTTP_HOST="127.0.0.1", **extra)


def test_anonymous_pages_are_stored_and_purged_by_key(client):
    article = Article.objects.published().first()
    url = article.get_absolute_url()
    first, second = get(client, url), get(client, url)
    assert (first["X-Page-Cache"], second["X-Page-Cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    assert first["Cache-Control"] == "public, max-age=0, s-maxage=3600"
    assert client.head(url, HTTP_HOST="127.0.0.1")["X-Page-Cache"] == "HIT"
    Comment.objects.create(article=article, user=User.objects.first(), body="a brand new comment")
    third = get(client, url)
    assert third["X-Page-Cache"] == "MISS" and "a brand new comment" in third.content.decode()


def test_tracking_parameters_do_not_split_the_cache(client):
    assert get(client, "/?utm_source=news&fbclid=1")["X-Page-Cache"] == "MISS"
    assert get(client, "/")["X-Page-Cache"] == "HIT"
    assert get(client, "/sections/no-such-section/?utm_medium=x")["X-Page-Cache"] == "MISS"


def test_responses_that_set_cookies_or_depend_on_the_user_are_never_stored(client, django_user_model):
    login = get(client, "/accounts/login/")
    assert login["X-Page-Cache"] == "BYPASS" and login.cookies  # the CSRF token (in the session) sets a cookie
    assert get(client, "/accounts/login/")["X-Page-Cache"] == "BYPASS"
    user = django_user_model.objects.create_user("pc-reader", password="pw-for-tests-1")
    client.force_login(user)
    article = Article.objects.published().first()
    mine = get(client, article.get_absolute_url())
    assert mine["X-Page-Cache"] == "BYPASS" and mine["Cache-Control"] == "private, no-cache"
    assert "pc-reader" in mine.content.decode()
    anonymous = get(Client(), article.get_absolute_url())
    assert "pc-reader" not in anonymous.content.decode() and "xkey" in anonymous


def test_the_bypass_parameter_only_for_trusted_callers(client, settings):
    settings.UPSTACK = {**settings.UPSTACK, "BYPASS_SECRET": "secret-for-tests"}
    from upstack.cache.bypass import bypass_signature

    get(client, "/")
    assert get(client, "/?flush-the-cache=1")["X-Page-Cache"] == "HIT"  # ignored for outsiders
    assert get(client, f"/?flush-the-cache={bypass_signature('/')}")["X-Page-Cache"] == "BYPASS"


def test_policy_functions():
    assert policy.normalize_query("b=2&utm_source=x&a=1&flush-the-cache=1", ["utm_*", "flush-the-cache"]) == "a=1&b=2"
    assert policy.request_cacheable("GET", {}, "sessionid")
    assert not policy.request_cacheable("GET", {"sessionid": "x"}, "sessionid")
    assert not policy.request_cacheable("POST", {}, "sessionid")
    ok = dict(streaming=False, user_authenticated=False, sets_cookie=False)
    assert policy.response_cacheable(200, {"Vary": "Cookie"}, **ok)
    assert not policy.response_cacheable(200, {"Cache-Control": "private"}, **ok)
    assert not policy.response_cacheable(200, {"Vary": "User-Agent"}, **ok)
    assert not policy.response_cacheable(500, {}, **ok)
    assert not policy.response_cacheable(200, {}, **{**ok, "sets_cookie": True})
    assert policy.cache_control(False, 3600, 0) == "private, no-cache"


def test_a_reader_sees_their_own_write_before_any_purge(client, settings, django_user_model):
    """Purges may lag (a worker); the writer's next views are rendered fresh thanks to a short cookie,
    signed and bound to their session, which the edge checks and turns into X-Upstack-Fresh."""
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_BACKENDS": {}}  # no purge will ever arrive
    article = Article.objects.published().first()
    url = article.get_absolute_url()
    get(client, url)
    assert get(client, url)["X-Page-Cache"] == "HIT"
    user = django_user_model.objects.create_user("writer", password="pw-for-tests-1")
    client.force_login(user)
    posted = client.post(url + "comments/", {"body": "my own fresh comment"}, HTTP_HOST="127.0.0.1")
    cookie = posted.cookies["upstack_fresh"]
    assert posted.status_code == 302 and cookie["max-age"] == 5
    assert fresh.valid(fresh.secret(), cookie.value, client.cookies["sessionid"].value, time.time(), 5)
    client.logout()
    # The cookie alone is nobody's say-so here (anyone can send one) ...
    client.cookies["upstack_fresh"] = cookie.value
    assert get(client, url)["X-Page-Cache"] == "HIT"
    del client.cookies["upstack_fresh"]
    # ... nor is the edge's header from outside; from the edge (an internal address) it is.
    assert get(client, url, HTTP_X_UPSTACK_FRESH="1", REMOTE_ADDR="203.0.113.5")["X-Page-Cache"] == "HIT"
    mine = get(client, url, HTTP_X_UPSTACK_FRESH="1")
    assert mine["X-Page-Cache"] == "BYPASS" and "my own fresh comment" in mine.content.decode()
    assert get(client, url)["X-Page-Cache"] == "HIT"  # the fresh render also refreshed the shared copy
    assert "my own fresh comment" in get(client, url).content.decode()


def test_a_get_that_writes_on_the_side_sets_no_fresh_cookie(settings, django_user_model):
    """A page view that writes (a read counter, a thumbnail made on first view) is not the reader's
    own write: no fresh cookie, so the edge keeps serving them shared pages. A POST that writes gets one."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from upstack.page.middleware import UpstackPageMiddleware

    user = django_user_model.objects.create_user("viewer", password="pw-for-tests-1")
    article = Article.objects.published().first()

    def writing_view(request):
        Comment.objects.create(article=article, user=user, body=f"a write by {request.method}")
        return HttpResponse("done")

    for method, expected in (("get", False), ("post", True)):
        request = getattr(RequestFactory(), method)("/anything/", HTTP_HOST="127.0.0.1")
        request.COOKIES[settings.SESSION_COOKIE_NAME] = "a-session"
        request.user = user
        response = UpstackPageMiddleware(writing_view)(request)
        assert ("upstack_fresh" in response.cookies) is expected, method
