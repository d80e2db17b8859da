"""The precision oracle (bench/precision.py): its judgement, shown failing on a missed page, and a
small run on the newsroom that must keep recall at 100% for every kind of write."""

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
