"""Fixtures for the newsroom's tests: a database seeded by the real ``seed`` command."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from newsroom.news.models import Article, Comment

SIZES = {"small": dict(articles=30, users=10, comments=120), "large": dict(articles=300, users=60, comments=1500)}
PASSWORD = "correct-horse-battery"


def seed(size):
    call_command("seed", seed=7, no_progress=True, verbosity=0, **SIZES[size])


@pytest.fixture
def seeded(db):
    seed("small")


@pytest.fixture
def reader(db):
    return get_user_model().objects.create_user("alice", password=PASSWORD, first_name="Alice", last_name="Reader")


@pytest.fixture
def reader_client(client, reader):
    assert client.login(username="alice", password=PASSWORD)
    return client


def busiest_article(min_comments=50):
    """A published article with at least ``min_comments`` public comments (adds some if needed)."""
    article = Article.objects.published().order_by("-read_count").first()
    missing = min_comments - article.comments.filter(is_public=True).count()
    user = get_user_model().objects.first()
    Comment.objects.bulk_create(Comment(article=article, user=user, body=f"extra {i}") for i in range(max(missing, 0)))
    return article
