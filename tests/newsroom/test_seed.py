"""``manage.py seed`` and ``demo_user``: realistic, deterministic, never duplicates."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from newsroom.news.models import Article, Comment, Like, Section, Tag


def run(**kw):
    out = StringIO()
    args = dict(articles=60, users=20, comments=400, seed=3, no_progress=True)
    args.update(kw)
    call_command("seed", stdout=out, **args)
    return out.getvalue()


def snapshot():
    return (
        list(Article.objects.order_by("slug").values_list("slug", "title", "read_count", "status", "section__slug")),
        list(Comment.objects.order_by("article__slug", "created_at", "body").values_list("article__slug", "body")),
        sorted(Article.tags.through.objects.values_list("article__slug", "tag__slug")),
    )


@pytest.mark.django_db
def test_seed_creates_realistic_data():
    out = run()
    assert "Seeded" in out and "60 articles" in out
    assert Article.objects.count() == 60 and Comment.objects.count() == 400
    assert Section.objects.count() == 8 and Tag.objects.count() > 50
    assert Like.objects.count() == 100
    reads = sorted(Article.objects.values_list("read_count", flat=True), reverse=True)
    # Zipf-like: the top article is read far more than the median one.
    assert reads[0] > 20 * reads[len(reads) // 2]
    # Comments are skewed to popular articles.
    top = Article.objects.order_by("-read_count")[:6]
    assert sum(a.comments.count() for a in top) > 400 * 0.3
    assert Article.objects.filter(status="published").count() >= 55


@pytest.mark.django_db
def test_seed_is_deterministic():
    run()
    first = snapshot()
    Article.objects.all().delete()
    Tag.objects.all().delete()
    from newsroom.news.models import Author

    Author.objects.all().delete()
    Section.objects.all().delete()
    get_user_model().objects.all().delete()
    run()
    assert snapshot() == first


@pytest.mark.django_db
def test_rerun_creates_no_duplicates_and_says_so():
    run()
    before = (Article.objects.count(), Comment.objects.count(), get_user_model().objects.count())
    out = run()
    assert "already seeded (60 articles); nothing to do" in out
    assert (Article.objects.count(), Comment.objects.count(), get_user_model().objects.count()) == before
    assert "already seeded" in run(if_empty=True)


@pytest.mark.django_db
def test_bad_arguments_are_clear_errors():
    with pytest.raises(CommandError, match="--articles must be >= 0"):
        run(articles=-1)
    with pytest.raises(CommandError, match="--users must be at least 1"):
        run(users=0)
    assert Article.objects.count() == 0


@pytest.mark.django_db
def test_demo_user_is_created_once_and_can_log_in(client, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret-demo-pass")
    out = StringIO()
    call_command("demo_user", stdout=out)
    call_command("demo_user", stdout=out)
    assert "demo / s3cret-demo-pass" in out.getvalue()
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert client.login(username="demo", password="s3cret-demo-pass")
