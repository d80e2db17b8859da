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

from django.conf import settings
from django.http import HttpResponse

from .. import conf
from ..cache.bypass import fresh_render_requested
from ..edge import keys as surrogate
from ..edge import purge
from ..edge.esi import edge_processes_esi
from . import policy, store

SKIP_HEADERS = {"set-cookie", "x-page-cache", "content-length"}
FRESH_COOKIE = "upstack_fresh"


class UpstackPageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        eligible = policy.request_cacheable(request.method, request.COOKIES, settings.SESSION_COOKIE_NAME) and \
            not request.path.startswith((*conf.get("PASS_PATHS"), "/_esi/", "/healthz"))
        # A reader who just wrote sees fresh pages (the cookie) even before the purge lands.
        own_write = FRESH_COOKIE in request.COOKIES or request.META.get("HTTP_X_UPSTACK_FRESH") == "1"
        bypass = eligible and (own_write or fresh_render_requested(request))
        page_key = None
        if eligible:
            drop = [*conf.get("TRACKING_PARAMS"), conf.get("BYPASS_PARAM")]
            # Pages rendered for an ESI edge hold includes where others hold fragments: two variants.
            host = request.get_host() + ("|esi" if edge_processes_esi(request) else "")
            page_key = policy.cache_key(host, request.path,
                                        policy.normalize_query(request.META.get("QUERY_STRING", ""), drop))
            if not bypass:
                entry = store.get(page_key)
                if entry is not None:
                    return self._from_entry(entry, request.method == "HEAD")
        rendered_at = time.time()
        token, writes = surrogate.start(), purge.track_writes()
        try:
            response = self.get_response(request)
        finally:
            collected = surrogate.stop(token)
            wrote = purge.stop_tracking(writes)
        user = getattr(request, "user", None)
        cacheable = eligible and policy.response_cacheable(
            response.status_code, response.headers, streaming=response.streaming,
            user_authenticated=bool(user and user.is_authenticated), sets_cookie=bool(response.cookies))
        if "Cache-Control" not in response.headers or cacheable:
            response["Cache-Control"] = policy.cache_control(cacheable, conf.get("PAGE_CACHE_TTL"),
                                                             conf.get("BROWSER_MAX_AGE"))
        if cacheable and collected and conf.get("KEY_HEADER"):
            response[conf.get("KEY_HEADER")] = surrogate.format_header(collected)
        if cacheable and request.method == "GET" and conf.get("PAGE_CACHE"):
            headers = [(k, v) for k, v in response.items() if k.lower() not in SKIP_HEADERS]
            store.put(page_key, rendered_at, response.status_code, headers, response.content, collected,
                      conf.get("PAGE_CACHE_TTL"))
        response["X-Page-Cache"] = "BYPASS" if (bypass or not eligible) else "MISS"
        window = conf.get("FRESH_AFTER_WRITE")
        if window and wrote and response.status_code < 400:
            response.set_cookie(FRESH_COOKIE, "1", max_age=window, httponly=True, samesite="Lax",
                                secure=request.is_secure())
        return response

    @staticmethod
    def _from_entry(entry, head: bool) -> HttpResponse:
        _, status, headers, content, _ = entry
        response = HttpResponse(b"" if head else content, status=status)
        for name, value in headers:
            response[name] = value
        response["Content-Length"] = str(len(content))
        response["X-Page-Cache"] = "HIT"
        return response
