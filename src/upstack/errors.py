"""Error pages that cannot fail: ``handler400``, ``handler404`` and ``handler500`` for the project's URLconf.

Django's own handlers run the CSRF machinery (``requires_csrf_token``), which with
``CSRF_USE_SESSIONS`` needs ``request.session`` - absent when the error came from a middleware that
runs before the session one (a bad ``Host`` seen by the page cache). Then the 400 itself raised, and
a bad request became a 500 with a chain of tracebacks. These render ``upstack/error.html`` (override
it in the site's templates) from its status alone: no request context, no session, no database.

``bad_request_response`` is the one place an upstack middleware turns a bad request into a 400 with
exactly one log line and no traceback: the request line (``upstack.metrics``) carries the reason,
and Django's own "Bad Request" warning is not repeated.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

PAGES = {
    400: ("Bad request", "The address or the request was not understood."),
    403: ("Forbidden", "This page is not available to you."),
    404: ("Page not found", "There is no page at this address."),
    500: ("Something went wrong", "The page could not be shown. Please try again in a moment."),
}


def error_response(status: int) -> HttpResponse:
    title, message = PAGES[status]
    try:
        html = render_to_string("upstack/error.html", {"status": status, "title": title, "message": message})
    except TemplateDoesNotExist:  # a project without upstack's templates (the plain profile)
        html = f"<!doctype html><title>{status} {title}</title><h1>{title}</h1><p>{message}</p>"
    response = HttpResponse(html, status=status)
    if status != 404:  # a 404 may be shared briefly (UPSTACK["NOT_FOUND_TTL"]); other errors never
        response["Cache-Control"] = "private, no-cache"
    return response


def bad_request_response(request, reason: str) -> HttpResponse:
    request.upstack_rejected = reason
    response = error_response(400)
    response._has_been_logged = True  # django.utils.log.log_response: the request line says it all
    return response


def bad_request(request, exception=None):
    return error_response(400)


def permission_denied(request, exception=None):
    return error_response(403)


def page_not_found(request, exception=None):
    return error_response(404)


def server_error(request):
    return error_response(500)
