"""The stampede benchmark's readers and its judge: a cache that never recomputes, or readers left
without a value, fail the check (bench/report.py), and upstack's get_or_compute passes it."""

import time

import pytest
from django.core.cache import caches

from bench import report, stampede
from upstack.cache import caches_setting, get_or_compute


def judged(computations: int, without_value: int, readers: int) -> list[str]:
    return report.stampede_problems({"readers": readers, "upstack": {
        "computations_per_round": [computations], "readers_without_value_per_round": [without_value]}})


@pytest.fixture
def data_cache(settings):
    settings.CACHES = caches_setting("locmem://bench-stampede")
    caches["data"].clear()


def test_a_cache_that_never_recomputes_fails(data_cache):
    caches["data"].set("hot", ("stale", 0.01, time.time() - 1), 60)
    # Serves the stale value to everyone and never calls the computation.
    computations, _, without = stampede.storm(20, lambda counter: caches["data"].get("hot")[0])
    assert (computations, without) == (0, 0)
    assert judged(computations, without, 20) == ["round 1: 0 computations (exactly 1 per expiry)"]


def test_readers_left_without_a_value_fail(data_cache):
    computations, _, without = stampede.storm(10, lambda counter: None)
    assert without == 10
    assert "round 1: 10 of 10 readers got no value" in judged(1, without, 10)


def test_get_or_compute_passes(data_cache):
    caches["data"].set("hot", ("stale", 0.01, time.time() - 1), 60)
    computations, _, without = stampede.storm(20, lambda counter: get_or_compute(
        "hot", stampede.computation(counter, 0.05), 60, beta=0))
    assert judged(computations, without, 20) == []
