"""The precision oracle (bench/precision.py): its judgement, shown failing on a missed page, a small
run on the newsroom that must keep recall at 100% for every kind of write (with the precise and the
table keys), and the shortcuts that make its full size affordable (one render per write, workers)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from bench import precision
from bench.precision import Outcome, judge


def test_recall_and_precision_per_kind():
    outcomes = [Outcome("title", {"/a/"}, {"/a/", "/"}), Outcome("title", set(), {"/"}),
                Outcome("comment", {"/b/"}, {"/b/"})]
    verdict = judge(outcomes, pages=10)
    assert verdict.by_kind["title"] == {"writes": 2, "changed": 1, "purged": 3, "recall": 1.0,
                                        "precision": 0.3333, "purged_per_write": 1.5, "purged_share": 0.15}
    assert verdict.overall["recall"] == 1.0 and verdict.recall_ok and not verdict.misses


def test_a_changed_page_that_was_not_purged_fails_recall():
    verdict = judge([Outcome("status", {"/", "/sections/world/"}, {"/"})], pages=10)
    assert verdict.by_kind["status"]["recall"] == 0.5
    assert not verdict.recall_ok
    assert verdict.misses == [{"kind": "status", "stale": ["/sections/world/"]}]


def test_per_request_tokens_are_not_changes():
    one = b'<input name="csrfmiddlewaretoken" value="abc"><p>same</p>'
    two = b'<input name="csrfmiddlewaretoken" value="xyz"><p>same</p>'
    assert precision.normalise(one) == precision.normalise(two)
    assert precision.normalise(b"<p>a</p>") != precision.normalise(b"<p>b</p>")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_no_write_leaves_a_changed_page_unpurged():
    """The quick oracle: every kind of write, a sample of every kind of page; recall must be 100%."""
    call_command("seed", articles=200, users=30, comments=400, seed=3, no_progress=True, verbosity=0)
    result = precision.run(pages=50, writes=2, seed=3)
    print({kind: (row["recall"], row["precision"], row["purged_per_write"]) for kind, row in result["by_kind"].items()})
    assert set(result["by_kind"]) == set(precision.KINDS)
    assert sum(row["changed"] for row in result["by_kind"].values()) > 0  # writes did change pages
    assert result["recall_ok"], result["misses"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_oracle_catches_invalidation_that_misses_lists(monkeypatch):
    """Negative: with only instance keys purged, moved and new articles leave lists stale - caught."""
    from upstack.edge import invalidation

    real = invalidation.write_keys
    monkeypatch.setattr(invalidation, "write_keys", lambda *args, **kwargs: {
        key for key in real(*args, **kwargs) if ":" in key})
    call_command("seed", articles=200, users=30, comments=400, seed=3, no_progress=True, verbosity=0)
    result = precision.run(pages=50, writes=2, seed=3, kinds=("section", "new_article"))
    assert not result["recall_ok"]
    assert result["misses"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_render_is_the_next_writes_before(settings):
    """The oracle renders every page once per write, taking a write's "after" as the next one's "before":
    sound only if two renders with no write between them are the same (no clock, no per-request
    content left in the fingerprint). Negative: a write between them is seen."""
    import random

    call_command("seed", articles=120, users=20, comments=200, seed=5, no_progress=True, verbosity=0)
    settings.UPSTACK = {**settings.UPSTACK, "PAGE_CACHE": False,
                        "PURGE_BACKENDS": {"oracle": {"BACKEND": "upstack.edge.backends.dummy.DummyBackend"}}}
    rng = random.Random(5)
    oracle = precision.Oracle(precision.sample_pages(40, rng), rng)
    first = oracle.render()
    assert first == oracle.render()
    oracle.write_new_article()
    after = oracle.render()
    assert {url for url in first if first[url][0] != after[url][0]} >= {"/"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_table_keys_keep_recall_and_purge_more():
    """UPSTACK["EDGE_KEYS"] = "table" (the benchmark's "before"): coarser keys, so never a missed page,
    and at least as many pages purged per write as the precise keys on the same writes."""
    call_command("seed", articles=200, users=30, comments=400, seed=3, no_progress=True, verbosity=0)
    table = precision.run(pages=50, writes=1, seed=3, edge_keys="table")
    assert table["edge_keys"] == "table" and set(table["by_kind"]) == set(precision.KINDS)
    assert table["recall_ok"], table["misses"]
    # node_list: a retitle purges every page with a list of articles - most of the sample (the precise
    # keys: the pages showing that article, under 1% of the article pages, docs/edge.md).
    assert table["by_kind"]["title"]["purged_share"] > 0.5


@pytest.mark.slow
def test_worker_processes_render_what_one_process_renders():
    """--workers 2 (forked renderers on the oracle's own SQLite file) gives the same verdict, page for
    page, as one process on the same seed."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test", "PYTHONPATH": str(root)}
    results = [json.loads(subprocess.run(
        [sys.executable, "-m", "bench.precision", "--articles", "200", "--pages", "40", "--writes", "1",
         "--seed", "4", "--workers", str(workers), "--json"], cwd=root, env=env, capture_output=True,
        text=True, timeout=300, check=True).stdout) for workers in (1, 2)]
    assert [r.pop("rendering_processes") for r in results] == [1, 2]  # the workers did render
    assert results[0] == results[1]
    assert results[0]["overall"]["changed"] > 0
