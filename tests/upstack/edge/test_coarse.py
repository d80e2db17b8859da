"""The table invalidation mode (UPSTACK["EDGE_KEYS"] = "table", upstack.edge.coarse): every list of a
model carries its one unscoped key, which every write of the model purges; instance keys as in the
precise mode. Unit-level: the pure map, then the keys real ORM reads and writes record and purge."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from newsroom.news.models import Article, Author, Section, Tag
from tests.inheritance_app.models import BlogPage, Page
from tests.upstack.edge.test_precision import purged_by, reads
from upstack.edge import coarse, keys
from upstack.edge.backends import dummy


def test_coarsen_keeps_instance_keys_and_unscopes_list_keys():
    found = {"news.article:42", "news.article:42/lean", "news.article:42+news.comment",
             "news.article@tags=3+", "news.article~published_at@section=2", "news.comment@article=42",
             "news.article@section=3+published_at/2.5", "news.author~name@*", "news.article@any"}
    assert coarse.coarsen(found) == {"news.article:42", "news.article:42/lean", "news.article:42+news.comment",
                                     "news.article@*", "news.comment@*", "news.author@*"}


def test_a_scoped_value_with_a_colon_is_still_a_list_key():
    assert not coarse.is_instance_key(keys.list_key("news.article", {"slug": "a:b"}))
    assert coarse.is_instance_key(keys.instance_key("news.article", 7))


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytest.fixture
def table(settings):
    settings.UPSTACK = {**settings.UPSTACK, "EDGE_KEYS": "table", "PURGE_REPEAT_AFTER": 0,
                        "PURGE_BACKENDS": {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    dummy.purged.clear()
    yield
    dummy.purged.clear()


@pytest.fixture
def story():
    author = Author.objects.create(user=User.objects.create_user("writer"), name="Writer", slug="writer")
    section = Section.objects.create(name="World", slug="world", position=1)
    other = Section.objects.create(name="Sport", slug="sport", position=2)
    article = Article.objects.create(title="Story", slug="story", section=section, author=author, body="Body.",
                                     standfirst="S.", status=Article.Status.PUBLISHED, published_at=timezone.now())
    article.tags.add(Tag.objects.create(name="Tag", slug="tag"))
    return {"article": article, "section": section, "other": other}


@pytestmark_db
def test_a_scoped_list_records_only_its_table_key(table, story):
    section = story["section"]
    found = reads(lambda: list(Article.objects.filter(section=section).order_by("-published_at")[:10]))
    lists = {key for key in found if not coarse.is_instance_key(key)}
    assert lists == {"news.article@*"}, lists
    assert f"news.article:{story['article'].pk}" in found  # the rows shown keep their instance keys
    tagged = reads(lambda: list(Article.objects.filter(tags__in=list(Tag.objects.all())).distinct()))
    assert {key for key in tagged if not coarse.is_instance_key(key)} == {"news.article@*", "news.tag@*"}


@pytestmark_db
def test_every_write_purges_the_table_key(table, story):
    article = story["article"]
    article.title = "Retitled"  # a field no list filters on: the precise mode purges no list for it
    assert {f"news.article:{article.pk}", "news.article@*"} <= purged_by(article.save)
    article.section = story["other"]
    assert "news.article@*" in purged_by(article.save)
    tag = Tag.objects.create(name="Other", slug="other")
    assert "news.article@*" in purged_by(lambda: article.tags.add(tag))
    assert "news.article@*" in purged_by(article.delete)
    assert all(coarse.is_instance_key(k) or k.endswith("@*") or k.endswith("@any")
               for k in purged_by(lambda: Section.objects.create(name="New", slug="new", position=3)))


@pytestmark_db
def test_the_precise_mode_leaves_the_table_key_alone_on_a_retitle(settings, story):
    """Negative: the same retitle in the default mode purges no list key (so the test above can fail)."""
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_REPEAT_AFTER": 0,
                        "PURGE_BACKENDS": {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    article = story["article"]
    article.title = "Retitled"
    purged = purged_by(article.save)
    assert f"news.article:{article.pk}" in purged and "news.article@*" not in purged
    section = story["section"]
    found = reads(lambda: list(Article.objects.filter(section=section).order_by("-published_at")[:10]))
    assert "news.article@*" not in found


@pytestmark_db
def test_a_child_write_purges_its_parents_table_key(table):
    """Multi-table inheritance: lists of the parent (menus of pages) carry the parent's table key, which a
    save of a child purges."""
    menu = reads(lambda: list(Page.objects.filter(live=True)))
    assert "inheritance_app.page@*" in menu
    child = BlogPage.objects.create(title="Post", slug="post", live=True)
    child.title = "Renamed"
    assert {"inheritance_app.page@*", "inheritance_app.blogpage@*"} <= purged_by(child.save)
