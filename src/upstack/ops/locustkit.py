"""What every locustfile of ``upstack loadtest`` needs, without importing Locust (so the package can hold
it while Locust stays an optional extra): the URL list the command wrote, Zipf weights, statistics
names, and the per-layer response log that the report's histograms read."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path


def read_urls() -> list[str]:
    """The URL list the command wrote; the home page when there is none."""
    path = Path(os.environ.get("UPSTACK_LOADTEST_URLS", "/dev/null"))
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] or ["/"]


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    return [1 / (rank ** exponent) for rank in range(1, count + 1)]


def record_layers(events) -> None:
    """Record each response's ``X-Cache`` and ``X-Page-Cache`` with its time, and write them to
    ``$UPSTACK_LOADTEST_OUT/layers.csv`` when Locust quits (``events``: ``locust.events``)."""
    rows: list[tuple[str, str, str, float]] = []
    lock = threading.Lock()

    @events.request.add_listener
    def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
        if response is not None:
            with lock:
                rows.append((name, response.headers.get("X-Cache", "-"), response.headers.get("X-Page-Cache", "-"),
                             response_time))

    @events.quitting.add_listener
    def _write(environment, **kwargs):
        out = os.environ.get("UPSTACK_LOADTEST_OUT")
        if out:
            with open(Path(out) / "layers.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["name", "x_cache", "x_page_cache", "response_ms"])
                writer.writerows(rows)


def path_name(path: str, depth: int = 1) -> str:
    """Group statistics by the first ``depth`` path segments: /articles/a-slug/ -> /articles/*."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if len(parts) <= depth:
        return path.split("?")[0]
    return "/" + "/".join(parts[:depth]) + "/*"
