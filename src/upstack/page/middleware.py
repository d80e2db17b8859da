"""``upstack.page.middleware.UpstackPageMiddleware``: surrogate keys, Cache-Control and the page cache.

Place it before ``SessionMiddleware`` and ``CsrfViewMiddleware``, so that it sees the cookies they
set (a response that sets one is never shared); ``request.user``, set further in, is read on the way
out. For every request it collects the surrogate keys of
what the view reads (``upstack.edge.keys``). On the way out it sets ``Cache-Control`` from one
policy function, the key header for the edge (``UPSTACK["KEY_HEADER"]``, default ``xkey``; the edge
strips it), and ``X-Page-Cache: HIT|MISS|BYPASS``. Anonymous GET/HEAD responses that are safe to
share are stored in the ``pages`` namespace and served from there until a write purges one of
their keys. Thin: decisions are ``upstack.page.policy``; storage is ``upstack.page.store``.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.urls import NoReverseMatch

from .. import conf
from ..cache import batch as fragments
from ..cache.bypass import fresh_render_requested
from ..db import scope as db_scope
from ..edge import contract, fresh, purge
from ..edge import keys as surrogate
from ..edge.esi import edge_processes_esi
from ..errors import bad_request_response
from ..metrics.clients import is_internal
from . import policy, session, store

SKIP_HEADERS = {"set-cookie", "x-page-cache", "content-length"}
FRESH_COOKIE = fresh.COOKIE


class UpstackPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A bad request is answered here, before anything is cached or keyed by it (a 400, one log line).
        problem = policy.request_problem(request.META.get("PATH_INFO", ""), request.META.get("QUERY_STRING", ""))
        try:
            host = request.get_host()
        except DisallowedHost:
            problem = problem or "host not allowed"
        if problem:
            return bad_request_response(request, problem)
        eligible = policy.request_cacheable(request.method, request.COOKIES, settings.SESSION_COOKIE_NAME) and \
            not request.path.startswith((*conf.get("PASS_PATHS"), *contract.NOT_PAGES))
        # A reader who just wrote sees fresh pages even before the purge lands: the edge checked their
        # signed cookie (upstack.edge.fresh) and says so; nobody else may.
        own_write = request.META.get("HTTP_X_UPSTACK_FRESH") == "1" and is_internal(request.META.get("REMOTE_ADDR", ""))
        bypass = eligible and (own_write or fresh_render_requested(request))
        page_key = None
        if eligible:
            drop = [*conf.get("TRACKING_PARAMS"), conf.get("BYPASS_PARAM")]
            # Pages rendered for an ESI edge hold includes where others hold fragments: two variants.
            host += "|esi" if edge_processes_esi(request) else ""
            page_key = policy.cache_key(host, request.path,
                                        policy.normalize_query(request.META.get("QUERY_STRING", ""), drop))
            if not bypass:
                entry = store.get(page_key)
                if entry is not None:
                    return self._from_entry(entry, request.method == "HEAD")
        rendered_at = time.time()
        token, writes = surrogate.start(), purge.track_writes()
        fragments.own(request)  # a fresh render's fragment stores: one set_many for the page
        try:
            response = self.get_response(request)
        finally:
            collected = surrogate.stop(token)
            # Purged pages, or (with the replica router) wrote to the primary: either way the writer
            # reads fresh - from the edge and from the primary - for the window (upstack.db.middleware).
            wrote = purge.stop_tracking(writes) or db_scope.wrote()
            fragments.finish(request)
        user = getattr(request, "user", None)
        cacheable = eligible and policy.response_cacheable(
            response.status_code, response.headers, streaming=response.streaming,
            user_authenticated=bool(user and user.is_authenticated), sets_cookie=bool(response.cookies))
        shared_ttl = policy.shared_ttl(response.status_code, conf.get("PAGE_CACHE_TTL"), conf.get("NOT_FOUND_TTL"))
        if "Cache-Control" not in response.headers or cacheable:
            response["Cache-Control"] = policy.cache_control(cacheable, shared_ttl, conf.get("BROWSER_MAX_AGE"))
        if cacheable and collected and conf.get("KEY_HEADER"):
            response[conf.get("KEY_HEADER")] = surrogate.format_header(collected)
        if eligible and session.marks(response.status_code, response.headers, self._login_path()):
            response[session.HEADER] = session.REQUIRED  # stored with it: a page-cache HIT carries it too
        if cacheable and request.method == "GET" and conf.get("PAGE_CACHE"):
            headers = [(k, v) for k, v in response.items() if k.lower() not in SKIP_HEADERS]
            store.put(page_key, rendered_at, response.status_code, headers, response.content, collected, shared_ttl)
        response["X-Page-Cache"] = "BYPASS" if (bypass or not eligible) else "MISS"
        window = conf.get("FRESH_AFTER_WRITE")
        session_id = self._session_cookie(request, response)
        # Only a write the reader asked for: a GET that writes on the side (a thumbnail made on first
        # view, a counter) must not take them off the edge for the window.
        if window and wrote and session_id and response.status_code < 400 and request.method not in ("GET", "HEAD"):
            response.set_cookie(FRESH_COOKIE, fresh.token(fresh.secret(), session_id, time.time(), window),
                                max_age=window, httponly=True, samesite="Lax", secure=request.is_secure())
        return response

    @staticmethod
    def _login_path() -> str:
        from django.shortcuts import resolve_url

        try:
            return urlsplit(str(resolve_url(settings.LOGIN_URL))).path
        except NoReverseMatch:
            return ""

    @staticmethod
    def _session_cookie(request, response) -> str:
        """The session cookie the browser holds after this response (the fresh cookie is bound to it)."""
        name = settings.SESSION_COOKIE_NAME
        if name in response.cookies:
            return response.cookies[name].value
        return request.COOKIES.get(name, "")

    @staticmethod
    def _from_entry(entry, head: bool) -> HttpResponse:
        _, status, headers, content, _ = entry
        response = HttpResponse(b"" if head else content, status=status)
        for name, value in headers:
            response[name] = value
        response["Content-Length"] = str(len(content))
        response["X-Page-Cache"] = "HIT"
        return response
