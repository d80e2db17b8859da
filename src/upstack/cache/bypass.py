"""The "fresh render" switch: ``?flush-the-cache`` re-renders every fragment
of a page, but only for staff users or for requests signed with ``UPSTACK["BYPASS_SECRET"]``; for
everyone else the parameter is ignored, so it cannot be used to knock the caches over.

A signed request carries ``?<param>=<signature>`` where the signature is
``bypass_signature(path)``, an HMAC of the path (scripts and monitoring use it).
"""

from __future__ import annotations

from django.utils.crypto import constant_time_compare, salted_hmac

from .. import conf

_ATTR = "_upstack_fresh_render"


def bypass_signature(path: str, secret: str | None = None) -> str:
    secret = secret if secret is not None else conf.get("BYPASS_SECRET")
    if not secret:
        raise ValueError("UPSTACK['BYPASS_SECRET'] is empty: signed bypass requests are switched off")
    return salted_hmac("upstack.bypass", path, secret=secret, algorithm="sha256").hexdigest()[:32]


def _decide(request) -> bool:
    param = conf.get("BYPASS_PARAM")
    if request is None or param not in request.GET:
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    secret = conf.get("BYPASS_SECRET")
    return bool(secret) and constant_time_compare(request.GET.get(param, ""), bypass_signature(request.path, secret))


def fresh_render_requested(request) -> bool:
    """True when this request may, and asks to, bypass the caches (decided once per request)."""
    if request is None:
        return False
    if not hasattr(request, _ATTR):
        setattr(request, _ATTR, _decide(request))
    return getattr(request, _ATTR)
