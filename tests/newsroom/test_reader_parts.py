"""The newsroom behind an ESI edge: one per-reader include per page view, the same on every page (so
the edge can keep it per session), and what it renders for readers, staff and anonymous visitors
(upstack.edge.personal, news/fragments.py)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from newsroom.news.fragments import liked_css
from newsroom.news.models import Article, Comment, Like
from upstack.edge import purge

from .conftest import PASSWORD

ESI = {"HTTP_SURROGATE_CAPABILITY": "varnish=ESI/1.0"}
pytestmark = pytest.mark.usefixtures("seeded")


def include_src(client, article) -> str:
    """The page as Django renders it for the edge (no cookies: the edge strips them)."""
    body = client.get(article.get_absolute_url(), **ESI).content.decode()
    includes = re.findall(r'<esi:include src="([^"]+)"', body)
    assert len(includes) == 1, includes  # one backend request per logged-in view
    return includes[0].replace("&amp;", "&")


INCLUDE = "/_esi/reader/?comment-form&like&staff-tools&userbar"


def test_the_include_is_the_same_on_every_page_and_the_shared_page_has_slots(client):
    first, second = Article.objects.published()[:2]
    body = client.get(first.get_absolute_url(), **ESI).content.decode()
    assert include_src(client, first) == include_src(client, second) == INCLUDE  # no id, no slug, no path
    assert include_src(client, first).startswith("/_esi/reader/?")
    for part in ("userbar", "like", "comment-form", "staff-tools"):
        assert f'data-upstack-slot="{part}"' in body
    assert f'<body data-article="{first.pk}">' in body  # what the like state's CSS matches
    assert "Signed in as" not in body and "csrfmiddlewaretoken" not in body and "staff-edit" not in body


def liked_ids_in(body: str) -> set[int]:
    """The article ids the include's CSS shows as liked (news/fragments.liked_css)."""
    style = re.search(r"body:is\(([^)]*)\) \.like \.like-done", body)
    return {int(i) for i in re.findall(r'data-article="(\d+)"', style.group(1))} if style else set()


def test_the_include_renders_the_readers_parts_with_a_token_and_no_query(reader_client, django_assert_num_queries):
    reader_client.get(INCLUDE)  # warms the cached user, the liked ids and the session's CSRF token
    with django_assert_num_queries(0):
        response = reader_client.get(INCLUDE)
    body = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-cache"
    assert "Signed in as <strong>Alice Reader</strong>" in body
    assert 'action="like/"' in body and 'action="comments/"' in body and ">Like<" in body and ">Liked<" in body
    assert body.count('name="csrfmiddlewaretoken"') == 3 and "staff-edit" not in body
    # Kept by the edge for this session, tagged with the reader's key (upstack.edge.personal).
    user = get_user_model().objects.get(username="alice")
    assert response["X-Upstack-Reader-TTL"] == "300" and response["xkey"] == f"upstack-reader:{user.pk}"


def test_the_liked_css_names_exactly_the_readers_likes(reader_client):
    user = get_user_model().objects.get(username="alice")
    liked = set(Like.objects.filter(user=user).values_list("article_id", flat=True))
    assert liked_ids_in(reader_client.get(INCLUDE).content.decode()) == liked
    assert liked_css(()) == ".like .like-done{display:none}" and liked_ids_in(liked_css(())) == set()
    assert liked_ids_in(liked_css([3, 1])) == {1, 3}


def test_a_like_shows_at_once_and_purges_the_readers_include(reader_client, django_capture_on_commit_callbacks,
                                                              monkeypatch):
    queued = []  # what the purge pipeline is given (upstack.edge.purge.add; its delivery is tested there)
    monkeypatch.setattr(purge, "add", lambda keys, using=None: queued.extend(keys))
    user = get_user_model().objects.get(username="alice")
    article = Article.objects.published().exclude(likes__user=user).first()
    body = reader_client.get(INCLUDE).content.decode()
    assert article.pk not in liked_ids_in(body)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        liked = reader_client.post(article.get_absolute_url() + "like/", {"csrfmiddlewaretoken": token})
    assert liked.status_code == 302
    assert f"upstack-reader:{user.pk}" in queued  # every kept copy of this reader's include
    assert article.pk in liked_ids_in(reader_client.get(INCLUDE).content.decode())
    reader_client.handler.enforce_csrf_checks = True
    posted = reader_client.post(article.get_absolute_url() + "comments/",
                                {"body": "Through the reader include", "csrfmiddlewaretoken": token})
    assert posted.status_code == 302
    assert Comment.objects.filter(body="Through the reader include").exists()
    forged = reader_client.post(article.get_absolute_url() + "comments/",
                                {"body": "no token", "csrfmiddlewaretoken": "x" * 64})
    assert forged.status_code == 403  # the check is real


def test_staff_get_an_edit_link_from_the_include_only(client):
    article = Article.objects.published().first()
    assert client.get(article.get_absolute_url() + "edit/").status_code == 404  # not staff: nothing
    get_user_model().objects.create_user("desk", password=PASSWORD, is_staff=True)
    assert client.login(username="desk", password=PASSWORD)
    body = client.get(INCLUDE).content.decode()
    assert 'class="staff-edit" href="edit/"' in body
    edit = client.get(article.get_absolute_url() + "edit/")
    assert edit.status_code == 302 and edit["Location"] == reverse("admin:news_article_change", args=[article.pk])
    assert edit["X-Upstack-Session"] == "required"  # the edge asks Django with the reader's cookies
    inline = client.get(article.get_absolute_url()).content.decode()  # no edge: inline, the admin URL
    assert f'class="staff-edit" href="{reverse("admin:news_article_change", args=[article.pk])}"' in inline


def test_anonymous_and_unknown_parts(client):
    body = client.get(INCLUDE).content.decode()
    assert "Log in" in body and "Signed in as" not in body and 'class="like"' not in body
    assert client.get("/_esi/reader/?nope").status_code == 404
    assert client.get("/_esi/reader/").status_code == 404
    assert client.get("/_esi/reader/?like.article=1").status_code == 404  # parts take no article
