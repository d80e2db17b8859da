"""Search: PostgreSQL full-text search on PostgreSQL, a simple match elsewhere."""

import pytest
from django.db import connection

from newsroom.news.models import Article
from tests import servers

pytestmark = pytest.mark.usefixtures("seeded")


def _marked(title):
    a = Article.objects.published().first()
    a.title = title
    a.save()
    return a


def test_search_finds_a_word_in_the_title(client):
    a = _marked("Zebrafish regrow hearts overnight")
    response = client.get("/search/?q=zebrafish")
    assert response.status_code == 200
    assert [x.pk for x in response.context["page"].items] == [a.pk]


def test_empty_and_unmatched_queries(client):
    assert client.get("/search/").context["page"].items == []
    assert client.get("/search/?q=qwertyuiopasdf").context["page"].items == []


def test_postgres_full_text_uses_stemming_and_the_gin_index(client):
    servers.require_postgres(connection.vendor)  # full-text search is PostgreSQL's
    a = _marked("Rivers were flooding the valleys")
    found = client.get("/search/?q=flooded river").context["page"].items
    assert a.pk in [x.pk for x in found]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'article_search'")
        assert "gin" in cursor.fetchone()[0].lower()
