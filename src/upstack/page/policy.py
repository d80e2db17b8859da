"""Pure page-cache and Cache-Control policy: may this request be served from, and this response
stored in, a shared cache; under which key; with which Cache-Control."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from urllib.parse import parse_qsl, urlencode

CACHEABLE_STATUS = {200, 301, 404}
ALLOWED_VARY = {"cookie", "accept-encoding", "accept-language", ""}


def normalize_query(query_string: str, drop: list[str]) -> str:
    """Sorted parameters without tracking ones (``utm_*``, ``fbclid``...) or the bypass parameter; a
    repeated parameter keeps only its last value, the one Django's ``request.GET[...]`` reads - so two
    queries share a key only when the page reads the same values. The edge's VCL does the same."""
    last = {}
    for k, v in parse_qsl(query_string, keep_blank_values=True):
        if not any(fnmatch.fnmatchcase(k, pattern) for pattern in drop):
            last.pop(k, None)
            last[k] = v
    return urlencode(sorted(last.items()))


def request_problem(path: str, query_string: str) -> str | None:
    """Why a request is malformed (a NUL byte, a broken %-escape in the query), or None."""
    if "\x00" in path or "%00" in query_string or "\x00" in query_string:
        return "NUL byte"
    if re.search(r"%(?![0-9A-Fa-f]{2})", query_string):
        return "broken %-escape in the query"
    return None


def shared_ttl(status: int, page_ttl: int, not_found_ttl: int) -> int:
    """A 404 is shared only briefly: it may be wrong a minute later, and no purge reaches it."""
    return min(page_ttl, not_found_ttl) if status == 404 else page_ttl


def cache_key(host: str, path: str, query: str) -> str:
    digest = hashlib.sha256(f"{host}|{path}|{query}".encode()).hexdigest()[:40]
    return f"page:{digest}"


def request_cacheable(method: str, cookies: dict, session_cookie: str) -> bool:
    """Anonymous GET/HEAD only: a request with a session cookie may see per-user content."""
    return method in ("GET", "HEAD") and session_cookie not in cookies


def response_cacheable(status: int, headers: dict, *, streaming: bool, user_authenticated: bool,
                       sets_cookie: bool) -> bool:
    if streaming or user_authenticated or sets_cookie or status not in CACHEABLE_STATUS:
        return False
    control = headers.get("Cache-Control", "").lower()
    if any(word in control for word in ("private", "no-store", "no-cache")):
        return False
    vary = {v.strip().lower() for v in headers.get("Vary", "").split(",")}
    return vary <= ALLOWED_VARY


def cache_control(cacheable: bool, shared_ttl: int, browser_ttl: int) -> str:
    """Shared caches keep the page (purged on writes); browsers only briefly, or privately."""
    if cacheable:
        return f"public, max-age={browser_ttl}, s-maxage={shared_ttl}"
    return "private, no-cache"
