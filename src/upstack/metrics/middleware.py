"""``upstack.metrics.middleware.RequestMetricsMiddleware``: the per-request breakdown, exposed three
ways - a ``Server-Timing`` header for trusted callers, one JSON log line, and Prometheus metrics.

Put it first in MIDDLEWARE so it measures everything below it. The request id is the edge's
``X-Request-ID`` when the caller is internal, else a new one; it is echoed in the response.
Trusted for Server-Timing (``UPSTACK["SERVER_TIMING"]``: "trusted" by default, or "always"/"never"):
internal addresses and staff users. The edge strips the header for outsiders.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack

from django.db import connections

from .. import conf
from . import collector, exporter
from .clients import client_ip, is_internal

logger = logging.getLogger("upstack.request")
PARTS = ("sql", "cache", "template", "http", "python")


def _request_id(request, internal: bool) -> str:
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if internal and given and len(given) <= 64 and given.replace("-", "").isalnum():
        return given
    return uuid.uuid4().hex


def server_timing(parts: dict) -> str:
    items = [f"{part};dur={parts[part] * 1000:.2f}" for part in PARTS]
    items.append(f"total;dur={parts['total'] * 1000:.2f}")
    items.append(f'sql-count;desc="{parts["sql_count"]} queries"')
    return ", ".join(items)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        collector.install()

    def __call__(self, request):
        metrics = exporter()
        # The request id comes from the proxy in front (an internal peer); Server-Timing goes only to
        # callers who are internal themselves, wherever they came through.
        request.request_id = _request_id(request, is_internal(request.META.get("REMOTE_ADDR", "")))
        internal = is_internal(client_ip(request))
        token = collector.start()
        if metrics:
            metrics.IN_FLIGHT.inc()
        try:
            with ExitStack() as stack:
                for connection in connections.all():
                    stack.enter_context(connection.execute_wrapper(collector.sql_wrapper))
                response = self.get_response(request)
            parts = collector.current().breakdown()
        finally:
            collector.stop(token)
            if metrics:
                metrics.IN_FLIGHT.dec()
        match = getattr(request, "resolver_match", None)
        page_cache = response.get("X-Page-Cache")
        view = (match.view_name or match._func_path) if match else ("page-cache" if page_cache == "HIT" else "unresolved")
        user = getattr(request, "user", None)
        authenticated = bool(user is not None and user.is_authenticated)
        response["X-Request-ID"] = request.request_id
        mode = conf.get("SERVER_TIMING")
        if mode == "always" or (mode == "trusted" and (internal or (authenticated and user.is_staff))):
            response["Server-Timing"] = server_timing(parts)
        logger.info("request", extra={
            "request_id": request.request_id, "method": request.method, "path": request.path, "view": view,
            "status": response.status_code, "user": user.pk if authenticated else "anonymous",
            "duration_ms": round(parts["total"] * 1000, 2),
            "breakdown_ms": {part: round(parts[part] * 1000, 2) for part in PARTS},
            "sql_count": parts["sql_count"], "cache_count": parts["cache_count"], "page_cache": page_cache,
            **({"rejected": request.upstack_rejected} if hasattr(request, "upstack_rejected") else {}),
        })
        if metrics:
            metrics.observe_request(view, response.status_code, parts, page_cache)
        return response
