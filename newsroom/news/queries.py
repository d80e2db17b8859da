"""Every read the newsroom's pages make, in one place.

Each function returns exactly what one page block needs with a fixed number of SQL queries, whatever
the size of the tables (the home page's teasers: one per section): lists use ``select_related``/``defer`` and count-free
pagination (fetch one row more than a page to know whether there is a next page), counts are
correlated subqueries on the row itself, never a ``COUNT(*)`` over the articles table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from .models import Article, Comment, Like, Section

TEASERS_PER_SECTION = 3
MOST_READ = 5
RELATED = 5


@dataclass(frozen=True)
class Page:
    """One page of a count-free listing: the items and whether neighbours exist."""

    items: list[Any]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


MAX_PAGE = 100_000


def page_number(raw: str | None) -> int:
    """Parse ``?page=`` leniently: anything that is not a positive integer is page 1; a page past
    ``MAX_PAGE`` is a 404 (an offset that large would overflow the database's integers)."""
    try:
        number = int(raw or 1)
    except (TypeError, ValueError):
        return 1
    if number > MAX_PAGE:
        raise Http404("No such page.")
    return max(number, 1)


def paginate(queryset, number: int, per_page: int) -> Page:
    """Slice one page plus one row: no COUNT(*), one query."""
    start = (number - 1) * per_page
    rows = list(queryset[start : start + per_page + 1])
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page)


def _count_of(model, field: str, **filters):
    """A correlated ``(SELECT COUNT(*) ... WHERE field = outer.id)`` usable in ``annotate``."""
    sub = (
        model.objects.filter(**{field: OuterRef("pk")}, **filters)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(sub), Value(0))


def listing():
    """Published articles with what a teaser shows, newest first."""
    return Article.objects.published().for_listing().annotate(
        comment_count=_count_of(Comment, "article", is_public=True)
    )


def latest(limit: int | None = None):
    limit = limit or settings.NEWSROOM_PAGE_SIZE
    return list(listing()[:limit])


def section_teasers(per_section: int = TEASERS_PER_SECTION):
    """The newest ``per_section`` articles of every section: one query per section, each an index range
    scan of ``article_section`` reading ``per_section`` rows.

    One window-function query over the newest articles (its cut-off an OFFSET subquery) made the home
    page depend on the whole table's order: publishing, unpublishing or deleting any article anywhere
    purged it, and it was the warm home render's costliest query. Each short list here is ranked on its
    own (docs/edge.md, ranked entry keys): only an article that would show among its section's newest
    purges the page.
    """
    listing = Article.objects.published().for_listing()
    return [(section, list(listing.filter(section=section)[:per_section])) for section in Section.objects.all()]


def most_read(limit: int = MOST_READ) -> list[Article]:
    """The most read published articles.

    Ranked over ``status`` alone so the planner walks the ``article_most_read`` index; a scheduled
    article (published in the future) has no readers yet and is dropped here, in Python.
    """
    now = timezone.now()
    candidates = (
        Article.objects.filter(status=Article.Status.PUBLISHED).for_listing().order_by("-read_count", "-id")
    )[: limit * 4]
    return [a for a in candidates if a.published_at <= now][:limit]


def most_read_payload(limit: int = MOST_READ) -> list[dict[str, Any]]:
    """The public JSON of ``/api/most-read.json``: no per-user data."""
    return [
        {
            "title": a.title,
            "url": a.get_absolute_url(),
            "section": a.section.name,
            "read_count": a.read_count,
            "published_at": a.published_at.isoformat(),
        }
        for a in most_read(limit)
    ]


def article_detail(slug: str) -> Article:
    """The article with section, author, tags, like count and public comment count (two queries)."""
    return (
        Article.objects.published()
        .select_related("section", "author")
        .prefetch_related("tags")
        .annotate(
            like_count=_count_of(Like, "article"),
            comment_count=_count_of(Comment, "article", is_public=True),
        )
        .get(slug=slug)
    )


def comments_page(article: Article, number: int) -> Page:
    comments = (
        Comment.objects.filter(article=article, is_public=True)
        .select_related("user")
        .only("id", "body", "created_at", "article_id", "user__id", "user__username",
              "user__first_name", "user__last_name")
    )
    return paginate(comments, number, settings.NEWSROOM_COMMENTS_PAGE_SIZE)


def related(article: Article, limit: int = RELATED) -> list[Article]:
    """Newest articles sharing a tag with ``article``, topped up with the newest of its section.

    At most two index-friendly queries (one OR-ed query was 35x slower at 100k articles). Each loads
    only rows that are shown: a row loaded and dropped would still tag the page with its key, and
    an edit to that article would purge a page that does not show it (docs/edge.md, precision).
    """
    tag_ids = [t.pk for t in article.tags.all()]  # prefetched: no query
    base = Article.objects.published().for_listing().exclude(pk=article.pk)
    found = list(base.filter(tags__in=tag_ids).distinct()[:limit]) if tag_ids else []
    if len(found) < limit:
        found += base.filter(section_id=article.section_id).exclude(pk__in=[a.pk for a in found])[
            :limit - len(found)]
    return found


def liked_by(user, article: Article) -> bool:
    return user.is_authenticated and Like.objects.filter(user=user, article=article).exists()


def search(q: str):
    """Full-text search on PostgreSQL, a case-insensitive title/standfirst match elsewhere."""
    q = q.strip()
    if not q:
        return Article.objects.none()
    base = Article.objects.published().for_listing()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        from .search import VECTOR

        query = SearchQuery(q, search_type="websearch", config="english")
        return (
            base.alias(document=VECTOR)
            .filter(document=query)
            .annotate(rank=SearchRank(VECTOR, query))
            .order_by("-rank", "-published_at", "-id")
        )
    return base.filter(Q(title__icontains=q) | Q(standfirst__icontains=q))

