"""Redis Sentinel for the cache and for Celery, with real servers: a primary, its replica and a
Sentinel (``redis-server --sentinel``) on free loopback ports. The cache and a Celery task work
through Sentinel; the primary is killed; Sentinel promotes the replica; the same cache object and the
same Celery app work again with no change of configuration, and meanwhile the cache only misses (its
breaker counts connection errors, and nothing else)."""

from __future__ import annotations

import time

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tests import servers
from upstack.cache.backends.sentinel import SentinelPool, parse
from upstack.tasks.app import with_sentinel_master

from .conftest import build

MASTER = "upstack"


# --- the pure parts -----------------------------------------------------------------------------------

def test_a_location_is_every_sentinel_with_the_primarys_database_and_password():
    where = parse("sentinel://:s%40cret@10.0.0.5:26379/3;sentinel://10.0.0.6;")
    assert where.sentinels == [("10.0.0.5", 26379), ("10.0.0.6", 26379)]
    assert (where.db, where.username, where.password) == (3, None, "s@cret")


@pytest.mark.parametrize("bad", ["redis://10.0.0.5:6379", "sentinel://", "sentinel://h:26379/x", ";"])
def test_a_bad_location_is_a_clear_error(bad):
    with pytest.raises(ImproperlyConfigured, match="bad Sentinel location"):
        parse(bad)


def test_without_a_primarys_name_the_cache_and_celery_say_which_option_to_set():
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_MASTER"):
        SentinelPool.from_url("sentinel://127.0.0.1:26379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_MASTER"):
        with_sentinel_master("sentinel://:pw@127.0.0.1:26379", {}, "")


def test_celery_gets_master_name_only_for_sentinel_urls_and_never_over_the_projects():
    assert with_sentinel_master("sentinel://h:26379/1", {"visibility_timeout": 5}, "m") == \
        {"visibility_timeout": 5, "master_name": "m"}
    assert with_sentinel_master("sentinel://h:26379/1", {"master_name": "mine"}, "m") is None
    assert with_sentinel_master("redis://h:6379/1", {}, "m") is None


def test_the_broker_url_helpers_import_without_redis():
    """redis is an extra: the purge backlog and the task counters import this module for any broker."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['redis'] = None\n"  # as if not installed: importing it raises
            "from upstack.cache.backends import sentinel\n"
            "assert sentinel.REDIS_SCHEMES[-1] == 'sentinel://' and not sentinel.is_sentinel('memory://')\n"
            "try:\n    import redis\nexcept ImportError:\n    print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


# --- with real servers --------------------------------------------------------------------------------

def client(port: int) -> redis.Redis:
    made = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
    _clients.append(made)
    return made


_clients: list[redis.Redis] = []


@pytest.fixture
def sentinel_group():
    """A primary, its replica in sync, and a Sentinel that knows both."""
    servers.require_binary("redis-server")
    with servers.Redis() as primary, servers.Redis(replica_of=primary.port) as replica:
        servers.wait_until(lambda: client(replica.port).info("replication")["master_link_status"] == "up",
                           30, "the replica in sync", replica.log)
        with servers.RedisSentinel(primary.port, MASTER) as sentinel:
            servers.wait_until(lambda: len(client(sentinel.port).sentinel_slaves(MASTER)) == 1, 30,
                               "Sentinel seeing the replica", sentinel.log)
            try:
                yield primary, replica, sentinel
            finally:
                while _clients:
                    _clients.pop().close()


def celery_app(sentinel_url: str):
    from upstack.tasks import make_celery

    app = make_celery("sentinel-drill")
    app.conf.broker_connection_timeout = 2.0

    @app.task(name="sentinel_drill.add", ignore_result=False)
    def add(x, y):
        return x + y

    return app, add


@pytest.mark.servers
def test_the_cache_and_a_celery_task_work_through_a_failover_without_a_config_change(sentinel_group, settings):
    from celery.contrib.testing.worker import start_worker

    primary, replica, sentinel = sentinel_group
    settings.UPSTACK = {"REDIS_SENTINEL_MASTER": MASTER, "CACHE_TIMEOUT": 0.5}
    cache = build("redis", sentinel.url + "/0", "sentinel", BREAKER_COOLDOWN=0.5)
    plain = build("redis", primary.url, "plain", BREAKER_COOLDOWN=0.5)  # the negative: no Sentinel
    cache.set("before", "one")
    plain.set("before", "one")
    assert cache.get("before") == "one" and plain.get("before") == "one"
    assert client(primary.port).dbsize() > 0  # Sentinel pointed the cache at the primary

    with override_settings(CELERY_BROKER_URL=sentinel.url + "/1", CELERY_RESULT_BACKEND=sentinel.url + "/2"):
        app, add = celery_app(sentinel.url)
        assert app.conf.broker_transport_options["master_name"] == MASTER
        assert app.conf.result_backend_transport_options["master_name"] == MASTER
        with start_worker(app, perform_ping_check=False, shutdown_timeout=20):
            assert add.delay(2, 3).get(timeout=20) == 5

            killed = time.monotonic()
            primary.halt()  # the primary dies; Sentinel has 1 s to notice, then promotes the replica
            # Meanwhile: misses, not errors, and the breaker opens on the connection errors.
            assert cache.get("before", "missed") == "missed" and cache.breaker.is_open
            ask = client(sentinel.port)
            servers.wait_until(lambda: ask.sentinel_get_master_addr_by_name(MASTER)[1] == replica.port, 60,
                               "Sentinel promoting the replica", sentinel.log)

            def cache_works() -> bool:
                cache.set("after", "two")
                return cache.get("after") == "two"

            servers.wait_until(cache_works, 30, "the cache through the new primary")
            print(f"failover: the cache worked again {time.monotonic() - killed:.1f} s after the primary died")
            promoted = client(replica.port)
            assert promoted.info("replication")["role"] == "master" and promoted.dbsize() > 0
            # Connection errors only: a command error on the new primary is raised, and the breaker stays shut.
            cache.set("text", "not a number")
            with pytest.raises(Exception) as raised:
                cache.incr("text")
            assert not isinstance(raised.value, cache.connection_errors) and not cache.breaker.is_open
            # The same Celery app, through Sentinel, on the new primary; the task counters and the purge
            # backlog (the broker's Redis) follow it too.
            assert add.delay(3, 4).get(timeout=60) == 7
            from upstack.edge import backlog
            from upstack.tasks import stats

            assert backlog.durable()
            counted = stats()
            assert counted["broker"] == "redis" and counted["queues"]["default"]["sent"] >= 1, counted
    # Without Sentinel the cache still points at the dead primary: only misses.
    plain.set("after", "two")
    assert plain.get("after", "missed") == "missed"
