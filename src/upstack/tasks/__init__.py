"""Celery integration: enqueue on commit, the queues, the Celery app. Celery (the celery extra) is
imported by ``tasks.app`` only; without it, purges and refreshes run in this process.

``make_celery("myproject")`` (``tasks.app``) builds a project's app from Django settings (``CELERY_*``)
with upstack's defaults: queues high/default/low with routing, prefetch 1, late acks with
reject-on-worker-lost, time limits, results off, and a beat schedule. ``enqueue_on_commit(task, *args)``
(``tasks.queue``) enqueues once the transaction commits; a broker that is down is logged and counted,
never raised into the request. ``stats()`` is what ``manage.py upstack tasks stats`` prints.
"""

from .queue import (
    broker_configured,
    celery_app,
    celery_installed,
    enqueue_on_commit,
    enqueue_purge,
    run_in_background,
    send,
    try_send,
)
from .stats import stats

_APP_NAMES = ("DEFAULTS", "RETRY", "make_celery", "ping_workers", "refresh", "refresh_all")


def __getattr__(name):
    """The names that need Celery load ``tasks.app`` on first use (PEP 562)."""
    if name in _APP_NAMES:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["broker_configured", "celery_app", "celery_installed", "enqueue_on_commit", "enqueue_purge",
           "run_in_background", "send", "stats", "try_send", *_APP_NAMES]
