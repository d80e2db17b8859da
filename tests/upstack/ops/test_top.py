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


def test_the_direct_read_gives_the_rate_and_error_ratio_of_the_last_refresh(monkeypatch, tmp_path):
    from upstack.metrics import prometheus

    def counts(ok, failed):
        return [Sample("upstack_request_seconds_count", {"view": "news:home", "status": "200"}, ok),
                Sample("upstack_request_seconds_count", {"view": "news:home", "status": "503"}, failed)]

    samples = counts(100, 0)
    monkeypatch.setattr(prometheus, "multiprocess_samples", lambda directory: samples)
    first = top.app(tmp_path)
    assert first["requests_per_second"] is None and first["error_ratio"] is None  # no refresh yet
    samples[:] = counts(130, 10)
    second = top.app(tmp_path, previous={**first, "totals": {**first["totals"], "at": first["totals"]["at"] - 2}})
    assert second["error_ratio"] == 0.25 and 19 <= second["requests_per_second"] <= 20  # 40 in ~2 s, 10 failed


def result(value, **labels):
    return [{"metric": labels, "value": [0, value]}]


def test_prometheus_results_become_the_app_panel():
    results = {"requests_per_second": result("22"), "errors_per_second": result("2"), "mean_seconds": result("0.03"),
               "busy_workers": result("3"),
               "views": result("20", view="news:home") + result("2", view="news:search") + result("0", view="idle"),
               "p50": result("0.004", view="news:home") + result("NaN", view="news:search"),
               "p99": result("+Inf", view="news:home")}
    app = top.app_from_results(results, 8, "20s")
    assert app["views"] == [{"view": "news:home", "requests_per_second": 20.0, "p50_ms": 4.0, "p99_ms": None},
                            {"view": "news:search", "requests_per_second": 2.0, "p50_ms": None, "p99_ms": None}]
    assert (app["requests_per_second"], app["error_ratio"], app["mean_ms"], app["idle_workers"]) == (22.0, 0.0909, 30.0, 5)
    # Quiet: the series exist with 0/0 = NaN rates - figures, not an error.
    quiet = top.app_from_results({**results, "requests_per_second": result("0"), "errors_per_second": result("0"),
                                  "mean_seconds": result("NaN"), "views": []}, None, "20s")
    assert (quiet["requests_per_second"], quiet["error_ratio"], quiet["mean_ms"], quiet["views"]) == (0.0, None, None, [])


def test_a_prometheus_without_upstack_series_is_not_shown_as_a_quiet_app():
    """Negative: no series at all (it does not scrape this app) is a reason to fall back, not zeros."""
    import pytest

    empty = {name: [] for name in top.prometheus_queries("20s")}
    with pytest.raises(LookupError, match="no upstack_request_seconds series"):
        top.app_from_results(empty, 8, "20s")


def test_the_window_is_four_scrape_intervals_and_the_screen_names_the_source():
    assert (top.rate_window(5), top.rate_window(15), top.rate_window(0.5)) == ("20s", "60s", "4s")
    prom = snapshot(source={"name": "prometheus", "url": "http://127.0.0.1:9090", "reason": None})
    assert "app workers - from Prometheus http://127.0.0.1:9090" in screen(prom)
    direct = screen(snapshot(source={"name": "direct", "url": None, "reason": "no Prometheus (pass --prometheus URL"}))
    assert "app workers - read directly" in direct and "read directly: no Prometheus" in direct
