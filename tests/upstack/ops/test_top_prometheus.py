"""``upstack top`` reading the app's figures from a real Prometheus (Debian's binary) by PromQL.

Prometheus scrapes, every second, a loopback /metrics served by prometheus-client from a registry
fed at a known rate (20 fast requests/s to one view, 2 slow failing ones to another), so the rate,
error ratio and per-view quantiles top shows can be checked against what was fed. The same reading
against the local stack's own Prometheus (`up --with observability`) is in
tests/upstack/stack/test_observability_stack.py.
"""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

from tests import servers
from upstack.metrics.prometheus import BUCKETS
from upstack.ops import promql, top

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def fed_prometheus():
    servers.require_binary("prometheus")
    registry = CollectorRegistry()
    seconds = Histogram("upstack_request_seconds", "Request latency", ["view", "status"], buckets=BUCKETS,
                        registry=registry)
    Gauge("upstack_requests_in_flight", "Requests being served", registry=registry).set(3)
    port = servers.free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def feed():  # by the clock, not by loop turns: 20 a second to news:home, 2 to news:search; at most 90 s
        started = time.monotonic()
        fed = {"home": 0, "search": 0}
        while not stop.wait(0.05) and time.monotonic() < started + 90:
            elapsed = time.monotonic() - started
            while fed["home"] < 20 * elapsed:
                seconds.labels("news:home", "200").observe(0.004)
                fed["home"] += 1
            while fed["search"] < 2 * elapsed:
                seconds.labels("news:search", "500").observe(0.3)
                fed["search"] += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with servers.Prometheus([f"127.0.0.1:{port}"]) as prometheus:
            source = top.prometheus_source(prometheus.url)
            # The window (four 1 s scrapes) filled: a series younger than it would show a partial rate.
            servers.wait_until(lambda: promql.query(prometheus.url, "count_over_time(upstack_requests_in_flight[8s]) >= 6"),
                               60, "six scrapes of the fed /metrics")
            yield prometheus, source
    finally:
        stop.set()
        feeder.join(5)
        server.shutdown()
        server.server_close()


def test_the_window_is_four_scrape_intervals_read_from_prometheus(fed_prometheus):
    _, source = fed_prometheus
    assert source["window"] == "4s"  # tests/servers.py scrapes every 1 s; a 15 s default would give 60s


def test_rate_errors_and_per_view_quantiles_come_from_promql(fed_prometheus):
    prometheus, source = fed_prometheus
    app = top.app_from_prometheus(prometheus.url, 8, source["window"])
    assert 17 <= app["requests_per_second"] <= 27, app  # 22 fed a second
    assert 0.04 <= app["error_ratio"] <= 0.16, app  # 2 of 22 fail
    assert (app["busy_workers"], app["idle_workers"], app["window"]) == (3, 5, "last 4s")
    views = {row["view"]: row for row in app["views"]}
    assert list(views) == ["news:home", "news:search"]  # busiest first
    assert 2.5 < views["news:home"]["p50_ms"] <= 5.0 and views["news:home"]["p99_ms"] <= 5.0
    assert 250 < views["news:search"]["p50_ms"] <= 500 and 15 <= views["news:home"]["requests_per_second"] <= 26


def test_top_once_json_without_a_local_stack_says_it_shows_prometheus(fed_prometheus, open_tmp, settings):
    prometheus, _ = fed_prometheus
    settings.UPSTACK = {"STATE_DIR": str(open_tmp)}
    out = io.StringIO()
    call_command("upstack", "top", "--json", "--interval", "0.1", "--prometheus", prometheus.url, stdout=out)
    data = json.loads(out.getvalue())
    assert data["source"] == {"name": "prometheus", "url": prometheus.url, "reason": None}
    assert data["app"]["requests_per_second"] > 10 and data["app"]["views"]
    assert data["edge"] == top.NO_STACK and data["db"] == top.NO_STACK
    screen = io.StringIO()
    call_command("upstack", "top", "--once", "--interval", "0.1", "--prometheus", prometheus.url, stdout=screen)
    assert f"app workers - from Prometheus {prometheus.url}" in screen.getvalue()


def test_a_prometheus_that_does_not_answer_falls_back_and_says_why(open_tmp):
    """Negative: the same call with a dead Prometheus shows the direct reading, with the reason."""
    source = top.prometheus_source("http://127.0.0.1:9")
    assert source["window"] == "60s"  # its config could not be read: 4 x 15 s
    data = top.snapshot(open_tmp, None, 0.1, None, None, source)
    assert data["source"]["name"] == "direct" and "http://127.0.0.1:9 gave no app figures" in data["source"]["reason"]
    assert data["app"] == top.NO_STACK


def test_top_refuses_a_prometheus_off_loopback_and_needs_a_stack_or_a_prometheus(open_tmp, settings):
    settings.UPSTACK = {"STATE_DIR": str(open_tmp)}
    with pytest.raises(CommandError, match="not on loopback") as remote:
        call_command("upstack", "top", "--once", "--prometheus", "http://192.0.2.1:9090", stdout=io.StringIO())
    assert remote.value.returncode == 2
    with pytest.raises(CommandError, match="or pass --prometheus URL") as neither:
        call_command("upstack", "top", "--once", stdout=io.StringIO())
    assert neither.value.returncode == 1
