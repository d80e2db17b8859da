"""Sending work to the workers, without importing Celery (it may not be installed).

``enqueue_on_commit(task, *args)`` enqueues once the transaction commits; a broker that is down is
logged and counted, never raised into the request. ``run_in_background`` and ``enqueue_purge`` fall
back to this process when there is no broker or no Celery. Tasks are sent by name through the project's
Celery app (``UPSTACK["CELERY_APP"]``), which is the module that imports Celery.
"""

from __future__ import annotations

import logging
import threading
from importlib.util import find_spec

logger = logging.getLogger("upstack.tasks")


def celery_installed() -> bool:
    return find_spec("celery") is not None


def broker_configured() -> bool:
    """A broker is configured and Celery is installed to reach it (else work runs in this process)."""
    from django.conf import settings

    return bool(getattr(settings, "CELERY_BROKER_URL", "")) and celery_installed()


def celery_app_path() -> str:
    """``UPSTACK["CELERY_APP"]``, else ``<project>.celery:app`` when the project has that module, else
    upstack's own app for projects without one (``upstack.tasks.default:app``). The project is the
    settings module's top package, or under the stack's overlay the module it overlays."""
    from .. import conf

    if conf.get("CELERY_APP"):
        return conf.get("CELERY_APP")
    project = conf.project_module().split(".")[0]
    try:
        own = find_spec(f"{project}.celery") is not None
    except (ImportError, ValueError):
        own = False
    return f"{project}.celery:app" if own else "upstack.tasks.default:app"


def celery_app():
    """The project's Celery app (``celery_app_path``), so any process - web, command, worker - sends
    tasks to the configured broker."""
    from django.utils.module_loading import import_string

    return import_string(celery_app_path().replace(":", "."))


def send(task_name: str, args: tuple, queue: str | None = None, countdown: float | None = None,
         kwargs: dict | None = None) -> None:
    options = {"queue": queue} if queue else {}
    celery_app().send_task(task_name, args=args, kwargs=kwargs, countdown=countdown, retry=False, **options)


def try_send(task_name: str, args: tuple, queue: str | None = None, *, countdown: float | None = None,
             kwargs: dict | None = None, otherwise: str) -> bool:
    """``send``, but a broker that cannot take the task is logged (saying what happens ``otherwise``)
    and counted (``upstack tasks stats``) instead of raised: False then."""
    try:
        send(task_name, args, queue, countdown, kwargs)
        return True
    except Exception:  # noqa: BLE001 - the broker being down must not break the request
        from .stats import count_enqueue_failure

        count_enqueue_failure(task_name)
        logger.warning("could not enqueue %s; %s", task_name, otherwise, exc_info=True)
        return False


def enqueue_on_commit(task, *args, using: str | None = None, **kwargs) -> None:
    """Enqueue ``task`` (a task or its name) once the current transaction commits; at once outside
    one. Pass primary keys, not model instances. Nothing is enqueued if the transaction rolls back.
    A broker that cannot take it is logged and counted (``upstack tasks stats``), never raised."""
    from django.db import transaction

    if any(hasattr(a, "_meta") and hasattr(a, "pk") for a in (*args, *kwargs.values())):
        raise TypeError("pass primary keys to tasks, not model instances")
    name = task if isinstance(task, str) else task.name
    transaction.on_commit(lambda: try_send(name, args, kwargs=kwargs, otherwise="it will not run"), using=using)


def run_in_background(task_name: str, *args, fallback) -> None:
    """Send ``task_name`` to the workers when a broker is configured; else run ``fallback`` in a
    thread of this process. Never raises into the caller: a broker that is down means the fallback."""
    if broker_configured() and try_send(task_name, args, "low", otherwise="running it in this process"):
        return
    threading.Thread(target=fallback, name=f"upstack:{task_name}", daemon=True).start()


def enqueue_purge(keys: list[str], repeat: float = 0.0) -> bool:
    """Queue a purge (and its repeat) on the high queue; False when the broker cannot take it."""
    if not try_send("upstack.purge", (keys,), "high", otherwise="purging in this process"):
        return False
    if repeat:
        try_send("upstack.purge", (keys,), "high", countdown=repeat, otherwise="the repeat purge is skipped")
    return True
