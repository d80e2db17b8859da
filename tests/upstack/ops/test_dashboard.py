"""The static dashboard report's pure parts; against a real Prometheus and Chromium in
tests/upstack/stack/test_runner.py."""

from __future__ import annotations

import base64

import pytest

from upstack.ops import dashboard


def test_only_a_prometheus_on_loopback_is_queried():
    with pytest.raises(ValueError, match="not on loopback"):
        dashboard.report({"title": "t", "panels": []}, "http://192.0.2.1:9090")
    page, panels = dashboard.report({"title": "t", "panels": []}, "http://127.0.0.1:9")
    assert panels == [] and "<main></main>" in page


def test_legends_take_the_series_labels():
    assert dashboard._label({"view": "news:home"}, "{{view}}{{namespace}}") == "news:home"
    assert dashboard._label({"__name__": "up"}, "{{queue}}") == "up"


def test_a_chart_is_a_png():
    uri = dashboard.chart("p", [{"metric": {"status": "200"}, "values": [[1, "1"], [2, "3"]]}], "{{status}}")
    assert base64.b64decode(uri.removeprefix("data:image/png;base64,"))[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreachable_prometheus_is_an_operational_error_that_names_it():
    board = {"title": "t", "panels": [{"title": "x", "targets": [{"expr": "up", "legendFormat": ""}]}]}
    with pytest.raises(ConnectionError, match="http://127.0.0.1:9"):
        dashboard.report(board, "http://127.0.0.1:9")
