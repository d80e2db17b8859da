"""upstack's URLs: ``path("", include("upstack.urls"))`` - ESI fragments at ``/_esi/<name>/`` and
all of a page's at ``/_esi/reader/``, the
readiness probe at ``/readyz`` and Prometheus metrics at ``/metrics`` (internal callers or the
metrics token only; not routed without the metrics extra)."""

from django.urls import path

from .edge.esi import fragment_view
from .edge.personal import reader_view
from .health import ready_view
from .metrics import exporter

urlpatterns = [
    path("readyz", ready_view, name="upstack-ready"),
    path("_esi/reader/", reader_view, name="upstack-esi-reader"),
    path("_esi/<slug:name>/", fragment_view, name="upstack-esi"),
]
if exporter():
    urlpatterns.append(path("metrics", exporter().metrics_view, name="upstack-metrics"))
