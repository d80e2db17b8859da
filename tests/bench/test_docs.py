"""docs/benchmarks*.md and bench/results/latest.json are generated from the newest results: they
must not drift from them."""

import json
from pathlib import Path

import pytest

from bench.report import latest, markdown

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def newest(prefix: str) -> dict:
    found = sorted(RESULTS.glob(f"{prefix}-????-??-??.json"))
    if not found:
        pytest.fail(f"no bench/results/{prefix}-*.json: run `make bench` / `make bench-quick` and commit its results")
    return json.loads(found[-1].read_text())


@pytest.mark.parametrize("prefix, doc", [("bench", "benchmarks.md"), ("quick", "benchmarks-quick.md")])
def test_the_benchmark_docs_match_the_newest_results(prefix, doc):
    assert (ROOT / "docs" / doc).read_text() == markdown(newest(prefix)), \
        f"docs/{doc} drifted from the results: run `make bench{'-quick' if prefix == 'quick' else ''}`"


def test_latest_json_is_the_summary_of_the_newest_full_or_quick_run():
    # both `make bench` and `make bench-quick` write it, so either one's newest results may be committed
    summary = json.loads((RESULTS / "latest.json").read_text())
    assert summary in (latest(newest("bench")), latest(newest("quick"))), \
        "bench/results/latest.json is not the summary of the newest bench-*.json or quick-*.json"
    assert set(summary["workloads"]) == {"anonymous", "logged_in", "mixed_writes"}
    for figures in summary["workloads"].values():
        for stack in ("upstack", "typical", "plain"):
            assert figures[stack]["rps"] > 0
    assert "ratio_vs_varnish_static" in summary["workloads"]["anonymous"]
