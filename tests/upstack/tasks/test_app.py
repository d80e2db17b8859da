"""The Celery app from settings: queues, routing, reliability defaults, the beat schedule; the
storage and mail settings come from the environment."""

import subprocess
import sys
from pathlib import Path

import pytest

from upstack.tasks import enqueue_on_commit

ROOT = Path(__file__).resolve().parents[3]


def app_conf(**env) -> dict:
    code = ("import json, django; django.setup(); from newsroom.celery import app; c = app.conf; "
            "from django.conf import settings as s; "
            "print(json.dumps({'queues': [q.name for q in c.task_queues], 'routes': c.task_routes, "
            "'prefetch': c.worker_prefetch_multiplier, 'acks_late': c.task_acks_late, "
            "'reject': c.task_reject_on_worker_lost, 'soft': c.task_soft_time_limit, 'hard': c.task_time_limit, "
            "'ignore_result': c.task_ignore_result, 'beat': sorted(c.beat_schedule), 'broker': c.broker_url, "
            "'eager': c.task_always_eager, 'storage': s.STORAGES['default']['BACKEND'], "
            "'mail': s.EMAIL_BACKEND}))")
    import json
    import os

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.dev", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_app_has_upstacks_defaults_and_schedule():
    conf = app_conf(BROKER_URL="redis://127.0.0.1:9/0")
    assert conf["queues"] == ["high", "default", "low"]
    assert conf["routes"]["upstack.purge"] == {"queue": "high"} and conf["routes"]["upstack.backup"] == {"queue": "low"}
    assert (conf["prefetch"], conf["acks_late"], conf["reject"], conf["ignore_result"]) == (1, True, True, True)
    assert conf["soft"] < conf["hard"]
    assert conf["beat"] == ["expired sessions", "nightly backup", "purge backlog", "refresh-ahead data"]
    assert conf["broker"].startswith("redis://127.0.0.1:9") and not conf["eager"]


def test_without_a_broker_tasks_run_in_process_and_other_brokers_are_a_url_away():
    assert app_conf(BROKER_URL="")["eager"] is True
    assert app_conf(BROKER_URL="amqp://guest@127.0.0.1:5672//")["broker"].startswith("amqp://")


def test_storage_and_mail_from_the_environment():
    assert app_conf()["storage"] == "django.core.files.storage.FileSystemStorage"
    assert app_conf(AWS_STORAGE_BUCKET_NAME="media", AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000")["storage"] == \
        "storages.backends.s3.S3Storage"
    assert app_conf()["mail"] == "django.core.mail.backends.console.EmailBackend"
    assert app_conf(EMAIL_URL="smtp+tls://u:p@127.0.0.1:587")["mail"] == "django.core.mail.backends.smtp.EmailBackend"


def test_tasks_take_primary_keys_not_instances(db):
    from django.contrib.auth.models import User

    user = User.objects.create_user("pk-only")
    with pytest.raises(TypeError, match="primary keys"):
        enqueue_on_commit("newsroom.notify_thread", user)


def test_celery_logging_works_for_a_project_without_logging_settings(settings):
    """A startproject site has LOGGING = {}: dictConfig({}) raised and the worker never started."""
    from django.utils.log import configure_logging

    from upstack.tasks.app import _django_logging

    original = settings.LOGGING
    try:
        settings.LOGGING = {}
        _django_logging()
        settings.LOGGING = {"version": 1, "disable_existing_loggers": False}
        _django_logging()
    finally:
        configure_logging(settings.LOGGING_CONFIG, original)  # the rest of the suite logs as before


def test_the_nightly_backup_is_a_time_of_day_not_an_interval_from_beats_start(settings):
    """A crontab at UPSTACK["BACKUP_TIME"]: a beat restarted by every deploy still takes it at that hour
    (the old 86400 s interval counted from beat's start never came due)."""
    from datetime import UTC, datetime

    from celery.schedules import crontab

    from upstack import conf as upstack_conf
    from upstack.tasks.app import nightly_backup

    settings.UPSTACK = {**settings.UPSTACK, "BACKUP_TIME": "22:15"}
    upstack_conf.reset()
    entry = nightly_backup()
    schedule = entry["schedule"]
    assert entry["task"] == "upstack.backup" and isinstance(schedule, crontab)
    assert schedule.hour == {22} and schedule.minute == {15}
    # Beat started at 21:00 (a deploy): due in 75 minutes, not 24 hours.
    started = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    schedule.nowfun = lambda: started
    assert schedule.remaining_estimate(started).total_seconds() == 75 * 60
    assert upstack_conf.get("BACKUP_TIME") == "22:15"


def test_a_bad_backup_time_is_refused_by_the_settings_check():
    from upstack.checks.rules import RULES, check

    assert check("03:30", RULES["BACKUP_TIME"], "BACKUP_TIME") == []
    assert "HH:MM" in check("25:00", RULES["BACKUP_TIME"], "BACKUP_TIME")[0].message
