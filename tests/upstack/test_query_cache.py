"""The query cache (django-cachalot on the ``queries`` namespace) against real PostgreSQL and Redis.

Each test first proves the read is served from cache (no SQL), then makes a write of one kind and
proves the next read sees it. Runs in `make test`'s PostgreSQL pass (the SQLite pass skips it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from newsroom.news.models import Article, Comment, Section, Tag
from tests import servers
from upstack.cache import caches_setting

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def query_cache(settings, redis_server):
    servers.require_postgres(connection.vendor)  # make test's second pass; it fails there on another database
    settings.CACHES = caches_setting(redis_server.url, prefix=f"qc{os.getpid()}-")
    settings.CACHALOT_ENABLED = True
    from cachalot.settings import cachalot_settings
    from django.core.cache import caches

    cachalot_settings.reload()  # cachalot patches the ORM when (re)loaded, not on setting_changed
    caches["queries"].clear()
    call_command("seed", articles=12, users=3, comments=20, no_progress=True, verbosity=0)
    try:
        yield redis_server
    finally:
        settings.CACHALOT_ENABLED = False
        cachalot_settings.reload()


def cached(read):
    """Run ``read`` twice; assert the second time made no query (it came from the cache)."""
    first = read()
    with CaptureQueriesContext(connection) as queries:
        second = read()
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert second == first
    return first


def title(pk):
    return lambda: Article.objects.filter(pk=pk).values_list("title", flat=True).first()


def test_rollback_leaves_the_committed_value(query_cache):
    article = Article.objects.order_by("pk").first()
    cached(title(article.pk))
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Article.objects.filter(pk=article.pk).update(title="rolled back")
            assert title(article.pk)() == "rolled back"  # visible inside the transaction
            raise RuntimeError
    assert cached(title(article.pk)) == article.title


def test_nested_savepoints(query_cache):
    article = Article.objects.order_by("pk").first()
    cached(title(article.pk))
    with transaction.atomic():
        Article.objects.filter(pk=article.pk).update(title="outer")
        try:
            with transaction.atomic():
                Article.objects.filter(pk=article.pk).update(title="inner")
                assert title(article.pk)() == "inner"
                raise RuntimeError
        except RuntimeError:
            pass
        assert title(article.pk)() == "outer"
    assert cached(title(article.pk)) == "outer"


def test_update_f_expressions_bulk_and_cascades(query_cache):
    article = Article.objects.order_by("pk").first()
    reads = lambda: Article.objects.filter(pk=article.pk).values_list("read_count", flat=True).get()  # noqa: E731
    before = cached(reads)
    Article.objects.filter(pk=article.pk).update(read_count=F("read_count") + 5)
    assert cached(reads) == before + 5

    count = lambda: Tag.objects.count()  # noqa: E731
    n = cached(count)
    Tag.objects.bulk_create([Tag(name=f"bulk {i}", slug=f"bulk-{i}") for i in range(3)])
    assert cached(count) == n + 3

    tags = list(Tag.objects.filter(slug__startswith="bulk-"))
    names = lambda: sorted(Tag.objects.filter(slug__startswith="bulk-").values_list("name", flat=True))  # noqa: E731
    cached(names)
    for tag in tags:
        tag.name = tag.name.upper()
    Tag.objects.bulk_update(tags, ["name"])
    assert cached(names) == ["BULK 0", "BULK 1", "BULK 2"]

    comments = lambda: Comment.objects.filter(article=article).count()  # noqa: E731
    assert cached(comments) >= 0
    Article.objects.filter(pk=article.pk).delete()  # cascades to comments and likes
    assert cached(comments) == 0


def test_m2m_add_remove_clear(query_cache):
    article = Article.objects.order_by("pk").first()
    tag_ids = lambda: sorted(article.tags.values_list("pk", flat=True))  # noqa: E731
    cached(tag_ids)
    extra = Tag.objects.create(name="Extra", slug="extra")
    article.tags.add(extra)
    assert extra.pk in cached(tag_ids)
    article.tags.remove(extra)
    assert extra.pk not in cached(tag_ids)
    article.tags.clear()
    assert cached(tag_ids) == []


def test_raw_sql_writes_invalidate(query_cache):
    article = Article.objects.order_by("pk").first()
    cached(title(article.pk))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE news_article SET title = %s WHERE id = %s", ["raw write", article.pk])
    assert cached(title(article.pk)) == "raw write"


def test_select_for_update_is_never_cached(query_cache):
    article = Article.objects.order_by("pk").first()
    with transaction.atomic():
        list(Article.objects.select_for_update().filter(pk=article.pk))
        with CaptureQueriesContext(connection) as queries:
            list(Article.objects.select_for_update().filter(pk=article.pk))
    assert len(queries) == 1


def test_a_write_from_another_process_invalidates_this_one(query_cache):
    article = Article.objects.order_by("pk").first()
    cached(title(article.pk))
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "CACHALOT_ENABLED": "true",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": query_cache.url, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    prefix = f"qc{os.getpid()}-"
    code = (f"import newsroom.settings.test as t; from upstack.cache import caches_setting; "
            f"t.CACHES = caches_setting({query_cache.url!r}, prefix={prefix!r}); t.CACHALOT_ENABLED = True; "
            "import django; django.setup(); from newsroom.news.models import Article; "
            f"Article.objects.filter(pk={article.pk}).update(title='from a worker')")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert cached(title(article.pk)) == "from a worker"


def test_a_reader_racing_a_writer_never_keeps_a_stale_result(query_cache):
    article = Article.objects.order_by("pk").first()
    cached(title(article.pk))
    inside, committed = threading.Barrier(2), threading.Event()
    seen_after_commit = []

    def writer():
        try:
            with transaction.atomic():
                Article.objects.filter(pk=article.pk).update(title="committed")
                inside.wait(10)       # the reader reads (and may cache) while we hold the change
                inside.wait(10)
            committed.set()
        finally:
            connection.close()

    def reader():
        try:
            inside.wait(10)
            assert title(article.pk)() == article.title  # not committed yet: the old title
            inside.wait(10)
            committed.wait(10)
            for _ in range(5):
                seen_after_commit.append(title(article.pk)())
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen_after_commit == ["committed"] * 5
    section_count = cached(lambda: Section.objects.count())
    assert section_count > 0
