"""Task metrics for Prometheus (tasks run, by name and state; their duration): receivers that
``tasks.app``, the one module that imports Celery, connects to Celery's ``task_prerun`` and
``task_postrun`` signals. Without the metrics extra they count nothing."""

from __future__ import annotations

import time

_started: dict[str, float] = {}


def prerun(task_id=None, **kwargs):
    _started[task_id] = time.perf_counter()


def postrun(task_id=None, task=None, state=None, **kwargs):
    from . import exporter

    started = _started.pop(task_id, None)
    metrics = exporter()
    if metrics is None:
        return
    metrics.TASKS.labels(task.name, state or "unknown").inc()
    if started is not None:
        metrics.TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)
