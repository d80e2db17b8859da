"""Dated benchmark results: ``bench/results/<name>-<date>.json`` (docs/benchmarks.md is made from these)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, result: dict, echo: bool = True) -> Path:
    """Write ``result`` (which has a ``date``) and, by default, print it."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    if echo:
        print(json.dumps(result, indent=2))
    return path
