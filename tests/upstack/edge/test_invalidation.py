"""Surrogate keys: what a page records, what each kind of write purges, and when (after commit)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from newsroom.news.models import Article, Comment, Like, Section, Tag
from upstack.edge import keys, purge
from upstack.edge.backends import dummy
from upstack.edge.invalidation import write_keys
from upstack.edge.tracking import scoped_filters

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def capture(settings):
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_BACKENDS": {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}},
                        "PURGE_REPEAT_AFTER": 0}
    dummy.purged.clear()
    call_command("seed", articles=12, users=4, comments=30, no_progress=True, verbosity=0)
    dummy.purged.clear()
    yield dummy.purged


def purged() -> set[str]:
    return {key for batch in dummy.purged for key in batch}


def two_unrelated_articles():
    a, b = Article.objects.published().order_by("pk")[:2]
    return a, b


def page_keys(url: str) -> set[str]:
    response = Client(HTTP_HOST="127.0.0.1").get(url)
    assert response.status_code == 200
    return set(response["xkey"].split())


def test_pure_rules():
    assert keys.list_key("news.comment", {"article": 4}) == "news.comment@article=4"
    assert keys.list_key("news.comment") == "news.comment@*"
    inserted = write_keys(Comment, 9, None, {"id": 9, "article_id": 4, "user_id": 2, "is_public": True})
    assert {"news.comment:9", "news.comment@any", "news.comment@*", "news.comment@article=4", "news.comment@user=2",
            "news.comment@article=4&user=2", "news.comment@article=4&is_public=True", "news.article:4+news.comment"} <= inserted
    assert not any("~" in key for key in inserted)  # an insert changes which rows lists hold, nothing else
    assert keys.row_scopes({"status": "p", "tags": frozenset({7, 8}), "section": None}) == [
        {}, {"status": "p"}, {"tags": 7}, {"tags": 8}, {"status": "p", "tags": 7}, {"status": "p", "tags": 8}]
    assert keys.row_scopes({"tags": frozenset()}) == [{}]  # no tags: in no tag's scope
    assert keys.format_header(["b", "a", "a"]) == "a b"
    assert keys.format_header([f"news.article:{i}" for i in range(3000)], max_length=100) == \
        "news.article@any upstack@overflow"


def test_scoped_filters_read_fk_and_m2m_equality_only():
    a = Article.objects.first()
    assert scoped_filters(Comment.objects.filter(article=a, is_public=True).query) == {"article": a.pk,
                                                                                        "is_public": True}
    assert scoped_filters(Comment.objects.filter(article=a, body="x").query) == {"article": a.pk}
    tag = Tag.objects.first()
    assert scoped_filters(Article.objects.filter(tags=tag).query) == {"tags": tag.pk}
    assert scoped_filters(Article.objects.filter(title="x").query) == {}
    assert scoped_filters(Comment.objects.exclude(article=a).query) == {}


def test_an_article_page_records_its_objects_and_scoped_lists():
    a, _ = two_unrelated_articles()
    found = page_keys(a.get_absolute_url())
    assert {f"news.article:{a.pk}", f"news.section:{a.section_id}"} <= found
    # its comments, newest first: the list's entry key, or its ranked entry keys (upstack.edge.ranks)
    assert any(k.startswith(f"news.comment@article={a.pk}&is_public=True+") for k in found)
    assert not any(k.startswith("news.comment@*") for k in found)  # counts in subqueries are not lists shown


def articles_not_linking():
    """Two published articles where b's page does not show a (another section, so not among b's
    related articles): a write to a must leave b's page alone."""
    published = list(Article.objects.published().order_by("pk"))
    for a in published:
        for b in published:
            if b.section_id != a.section_id and \
                    a.get_absolute_url() not in Client(HTTP_HOST="127.0.0.1").get(b.get_absolute_url()).content.decode():
                return a, b
    pytest.fail("the seed has no article page that does not link to another: the test would prove nothing")


def test_a_comment_purges_its_article(capture):
    a, _ = two_unrelated_articles()
    page_a = page_keys(a.get_absolute_url())
    Comment.objects.create(article=a, user=User.objects.first(), body="hello")
    assert purged() & page_a


def test_a_comment_does_not_purge_a_page_that_does_not_show_its_article(capture):
    a, b = articles_not_linking()
    page_b = page_keys(b.get_absolute_url())
    Comment.objects.create(article=a, user=User.objects.first(), body="hello")
    assert not purged() & page_b, purged() & page_b


