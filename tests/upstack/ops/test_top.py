"""``upstack top``'s pure parts: quantiles from histogram buckets, per-view windows between refreshes,
and the full-screen layout of a snapshot. The live view itself runs under tmux against a real stack
in tests/upstack/stack/test_runner.py."""

from __future__ import annotations

import io

from rich.console import Console

from upstack.ops import top

INF = float("inf")


def test_quantiles_are_the_bucket_that_holds_them():
    buckets = {0.005: 50, 0.025: 98, 0.1: 99, INF: 100}  # cumulative
    assert top.quantile(buckets, 0.5) == 5.0 and top.quantile(buckets, 0.99) == 100.0
    assert top.quantile({0.005: 0, INF: 3}, 0.5) is None  # beyond the last bound: not a number to show
    assert top.quantile({}, 0.5) is None


class Sample:
    def __init__(self, name, labels, value):
        self.name, self.labels, self.value = name, labels, value


def test_per_view_percentiles_cover_the_last_refresh_only(monkeypatch, tmp_path):
    from upstack.metrics import prometheus

    samples = [Sample("upstack_request_seconds_bucket", {"view": "news:home", "le": le}, n)
               for le, n in (("0.005", 100), ("0.5", 100), ("+Inf", 100))]
    monkeypatch.setattr(prometheus, "multiprocess_samples", lambda directory: samples)
    first = top.app(tmp_path, capacity=8)
    assert first["views"] == [{"view": "news:home", "requests": 100, "p50_ms": 5.0, "p99_ms": 5.0}]
    # The next second: 10 slow requests. Since start the p50 would still say 5 ms; the window says 500.
    samples[:] = [Sample("upstack_request_seconds_bucket", {"view": "news:home", "le": le}, n)
                  for le, n in (("0.005", 100), ("0.5", 110), ("+Inf", 110))]
    second = top.app(tmp_path, capacity=8, previous=first)
    assert second["views"] == [{"view": "news:home", "requests": 10, "p50_ms": 500.0, "p99_ms": 500.0}]
    assert second["window"] == "refresh" and second["idle_workers"] == 8
    assert top.app(tmp_path, capacity=8, previous=second)["views"] == []  # nothing new: no row


def snapshot(**overrides) -> dict:
    data = {"edge": {"requests_per_second": 812.0, "backend_requests_per_second": 40.0, "hit_ratio_now": 0.95,
                     "hit_ratio": 0.9, "totals": {}},
            "app": {"requests": 10, "mean_ms": 5.0, "busy_workers": 3, "idle_workers": 5, "capacity": 8,
                    "views": [{"view": "news:search", "requests": 40, "p50_ms": 25.0, "p99_ms": 250.0}],
                    "window": "refresh", "raw": {}},
            "cache": {"hit_ratio": 0.8, "evicted_keys": 0, "used_memory": 3 << 20, "maxmemory": 0,
                      "connected_clients": 4},
            "namespaces": {"pages": {"hit_ratio": 0.5, "calls": 3, "errors": 0}},
            "db": {"connections": 7, "top_statements": [{"calls": 3, "total_ms": 4.0, "query": "SELECT 1"}]},
            "queues": {"high": {"depth": 2, "sent": 9, "failed": 0}},
            "purges": {"waiting": 2, "failed_keys": 0}}
    return {**data, **overrides}


def screen(data) -> str:
    out = Console(file=io.StringIO(), width=150, height=40, no_color=True)
    out.print(top.render(data))
    return out.file.getvalue()


def test_the_layout_shows_every_layer():
    text = screen(snapshot())
    for shown in ("req/s    812.0", "hit ratio  95.0%", "busy 3   idle 5", "news:search", "250.0",
                  "pages", "50.0%", "connections 7", "SELECT 1", "high", "purge backlog 2 waiting"):
        assert shown in text, shown
    assert "raw" not in top.dumps(snapshot())


def test_an_unreadable_server_says_why_in_its_panel_and_the_others_still_show():
    text = screen(snapshot(db={"error": "OperationalError: connection refused"}))
    assert "OperationalError: connection refused" in text and "req/s    812.0" in text
