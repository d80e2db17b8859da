"""The lean path for the edge's per-reader includes (``/_esi/``, upstack.edge.personal).

An include is a whole Django request per logged-in page view, and most of ``MIDDLEWARE`` does
nothing for it. ``LeanFragmentMiddleware``, placed first (or right after the request metrics),
serves ``/_esi/`` through Django's own session and CSRF middleware only, and sets ``request.user``
from a cached copy of the user: one cache read (the session cache) instead of a database query
(or the query cache's SQL compilation) per include.

The cached user is checked exactly as ``django.contrib.auth.get_user`` checks a loaded one - the
session's backend must still be configured and its auth hash must match the user's, so a password
change still logs other sessions out - and anything else (no cached copy, a mismatch) goes to
``get_user`` itself. A save or delete of the user drops the copy (``install``), so a deactivated
account, a new name or a new password is seen at once. Django has no cached-user hook, hence this
small module.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.urls import resolve
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from .esi import PREFIX

# Seconds a cached user lives without a save. Saves drop it at once; a drop lost to a cache outage
# leaves the old copy believed for at most this long (the copy carries the old auth hash).
USER_TTL = 300


def user_key(user_id) -> str:
    return f"upstack:reader:{user_id}"


def _cache():
    return caches[getattr(settings, "SESSION_CACHE_ALIAS", "default")]


def cached_user(request):
    """``request.user`` for an include: the cached copy when it still matches the session."""
    session = request.session
    if SESSION_KEY not in session:
        return AnonymousUser()
    if session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return get_user(request)
    key = user_key(session[SESSION_KEY])
    user = _cache().get(key)
    if (user is not None and getattr(user, "is_active", True)  # as ModelBackend.get_user refuses inactive users
            and constant_time_compare(session.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash())):
        return user
    user = get_user(request)  # Django decides (and flushes a session that no longer matches)
    if user.is_authenticated:
        _cache().set(key, user, USER_TTL)
    return user


def forget_user(sender, instance, **kwargs) -> None:
    transaction.on_commit(lambda: _cache().delete(user_key(instance.pk)), robust=True)


def install() -> None:
    """Drop a user's cached copy whenever the user is saved or deleted (from ``AppConfig.ready``)."""
    model = get_user_model()
    post_save.connect(forget_user, sender=model, dispatch_uid="upstack.edge.lean.save")
    post_delete.connect(forget_user, sender=model, dispatch_uid="upstack.edge.lean.delete")


def _view(request):
    request.user = SimpleLazyObject(lambda: cached_user(request))
    match = resolve(request.path_info)
    request.resolver_match = match  # the request metrics name the view by it
    return match.func(request, *match.args, **match.kwargs)


class LeanFragmentMiddleware:
    """``/_esi/`` through the session and CSRF middleware and the cached user; every other request
    goes on down ``MIDDLEWARE``."""

    def __init__(self, get_response):
        from django.middleware.csrf import CsrfViewMiddleware

        self.get_response = get_response
        self.lean = SessionMiddleware(CsrfViewMiddleware(_view))

    def __call__(self, request):
        if request.path_info.startswith(PREFIX):
            return self.lean(request)
        return self.get_response(request)
