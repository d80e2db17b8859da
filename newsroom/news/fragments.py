"""The newsroom's per-reader parts (upstack.edge.esi, upstack.edge.personal): everything on a page
that differs by reader, served behind the edge by one include per page view.

Each context function takes the request and string parameters from the include's query string.
They carry the article's id, never its slug: no part looks the article up, and the like state is
one indexed query (the query cache answers it until a like changes the table). The form actions
are relative to the article page ("like/", "comments/"), which is where the parts are shown."""

from functools import cache

from django.utils.translation import get_language

from upstack.edge import esi

from .forms import CommentForm
from .models import Like


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
    liked = request.user.is_authenticated and Like.objects.filter(user_id=request.user.pk,
                                                                  article_id=article_id).exists()
    return {"article_id": article_id, "liked": liked}


def staff_tools(request, article):
    return {"article_id": int(article)}


esi.register("userbar", "news/_userbar.html", userbar)
esi.register("comment-form", "news/_comment_form.html", comment_form)
esi.register("like", "news/_like.html", like)
esi.register("staff-tools", "news/_staff_tools.html", staff_tools)
