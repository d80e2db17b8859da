"""Refresh-ahead data: computed once when cold, refreshed in the background, never inline."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache import caches

from tests import servers
from upstack.cache import caches_setting
from upstack.cache.refresh import RefreshAhead


@pytest.fixture(autouse=True)
def local_caches(settings):
    settings.CACHES = caches_setting("locmem://refresh-tests")
    settings.CELERY_BROKER_URL = ""  # no broker: refreshes run in a background thread
    caches["data"].clear()


class Source:
    def __init__(self):
        self.version = 1
        self.calls = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self):
        self.calls.append(threading.current_thread().name)
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("database down")
        return {"version": self.version}


def test_a_cold_payload_is_computed_once_for_many_readers():
    source = Source()
    source.gate.clear()
    item = RefreshAhead("cold", source, every=10, serve_for=300)
    barrier, results = threading.Barrier(20), []

    def read():
        barrier.wait()
        results.append(item.get())

    threads = [threading.Thread(target=read) for _ in range(20)]
    for t in threads:
        t.start()
    servers.wait_until(lambda: len(source.calls) == 1, 10, "the first computation")
    source.gate.set()
    for t in threads:
        t.join(10)
    assert len(source.calls) == 1 and results == [{"version": 1}] * 20


def test_old_payloads_are_served_while_one_background_refresh_runs(monkeypatch):
    source = Source()
    item = RefreshAhead("warm", source, every=10, serve_for=300)
    assert item.get() == {"version": 1}
    reader = threading.current_thread().name
    # Ten seconds later the payload is due for a refresh.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 11)
    source.version = 2
    source.gate.clear()
    for _ in range(50):
        assert item.get() == {"version": 1}  # served at once, not computed inline
    source.gate.set()
    servers.wait_until(lambda: item.get() == {"version": 2}, 10, "the background refresh")
    assert source.calls[0] == reader  # only the cold start ran on a reader's thread
    assert len(source.calls) == 2 and source.calls[1] != reader


def test_a_failing_refresh_keeps_the_previous_payload(monkeypatch, caplog):
    source = Source()
    item = RefreshAhead("failing", source, every=10, serve_for=300)
    item.get()
    source.fail = True
    item.refresh()
    assert item.get() == {"version": 1}
    assert "refreshing 'failing' failed" in caplog.text


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="every < serve_for"):
        RefreshAhead("bad", Source(), every=10, serve_for=5)


@pytest.mark.django_db(transaction=True)  # purges happen on commit
def test_most_read_api_is_refresh_ahead_and_shared(client, django_user_model):
    from django.core.management import call_command

    from newsroom.news import data
    from newsroom.news.models import Article

    call_command("seed", articles=20, users=3, comments=5, no_progress=True, verbosity=0)
    first = client.get("/api/most-read.json").json()
    top = Article.objects.get(slug=first["articles"][-1]["url"].strip("/").split("/")[-1])
    Article.objects.filter(pk=top.pk).update(read_count=10**9)
    assert client.get("/api/most-read.json").json() == first  # served from the payload, not recomputed
    data.most_read.refresh()
    refreshed = client.get("/api/most-read.json").json()
    assert refreshed["articles"][0]["url"] == top.get_absolute_url()
    user = django_user_model.objects.create_user("someone", password="pw-for-tests-1")
    client.force_login(user)
    assert client.get("/api/most-read.json").json() == refreshed  # nothing per user in it
    assert "someone" not in client.get("/api/most-read.json").content.decode()
