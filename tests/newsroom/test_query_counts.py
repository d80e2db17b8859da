"""Query discipline: each page makes a fixed number of queries, whatever the data size.

Every page is measured on a database seeded at two sizes (10x apart); the counts must be identical
(but for the related box's top-up query, which runs only when the tag query leaves room: loading rows
it would not show would tag the page with their keys) and within the page's bound. The bounds are the measured counts, so a new query is a conscious change.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from newsroom.news.models import Article, Author, Section, Tag
from tests.conftest import clear_caches

from .conftest import PASSWORD, busiest_article, seed

# page -> max queries (anonymous); the article page shows 50 comments.
BOUNDS = {
    "home": 11,  # 3, and one per section (8 seeded): each section's newest are a list of their own
    "section": 2, "tag": 2, "author": 2, "article": 5, "search": 1, "feed": 1,
    "sitemap": 4, "most_read": 1, "healthz": 0,
    # The first logged-in view stores the CSRF token in the session (CSRF_USE_SESSIONS: ESI fragments
    # cannot set cookies): +2 queries once per session.
    "article_logged_in": 10,
}
# page -> queries that may run at one size and not at the other (newsroom.news.queries.related).
DATA_DEPENDENT = {"article": 1, "article_logged_in": 1}


def _urls():
    article = busiest_article(50)
    section = Section.objects.order_by("pk").first()
    tag = max(Tag.objects.all(), key=lambda t: t.articles.count())
    author = Author.objects.order_by("pk").first()
    return {
        "home": "/", "section": section.get_absolute_url(), "tag": tag.get_absolute_url(),
        "author": author.get_absolute_url(), "article": article.get_absolute_url(),
        "search": "/search/?q=the", "feed": "/feed/", "sitemap": "/sitemap.xml",
        "most_read": "/api/most-read.json", "healthz": "/healthz",
        "article_logged_in": article.get_absolute_url(),
    }


def measure():
    clear_caches()  # every page measured cold, as on a fresh deploy
    get_user_model().objects.create_user("counter", password=PASSWORD)
    anonymous, logged_in = Client(), Client()
    assert logged_in.login(username="counter", password=PASSWORD)  # else it would measure anonymous views
    counts = {}
    for name, url in _urls().items():
        client = logged_in if name == "article_logged_in" else anonymous
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, url)
        counts[name] = len(queries)
    return counts


def wipe():
    for model in (Article, Tag, Author, Section):
        model.objects.all().delete()
    get_user_model().objects.all().delete()


@pytest.mark.django_db
def test_query_counts_are_bounded_and_independent_of_data_size():
    seed("small")
    small = measure()
    wipe()
    seed("large")
    assert Article.objects.count() == 300
    large = measure()
    print({"small": small, "large": large})
    assert small.keys() == large.keys()
    for name in small:
        assert abs(small[name] - large[name]) <= DATA_DEPENDENT.get(name, 0), (name, small[name], large[name])
    for name, bound in BOUNDS.items():
        assert small[name] <= bound, f"{name}: {small[name]} queries > {bound}"
    assert small["article"] <= 10
