"""The newsroom's per-reader parts (upstack.edge.esi, upstack.edge.personal): everything on a page
that differs by reader, served behind the edge by one include per page view.

Each context function takes the request and string parameters from the include's query string.
They carry the article's id, never its slug: no part looks the article up, and the like state is a
cache read of the reader's liked ids (``liked_ids``). The form actions
are relative to the article page ("like/", "comments/"), which is where the parts are shown."""

from functools import cache

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import get_language

from upstack.edge import esi

from .forms import CommentForm
from .models import Like

LIKED_TTL = 600  # seconds; a like or an unlike drops the reader's set at once


def _liked_key(user_id) -> str:
    return f"news:liked:{user_id}"


def liked_ids(user_id) -> frozenset[int]:
    """The ids of the articles a reader liked: one cache read per include, one query per reader and
    like (the set is dropped when one of the reader's likes is saved or deleted)."""
    cache = caches["data"]
    ids = cache.get(_liked_key(user_id))
    if ids is None:
        ids = frozenset(Like.objects.filter(user_id=user_id).values_list("article_id", flat=True))
        cache.set(_liked_key(user_id), ids, LIKED_TTL)
    return ids


def _forget_likes(sender, instance, **kwargs):
    transaction.on_commit(lambda: caches["data"].delete(_liked_key(instance.user_id)), robust=True)


post_save.connect(_forget_likes, sender=Like, dispatch_uid="newsroom.liked_ids.save")
post_delete.connect(_forget_likes, sender=Like, dispatch_uid="newsroom.liked_ids.delete")


def userbar(request, next="/"):
    return {"next": next if next.startswith("/") and not next.startswith("//") else "/"}


@cache
def _blank_comment_form(language: str) -> str:
    """The empty comment form's fields, rendered once per process and language: only its CSRF token
    differs between readers, and that is outside it."""
    return CommentForm().as_p()


def comment_form(request, article):
    return {"article_id": int(article), "form_html": _blank_comment_form(get_language())}


def like(request, article):
    article_id = int(article)
    liked = request.user.is_authenticated and article_id in liked_ids(request.user.pk)
    return {"article_id": article_id, "liked": liked}


def staff_tools(request, article):
    return {"article_id": int(article)}


esi.register("userbar", "news/_userbar.html", userbar)
esi.register("comment-form", "news/_comment_form.html", comment_form)
esi.register("like", "news/_like.html", like)
esi.register("staff-tools", "news/_staff_tools.html", staff_tools)
