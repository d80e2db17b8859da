"""Memcached nodes fail alone: with two real memcached processes and one killed, the keys of the live
node still hit (the hit ratio falls by the dead node's share, not to 0), no namespace is invalidated,
and a node that comes back after a partition is flushed alone, so it never serves a value whose
delete it missed."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests import servers
from upstack.cache import breaker as breakers

from .conftest import build

KEYS = [f"story-{i}" for i in range(200)]


@pytest.fixture
def two_nodes():
    servers.require_binary("memcached")
    nodes = [servers.Memcached().start(), servers.Memcached().start()]
    breakers.reset_all()
    yield nodes
    for node in nodes:
        node.stop()
    breakers.reset_all()


def _node_of(cache, key: str) -> str:
    return cache._cache.hasher.get_node(cache.make_key(key))


def _hits(cache) -> int:
    return sum(cache.get(key) is not None for key in KEYS)


def test_one_node_down_loses_only_its_keys(two_nodes):
    first, second = two_nodes
    cache = build("memcached", [first.location, second.location], "nodes", BREAKER_COOLDOWN=0.3)
    for key in KEYS:
        cache.set(key, "page")
    generation = cache.generation()
    assert _hits(cache) == len(KEYS)
    on_first = [key for key in KEYS if _node_of(cache, key) == first.location]
    assert 0.3 < len(on_first) / len(KEYS) < 0.7, len(on_first)  # both nodes hold a real share

    second.halt()
    # Every key of the live node still hits; the dead node's keys are misses. (Before per-node
    # breakers, one dead node opened the breaker of the whole list: 0 hits.)
    hits = _hits(cache)
    print(f"one of two memcached nodes down: {hits}/{len(KEYS)} hits (the live node's share: {len(on_first)})")
    assert hits == len(on_first)
    assert all(cache.get(key) == "page" for key in on_first)
    assert cache.is_available()
    assert cache.node_breakers()[second.location].is_open and not cache.node_breakers()[first.location].is_open

    second.resume()  # a restarted memcached: empty, same port
    # Only a call can try the node again (the half-open trial): read, then look at its breaker.
    servers.wait_until(lambda: _hits(cache) >= len(on_first) and not cache.node_breakers()[second.location].is_open,
                       10, "the returning node's breaker to close")
    for key in KEYS:
        cache.set(key, "page")
    assert _hits(cache) == len(KEYS)
    # No namespace invalidation on a partial recovery: the live node's keys were never lost.
    assert cache.generation() == generation


@pytest.mark.parametrize("flush_on_recovery", [True, False])
def test_a_partitioned_node_is_flushed_when_it_returns(two_nodes, flush_on_recovery):
    """The node keeps its memory while unreachable (SIGSTOP); a delete sent meanwhile never reached
    it. Flushed on return, it serves no stale value; the negative case (no flush) shows the check
    is not vacuous."""
    first, second = two_nodes
    cache = build("memcached", [first.location, second.location], f"part{int(flush_on_recovery)}",
                  BREAKER_COOLDOWN=0.3, FLUSH_ON_RECOVERY=flush_on_recovery)
    key = next(k for k in KEYS if _node_of(cache, k) == second.location)
    kept = next(k for k in KEYS if _node_of(cache, k) == first.location)
    cache.set(key, "old")
    cache.set(kept, "live")
    os.kill(second.pid, signal.SIGSTOP)
    # The signal is delivered when each of memcached's threads next runs: until the kernel says it is
    # stopped, a thread may still answer (this read then returned "old" on a loaded machine).
    servers.wait_until(lambda: _states(second.pid) == {"T"}, 5, "every memcached thread to be stopped")
    try:
        assert cache.get(key) is None  # a timeout: its breaker opens
        assert cache.node_breakers()[second.location].is_open
        cache.delete(key)  # lost: the node is skipped while its breaker is open
    finally:
        os.kill(second.pid, signal.SIGCONT)
    time.sleep(0.4)  # the cooldown passes
    # The half-open trial (this read, or the generation read before it when that key lives there).
    first_read = cache.get(key)
    assert not cache.node_breakers()[second.location].is_open
    assert cache.get(kept) == "live"
    if flush_on_recovery:
        assert first_read is None and cache.get(key) is None
    else:
        assert cache.get(key) == "old"  # what the flush prevents


def _states(pid: int) -> set[str]:
    """The state letters of the process's threads, from /proc (T: stopped by a signal)."""
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as stat:
            found.add(stat.read().rsplit(")", 1)[1].split()[0])
    return found
