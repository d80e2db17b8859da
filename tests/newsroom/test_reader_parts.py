"""The newsroom behind an ESI edge: one per-reader include per page view, carrying ids, and what
it renders for readers, staff and anonymous visitors (upstack.edge.personal, news/fragments.py)."""

import re

import pytest
from django.contrib.auth import get_user_model

from newsroom.news.models import Article, Comment

from .conftest import PASSWORD

ESI = {"HTTP_SURROGATE_CAPABILITY": "varnish=ESI/1.0"}
pytestmark = pytest.mark.usefixtures("seeded")


def include_src(client, article) -> str:
    """The page as Django renders it for the edge (no cookies: the edge strips them)."""
    body = client.get(article.get_absolute_url(), **ESI).content.decode()
    includes = re.findall(r'<esi:include src="([^"]+)"', body)
    assert len(includes) == 1, includes  # one backend request per logged-in view
    return includes[0].replace("&amp;", "&")


def test_the_shared_page_has_slots_and_one_include_by_id(client):
    article = Article.objects.published().first()
    body = client.get(article.get_absolute_url(), **ESI).content.decode()
    src = include_src(client, article)
    assert src.startswith("/_esi/reader/?") and f"like.article={article.pk}" in src
    assert article.slug not in src.split("userbar.next=")[0]  # parts carry the id, not the slug
    for part in ("userbar", "like", "comment-form", "staff-tools"):
        assert f'data-upstack-slot="{part}"' in body
    assert "Signed in as" not in body and "csrfmiddlewaretoken" not in body and "staff-edit" not in body


def test_the_include_renders_the_readers_parts_with_a_token_and_no_query(reader_client, client,
                                                                         django_assert_num_queries):
    article = Article.objects.published().first()
    src = include_src(client, article)
    reader_client.get(src)  # warms the cached user, the liked ids and the session's CSRF token
    with django_assert_num_queries(0):
        response = reader_client.get(src)
    body = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-cache"
    assert "Signed in as <strong>Alice Reader</strong>" in body
    assert 'action="like/"' in body and 'action="comments/"' in body and ">Like<" in body
    assert body.count('name="csrfmiddlewaretoken"') == 3 and "staff-edit" not in body


def test_a_like_shows_at_once_and_a_comment_posts_with_the_includes_token(reader_client, client,
                                                                          django_capture_on_commit_callbacks):
    article = Article.objects.published().first()
    src = include_src(client, article)
    body = reader_client.get(src).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        liked = reader_client.post(article.get_absolute_url() + "like/", {"csrfmiddlewaretoken": token})
    assert liked.status_code == 302
    assert "Liked" in reader_client.get(src).content.decode()
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
    src = include_src(client, article)
    get_user_model().objects.create_user("desk", password=PASSWORD, is_staff=True)
    assert client.login(username="desk", password=PASSWORD)
    body = client.get(src).content.decode()
    assert 'class="staff-edit"' in body and f"/news/article/{article.pk}/change/" in body
    assert 'class="staff-edit"' in client.get(article.get_absolute_url()).content.decode()  # inline, no edge


def test_anonymous_and_unknown_parts(client):
    article = Article.objects.published().first()
    body = client.get(include_src(client, article)).content.decode()
    assert "Log in" in body and "Signed in as" not in body and 'class="like"' not in body
    assert client.get("/_esi/reader/?nope.article=1").status_code == 404
    assert client.get("/_esi/reader/").status_code == 404
    assert client.get("/_esi/reader/?like.article=not-a-number").status_code == 404
