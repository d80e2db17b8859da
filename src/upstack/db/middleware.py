"""``upstack.db.middleware.ReplicaMiddleware``: opens the request's read scope (``upstack.db.scope``).

Place it first in ``MIDDLEWARE``, before ``UpstackPageMiddleware``. A client whose signed
``upstack_fresh`` cookie (``upstack.edge.fresh``: bound to its session, valid ``FRESH_AFTER_WRITE``
seconds after a write) is good reads from the primary for the whole request; so does the rest of any
request once it has written. The page middleware gives that cookie after a request that wrote to the
database through the router, not only after one that purged pages, so the writer's next requests -
within the window - read their own writes even while the replica lags. The edge refetches such a
writer's page without cookies (the fresh copy becomes the shared one) and says so with
``X-Upstack-Fresh: 1``, believed from an insider only, as the page middleware does: that render reads
from the primary too (it read the lagging replica, and the edge stored the stale page for everyone -
found by ``make drill-hosts``).
"""

from __future__ import annotations

import time

from django.conf import settings

from .. import conf
from ..edge import fresh
from ..metrics.clients import is_internal
from . import scope


def recently_wrote(cookies: dict, now: float) -> bool:
    """The client holds a valid read-your-own-writes cookie for its session."""
    window = conf.get("FRESH_AFTER_WRITE")
    value, session = cookies.get(fresh.COOKIE, ""), cookies.get(settings.SESSION_COOKIE_NAME, "")
    return bool(window and value) and fresh.valid(fresh.secret(), value, session, now, window)


def edge_says_fresh(meta: dict) -> bool:
    """The edge checked the writer's cookie and refetches the page for them (``X-Upstack-Fresh``)."""
    return meta.get("HTTP_X_UPSTACK_FRESH") == "1" and is_internal(meta.get("REMOTE_ADDR", ""))


class ReplicaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = scope.begin(pinned=recently_wrote(request.COOKIES, time.time()) or edge_says_fresh(request.META))
        try:
            return self.get_response(request)
        finally:
            scope.end(token)
