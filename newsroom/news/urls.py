"""The newsroom's URLs. These paths are stable: later work and external checks depend on them."""

from django.contrib.sitemaps.views import sitemap
from django.urls import path

from . import views
from .feeds import LatestFeed
from .sitemaps import SITEMAPS

app_name = "news"

urlpatterns = [
    path("", views.home, name="home"),
    path("sections/<slug:slug>/", views.section, name="section"),
    path("tags/<slug:slug>/", views.tag, name="tag"),
    path("authors/<slug:slug>/", views.author, name="author"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("articles/<slug:slug>/comments/", views.comment_create, name="comment"),
    path("articles/<slug:slug>/like/", views.like, name="like"),
    path("articles/<slug:slug>/edit/", views.edit, name="edit"),
    path("search/", views.search, name="search"),
    path("feed/", LatestFeed(), name="feed"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path("api/most-read.json", views.most_read_json, name="most_read"),
]
