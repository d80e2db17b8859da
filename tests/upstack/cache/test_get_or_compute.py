"""get_or_compute: one computation per expiry across threads and processes, previous values served
during a recomputation, stale on error, XFetch, jitter, and a dead cache server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import caches

from upstack.cache import api, caches_setting, get_or_compute, hooks
from upstack.cache.stampede import jittered, should_recompute_early

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["locmem", "redis"])
def cache_url(request, settings):
    url = "locmem://stampede" if request.param == "locmem" else request.getfixturevalue("redis_server").url
    settings.CACHES = caches_setting(url, prefix=f"t{os.getpid()}-")
    caches["data"].clear()
    return url


def put_expired(key: str, value, ttl: int = 60, namespace: str = "data"):
    """An entry whose soft expiry has passed but which is still stored (the stale window)."""
    caches[namespace].set(key, (value, 0.01, time.time() - 1), ttl)


class Compute:
    """A computation that counts its calls and, when gated, blocks until released."""

    def __init__(self, value="new", gated=False, fail=False):
        self.value, self.fail = value, fail
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        if not gated:
            self.release.set()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        self.started.set()
        assert self.release.wait(30)
        if self.fail:
            raise RuntimeError("the database is on fire")
        return self.value


def run_readers(n: int, key: str, compute, **kwargs) -> tuple:
    """``n`` threads released at once on ``get_or_compute(key, compute)``: the threads, their results,
    and a wait until every one of them has called it."""
    barrier = threading.Barrier(n)
    results = [None] * n
    entered = threading.Semaphore(0)  # one release per reader about to call get_or_compute

    def read(i):
        barrier.wait()
        entered.release()
        results[i] = get_or_compute(key, compute, 60, beta=0, **kwargs)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()

    def all_entered() -> bool:
        return all(entered.acquire(timeout=10) for _ in range(n))

    return threads, results, all_entered


def test_n_readers_of_an_expired_hot_key_cause_one_computation(cache_url):
    put_expired("hot", "old")
    compute = Compute(gated=True)
    threads, results, _ = run_readers(50, "hot", compute)
    assert compute.started.wait(10)
    # While the winner is still computing (it is blocked), every other reader has already returned
    # the previous value: nobody waited for the new one.
    def others_done():
        return sum(not t.is_alive() for t in threads) == 49

    deadline = time.monotonic() + 20
    while not others_done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert others_done(), "readers were blocked by the recomputation"
    assert sorted(r for r in results if r is not None) == ["old"] * 49
    compute.release.set()
    for t in threads:
        t.join(10)
    assert compute.calls == 1
    assert sorted(results) == ["new"] + ["old"] * 49
    assert get_or_compute("hot", Compute("newer"), 60, beta=0) == "new"


def test_a_cold_key_is_computed_once_and_the_others_wait_for_it(cache_url):
    compute = Compute(gated=True)
    threads, results, entered = run_readers(30, "cold", compute)
    assert compute.started.wait(10)
    assert entered()  # every reader has called get_or_compute while the first computes
    compute.release.set()
    for t in threads:
        t.join(20)
    assert compute.calls == 1 and results == ["new"] * 30


def test_stale_while_revalidate_when_compute_raises(cache_url, caplog):
    put_expired("k", "previous")
    assert get_or_compute("k", Compute(fail=True), 60, beta=0) == "previous"
    assert "serving the previous value" in caplog.text
    with pytest.raises(RuntimeError, match="on fire"):
        get_or_compute("nothing-here", Compute(fail=True), 60)


def test_fresh_values_are_served_without_computing(cache_url):
    compute = Compute()
    assert get_or_compute("f", compute, 60, beta=0) == "new"
    assert get_or_compute("f", compute, 60, beta=0) == "new"
    assert compute.calls == 1
    assert get_or_compute("f", compute, 60, beta=0, force=True) == "new" and compute.calls == 2


def test_xfetch_recomputes_early_using_the_measured_compute_time(cache_url, monkeypatch):
    caches["data"].set("x", ("old", 5.0, time.time() + 2), 60)  # fresh for 2 s more, took 5 s to compute
    monkeypatch.setattr(api._rng, "random", lambda: 0.5)  # -5 * ln(0.5) = 3.5 s of head start > 2 s left
    compute = Compute()
    assert get_or_compute("x", compute, 60, beta=1.0) == "new" and compute.calls == 1
    caches["data"].set("y", ("old", 0.001, time.time() + 2), 60)  # cheap to compute: no early recompute
    assert get_or_compute("y", compute, 60, beta=1.0) == "old" and compute.calls == 1


def test_a_dead_cache_server_means_computing_inline(settings, dead_port):
    settings.CACHES = caches_setting(f"redis://127.0.0.1:{dead_port}/0")
    compute = Compute()
    assert get_or_compute("k", compute, 60) == "new"
    assert get_or_compute("k", compute, 60) == "new"
    assert compute.calls == 2


def test_jitter_and_xfetch_policy():
    assert jittered(100, 0.2, 0.0) == pytest.approx(80)
    assert jittered(100, 0.2, 0.5) == pytest.approx(100)
    assert jittered(100, 0.2, 0.9999) == pytest.approx(120, abs=0.01)
    assert jittered(0, 0.2, 0.3) == 0
    with pytest.raises(ValueError):
        jittered(10, 1.5, 0.1)
    assert should_recompute_early(now=10, expiry=10, delta=0, beta=1, rand=0.5)
    assert not should_recompute_early(now=0, expiry=10, delta=1, beta=0, rand=0.01)
    assert should_recompute_early(now=9, expiry=10, delta=1, beta=1, rand=0.01)   # 9 + 4.6 >= 10
    assert not should_recompute_early(now=9, expiry=10, delta=1, beta=1, rand=0.9)  # 9 + 0.1 < 10


READER_SCRIPT = r"""
import json, os, sys, threading, time
import django
django.setup()
from django.core.cache import caches
from upstack.cache import get_or_compute
import redis
counter = redis.Redis.from_url(os.environ["COUNTER_URL"])
def compute():
    counter.incr("computations")
    time.sleep(0.3)
    return "new"
