"""Comments and likes: login required, CSRF-protected, JSON for fetch."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from newsroom.news.models import Article, Comment, Like

from .conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("seeded")


def article():
    return Article.objects.published().first()


def test_comment_appears_newest_first(reader_client):
    a = article()
    response = reader_client.post(f"{a.get_absolute_url()}comments/", {"body": "A fresh thought."})
    assert response.status_code == 302 and response["Location"].endswith("#comments")
    page = reader_client.get(a.get_absolute_url())
    assert page.context["comments"].items[0].body == "A fresh thought."


def test_empty_comment_is_refused_and_nothing_stored(reader_client):
    a = article()
    before = Comment.objects.count()
    response = reader_client.post(f"{a.get_absolute_url()}comments/", {"body": "   "})
    assert response.status_code == 400 and b"errorlist" in response.content
    assert Comment.objects.count() == before


def test_comment_and_like_need_login(client):
    a = article()
    for url in (f"{a.get_absolute_url()}comments/", f"{a.get_absolute_url()}like/"):
        response = client.post(url, {"body": "x"})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(f"{a.get_absolute_url()}like/").status_code == 405


def test_posts_without_csrf_token_are_refused(reader):
    strict = Client(enforce_csrf_checks=True)
    assert strict.login(username="alice", password=PASSWORD)
    a = article()
    before = (Comment.objects.count(), Like.objects.count())
    assert strict.post(f"{a.get_absolute_url()}comments/", {"body": "x"}).status_code == 403
    assert strict.post(f"{a.get_absolute_url()}like/").status_code == 403
    assert (Comment.objects.count(), Like.objects.count()) == before


def test_like_by_fetch_returns_json_and_is_idempotent(reader_client, reader):
    a = article()
    start = a.likes.count()
    for _ in range(2):
        response = reader_client.post(f"{a.get_absolute_url()}like/", HTTP_ACCEPT="application/json")
        assert response.json() == {"liked": True, "likes": start + 1}
    assert Like.objects.filter(user=reader, article=a).count() == 1
    form = reader_client.post(f"{a.get_absolute_url()}like/")
    assert form.status_code == 302
    assert reader_client.get(a.get_absolute_url()).context["liked"] is True


def test_login_and_logout(client, reader):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert "Signed in as" in client.get("/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert "Signed in as" not in client.get("/").content.decode()


def test_reply_mails_are_rate_limited_per_reader_and_article(seeded, mailoutbox):
    """Issue 14, item 10: a commenter posting 20 replies sent 20 mails to every earlier commenter."""
    from django.core.cache import caches

    from newsroom.news.tasks import notify_thread

    caches["default"].clear()
    article = Article.objects.published().first()
    users = list(get_user_model().objects.exclude(email="")[:3])
    assert len(users) == 3
    Comment.objects.create(article=article, user=users[0], body="first")
    Comment.objects.create(article=article, user=users[1], body="second")
    sent = sum(notify_thread(Comment.objects.create(article=article, user=users[2], body=f"reply {i}").pk)
               for i in range(20))
    earlier = {c.user.email for c in Comment.objects.filter(article=article).exclude(user=users[2])}
    assert sent == len(mailoutbox) == len(earlier)  # one each, not twenty
    assert {m.to[0] for m in mailoutbox} == earlier
