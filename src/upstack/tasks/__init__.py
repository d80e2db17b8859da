"""Celery integration: the application factory (BLUEPRINT D). Celery is imported here and nowhere else.

``make_celery("newsroom")`` returns a Celery app configured from Django settings with the
``CELERY_`` prefix, with upstack's defaults for the settings a project did not set: the three queues
(high, default, low), prefetch 1, late acks with reject-on-worker-lost, time limits, results off.
Without a broker (``CELERY_BROKER_URL`` empty) tasks run eagerly in-process, which is what the
embedded default (``make run``) wants.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

DEFAULTS = {
    "task_queues": (Queue("high"), Queue("default"), Queue("low")),
    "task_default_queue": "default",
    "worker_prefetch_multiplier": 1,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "task_soft_time_limit": 60,
    "task_time_limit": 120,
    "task_ignore_result": True,
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
    "worker_send_task_events": False,
}


def make_celery(name: str) -> Celery:
    from django.conf import settings

    app = Celery(name)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    for key, value in DEFAULTS.items():
        if not hasattr(settings, "CELERY_" + key.upper()):
            app.conf[key] = value
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        app.conf.broker_url = "memory://"
        app.conf.task_always_eager = True
    app.autodiscover_tasks()
    return app


def ping_workers(broker_url: str, timeout: float = 1.0) -> list[str]:
    """Names of the workers that answer a ping through ``broker_url`` within ``timeout`` seconds."""
    app = Celery("upstack-ping", broker=broker_url, set_as_current=False)
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return [name for reply in replies for name in reply]


__all__ = ["make_celery", "ping_workers"]
