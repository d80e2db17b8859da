"""Task counts per queue and queue depths (``manage.py upstack tasks stats``).

Counters live in the broker's Redis, in one hash per queue (``upstack:tasks:<queue>``): ``sent`` is
counted by the sending process right after publishing, ``succeeded``/``failed``/``retried`` by the
worker. Enqueue failures cannot reach the broker, so they are counted in the ``data`` cache
namespace. Queue depth is the broker list's length. With a broker other than Redis, depths and
counters show as unavailable. ``purge_backlog`` is the purges edge nodes missed (upstack.edge.backlog):
keys pending, per node, and the age of the oldest. The handlers here are plain functions: ``tasks.app`` (the one module
that imports Celery) connects them to Celery's signals.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("upstack.tasks")
QUEUES = ("high", "default", "low")


def _redis():
    from django.conf import settings

    from ..cache.backends.sentinel import REDIS_SCHEMES, shared

    url = getattr(settings, "CELERY_BROKER_URL", "")
    return shared(url) if url.startswith(REDIS_SCHEMES) else None


def _count(queue: str | None, field: str) -> None:
    try:
        client = _redis()
        if client is not None:
            client.hincrby(f"upstack:tasks:{queue or 'default'}", field, 1)
    except Exception:  # noqa: BLE001 - counting must never break a task or a request
        logger.debug("could not count %s", field, exc_info=True)


def count_enqueue_failure(task_name: str) -> None:
    from django.core.cache import caches

    cache = caches["data"]
    if hasattr(cache, "incr_counter"):
        cache.incr_counter("tasks.enqueue_failed", 1)


def sent(sender=None, headers=None, routing_key=None, **kwargs):
    _count(routing_key, "sent")


def _queue_of(task) -> str | None:
    info = getattr(task.request, "delivery_info", None) or {}
    return info.get("routing_key")


def succeeded(sender=None, **kwargs):
    _count(_queue_of(sender), "succeeded")


def failed(sender=None, **kwargs):
    _count(_queue_of(sender), "failed")


def retried(sender=None, request=None, **kwargs):
    _count((request.delivery_info or {}).get("routing_key") if request else None, "retried")


def stats() -> dict:
    from django.core.cache import caches

    cache = caches["data"]
    failures = cache.read_counter("tasks.enqueue_failed") if hasattr(cache, "read_counter") else 0
    client = _redis()
    queues = {}
    for queue in QUEUES:
        row = {"depth": None, "sent": None, "succeeded": None, "failed": None, "retried": None}
        if client is not None:
            try:
                row["depth"] = client.llen(queue)
                counts = {k.decode(): int(v) for k, v in client.hgetall(f"upstack:tasks:{queue}").items()}
                row.update({k: counts.get(k, 0) for k in ("sent", "succeeded", "failed", "retried")})
            except Exception as exc:  # noqa: BLE001
                row["error"] = str(exc)
        queues[queue] = row
    return {"broker": "redis" if client is not None else "unavailable", "enqueue_failed": failures, "queues": queues,
            "purge_backlog": purge_backlog()}


def purge_backlog() -> dict:
    """The purges edge nodes missed and wait to be retried (upstack.edge.backlog), or the error."""
    from ..edge import backlog

    try:
        return backlog.summary()
    except Exception as exc:  # noqa: BLE001 - stats must answer while Redis is away
        return {"error": str(exc)}
