"""The newsroom's per-reader parts (upstack.edge.esi, upstack.edge.personal): everything on a page
that differs by reader, served behind the edge by one include per page view.

Each context function takes the request and string parameters from the include's query string.
No part takes the article as a parameter: the form actions are relative to the article page
("like/", "comments/", "edit/"), where the parts are shown, and the like state is every liked
article's id in a line of CSS (``liked_css``). So a reader's include is the same on every page and
the edge keeps it per session: a logged-in view costs no backend request."""

from functools import cache

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from upstack.edge import esi, personal

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
    personal.forget_reader(instance.user_id)


post_save.connect(_forget_likes, sender=Like, dispatch_uid="newsroom.liked_ids.save")
post_delete.connect(_forget_likes, sender=Like, dispatch_uid="newsroom.liked_ids.delete")


def userbar(request):
    return {"reader_include": True}  # the login link cannot name the page: the include is the same on every page


@cache
def _blank_comment_form(language: str) -> str:
    """The empty comment form's fields, rendered once per process and language: only its CSRF token
    differs between readers, and that is outside it."""
    return CommentForm().as_p()


def comment_form(request):
    return {"form_html": _blank_comment_form(get_language())}


def liked_css(ids) -> str:
    """The like state of every page at once: the form has both buttons, and this shows "Liked" on the
    pages of the articles the reader liked (the article page's ``<body data-article="id">``) - so the
    include is the same on every page, without JavaScript."""
    if not ids:
        return mark_safe(".like .like-done{display:none}")
    pages = ",".join(f'[data-article="{int(i)}"]' for i in sorted(ids))  # whole numbers only: safe
    return mark_safe(f".like .like-done{{display:none}}body:is({pages}) .like .like-add{{display:none}}"
                     f"body:is({pages}) .like .like-done{{display:inline-block}}")


def like(request):
    ids = liked_ids(request.user.pk) if request.user.is_authenticated else ()
    return {"reader_include": True, "liked_css": liked_css(ids)}


def staff_tools(request):
    return {}


# Every part shows only what is the reader's own, the same on every page (the article is the page's,
# never a parameter), so the edge keeps each reader's include per session (upstack.edge.personal);
# a like or an unlike purges it (forget_reader below), the package purges it on logout and user saves.
esi.register("userbar", "news/_userbar.html", userbar, reader_only=True)
esi.register("comment-form", "news/_comment_form.html", comment_form, reader_only=True)
esi.register("like", "news/_like.html", like, reader_only=True)
esi.register("staff-tools", "news/_staff_tools.html", staff_tools, reader_only=True)
