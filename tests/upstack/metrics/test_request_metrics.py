"""The per-request breakdown: Server-Timing only for trusted callers, one JSON log line without
secrets, the edge's request id, Prometheus /metrics only for insiders, Sentry only with a DSN,
slow queries logged."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from newsroom.news.models import Article
from upstack.metrics import slowlog
from upstack.metrics.logs import JSONFormatter
from upstack.metrics.sentry import init_sentry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def seeded():
    call_command("seed", articles=10, users=3, comments=20, no_progress=True, verbosity=0)


def client(address="127.0.0.1", **headers):
    return Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR=address, **headers)


@pytest.fixture
def request_log():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("upstack.request")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_server_timing_for_insiders_and_staff_only(django_user_model):
    url = Article.objects.published().first().get_absolute_url()
    inside = client().get(url)["Server-Timing"]
    parts = dict(item.split(";")[0:2] for item in inside.split(", ") if "dur=" in item)
    assert set(parts) == {"sql", "cache", "template", "http", "python", "total"}
    durations = {k: float(v.removeprefix("dur=")) for k, v in parts.items()}
    assert abs(sum(durations[p] for p in ("sql", "cache", "template", "http", "python")) - durations["total"]) < 0.5
    # "python" is the total minus the rest, so the sum holds whatever the rest measured: each part that
    # had work (a cold article: queries, fragment cache reads, a template, Python) must show time.
    assert all(durations[p] > 0 for p in ("sql", "cache", "template", "python")), durations
    assert "Server-Timing" not in client("203.0.113.7").get(url)
    staff = django_user_model.objects.create_user("editor", password="pw-for-tests-1", is_staff=True)
    outsider_staff = client("203.0.113.7")
    outsider_staff.force_login(staff)
    assert "Server-Timing" in outsider_staff.get(url)


def test_one_json_line_per_request_with_the_breakdown_and_no_secrets(request_log):
    article = Article.objects.published().first()
    c = client(HTTP_X_REQUEST_ID="edge-req-123")
    c.get(article.get_absolute_url())
    c.post("/accounts/login/", {"username": "reader000000", "password": "s3cret-in-a-form"})
    assert len(request_log) == 2
    line = json.loads(JSONFormatter().format(request_log[0]))
    assert line["request_id"] == "edge-req-123" and line["view"] == "news:article" and line["status"] == 200
    assert line["user"] == "anonymous" and set(line["breakdown_ms"]) == {"sql", "cache", "template", "http", "python"}
    assert line["sql_count"] > 0 and line["duration_ms"] > 0
    text = "".join(JSONFormatter().format(r) for r in request_log)
    assert "s3cret-in-a-form" not in text and "csrf" not in text.lower() and "sessionid" not in text
    outsider = client("203.0.113.7", HTTP_X_REQUEST_ID="forged").get("/")
    assert outsider["X-Request-ID"] != "forged"  # only the edge (an insider) names requests


def test_the_formatter_masks_secret_looking_fields():
    record = logging.makeLogRecord({"msg": "x", "password": "p", "api_token": "t", "fine": {"cookie": "c", "n": 1}})
    line = json.loads(JSONFormatter().format(record))
    assert line["password"] == line["api_token"] == "[masked]" and line["fine"] == {"cookie": "[masked]", "n": 1}


def test_metrics_only_for_insiders_or_the_token(settings):
    client().get("/")
    assert client("203.0.113.7").get("/metrics").status_code == 404
    body = client().get("/metrics").content.decode()
    assert "upstack_request_seconds_count" in body and 'view="news:home"' in body
    settings.UPSTACK = {**settings.UPSTACK, "METRICS_TOKEN": "t0ken-for-prometheus"}
    assert client("203.0.113.7", HTTP_AUTHORIZATION="Bearer t0ken-for-prometheus").get("/metrics").status_code == 200
    assert client("203.0.113.7", HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 404


def test_sentry_only_with_a_dsn():
    import sentry_sdk

    assert init_sentry("") is False and not sentry_sdk.get_client().is_active()
    try:
        assert init_sentry("http://public@127.0.0.1:9/1") is True
        assert sentry_sdk.get_client().is_active() and sentry_sdk.get_client().dsn == "http://public@127.0.0.1:9/1"
    finally:
        sentry_sdk.init()  # back to a disabled client


def test_slow_queries_are_logged_with_a_sampled_plan(settings, caplog, monkeypatch):
    settings.UPSTACK = {**settings.UPSTACK, "SLOW_QUERY_MS": 0.0001, "SLOW_QUERY_SAMPLE": 1.0}
    with caplog.at_level(logging.WARNING, logger="upstack.slow_query"):
        client().get("/sections/" + Article.objects.first().section.slug + "/")
    slow = [r for r in caplog.records if r.name == "upstack.slow_query"]
    assert slow and all(r.sql for r in slow)
    if connection.vendor == "postgresql":
        assert any(r.plan and "Scan" in r.plan for r in slow)
    settings.UPSTACK = {**settings.UPSTACK, "SLOW_QUERY_MS": 0}
    caplog.clear()
    client().get("/")
    assert not [r for r in caplog.records if r.name == "upstack.slow_query"]
    assert slowlog.logger.name == "upstack.slow_query"


def test_behind_a_proxy_the_client_address_decides():
    via_edge = client("127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert via_edge.get("/metrics").status_code == 404
    spoofed = client("127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.7")
    assert spoofed.get("/metrics").status_code == 404 and "Server-Timing" not in spoofed.get("/")
    inside = client("127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3, 127.0.0.1")
    assert inside.get("/metrics").status_code == 404  # private networks are not trusted by default
    with override_settings(UPSTACK_INTERNAL_IPS=["127.0.0.1/32", "10.0.0.0/8"]):
        assert inside.get("/metrics").status_code == 200
