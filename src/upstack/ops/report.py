"""``upstack report views``: which views cost the most, and where their time goes.

Reads the per-view request and part histograms the app servers write (Prometheus multiprocess
files), sorts views by total time, and flags any part (sql, cache, template, http, python) that
takes more than ``threshold`` of a view's time.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

PARTS = ("sql", "cache", "template", "http", "python")


def views(multiproc_dir: Path, threshold: float = 0.30) -> list[dict]:
    from ..metrics.prometheus import multiprocess_samples

    rows: dict[str, dict] = defaultdict(lambda: {"requests": 0, "seconds": 0.0, **{p: 0.0 for p in PARTS}})
    for sample in multiprocess_samples(multiproc_dir):
        if sample.name == "upstack_request_seconds_count":
            rows[sample.labels["view"]]["requests"] += int(sample.value)
        elif sample.name == "upstack_request_seconds_sum":
            rows[sample.labels["view"]]["seconds"] += sample.value
        elif sample.name == "upstack_request_part_seconds_sum":
            rows[sample.labels["view"]][sample.labels["part"]] += sample.value
    result = []
    for view, row in rows.items():
        total = row["seconds"] or 1e-12
        shares = {part: round(row[part] / total, 3) for part in PARTS}
        result.append({"view": view, "requests": row["requests"], "total_ms": round(row["seconds"] * 1000, 1),
                       "mean_ms": round(row["seconds"] / row["requests"] * 1000, 2) if row["requests"] else None,
                       "share": shares, "flagged": [p for p in PARTS if shares[p] > threshold]})
    return sorted(result, key=lambda r: r["total_ms"], reverse=True)
