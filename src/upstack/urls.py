"""upstack's URLs: ``path("", include("upstack.urls"))`` - ESI fragments at ``/_esi/<name>/``,
Prometheus metrics at ``/metrics`` (internal callers or the metrics token only) and the readiness
probe at ``/readyz``."""

from django.urls import path

from .edge.esi import fragment_view
from .health import ready_view
from .metrics.prometheus import metrics_view

urlpatterns = [
    path("readyz", ready_view, name="upstack-ready"),
    path("_esi/<slug:name>/", fragment_view, name="upstack-esi"),
    path("metrics", metrics_view, name="upstack-metrics"),
]
