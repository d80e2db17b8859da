"""upstack's URLs: ``path("", include("upstack.urls"))`` - the ESI fragments at ``/_esi/<name>/``."""

from django.urls import path

from .edge.esi import fragment_view

urlpatterns = [path("_esi/<slug:name>/", fragment_view, name="upstack-esi")]
