"""The Celery application factory and upstack's task plumbing. Each task is a one-line wrapper around
its owner's function (the purge in edge.purge, refresh-ahead in cache.refresh, thumbnails in images,
the backup in ops.backup): this module only gives them names, queues and retry policies.

``make_celery("myproject")`` returns a Celery app configured from Django settings with the
``CELERY_`` prefix, with upstack's defaults for the settings a project did not set: the three queues
(high, default, low), prefetch 1, late acks with reject-on-worker-lost, time limits, results off.
Without a broker (``CELERY_BROKER_URL`` empty) tasks run eagerly in-process, which is what the
embedded default (``make run``) wants. A ``sentinel://`` broker or result backend gets its
``master_name`` transport option from ``UPSTACK["REDIS_SENTINEL_MASTER"]`` (docs/scaling.md).
"""

from __future__ import annotations

import logging

from celery import Celery, shared_task
from celery.signals import (
    after_task_publish,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
)
from kombu import Queue

from ..metrics.tasks import postrun, prerun
from .stats import failed, retried, sent, succeeded

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
    # With Redis as the broker, a task whose worker died unacknowledged is redelivered after this.
    "broker_transport_options": {"visibility_timeout": 300},
    # A user is waiting: high. Maintenance: low. Everything else: default.
    "task_routes": {
        "upstack.purge": {"queue": "high"},
        "upstack.purge_backlog": {"queue": "high"},
        "upstack.refresh": {"queue": "low"},
        "upstack.refresh_all": {"queue": "low"},
        "upstack.clearsessions": {"queue": "low"},
        "upstack.backup": {"queue": "low"},
        "upstack.thumbnails": {"queue": "default"},
    },
    "beat_schedule": {
        "refresh-ahead data": {"task": "upstack.refresh_all", "schedule": 10.0},
        # Edge nodes that missed purges get them again until they answer (upstack.edge.backlog). Every
        # 2 s: a returning edge serves stale pages until the next run (at 5 s the six-host drill saw
        # 4.9 s of its 5 s goal); a run with nothing pending is one Redis read.
        "purge backlog": {"task": "upstack.purge_backlog", "schedule": 2.0},
        "expired sessions": {"task": "upstack.clearsessions", "schedule": 3600.0},
    },
}
# Retries for tasks that talk to other servers: exponential backoff with jitter.
RETRY = {"autoretry_for": (ConnectionError, OSError, TimeoutError), "retry_backoff": 2, "retry_backoff_max": 300,
         "retry_jitter": True, "max_retries": 5}


# The task counters (tasks.stats) and task metrics, for every process that loads the Celery app.
after_task_publish.connect(sent, dispatch_uid="upstack.tasks.sent", weak=False)
task_success.connect(succeeded, dispatch_uid="upstack.tasks.succeeded", weak=False)
task_failure.connect(failed, dispatch_uid="upstack.tasks.failed", weak=False)
task_retry.connect(retried, dispatch_uid="upstack.tasks.retried", weak=False)
task_prerun.connect(prerun, dispatch_uid="upstack.tasks.prerun", weak=False)
task_postrun.connect(postrun, dispatch_uid="upstack.tasks.postrun", weak=False)


