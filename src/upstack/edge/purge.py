"""The purge pipeline: keys collected during a transaction are purged after it
commits - never before - batched, deduplicated, sent to every purge backend (each Varnish node, the
page cache), retried, and never raised into the request.

``add(keys, using=alias)`` is what invalidation calls. Inside a transaction the keys wait in a
per-connection batch flushed by one ``on_commit`` callback (a rollback drops them with the
callbacks); in autocommit they go at once. ``dispatch(keys)`` sends a batch: as the Celery task
``upstack.purge`` when a broker is configured, synchronously otherwise. An edge node that misses a
batch has its keys kept in the purge backlog (``edge.backlog``); ``retry_backlog()`` retries them
(the beat task ``upstack.purge_backlog``, or a thread of this process without a broker).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils.module_loading import import_string

from .. import conf
from . import backlog

logger = logging.getLogger("upstack.edge")
# Set per request by the page middleware: did this request write anything that purges?
_wrote: contextvars.ContextVar[list | None] = contextvars.ContextVar("upstack_wrote", default=None)
_pending = threading.local()
_listeners: list = []


def add(keys: Iterable[str], using: str | None = None) -> None:
    keys = set(keys)
    if not keys:
        return
    wrote = _wrote.get()
    if wrote is not None:
        wrote.append(len(keys))
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if not connection.in_atomic_block:
        dispatch(keys)
        return
    batches = getattr(_pending, "batches", None)
    if batches is None:
        batches = _pending.batches = {}
    batch = batches.get(alias)
    pending_callbacks = [entry[1] for entry in connection.run_on_commit]
    if batch is None or batch["flush"] not in pending_callbacks:
        # First write of this transaction, or the previous batch's transaction was rolled back
        # (Django dropped its callback, and its keys must not be purged).
        batch = batches[alias] = {"keys": set()}

        def flush(batch=batch):
            if batches.get(alias) is batch:
                del batches[alias]
            dispatch(batch["keys"])

        batch["flush"] = flush
        transaction.on_commit(flush, using=alias)
    batch["keys"] |= keys


def track_writes() -> contextvars.Token:
    return _wrote.set([])


def stop_tracking(token: contextvars.Token) -> bool:
    """True when purges were queued since ``track_writes``."""
    wrote = bool(_wrote.get())
    _wrote.reset(token)
    return wrote


def backends() -> list:
    result = []
    for alias, options in conf.get("PURGE_BACKENDS").items():
        cls = import_string(options["BACKEND"])
        result.append(cls(alias=alias, **{k.lower(): v for k, v in options.items() if k != "BACKEND"}))
    return result


def dispatch(keys: set[str], here: bool = False) -> None:
    """Send one batch of keys to every backend; in a worker when one is configured, unless ``here``
    (from this process now, as a logout must: the next request may come before a worker's turn)."""
    if not keys:
        return
    repeat = conf.get("PURGE_REPEAT_AFTER")
    if conf.get("PURGE_IN_WORKER") and not here:
        from ..tasks import broker_configured, enqueue_purge

        if broker_configured() and enqueue_purge(sorted(keys), repeat):
            return
    purge_now(keys)
    if repeat:
        timer = threading.Timer(repeat, purge_now, args=(set(keys),))
        timer.daemon = True
        timer.start()


def purge_now(keys: Iterable[str], attempts: int = 3) -> dict[str, bool]:
    """Purge ``keys`` everywhere now, retrying each backend with backoff; never raises."""
    keys = sorted(set(keys))
    outcome = {}
    started = time.perf_counter()
    for backend in backends():
        ok = False
        for attempt in range(attempts):
            try:
                backend.purge(keys)
                ok = True
                break
            except Exception as exc:  # noqa: BLE001 - a failed purge must never break the request
                logger.warning("purge via %s failed (attempt %d/%d): %s", backend.alias, attempt + 1, attempts, exc)
                time.sleep(0.05 * 3**attempt)
        outcome[backend.alias] = ok
    for listener in tuple(_listeners):
        listener(keys, outcome, time.perf_counter() - started)
    return outcome


def purge_or_raise(keys: list[str]) -> None:
    """The worker's purge (task ``upstack.purge``): like ``purge_now``, but a backend that failed
    raises, so that the task is retried with backoff."""
    outcome = purge_now(keys)
    if not all(outcome.values()):
        raise ConnectionError(f"purge failed for: {[name for name, ok in outcome.items() if not ok]}")


def retry_backlog() -> dict[str, bool]:
    """Retry every node that missed purges (``edge.backlog``); ``{node: reached}``. Never raises for a
    node; entries of a backend no longer configured are dropped."""
    by_alias = {backend.alias: backend for backend in backends()}

    def purge_node(node, keys):
        alias, url, host = backlog.parse_node(node)
        backend = by_alias.get(alias)
        if backend is None or not hasattr(backend, "purge_node"):
            return None
        return backend.purge_node(url, host, keys)

    return backlog.drain(purge_node)
