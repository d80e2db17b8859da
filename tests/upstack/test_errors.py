"""Error pages that cannot fail (issue 14, item 6): an exception in upstack's middleware, which runs
before the session exists, is a plain 500 page - not Django's CSRF-needing handler failing in turn."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from upstack.page import store


@pytest.mark.django_db
def test_an_exception_in_the_page_middleware_is_one_plain_500(monkeypatch, caplog):
    def broken(page_key):
        raise RuntimeError("the page cache broke")

    monkeypatch.setattr(store, "get", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = Client(raise_request_exception=False).get("/", HTTP_HOST="127.0.0.1")
    assert response.status_code == 500 and b"Something went wrong" in response.content
    assert response["Cache-Control"] == "private, no-cache"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "CSRF_USE_SESSIONS" not in caplog.text  # one error, not a chain


@pytest.mark.django_db
def test_a_bad_host_is_a_400_page_and_one_request_line(caplog):
    with caplog.at_level(logging.INFO):
        response = Client().get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"Bad request" in response.content
    lines = [r for r in caplog.records if r.name in ("upstack.request", "django.request", "django.security.DisallowedHost")]
    assert len(lines) == 1 and lines[0].rejected == "host not allowed" and not any(r.exc_info for r in caplog.records)
