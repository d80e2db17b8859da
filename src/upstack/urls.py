"""upstack's URLs: ``path("", include("upstack.urls"))`` - ESI fragments at ``/_esi/<name>/`` and
Prometheus metrics at ``/metrics`` (internal callers or the metrics token only)."""

from django.urls import path

from .edge.esi import fragment_view
from .metrics.prometheus import metrics_view

urlpatterns = [
    path("_esi/<slug:name>/", fragment_view, name="upstack-esi"),
    path("metrics", metrics_view, name="upstack-metrics"),
]
