"""Celery integration (BLUEPRINT D). Celery is imported in this package and nowhere else.

``make_celery("newsroom")`` builds a project's app from Django settings (``CELERY_*``) with upstack's
defaults: queues high/default/low with routing, prefetch 1, late acks with reject-on-worker-lost,
time limits, results off, and a beat schedule. ``enqueue_on_commit(task, *args)`` enqueues once the
transaction commits; a broker that is down is logged and counted, never raised into the request.
``stats()`` is what ``manage.py upstack tasks stats`` prints.
"""

from .app import (
    DEFAULTS,
    broker_configured,
    celery_app,
    enqueue_on_commit,
    enqueue_purge,
    make_celery,
    ping_workers,
    refresh,
    refresh_all,
    run_in_background,
    send,
)
from .stats import stats

__all__ = ["DEFAULTS", "broker_configured", "celery_app", "enqueue_on_commit", "enqueue_purge", "make_celery",
           "ping_workers", "refresh", "refresh_all", "run_in_background", "send", "stats"]
