"""Root URLconf. Paths here are stable: later work and external checks depend on them."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("upstack.urls")),
    path("", include("newsroom.news.urls")),
]

# Error pages that need no session, CSRF or database (upstack.errors).
handler400 = "upstack.errors.bad_request"
handler403 = "upstack.errors.permission_denied"
handler404 = "upstack.errors.page_not_found"
handler500 = "upstack.errors.server_error"
