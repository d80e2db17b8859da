"""upstack's core without any extra (no Celery, prometheus-client, sentry-sdk, django-storages, Locust,
redis, pymemcache or psycopg). Not collected by the main suite: tests/upstack/test_optional_deps.py runs
this file in a venv with only the core dependencies, with ``--ds tests.noextras.settings``."""

import importlib.util
import time

import pytest
from django.core.management import call_command

from tests.inheritance_app.models import Page

EXTRAS = ("celery", "kombu", "prometheus_client", "sentry_sdk", "storages", "boto3", "locust", "matplotlib",
          "redis", "pymemcache", "psycopg", "cachalot", "gunicorn", "whitenoise", "PIL")


def test_no_extra_is_installed():
    assert [name for name in EXTRAS if importlib.util.find_spec(name)] == []


def test_system_checks_pass():
    call_command("check", "--fail-level", "WARNING")


@pytest.mark.django_db(transaction=True)
def test_a_save_purges_in_this_process_although_a_broker_is_configured():
    from upstack.edge.backends import dummy
    from upstack.tasks import broker_configured

    assert not broker_configured()  # CELERY_BROKER_URL is set, but there is no Celery to reach it
    dummy.purged.clear()
    Page.objects.create(title="one", slug="one")
    assert dummy.purged, "the save purged nothing"


@pytest.mark.django_db(transaction=True)
def test_pages_are_cached_and_purged_and_metrics_are_off(client):
    from upstack.page import store

    page = Page.objects.create(title="first", slug="p")
    time.sleep(store.MARGIN + 0.1)  # a render that began just after a purge of its keys is not kept
    assert client.get("/p/p/").content == b"first"
    assert client.get("/p/p/")["X-Page-Cache"] == "HIT"
    page.title = "second"
    page.save()
    assert client.get("/p/p/").content == b"second"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_a_cache_round_trip():
    from upstack.cache.api import get_or_compute

    assert get_or_compute("noextras", lambda: {"n": 1}, 60) == {"n": 1}
    assert get_or_compute("noextras", lambda: {"n": 2}, 60) == {"n": 1}


def test_sentry_and_celery_degrade():
    import upstack.tasks
    from upstack.metrics import exporter
    from upstack.metrics.sentry import init_sentry

    assert exporter() is None
    assert init_sentry("") is False
    with pytest.raises(ImportError):
        upstack.tasks.make_celery  # noqa: B018 - the one name that needs Celery says so