counter.incr("ready")  # Django imported; now wait at the gate
while not counter.exists("go"):
    time.sleep(0.005)
results = []
def read():
    results.append(get_or_compute("shared", compute, 60, beta=0))
threads = [threading.Thread(target=read) for _ in range(int(sys.argv[1]))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""


def test_several_processes_compute_once_per_expiry(redis_server):
    """4 processes x 10 threads read a key as it expires: one computation among all 40 readers."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "REDIS_URL": redis_server.url,
           "COUNTER_URL": redis_server.url, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    import redis

    control = redis.Redis.from_url(redis_server.url)
    control.delete("go", "computations", "ready")
    setup = ("import django; django.setup(); import time; from django.core.cache import caches; "
             "caches['data'].clear(); caches['data'].set('shared', ('old', 0.3, time.time() - 1), 60)")
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, cwd=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", READER_SCRIPT, "10"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    deadline = time.monotonic() + 60
    while int(control.get("ready") or 0) < len(procs) and time.monotonic() < deadline:  # all at the gate
        time.sleep(0.01)
    assert int(control.get("ready") or 0) == len(procs), "a reader process never reached the gate"
    control.set("go", 1)
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    results = [value for out, _ in outputs for value in json.loads(out)]
    assert int(control.get("computations")) == 1
    assert len(results) == 40 and set(results) <= {"old", "new"} and results.count("new") >= 1
    control.close()


def test_late_readers_do_not_recompute_a_value_just_stored(cache_url):
    """A reader that saw the expired entry but locks after the winner finished must not compute
    again (the double check after taking the lock)."""
    for round_ in range(5):
        put_expired(f"late-{round_}", "old")
        compute = Compute()
        threads, results, _ = run_readers(40, f"late-{round_}", compute)
        for t in threads:
            t.join(20)
        assert compute.calls == 1, f"round {round_}: {compute.calls} computations"


def test_a_forced_recompute_makes_one_cache_call(cache_url):
    events = []
    listener = events.append
    hooks.subscribe(listener)
    try:
        get_or_compute("forced", Compute(), 60, force=True)
        forced = [e.operation for e in events]
        events.clear()
        get_or_compute("unforced", Compute(), 60)  # a cold key the ordinary way: read, lock, store, unlock
        ordinary = [e.operation for e in events]
    finally:
        hooks.unsubscribe(listener)
    assert forced == ["set"] and len(ordinary) > 1
    assert caches["data"].get("forced")[0] == "new"
