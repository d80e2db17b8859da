"""Pages that need the session are marked for the edge (upstack.page.session): a view decorated with
needs_session, and by default a redirect to LOGIN_URL; never a response to a reader with a session."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, HttpResponseRedirect
from django.test import RequestFactory

from upstack.page import session
from upstack.page.middleware import UpstackPageMiddleware


def respond(view, path="/somewhere/", cookies=None):
    request = RequestFactory().get(path, HTTP_HOST="127.0.0.1")
    request.COOKIES.update(cookies or {})
    request.user = AnonymousUser()
    return UpstackPageMiddleware(view)(request)


def plain(request):
    return HttpResponse("page")


def test_a_view_marked_needs_session(settings):
    settings.UPSTACK = {**settings.UPSTACK, "PAGE_CACHE": False}
    assert respond(session.needs_session(plain))[session.HEADER] == session.REQUIRED
    assert session.HEADER not in respond(plain)


def test_a_login_redirect_is_marked_by_default(settings):
    settings.UPSTACK = {**settings.UPSTACK, "PAGE_CACHE": False}
    response = respond(login_required(plain), "/members/")
    assert response.status_code == 302 and response[session.HEADER] == session.REQUIRED
    elsewhere = respond(lambda request: HttpResponseRedirect("/other/?next=/accounts/login/"))
    assert session.HEADER not in elsewhere


def test_a_reader_with_a_session_gets_no_marker(settings):
    settings.UPSTACK = {**settings.UPSTACK, "PAGE_CACHE": False}
    response = respond(login_required(plain), "/members/", cookies={settings.SESSION_COOKIE_NAME: "abc"})
    assert session.HEADER not in response


def test_the_pure_rules():
    assert session.login_redirect(302, "http://site.example/accounts/login/?next=/x/", "/accounts/login/")
    assert session.login_redirect(303, "/accounts/login/", "/accounts/login/")
    assert not session.login_redirect(200, "/accounts/login/", "/accounts/login/")
    assert not session.login_redirect(302, "/accounts/login/extra/", "/accounts/login/")
    assert not session.login_redirect(302, "/accounts/login/", "")
    assert session.marks(200, {session.HEADER: session.REQUIRED}, "/login/")
    assert not session.marks(200, {}, "/login/")
