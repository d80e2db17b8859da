"""Liveness (``/healthz``) and readiness (``/readyz``), both routed by ``upstack.urls``.

Liveness says the process answers; load balancers use it, so a database outage does not take every
edge node out of rotation. Readiness says the app can serve pages: it also asks the database.
Varnish probes it, so while the database is down its backends are sick and grace serves the last
good copy of every page instead of trying.
"""

from __future__ import annotations

from django.db import DatabaseError, connections
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def database_ready(alias: str = "default") -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        connections[alias].close_if_unusable_or_obsolete()
        return False


@never_cache
@require_GET
def live_view(request):
    """The process answers: no database, no cache, no session."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def ready_view(request):
    if database_ready():
        return HttpResponse("ready\n", content_type="text/plain")
    return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
