from django.http import HttpResponse
from django.urls import include, path

from tests.inheritance_app.models import Page


def page(request, slug):
    return HttpResponse(Page.objects.get(slug=slug).title)


urlpatterns = [path("", include("upstack.urls")), path("p/<slug:slug>/", page)]