def test_purges_wait_for_commit_and_a_rollback_purges_nothing(capture):
    a, _ = two_unrelated_articles()
    with transaction.atomic():
        Comment.objects.create(article=a, user=User.objects.first(), body="later")
        assert purged() == set()  # not before the commit
    assert f"news.comment@article={a.pk}" in purged()
    dummy.purged.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        Article.objects.filter(pk=a.pk).update(title="never")
        raise RuntimeError
    assert purged() == set()
    with transaction.atomic():
        Like.objects.create(article=a, user=User.objects.last())
    assert f"news.article:{a.pk}+news.like" in purged()  # after a rolled-back transaction, the next one still purges


def test_every_write_path(capture):
    a, b = two_unrelated_articles()
    section = Section.objects.exclude(pk=a.section_id).first()

    def wrote(action):
        dummy.purged.clear()
        action()
        return purged()

    moved = wrote(lambda: Article.objects.filter(pk=a.pk).update(section=section))
    assert {f"news.article:{a.pk}", f"news.article@section={section.pk}", f"news.article@section={a.section_id}"} <= moved
    a.refresh_from_db()
    saved = wrote(lambda: (setattr(a, "title", "saved"), a.save()))
    assert f"news.article:{a.pk}" in saved
    tag = Tag.objects.create(name="Fresh", slug="fresh")
    assert f"news.article@tags={tag.pk}" in wrote(lambda: a.tags.add(tag))
    assert f"news.article@tags={tag.pk}" in wrote(lambda: a.tags.remove(tag))
    a.tags.add(tag)
    assert f"news.article@tags={tag.pk}" in wrote(lambda: a.tags.clear())
    assert f"news.article@tags={tag.pk}" in wrote(lambda: tag.articles.add(b))
    user = User.objects.first()
    created = wrote(lambda: Comment.objects.bulk_create([Comment(article=b, user=user, body="bulk")]))
    assert {f"news.comment@article={b.pk}", f"news.article:{b.pk}+news.comment"} <= created
    comment = Comment.objects.filter(article=b).first()
    comment.body = "edited"
    assert f"news.comment:{comment.pk}" in wrote(lambda: Comment.objects.bulk_update([comment], ["body"]))
    assert f"news.comment:{comment.pk}" in wrote(lambda: comment.delete())
    assert f"news.comment@article={b.pk}" in wrote(lambda: Comment.objects.filter(article=b).delete())
    last_login = wrote(lambda: User.objects.filter(pk=user.pk).update(last_login=None))
    assert f"auth.user:{user.pk}" in last_login and "auth.user~last_login@*" in last_login
    assert "auth.user@*" not in last_login  # no list's membership depends on last_login
    user.refresh_from_db()
    assert wrote(lambda: user.save(update_fields=["last_login"])) == set()  # a login purges nothing


def test_a_failing_backend_never_raises_into_the_request(settings, caplog):
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_BACKENDS": {
        "edge": {"BACKEND": "upstack.edge.backends.varnish.VarnishBackend", "NODES": ["http://127.0.0.1:1"]}}}
    a, _ = two_unrelated_articles()
    Comment.objects.create(article=a, user=User.objects.first(), body="still saved")
    assert Comment.objects.filter(body="still saved").exists()
    # The node that missed it keeps the keys in the purge backlog (test_purge_backlog.py retries them).
    assert "http://127.0.0.1:1 missed" in caplog.text and "kept in the purge backlog" in caplog.text
    from upstack.edge import backlog

    assert backlog.summary()["nodes"].get("edge http://127.0.0.1:1", 0) > 0
    backlog._memory = backlog.MemoryStore()
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_BACKENDS": {
        "broken": {"BACKEND": "upstack.edge.backends.base.PurgeBackend"}}}  # raises on every batch
    assert purge.purge_now(["x"]) == {"broken": False}
    assert "purge via broken failed (attempt 3/3)" in caplog.text


def test_each_batch_is_purged_again_shortly_after(settings, capture):
    """The repeat covers a render that read the old data and stored it just after the first purge."""
    from tests import servers

    settings.UPSTACK = {**settings.UPSTACK, "PURGE_REPEAT_AFTER": 0.1}
    a, _ = two_unrelated_articles()
    Comment.objects.create(article=a, user=User.objects.first(), body="twice")
    assert len(dummy.purged) == 1
    servers.wait_until(lambda: len(dummy.purged) == 2, 5, "the repeated purge")
    assert dummy.purged[0] == dummy.purged[1]
