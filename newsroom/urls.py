"""Root URLconf. Paths here are stable: later work and external checks depend on them."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("newsroom.news.urls")),
]
