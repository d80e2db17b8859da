"""upstack's URLs: ``path("", include("upstack.urls"))`` - ESI fragments at ``/_esi/<name>/``, the
liveness probe at ``/healthz``, the readiness probe at ``/readyz`` and Prometheus metrics at ``/metrics`` (internal callers or the
metrics token only; not routed without the metrics extra)."""

from django.urls import path

from .edge.esi import fragment_view
from .health import live_view, ready_view
from .metrics import exporter

urlpatterns = [
    path("healthz", live_view, name="upstack-live"),
    path("readyz", ready_view, name="upstack-ready"),
    path("_esi/<slug:name>/", fragment_view, name="upstack-esi"),
]
if exporter():
    urlpatterns.append(path("metrics", exporter().metrics_view, name="upstack-metrics"))
