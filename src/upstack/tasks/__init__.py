"""Celery integration: the application factory (BLUEPRINT D). Celery is imported here and nowhere else.

``make_celery("newsroom")`` returns a Celery app configured from Django settings with the
``CELERY_`` prefix, with upstack's defaults for the settings a project did not set: the three queues
(high, default, low), prefetch 1, late acks with reject-on-worker-lost, time limits, results off.
Without a broker (``CELERY_BROKER_URL`` empty) tasks run eagerly in-process, which is what the
embedded default (``make run``) wants.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery, shared_task
from kombu import Queue

logger = logging.getLogger("upstack.tasks")

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
    # A web process that cannot reach the broker gives up quickly and does the work itself.
    "broker_connection_timeout": 1.0,
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


def broker_configured() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "CELERY_BROKER_URL", ""))


def celery_app() -> Celery:
    """The project's Celery app (``UPSTACK["CELERY_APP"]``, default ``<project>.celery:app``), so any
    process - web, command, worker - sends tasks to the configured broker."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from .. import conf

    path = conf.get("CELERY_APP") or f"{settings.SETTINGS_MODULE.split('.')[0]}.celery:app"
    return import_string(path.replace(":", "."))


def send(task_name: str, args: tuple, queue: str, countdown: float | None = None) -> None:
    celery_app().send_task(task_name, args=args, queue=queue, countdown=countdown, retry=False)


def run_in_background(task_name: str, *args, fallback) -> None:
    """Send ``task_name`` to the workers when a broker is configured; else run ``fallback`` in a
    thread of this process. Never raises into the caller: a broker that is down means the fallback."""
    if broker_configured():
        try:
            send(task_name, args, "low")
            return
        except Exception:  # noqa: BLE001 - the broker being down must not break a page
            logger.warning("could not enqueue %s; running it in this process", task_name, exc_info=True)
    threading.Thread(target=fallback, name=f"upstack:{task_name}", daemon=True).start()


def enqueue_purge(keys: list[str], repeat: float = 0.0) -> bool:
    """Queue a purge (and its repeat) on the high queue; False when the broker cannot take it."""
    try:
        send("upstack.purge", (keys,), "high")
        if repeat:
            send("upstack.purge", (keys,), "high", countdown=repeat)
        return True
    except Exception:  # noqa: BLE001 - the broker being down means purging in-process instead
        logger.warning("could not enqueue a purge; purging in this process", exc_info=True)
        return False


@shared_task(name="upstack.purge", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=True, retry_jitter=True, max_retries=5)
def purge(keys: list[str]) -> None:
    """Purge surrogate keys from every purge backend (upstack.edge.purge)."""
    from upstack.edge.purge import purge_now

    outcome = purge_now(keys)
    if not all(outcome.values()):
        raise ConnectionError(f"purge failed for: {[name for name, ok in outcome.items() if not ok]}")


@shared_task(name="upstack.refresh", ignore_result=True, acks_late=True)
def refresh(name: str) -> None:
    """Recompute one refresh-ahead payload (upstack.cache.refresh)."""
    from upstack.cache import refresh as refresh_module

    refresh_module.get(name).refresh()


@shared_task(name="upstack.refresh_all", ignore_result=True)
def refresh_all() -> list[str]:
    from upstack.cache import refresh as refresh_module

    return refresh_module.refresh_all()


def ping_workers(broker_url: str, timeout: float = 1.0) -> list[str]:
    """Names of the workers that answer a ping through ``broker_url`` within ``timeout`` seconds."""
    app = Celery("upstack-ping", broker=broker_url, set_as_current=False)
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return [name for reply in replies for name in reply]


__all__ = ["make_celery", "ping_workers", "refresh", "refresh_all", "run_in_background"]
