"""docs/benchmarks.md is generated from the newest bench/results/bench-*.json: it must not drift."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_doc_matches_the_latest_results():
    from bench.run import markdown

    results = sorted((ROOT / "bench" / "results").glob("bench-*.json"))
    if not results:
        pytest.fail("no bench/results/bench-*.json: run `make bench-quick` and commit its results")
    latest = json.loads(results[-1].read_text())
    assert (ROOT / "docs" / "benchmarks.md").read_text() == markdown(latest), \
        "docs/benchmarks.md drifted from the results: run `make bench-quick` (or regenerate it from the JSON)"
