"""shelf's URLs: the catalogue, the login views, the admin, and upstack's (docs/adopting.md, step 3)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from catalog import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.ItemList.as_view(), name="items"),
    path("books/", views.BookList.as_view(), name="books"),
    path("items/<slug:slug>/", views.ItemDetail.as_view(), name="item"),
    path("items/<slug:slug>/cover/", views.CoverUpload.as_view(), name="cover"),
    path("my-shelf/", views.MyShelf.as_view(), name="my-shelf"),
    path("api/items.json", views.ItemsApi.as_view(), name="api-items"),
]

# docs/adopting.md, step 3.
from django.urls import include  # noqa: E402

urlpatterns += [path("", include("upstack.urls"))]
