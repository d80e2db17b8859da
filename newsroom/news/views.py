from django.http import HttpResponse
from django.shortcuts import render


def healthz(request):
    """Liveness for load balancers and Varnish probes: no database, no cache, no session."""
    return HttpResponse("ok\n", content_type="text/plain")


def home(request):
    return render(request, "news/home.html", {})
