"""Every stable URL answers with the right content for anonymous and logged-in readers."""

import json
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsroom.news.models import Article, Author, Section, Tag

from .conftest import busiest_article

pytestmark = pytest.mark.usefixtures("seeded")


def test_home_shows_latest_sections_and_most_read(client):
    # A draft newer than every published article: were drafts listed, it would lead the page.
    newest = Article.objects.published().order_by("-published_at").first()
    draft = Article.objects.filter(status=Article.Status.DRAFT).first() or Article.objects.published().last()
    Article.objects.filter(pk=draft.pk).update(status=Article.Status.DRAFT, published_at=newest.published_at)
    body = client.get("/").content.decode()
    latest = list(Article.objects.published().order_by("-published_at", "-id")[:20])
    for article in latest:
        assert article.get_absolute_url() in body
    for section in Section.objects.all():
        assert section.get_absolute_url() in body
    top = Article.objects.published().order_by("-read_count").first()
    assert "Most read" in body and top.get_absolute_url() in body
    drafts = Article.objects.filter(status=Article.Status.DRAFT)
    assert drafts.exists()
    for draft in drafts:
        assert draft.get_absolute_url() not in body


@pytest.mark.parametrize("kind,model", [("sections", Section), ("tags", Tag), ("authors", Author)])
def test_listings_paginate_twenty_per_page_without_count(client, kind, model):
    obj = max(model.objects.all(), key=lambda o: o.articles.filter(status="published").count())
    expected = list(obj.articles.published().order_by("-published_at", "-id"))
    with CaptureQueriesContext(connection) as queries:
        first = client.get(f"/{kind}/{obj.slug}/")
    assert first.status_code == 200
    # Count-free pagination: no query counts rows (the per-teaser comment counts are subqueries).
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT COUNT(")]
    page_items = first.context["page"].items
    assert [a.pk for a in page_items] == [a.pk for a in expected[:settings.NEWSROOM_PAGE_SIZE]]
    assert first.context["page"].has_next == (len(expected) > settings.NEWSROOM_PAGE_SIZE)
    if len(expected) > settings.NEWSROOM_PAGE_SIZE:
        second = client.get(f"/{kind}/{obj.slug}/?page=2")
        assert [a.pk for a in second.context["page"].items] == [a.pk for a in expected[20:40]]
    assert client.get(f"/{kind}/{obj.slug}/?page=999").status_code == 404
    assert client.get(f"/{kind}/{obj.slug}/?page=junk").status_code == 200
    assert client.get(f"/{kind}/no-such-thing/").status_code == 404


def test_article_page_anonymous(client):
    article = busiest_article()
    response = client.get(article.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert article.title in body and article.author.name in body and article.section.name in body
    for tag in article.tags.all():
        assert tag.get_absolute_url() in body
    comments = response.context["comments"].items
    assert len(comments) == settings.NEWSROOM_COMMENTS_PAGE_SIZE
    assert [c.created_at for c in comments] == sorted((c.created_at for c in comments), reverse=True)
    assert all(c.is_public for c in comments)
    assert response.context["article"].like_count == article.likes.count()
    related = response.context["related"]
    assert len(related) == 5 and article not in related
    assert "Log in</a> to comment" in body and "Signed in as" not in body and 'class="comment-form"' not in body


def test_article_page_logged_in_has_userbar_form_and_like(reader_client):
    article = Article.objects.published().first()
    body = reader_client.get(article.get_absolute_url()).content.decode()
    assert "Signed in as <strong>Alice Reader</strong>" in body
    assert 'class="comment-form"' in body and 'class="like"' in body


def test_drafts_and_unknown_articles_are_404(client):
    draft = Article.objects.filter(status=Article.Status.DRAFT).first() or Article.objects.first()
    draft.status = Article.Status.DRAFT
    draft.save()
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get("/articles/nope/").status_code == 404


def test_feed_sitemap_healthz_api_and_login(client, django_assert_num_queries):
    feed = client.get("/feed/")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/rss+xml")
    items = ET.fromstring(feed.content).findall("./channel/item")
    assert len(items) == 20
    sitemap = client.get("/sitemap.xml")
    urls = ET.fromstring(sitemap.content).findall("{http://www.sitemaps.org/schemas/sitemap/0.9}url")
    assert len(urls) == Article.objects.published().count() + Section.objects.count()
    with django_assert_num_queries(0):
        health = client.get("/healthz")
    assert health.status_code == 200 and health.content == b"ok\n"
    data = json.loads(client.get("/api/most-read.json").content)
    expected = list(Article.objects.published().order_by("-read_count", "-id")[:5])
    assert [a["url"] for a in data["articles"]] == [a.get_absolute_url() for a in expected]
    assert set(data["articles"][0]) == {"title", "url", "section", "read_count", "published_at"}
    assert client.get("/accounts/login/").status_code == 200


def test_admin_lives_at_admin_url_not_admin(client, admin_client):
    assert settings.ADMIN_URL != "admin/"
    assert client.get("/admin/").status_code == 404
    response = admin_client.get(f"/{settings.ADMIN_URL}news/article/")
    assert response.status_code == 200
    assert response.context["cl"].show_full_result_count is False
    assert admin_client.get(f"/{settings.ADMIN_URL}news/comment/").status_code == 200
