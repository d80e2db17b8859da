"""The fault-tolerant backends: Django's behaviour with the server up, a miss with it down, killed or
blackholed, one attempt per cooldown thanks to the breaker, automatic recovery, namespaces."""

from __future__ import annotations

import logging
import threading
import time
import warnings

import pytest
from django.core.cache import InvalidCacheKey
from django.core.cache.backends.locmem import LocMemCache as DjangoLocMem
from django.core.cache.backends.memcached import PyMemcacheCache as DjangoMemcached
from django.core.cache.backends.redis import RedisCache as DjangoRedis

from tests import servers
from upstack.cache import caches_setting, hooks
from upstack.cache.backends import base

from .conftest import _built, build, location_of

DJANGO = {"redis": DjangoRedis, "memcached": DjangoMemcached, "locmem": DjangoLocMem}


def scenario(cache) -> list:
    """Every public operation, recording what each returns (or raises)."""
    out = []

    def record(fn, *args, **kwargs):
        try:
            out.append(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the exception type is part of the behaviour
            out.append(type(exc).__name__)

    record(cache.get, "a")
    record(cache.get, "a", "dflt")
    # Client errors first: every later line shows that they did not make the server look down.
    record(cache.set, "text", "not a number")
    record(cache.incr, "text")
    record(cache.decr, "text")
    record(cache.incr, "absent")
    record(cache.set, "big", "small")
    record(cache.set, "big", "x" * (2**20 + 1))  # over memcached's 1 MB item limit
    record(cache.get, "big")
    record(cache.set, "k" * 225, "a key Django accepts")  # the generation must not make it too long
    record(cache.get, "k" * 225)
    record(cache.set, "a", {"x": [1, 2]})
    record(cache.get, "a")
    record(cache.add, "a", 2)
    record(cache.add, "b", 2)
    record(cache.get_many, ["a", "b", "c"])
    record(cache.set_many, {"c": 3, "d": "four"})
    record(cache.get_many, ["c", "d"])
    record(cache.delete_many, ["c", "d"])
    record(cache.has_key, "c")
    record(cache.incr, "b")
    record(cache.incr, "b", 10)
    record(cache.decr, "b", 3)
    record(cache.incr, "missing")
    record(cache.touch, "b", 100)
    record(cache.touch, "missing", 100)
    record(cache.delete, "b")
    record(cache.delete, "b")
    record(cache.set, "v", "one", version=2)
    record(cache.get, "v")
    record(cache.get, "v", version=2)
    record(cache.incr_version, "v", version=2)
    record(cache.get, "v", version=3)
    record(cache.get_or_set, "gs", lambda: "computed")
    record(cache.get_or_set, "gs", lambda: "again")
    record(cache.has_key, "gs")
    record(cache.set, "ttl", 1, timeout=0)
    record(cache.get, "ttl")
    return out


def test_with_the_server_up_behaviour_is_djangos(backend_kind, server_for):
    location = location_of(backend_kind, server_for(backend_kind))
    ours = build(backend_kind, location, "parity-ours")
    theirs = DJANGO[backend_kind](location, {"KEY_PREFIX": "t-parity-django"})
    _built.append(theirs)
    ours.clear()
    for key in ("a", "b", "c", "d", "v", "gs", "ttl", "text", "big", "k" * 225):
        theirs.delete(key)
        theirs.delete(key, version=2)
        theirs.delete(key, version=3)
    assert scenario(ours) == scenario(theirs)
    assert not ours.breaker.is_open and ours.breaker.failures == 0


def test_client_errors_propagate_as_djangos_and_leave_the_breaker_closed(backend_kind, server_for):
    location = location_of(backend_kind, server_for(backend_kind))
    ours = build(backend_kind, location, "client-errors")
    theirs = DJANGO[backend_kind](location, {"KEY_PREFIX": "t-client-errors-django"})
    _built.append(theirs)
    for cache in (ours, theirs):
        cache.set("text", "x")
    for operation in ("incr", "decr"):
        with pytest.raises(Exception) as djangos:
            getattr(theirs, operation)("text")
        with pytest.raises(type(djangos.value)):
            getattr(ours, operation)("text")
    assert ours.breaker.failures == 0 and not ours.breaker.is_open
    assert ours.get("text") == "x"


def test_a_key_invalid_for_django_is_rejected_with_djangos_error(backend_kind, server_for):
    location = location_of(backend_kind, server_for(backend_kind))
    ours = build(backend_kind, location, "keys")
    theirs = DJANGO[backend_kind](location, {"KEY_PREFIX": "t-keys"})
    _built.append(theirs)
    for key in ("a" * 250, "with space"):
        django_error, django_warned = _set_reporting(theirs, key)
        upstack_error, upstack_warned = _set_reporting(ours, key)
        assert type(django_error) is type(upstack_error)
        assert upstack_warned == django_warned


def _set_reporting(cache, key) -> tuple[Exception | None, list[str]]:
    """``cache.set(key, 1)``: the InvalidCacheKey it raised (or None) and the warnings it gave."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            cache.set(key, 1)
        except InvalidCacheKey as exc:
            return exc, [str(w.message) for w in warned]
    return None, [str(w.message) for w in warned]


def test_clear_reaches_every_alias_and_thread_of_the_process_at_once(backend_kind, server_for):
    """Django builds a backend per alias and per thread: after one clears, none reads an old value."""
    location = location_of(backend_kind, server_for(backend_kind))
    one = build(backend_kind, location, "shared-gen")
    one.set("k", "old")
    seen = {}

    def other_thread():
        other = build(backend_kind, location, "shared-gen")  # a second instance, as in another thread
        seen["before"] = other.get("k")
        one.clear()
        seen["after"] = other.get("k")

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == {"before": "old", "after": None}
    assert one.get("k") is None


def test_locmem_clear_empties_the_store():
    cache = build("locmem", "tests-cull", "cull", MAX_ENTRIES=5)
    for i in range(5):
        cache.set(f"k{i}", i)
    cache.clear()
    assert len(cache._cache) == 0 and not cache._expire_info
    for i in range(5):  # a full quota again, without culling
        cache.set(f"n{i}", i)
    assert [cache.get(f"n{i}") for i in range(5)] == list(range(5))


def test_locmem_namespaces_have_their_own_stores():
    settings = caches_setting("locmem://ns-stores")
    assert len({settings[alias]["LOCATION"] for alias in settings}) == len(settings)


def test_clear_is_limited_to_its_namespace(backend_kind, server_for):
    location = location_of(backend_kind, server_for(backend_kind))
    templates = build(backend_kind, location, "templates")
    # caches_setting gives each locmem namespace a store of its own (clear() empties a whole store).
    data = build(backend_kind, f"{location}-data" if backend_kind == "locmem" else location, "data")
    templates.set("k", "t")
    data.set("k", "d")
    templates.clear()
    assert templates.get("k") is None
    assert data.get("k") == "d"
    if backend_kind == "redis":  # the server still holds the other namespace: no FLUSHDB happened
        assert servers.talk(server_for("redis").port, b"DBSIZE\r\n") != b":0\r\n"


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_another_process_sees_a_clear_within_the_generation_ttl(kind, server_for):
    location = location_of(kind, server_for(kind))
    writer = build(kind, location, "cross-process")
    writer.set("k", "old")
    assert writer.get("k") == "old"
    # Another process: same server, but it still holds the generation it read before the clear.
    ident = writer._generation_ident
    before = base.GENERATIONS.last(ident)
    base.GENERATIONS.forget(ident)
    server_side = writer.generation()
    assert server_side == before
    writer.bump_generation()
    base.GENERATIONS.store(ident, before, time.monotonic(), replace=True)  # the other process's memo
    assert writer.get("k") == "old"  # inside the window (at most GENERATION_TTL)
    base.GENERATIONS.store(ident, before, time.monotonic() - base.GENERATION_TTL, replace=True)
    assert writer.get("k") is None  # the window has passed: it reads the new generation


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_a_down_server_is_a_miss_and_the_breaker_stops_retrying(kind, dead_port, caplog):
    location = f"redis://127.0.0.1:{dead_port}/0" if kind == "redis" else [f"127.0.0.1:{dead_port}"]
    cache = build(kind, location, "down", BREAKER_COOLDOWN=60)
    events = []
    hooks.subscribe(events.append)
    try:
        with caplog.at_level(logging.WARNING, logger="upstack.cache"):
            assert scenario_when_down(cache) == EXPECTED_WHEN_DOWN
    finally:
        hooks.unsubscribe(events.append)
    breaker = breaker_of(cache)
    assert breaker.is_open and breaker.opened == 1 and not cache.is_available()
    assert breaker.failures == 1  # one attempt; every later call was skipped
    assert events and all(e.skipped or e.error for e in events)
    warnings = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(warnings) == 1


def breaker_of(cache):
    """The breaker of a one-server cache: memcached has one per node (test_memcached_nodes.py)."""
    if hasattr(cache, "node_breakers"):
        (breaker,) = cache.node_breakers().values()
        return breaker
    return cache.breaker


def scenario_when_down(cache):
    results = [cache.get("a"), cache.get("a", "dflt"), cache.set("a", 1), cache.add("a", 1), cache.get_many(["a", "b"]),
               cache.set_many({"a": 1, "b": 2}), cache.delete("a"), cache.delete_many(["a"]), cache.has_key("a"),
               cache.touch("a"), cache.get_or_set("a", lambda: "computed")]
    for op in (cache.incr, cache.decr):
        try:
            op("a")
        except ValueError:
            results.append("ValueError")
    cache.clear()
    return results


EXPECTED_WHEN_DOWN = [None, "dflt", None, False, {}, ["a", "b"], False, None, False, False, "computed",
                      "ValueError", "ValueError"]


@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_a_blackholed_server_costs_one_timeout_per_cooldown(kind, blackhole):
    location = f"redis://127.0.0.1:{blackhole.port}/0" if kind == "redis" else [f"127.0.0.1:{blackhole.port}"]
    cache = build(kind, location, "hole", BREAKER_COOLDOWN=0.5)
    for _ in range(50):
        assert cache.get("k") is None
    assert blackhole.connections == 1  # one connection, one timeout, then the breaker held
    assert breaker_of(cache).failures == 1
    servers.wait_until(lambda: cache.get("k") is None and breaker_of(cache).failures == 2, 10, "the half-open trial")
    assert blackhole.connections <= 2


def test_a_killed_server_is_survived_and_recovery_is_automatic(open_tmp):
    servers.require_binary("redis-server")
    server = servers.Redis().start()
    try:
        cache = build("redis", server.url, "queries", BREAKER_COOLDOWN=0.2)
        cache.set("before", "stale-if-served")
        assert cache.get("before") == "stale-if-served"
        port = server.port
        server.proc.kill()
        server.proc.wait()
        assert cache.get("before") is None and cache.set("x", 1) is None
        assert cache.breaker.is_open
        # The same server comes back on the same port.
        revived = servers.Redis()
        revived.port = port
        revived.start()
        try:
            servers.wait_until(lambda: cache.set("after", 1) is None and cache.get("after") == 1, 10, "recovery")
            assert not cache.breaker.is_open
            # Invalidations sent during the outage were lost, so the namespace was flushed on recovery.
            assert cache.get("before") is None
        finally:
            revived.stop()
    finally:
        server.stop()


def test_errors_are_rate_limited_in_the_log(dead_port, caplog, monkeypatch):
    monkeypatch.setattr(base, "LOG_EVERY", 3600)
    cache = build("redis", f"redis://127.0.0.1:{dead_port}/0", "logs", BREAKER_COOLDOWN=0.01)
    with caplog.at_level(logging.WARNING, logger="upstack.cache"):
        for _ in range(20):
            cache.get("k")
            time.sleep(0.012)
    assert cache.breaker.failures > 5
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1


def test_the_failure_log_never_shows_the_servers_password(dead_port, caplog):
    cache = build("redis", f"redis://:topsecret@127.0.0.1:{dead_port}/0", "secret", BREAKER_COOLDOWN=60)
    with caplog.at_level(logging.WARNING, logger="upstack.cache"):
        assert cache.get("k") is None
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"redis://:***@127.0.0.1:{dead_port}/0" in logged and "topsecret" not in logged
    assert base.redacted(["sentinel://u:pw@h:26379", "b:11211"]) == "sentinel://u:***@h:26379,b:11211"


def test_hooks_report_hits_misses_and_time_once_per_outer_call(redis_server):
    cache = build("redis", redis_server.url, "hooked")
    cache.clear()
    events = []
    hooks.subscribe(events.append)
    try:
        cache.set("k", 1)
        cache.get("k")
        cache.get("nope")
        cache.get_many(["k", "nope", "nope2"])
        cache.get_or_set("gs", 5)  # calls get and add inside: reported once
    finally:
        hooks.unsubscribe(events.append)
    assert [(e.operation, e.hits, e.misses) for e in events] == [
        ("set", 0, 0), ("get", 1, 0), ("get", 0, 1), ("get_many", 1, 2), ("get_or_set", 0, 0)]
    assert all(e.namespace == "hooked" and e.seconds > 0 and not e.error for e in events)


@pytest.mark.servers
def test_redis_operations_share_one_client_per_pool(redis_server, monkeypatch):
    """redis-py builds its callback table in every constructor; one client per pool serves all calls."""
    import redis

    made = []
    original = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    cache = build("redis", redis_server.url)
    for n in range(20):
        cache.set(f"reuse{n}", n)
        assert cache.get(f"reuse{n}") == n
    assert len(made) == 1
    django_cache = DjangoRedis(redis_server.url, {})  # the deliberately different baseline: one per call
    django_cache.set("reuse", 1)
    django_cache.get("reuse")
    assert len(made) == 3
    django_cache._cache.get_client().connection_pool.disconnect()
