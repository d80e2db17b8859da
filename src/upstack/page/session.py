"""Pages that need the reader's session, marked for the edge.

The edge serves every reader the shared, anonymous page: it sets their cookies aside (per-user parts
come through ESI). A page that is different for a logged-in reader as a whole - a login-only page,
a CMS page with the editor's toolbar, a page that greets the reader - says so with the response
header ``X-Upstack-Session: required``. The edge then asks Django again for a reader who has a session,
with their cookies, and never shares that answer; readers without a session get the shared page.

How a page says so:
- :func:`needs_session` on a view (or the header set by any code);
- by default, a redirect to ``settings.LOGIN_URL`` (``login_required``, a CMS's private pages):
  a logged-in reader must not be sent to the login form because the edge hid their session;
- ``UPSTACK["PASS_PATHS"]`` for whole path prefixes, which the edge passes with cookies at once.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

HEADER = "X-Upstack-Session"
REQUIRED = "required"


def needs_session(view):
    """Mark a view's responses as needing the reader's session (see the module docstring)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response[HEADER] = REQUIRED
        return response

    return wrapped


def login_redirect(status: int, location: str, login_path: str) -> bool:
    """Whether a response sends the reader to the login page (its path, any host or query)."""
    return status in (301, 302, 303, 307, 308) and bool(location) and bool(login_path) and \
        urlsplit(location).path == login_path


def marks(status: int, headers, login_path: str) -> bool:
    """Whether a response to a request without a session needs the session marker."""
    return headers.get(HEADER) == REQUIRED or login_redirect(status, headers.get("Location", ""), login_path)
