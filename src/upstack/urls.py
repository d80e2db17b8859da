"""upstack's URLs: ``path("", include("upstack.urls"))`` - ESI fragments at ``/_esi/<name>/`` and
all of a page's at ``/_esi/reader/``, the liveness probe at ``/healthz``, the readiness probe at
``/readyz``, uploads at ``MEDIA_URL`` when ``SERVE_MEDIA`` is on (the local stack) and Prometheus
metrics at ``/metrics`` (internal callers or the metrics token only; not routed without the metrics
extra)."""

import re

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from . import conf
from .edge import contract
from .edge.esi import fragment_view
from .edge.personal import READER_PATH, reader_view
from .health import live_view, ready_view
from .metrics import exporter


def media_patterns(serve_media: bool, media_url: str, media_root) -> list:
    """The local stack's uploads (docs/settings.md: SERVE_MEDIA); cached at the edge like any response."""
    if not (serve_media and media_url.startswith("/") and len(media_url) > 1 and media_root):
        return []
    return [re_path(rf"^{re.escape(media_url.lstrip('/'))}(?P<path>.+)$", serve, {"document_root": media_root},
                    name="upstack-media")]


urlpatterns = [
    path(contract.HEALTH_PATH.lstrip("/"), live_view, name="upstack-live"),
    path(contract.READY_PATH.lstrip("/"), ready_view, name="upstack-ready"),
    path(READER_PATH.lstrip("/"), reader_view, name="upstack-esi-reader"),
    path(contract.ESI_PREFIX.lstrip("/") + "<slug:name>/", fragment_view, name="upstack-esi"),
    *media_patterns(conf.get("SERVE_MEDIA"), settings.MEDIA_URL, settings.MEDIA_ROOT),
]
if exporter():
    urlpatterns.append(path("metrics", exporter().metrics_view, name="upstack-metrics"))
