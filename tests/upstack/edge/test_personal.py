"""The combined per-reader include (upstack.edge.personal) and its lean path (upstack.edge.lean):
the query format, slots, one include per page, the cached user and what invalidates it."""

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.test import RequestFactory

from upstack.edge import esi, lean, personal


def test_include_query_round_trips_and_is_sorted():
    parts = {"userbar": {"next": "/a b/?x=1&y"}, "like": {"article": "12"}, "badge": {}}
    query = personal.include_query(parts)
    assert query == "badge&like.article=12&userbar.next=%2Fa%20b%2F%3Fx%3D1%26y"
    from django.http import QueryDict

    assert personal.parse_query(QueryDict(query).dict()) == parts


@pytest.mark.parametrize("query", [{}, {".x": "1"}, {"like.": "1"}])
def test_bad_reader_queries_are_refused(query):
    with pytest.raises(ValueError):
        personal.parse_query(query)


def test_a_part_name_that_would_break_the_query_is_refused():
    with pytest.raises(ValueError, match="part names"):
        personal.include_query({"a.b": {}})


def test_reader_is_a_reserved_fragment_name():
    with pytest.raises(ValueError, match="reserved"):
        esi.register("reader", "x.html")


def test_slots_record_parts_and_the_page_gets_one_include():
    esi.register("t-userbar", "t.html")
    esi.register("t-like", "t.html")
    request = RequestFactory().get("/")
    assert personal.reader_include(request) == ""  # no slot, no include
    assert personal.slot(request, "t-like", {"article": 7}) == '<span hidden data-upstack-slot="t-like"></span>'
    personal.slot(request, "t-userbar", {})
    personal.slot(request, "t-like", {"article": 7})  # the same part again: fine
    html = personal.reader_include(request)
    assert html.count("<esi:include") == 1
    assert 'src="/_esi/reader/?t-like.article=7&amp;t-userbar"' in html and personal.PLACE_SCRIPT in html
    with pytest.raises(ValueError, match="twice"):
        personal.slot(request, "t-like", {"article": 8})
    with pytest.raises(LookupError):
        personal.slot(request, "t-nope", {})


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("lean", password="lean-pass-123", first_name="Lean")


def _session_request(client, user):
    client.force_login(user)
    request = RequestFactory().get("/_esi/reader/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
    return request


def test_the_cached_user_is_used_while_it_matches_the_session(client, user, django_assert_num_queries):
    request = _session_request(client, user)
    assert lean.cached_user(request) == user  # loaded once, then cached
    with django_assert_num_queries(0):
        assert lean.cached_user(request).first_name == "Lean"
    assert caches["sessions"].get(lean.user_key(user.pk)) is not None


def test_a_password_change_elsewhere_logs_the_session_out_as_django_does(client, user,
                                                                         django_capture_on_commit_callbacks):
    request = _session_request(client, user)
    assert lean.cached_user(request).is_authenticated
    user.set_password("another-pass-456")
    with django_capture_on_commit_callbacks(execute=True):
        user.save()
    assert caches["sessions"].get(lean.user_key(user.pk)) is None  # the save dropped the copy
    assert isinstance(lean.cached_user(request), AnonymousUser)


def test_a_deactivated_user_is_anonymous_at_once(client, user, django_capture_on_commit_callbacks):
    request = _session_request(client, user)
    assert lean.cached_user(request).is_authenticated
    user.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        user.save()
    assert not lean.cached_user(request).is_authenticated


def test_no_session_is_anonymous_without_a_cache_read(db):
    request = RequestFactory().get("/_esi/reader/")
    request.session = {}
    assert isinstance(lean.cached_user(request), AnonymousUser)


def test_the_lean_path_serves_includes_and_leaves_other_requests_alone(rf, db):
    from django.http import HttpResponse

    passed = []
    middleware = lean.LeanFragmentMiddleware(lambda request: passed.append(request.path) or HttpResponse("rest"))
    assert middleware(rf.get("/articles/x/")).content == b"rest" and passed == ["/articles/x/"]
    request = rf.get("/_esi/reader/?userbar")  # the newsroom's part
    response = middleware(request)
    assert passed == ["/articles/x/"]  # the include never went down MIDDLEWARE
    assert response.status_code == 200 and b'data-upstack-part="userbar"' in response.content
    assert request.resolver_match.view_name == "upstack-esi-reader"
    assert not request.user.is_authenticated  # no session: anonymous, without a cache read


def test_an_inactive_cached_copy_is_refused_as_django_refuses_an_inactive_user(client, user):
    request = _session_request(client, user)
    assert lean.cached_user(request).is_authenticated
    stale = caches["sessions"].get(lean.user_key(user.pk))
    stale.is_active = False  # e.g. a copy cached just before a deactivation whose drop was lost
    caches["sessions"].set(lean.user_key(user.pk), stale)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal: the copy stays
    assert not lean.cached_user(request).is_authenticated


@pytest.fixture
def purged(settings):
    from upstack.edge.backends import dummy

    settings.UPSTACK = {**settings.UPSTACK, "PURGE_REPEAT_AFTER": 0, "PURGE_IN_WORKER": True,
                        "PURGE_BACKENDS": {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    dummy.purged.clear()
    yield lambda: {key for batch in dummy.purged for key in batch}
    dummy.purged.clear()


def test_logout_purges_the_readers_kept_includes_from_this_process(client, user, purged, monkeypatch):
    from upstack import tasks

    monkeypatch.setattr(tasks, "broker_configured", lambda: True)  # a worker exists: logout must not wait for it
    monkeypatch.setattr(tasks, "enqueue_purge", lambda *a, **k: pytest.fail("the logout purge went to the worker"))
    client.force_login(user)
    client.post("/accounts/logout/")
    assert personal.reader_key(user.pk) in purged()


def test_user_saves_purge_the_include_unless_only_ignored_fields_changed(user, monkeypatch):
    from upstack.edge import purge

    queued = []  # what the purge pipeline is given (its delivery after commit is tested in test_purge)
    monkeypatch.setattr(purge, "add", lambda keys, using=None: queued.extend(keys))
    user.save(update_fields=["last_login"])  # EDGE_IGNORED_FIELDS: a login
    assert personal.reader_key(user.pk) not in queued
    user.first_name = "Renamed"
    user.save()
    assert personal.reader_key(user.pk) in queued
