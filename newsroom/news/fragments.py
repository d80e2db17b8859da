"""The newsroom's per-user fragments (upstack.edge.esi): everything on a page that differs by reader.

Each context function takes the request and string parameters from the include's query string."""

from django.shortcuts import get_object_or_404

from upstack.edge import esi

from . import queries
from .forms import CommentForm
from .models import Article


def _article(slug: str) -> Article:
    return get_object_or_404(Article.objects.published().only("id", "slug", "title"), slug=slug)


def userbar(request, next="/"):
    return {"next": next if next.startswith("/") else "/"}


def comment_form(request, article):
    return {"article": _article(article), "form": CommentForm()}


def like(request, article):
    obj = _article(article)
    return {"article": obj, "liked": queries.liked_by(request.user, obj)}


esi.register("userbar", "news/_userbar.html", userbar)
esi.register("comment-form", "news/_comment_form.html", comment_form)
esi.register("like", "news/_like.html", like)
