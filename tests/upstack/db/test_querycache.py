"""The query cache with read replicas (upstack.db.querycache): a replica's cachalot table keys are its
primary's, so a write on the primary invalidates what was read from the replicas (cachalot alone keys
them per alias: the replica's results stayed cached for an hour - found by ``make drill-hosts``); the
primary's invalidation is repeated once after the replay window, and the repeat does not repeat itself."""

from __future__ import annotations

import time

from cachalot.utils import get_table_cache_key

from upstack.db import querycache
from upstack.db.configure import add_replicas


def test_a_replica_shares_its_primarys_table_keys(settings):
    settings.UPSTACK = {**settings.UPSTACK, "DATABASE_REPLICAS": ["replica"]}
    # The bug without it: cachalot's own keys differ per alias.
    assert get_table_cache_key("replica", "news_comment") != get_table_cache_key("default", "news_comment")
    assert querycache.table_cache_key("replica", "news_comment") == get_table_cache_key("default", "news_comment")
    assert querycache.table_cache_key("default", "news_comment") == get_table_cache_key("default", "news_comment")
    assert querycache.table_cache_key("other", "t") == get_table_cache_key("other", "t")  # not a replica


def test_add_replicas_sets_the_key_function_unless_the_site_has_its_own():
    namespace = {"DATABASES": {"default": {}}}
    add_replicas(namespace, {"replica": "postgres://u@127.0.0.1:5433/site"})
    assert namespace["CACHALOT_TABLE_KEYGEN"] == querycache.KEYGEN
    own = {"DATABASES": {"default": {}}, "CACHALOT_TABLE_KEYGEN": "site.keys.table"}
    add_replicas(own, {"replica": "postgres://u@127.0.0.1:5433/site"})
    assert own["CACHALOT_TABLE_KEYGEN"] == "site.keys.table"
    assert "CACHALOT_TABLE_KEYGEN" not in add_replicas(bare := {}, {}) and bare == {}


def test_the_primarys_invalidation_is_repeated_once_after_the_replay_window(settings, monkeypatch):
    settings.UPSTACK = {**settings.UPSTACK, "DATABASE_REPLICAS": ["replica"], "PURGE_REPEAT_AFTER": 0.2}
    calls = []

    def invalidate(*tables, **kwargs):  # what cachalot does: invalidate, then send the signal again
        calls.append((tables, kwargs, time.monotonic()))
        querycache._on_invalidation(tables[0], db_alias=kwargs["db_alias"])

    monkeypatch.setattr("cachalot.api.invalidate", invalidate)
    started = time.monotonic()
    querycache._on_invalidation("news_comment", db_alias="default")
    querycache._on_invalidation("news_comment", db_alias="replica")  # only the primary's writes repeat
    time.sleep(0.6)
    assert [(tables, kwargs) for tables, kwargs, _ in calls] == [(("news_comment",), {"db_alias": "default"})]
    assert 0.09 <= calls[0][2] - started < 0.5