@setup_logging.connect(dispatch_uid="upstack.tasks.logging")
def _django_logging(**kwargs):
    """Celery logs through Django's logging configuration (the project's LOGGING, or Django's default
    when it has none), not its own format."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def nightly_backup() -> dict:
    """The beat entry of the nightly backup: a real time of day (UPSTACK["BACKUP_TIME"], a crontab in
    the project's TIME_ZONE), so a restarted beat - a deploy a day - still takes it."""
    from celery.schedules import crontab

    from .. import conf

    hour, minute = conf.get("BACKUP_TIME").split(":")
    return {"task": "upstack.backup", "schedule": crontab(hour=int(hour), minute=int(minute))}


SENTINEL_URLS = {"broker_url": "broker_transport_options", "result_backend": "result_backend_transport_options"}


def with_sentinel_master(url: str, options: dict | None, master: str) -> dict | None:
    """The transport options for ``url``: a ``sentinel://`` URL gets kombu's and Celery's own
    ``master_name`` (``master``, UPSTACK["REDIS_SENTINEL_MASTER"]) unless the project set one; any
    other URL keeps its options (None: unchanged)."""
    from django.core.exceptions import ImproperlyConfigured

    if not str(url or "").startswith("sentinel://") or (options or {}).get("master_name"):
        return None
    if not master:
        raise ImproperlyConfigured(f"{url.split('@')[-1]!r} uses Sentinel but names no primary: set "
                                   "UPSTACK['REDIS_SENTINEL_MASTER'] to the name Sentinel monitors")
    return {**(options or {}), "master_name": master}


def make_celery(name: str) -> Celery:
    from django.conf import settings

    app = Celery(name)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    for key, value in DEFAULTS.items():
        configured = getattr(settings, "CELERY_" + key.upper(), None)
        if configured is None:
            app.conf[key] = value
        elif isinstance(value, dict) and key in ("task_routes", "beat_schedule"):
            app.conf[key] = {**value, **configured}  # the project's entries extend upstack's
    if "nightly backup" not in app.conf.beat_schedule:  # the project's own entry wins
        app.conf.beat_schedule = {**app.conf.beat_schedule, "nightly backup": nightly_backup()}
    from .. import conf

    for url_key, options_key in SENTINEL_URLS.items():  # Sentinel: kombu's and Celery's own support
        options = with_sentinel_master(app.conf.get(url_key), app.conf.get(options_key), conf.get("REDIS_SENTINEL_MASTER"))
        if options is not None:
            app.conf[options_key] = options
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        app.conf.broker_url = "memory://"
        app.conf.task_always_eager = True
    app.autodiscover_tasks()
    return app


@shared_task(name="upstack.purge", ignore_result=True, acks_late=True, autoretry_for=(Exception,),
             retry_backoff=True, retry_jitter=True, max_retries=5)
def purge(keys: list[str]) -> None:
    """Purge surrogate keys from every purge backend (upstack.edge.purge)."""
    from upstack.edge.purge import purge_or_raise

    purge_or_raise(keys)


@shared_task(name="upstack.purge_backlog", ignore_result=True)
def purge_backlog() -> dict[str, bool]:
    """Retry the purges edge nodes missed (upstack.edge.purge.retry_backlog)."""
    from upstack.edge.purge import retry_backlog

    return retry_backlog()


@shared_task(name="upstack.refresh", ignore_result=True, acks_late=True)
def refresh(name: str) -> None:
    """Recompute one refresh-ahead payload (upstack.cache.refresh)."""
    from upstack.cache import refresh as refresh_module

    refresh_module.get(name).refresh()


@shared_task(name="upstack.refresh_all", ignore_result=True)
def refresh_all() -> list[str]:
    from upstack.cache import refresh as refresh_module

    return refresh_module.refresh_all()


@shared_task(name="upstack.clearsessions", ignore_result=True)
def clearsessions() -> None:
    """Delete expired sessions (the beat schedule runs it hourly)."""
    from django.core.management import call_command

    call_command("clearsessions")


@shared_task(name="upstack.backup", ignore_result=True, **RETRY)
def backup() -> None:
    """The nightly backup: ``manage.py upstack backup`` (operations), when the project has it."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    try:
        call_command("upstack", "backup")
    except (CommandError, SystemExit) as exc:
        logger.error("the nightly backup failed: %s", exc)
        raise


@shared_task(name="upstack.thumbnails", ignore_result=True, acks_late=True, **RETRY)
def thumbnails(app_label: str, model: str, pk: int, field: str) -> list[str]:
    """Generate every configured thumbnail of one image field (upstack.images)."""
    from .. import images

    return images.generate_for(app_label, model, pk, field)


def ping_workers(broker_url: str, timeout: float = 1.0) -> list[str]:
    """Names of the workers that answer a ping through ``broker_url`` within ``timeout`` seconds."""
    app = Celery("upstack-ping", broker=broker_url, set_as_current=False)
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return [name for reply in replies for name in reply]


__all__ = ["DEFAULTS", "RETRY", "make_celery", "ping_workers", "refresh", "refresh_all"]
