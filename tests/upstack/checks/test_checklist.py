"""``upstack check``'s settings part: Django's warnings are WARN with Django's own link, upstack never
repeats a Django check, an HTTP-only loopback stack gets the TLS items as not applicable (never as
passes, and only while it really is on loopback), and the exit code follows docs/cli.md."""

from __future__ import annotations

import pytest
from django.core import checks

from tests.upstack.cli import upstack
from upstack.ops import checklist

PLAIN_HTTP = {"SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False,
              "SECURE_HSTS_SECONDS": 0}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def caches(settings, backend):
    """Every alias (the query cache's too) on one kind of backend; nothing connects."""
    return {alias: dict(backend) for alias in settings.CACHES}


@pytest.fixture
def plain_http(settings):
    for name, value in PLAIN_HTTP.items():
        setattr(settings, name, value)
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    return settings


def by_id(items):
    return {item["id"]: item for item in items}


def run_check(*argv):
    return upstack("check", *argv)


def test_django_warnings_are_warn_with_djangos_documentation_link(plain_http):
    plain_http.DEBUG = True
    plain_http.SECRET_KEY = "short"
    items = by_id(checklist.settings_items())
    for django_id in ("security.W018", "security.W009", "security.W008", "security.W012"):
        assert items[django_id]["status"] == "warn", items[django_id]
        assert items[django_id]["doc"].startswith("https://docs.djangoproject.com/en/")
        assert items[django_id]["doc"].endswith("/ref/checks/#security")


def test_upstack_never_repeats_djangos_debug_and_secret_key_checks(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = "short"
    ids = {m.id for m in checks.run_checks(include_deployment_checks=True)}
    assert {"security.W018", "security.W009"} <= ids  # Django says it ...
    assert not {"upstack.E001", "upstack.E002"} & ids  # ... and upstack does not say it again


def test_upstack_items_link_to_docs_checks_md_and_errors_fail(plain_http):
    plain_http.CACHES = caches(plain_http, LOCMEM)
    item = by_id(checklist.settings_items())["upstack.E004"]
    assert item["status"] == "fail" and item["doc"] == "docs/checks.md" and "REDIS_URL" in item["fix"]


def test_an_http_only_loopback_stack_gets_tls_items_as_not_applicable_never_passes(plain_http):
    plain_http.UPSTACK_HTTP_ONLY = True
    items = checklist.settings_items("http://127.0.0.1:6081")
    tls = [i for i in items if i["id"] in checklist.TLS_CHECKS]
    assert {i["id"] for i in tls} >= {"security.W004", "security.W008", "security.W012"}
    assert all(i["status"] == "n/a" and "HTTP_ONLY" in i["detail"] for i in tls)
    assert by_id(items)["http-only"]["status"] == "pass"
    assert not [i for i in items if i["id"] in checklist.TLS_CHECKS and i["status"] == "pass"]


@pytest.mark.parametrize("hosts,live", [(["news.example.com"], None), (["127.0.0.1"], "http://203.0.113.9/")])
def test_http_only_off_loopback_is_a_failure_and_tls_items_stay_warnings(plain_http, hosts, live):
    """Negative: the declaration does not hold off loopback, so it changes nothing but fails itself."""
    plain_http.UPSTACK_HTTP_ONLY = True
    plain_http.ALLOWED_HOSTS = hosts
    items = checklist.settings_items(live)
    assert by_id(items)["http-only"]["status"] == "fail"
    assert all(i["status"] == "warn" for i in items if i["id"] in checklist.TLS_CHECKS)


def test_without_the_declaration_tls_items_are_warnings(plain_http):
    tls = [i for i in checklist.settings_items() if i["id"] in checklist.TLS_CHECKS]
    assert tls and all(i["status"] == "warn" for i in tls)


def test_loopback_hosts():
    assert all(map(checklist.loopback_host, ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost", "a.localhost")))
    assert not any(map(checklist.loopback_host, ("10.0.0.1", "news.example.com", "*", ".example.com", "")))


def test_release_blockers_are_failures_and_the_debug_and_secret_key_warnings():
    items = [{"id": "security.W018", "status": "warn"}, {"id": "security.W008", "status": "warn"},
             {"id": "upstack.E004", "status": "fail"}, {"id": "security.W004", "status": "n/a"},
             {"id": "security.W009", "status": "warn"}]
    assert [i["id"] for i in checklist.release_blockers(items)] == ["security.W018", "upstack.E004", "security.W009"]


def test_the_exit_code_follows_the_contract(plain_http):
    plain_http.UPSTACK_HTTP_ONLY = True
    plain_http.CACHES = caches(plain_http, REDIS)
    code, out, err = run_check()
    assert code == 0, out + err  # warnings and not-applicable items: success
    assert "WARN" in out and "N/A" in out and "FAIL" not in out
    plain_http.CACHES = caches(plain_http, LOCMEM)
    code, out, err = run_check("--json")
    assert code == 1 and "checks failed" in err
    assert '"fail": 1' in out
