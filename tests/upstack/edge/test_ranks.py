"""Ranked entry keys: a list of "the N newest" is purged by a row that ranks among them, and not by
one that does not (upstack.edge.ranks, docs/edge.md)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from newsroom.news.models import Article, Comment, Section
from upstack.edge import keys, ranks
from upstack.edge.backends import dummy
from upstack.edge.tracking import query_plan

pytestmark = pytest.mark.django_db(transaction=True)
FIELD = Article._meta.get_field("published_at")


def test_a_rows_keys_meet_a_lists_keys_exactly_when_it_ranks_among_the_rows_shown():
    rng = random.Random(7)
    start = dt.date(1960, 1, 1)
    for _ in range(5000):
        boundary, value = (start + dt.timedelta(days=rng.randrange(200 * 365)) for _ in range(2))
        descending = rng.random() < 0.5
        shown = ranks.Ranked("news.article", [{"section": 3}], FIELD, (0, ranks.SPAN - 1), 20, descending).keys(boundary)
        written = ranks.write_keys("news.article", {"section": 3}, "published_at", value)
        low, high = ranks.shown_range(ranks.leaf(boundary), descending)
        assert bool(shown & written) == (low <= ranks.leaf(value) <= high), (boundary, value, descending)
        assert len(shown) <= (ranks.BASE - 1) * (ranks.LEVELS - 1) + ranks.BASE + 1
        if (value >= boundary) if descending else (value <= boundary):
            assert shown & written  # every row that ranks among those shown purges the list
        # another scope's lists are never purged
        assert not shown & ranks.write_keys("news.article", {"section": 4}, "published_at", value)


def test_leaves_are_utc_weeks_and_clamped():
    monday = dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.UTC)
    assert ranks.leaf(monday) == ranks.leaf(monday + dt.timedelta(days=6, hours=23))
    assert ranks.leaf(monday) == ranks.leaf(monday - dt.timedelta(hours=1)) + 1
    # 00:30 in UTC is still Sunday in New York: its UTC date decides
    assert ranks.leaf(monday.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == ranks.leaf(monday)
    assert ranks.leaf(dt.date(1900, 1, 1)) == 0 and ranks.leaf(dt.date(2999, 1, 1)) == ranks.SPAN - 1
    assert ranks.leaf("2026-11-23") is None
    assert ranks.write_keys("news.article", {}, "published_at", None) == {"news.article@*+published_at/*"}


def test_only_a_non_null_date_in_the_default_ordering_ranks():
    assert ranks.ranked_field(Article).name == "published_at"
    assert ranks.ranked_field(Section) is None  # ordered by position


@pytest.fixture
def capture(settings):
    settings.UPSTACK = {**settings.UPSTACK, "PURGE_REPEAT_AFTER": 0,
                        "PURGE_BACKENDS": {"dummy": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    call_command("seed", articles=250, users=4, comments=10, no_progress=True, verbosity=0)
    dummy.purged.clear()
    yield dummy.purged


def purged() -> set[str]:
    return {key for batch in dummy.purged for key in batch}


def page_keys(url: str) -> set[str]:
    response = Client(HTTP_HOST="127.0.0.1").get(url)
    assert response.status_code == 200
    return set(response["xkey"].split())


def full_section():
    """A section whose first page is full, its last article shown, and an article of another
    section older than that one."""
    from django.conf import settings

    size = settings.NEWSROOM_PAGE_SIZE
    for section in Section.objects.all():
        shown = list(Article.objects.published().filter(section=section)[:size])
        older = Article.objects.published().exclude(section=section).filter(
            published_at__lt=shown[-1].published_at - dt.timedelta(days=14)).first() if len(shown) == size else None
        if older is not None:
            return section, shown, older
    pytest.fail("the seed has no full section page with an older article elsewhere: the test would prove nothing")


def test_an_old_article_moved_into_a_section_leaves_its_first_page_alone(capture):
    section, shown, older = full_section()
    page = page_keys(section.get_absolute_url())
    assert f"news.article@section={section.pk}&status=published+" not in page  # ranked instead
    assert any(k.startswith(f"news.article@section={section.pk}&status=published+published_at/") for k in page)
    older.section = section
    older.save()
    assert not purged() & page, purged() & page


def test_a_new_article_in_a_section_purges_its_first_page(capture, settings):
    section, shown, older = full_section()
    page = page_keys(section.get_absolute_url())
    older.section, older.published_at = section, timezone.now()
    older.save()  # moved in, and now the newest
    assert purged() & page
    dummy.purged.clear()
    page = page_keys(section.get_absolute_url())
    assert Article.objects.published().filter(section=section).first() == older  # it shows now
    # An article of the section not shown, re-dated just above the page's last row: purged too.
    hidden = Article.objects.published().filter(section=section)[settings.NEWSROOM_PAGE_SIZE + 3]
    boundary = Article.objects.published().filter(section=section)[settings.NEWSROOM_PAGE_SIZE - 1]
    assert f"news.article:{hidden.pk}/lean" not in page and f"news.article:{hidden.pk}" not in page
    Article.objects.filter(pk=hidden.pk).update(published_at=boundary.published_at + dt.timedelta(seconds=1))
    assert purged() & page


def test_a_row_with_a_deferred_ranking_value_purges_every_ranked_list_of_its_scope(capture):
    section, _, older = full_section()
    page = page_keys(section.get_absolute_url())
    moved = Article.objects.defer("published_at").get(pk=older.pk)
    moved.section = section
    moved.save()
    assert f"news.article@section={section.pk}&status=published+published_at/*" in purged() & page


def test_a_list_not_full_is_ranked_by_its_where_and_one_read_with_iterator_records_plain_keys(capture):
    section = Section.objects.first()
    query = Article.objects.published().filter(section=section)[:10000]
    found, ranked = query_plan(query.query)
    assert ranked is not None and ranked.needs_rows and not any("published_at/" in k for k in found)
    token = keys.start()
    assert list(query)  # fewer rows than the limit: any row that passes published_at <= now shows
    recorded = keys.stop(token)
    scope = f"news.article@section={section.pk}&status=published+"
    assert scope not in recorded and f"news.article~published_at@section={section.pk}&status=published" not in recorded
    now, week = timezone.now(), dt.timedelta(days=7)
    assert recorded & ranks.write_keys("news.article", {"section": section.pk, "status": "published"},
                                       "published_at", now - 400 * week)  # an old article comes in: shown
    assert not recorded & ranks.write_keys("news.article", {"section": section.pk, "status": "published"},
                                           "published_at", now + 3 * week)  # scheduled: not shown yet
    token = keys.start()
    assert list(Article.objects.published()[:1].iterator())
    assert "news.article@status=published+" in keys.stop(token)
    token = keys.start()
    assert list(Article.objects.published()[:1])  # the control: read in one go, full, ranked
    assert "news.article@status=published+" not in keys.stop(token)


def test_a_comment_lists_order_is_ranked_too_and_a_new_comment_purges_its_article_page(capture):
    article = Comment.objects.first().article
    page = page_keys(article.get_absolute_url())
    Comment.objects.create(article=article, user=Comment.objects.first().user, body="ranked")
    assert purged() & page
