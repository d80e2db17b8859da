"""Prometheus metrics, correct across gunicorn workers (multiprocess mode).

With ``PROMETHEUS_MULTIPROC_DIR`` set (``upstack up`` and the rendered configs set it), every process
writes its samples to files there and ``/metrics`` sums them; the gunicorn config marks dead workers.
``metrics_view`` answers internal addresses (``UPSTACK["INTERNAL_IPS"]``) or callers presenting
``Authorization: Bearer <UPSTACK["METRICS_TOKEN"]>``; everyone else gets 404. prometheus-client is
imported here only.
"""

from __future__ import annotations

import os

from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .. import conf
from .clients import client_ip, is_internal

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUEST_SECONDS = Histogram("upstack_request_seconds", "Request latency", ["view", "status"], buckets=BUCKETS)
PART_SECONDS = Histogram("upstack_request_part_seconds", "Request time by part", ["view", "part"], buckets=BUCKETS)
IN_FLIGHT = Gauge("upstack_requests_in_flight", "Requests being served", multiprocess_mode="livesum")
CACHE_OPS = Counter("upstack_cache_lookups_total", "Cache lookups", ["namespace", "result"])
PAGE_CACHE = Counter("upstack_page_cache_total", "Page cache results", ["result"])
PURGES = Counter("upstack_purge_keys_total", "Surrogate keys purged", ["backend", "result"])
PURGE_SECONDS = Histogram("upstack_purge_seconds", "Purge latency", buckets=BUCKETS)
TASKS = Counter("upstack_tasks_total", "Celery tasks run", ["task", "state"])
TASK_SECONDS = Histogram("upstack_task_seconds", "Celery task duration", ["task"], buckets=BUCKETS)


def observe_request(view: str, status: int, parts: dict, page_cache: str | None) -> None:
    REQUEST_SECONDS.labels(view, str(status)).observe(parts["total"])
    for part in ("sql", "cache", "template", "http", "python"):
        PART_SECONDS.labels(view, part).observe(parts[part])
    for namespace, row in parts["cache_namespaces"].items():
        if row["hits"]:
            CACHE_OPS.labels(namespace, "hit").inc(row["hits"])
        if row["misses"]:
            CACHE_OPS.labels(namespace, "miss").inc(row["misses"])
    if page_cache:
        PAGE_CACHE.labels(page_cache.lower()).inc()


def observe_purge(keys, outcome: dict, seconds: float) -> None:
    PURGE_SECONDS.observe(seconds)
    for backend, ok in outcome.items():
        PURGES.labels(backend, "ok" if ok else "failed").inc(len(keys))


class QueueDepths:
    """Queue depths and the purge backlog, read from the broker at scrape time."""

    def collect(self):
        from ..tasks.stats import stats

        gauge = GaugeMetricFamily("upstack_queue_depth", "Messages waiting per Celery queue", labels=["queue"])
        backlog = GaugeMetricFamily("upstack_purge_backlog_keys", "Purged keys an edge node missed, waiting for a retry",
                                    labels=["node"])
        oldest = GaugeMetricFamily("upstack_purge_backlog_oldest_seconds", "Age of the oldest purge an edge node missed")
        try:
            data = stats()
            for queue, row in data["queues"].items():
                if row.get("depth") is not None:
                    gauge.add_metric([queue], row["depth"])
            for node, count in data["purge_backlog"].get("nodes", {}).items():
                backlog.add_metric([node], count)
            oldest.add_metric([], data["purge_backlog"].get("oldest_age") or 0.0)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the broker is away
            pass
        yield gauge
        yield backlog
        yield oldest


class ReplicaLag:
    """Each read replica's lag and whether it is in rotation (upstack.db.lag), at scrape time from the
    process's cached reading (measured at most every REPLICA_CHECK_EVERY seconds). An unreachable
    replica has no lag sample, and 0 in rotation."""

    def collect(self):
        from ..db import lag

        seconds = GaugeMetricFamily("upstack_db_replica_lag_seconds", "How far a read replica's view is behind the "
                                    "primary", labels=["replica"])
        rotation = GaugeMetricFamily("upstack_db_replica_in_rotation", "1 when a read replica gets reads, 0 when it "
                                     "lags beyond REPLICA_MAX_LAG or cannot be reached", labels=["replica"])
        max_lag = conf.get("REPLICA_MAX_LAG")
        for alias in conf.get("DATABASE_REPLICAS"):
            try:
                reading = lag.reading(alias)
            except Exception:  # noqa: BLE001 - a scrape must not fail because a database is away
                reading = None
            if reading is not None and reading.lag is not None:
                seconds.add_metric([alias], reading.lag)
            rotation.add_metric([alias], 1.0 if lag.in_rotation(reading, max_lag) else 0.0)
        yield seconds
        yield rotation


def multiprocess_samples(multiproc_dir) -> list:
    """Every sample the processes wrote to ``multiproc_dir`` (``upstack top``, ``upstack report``)."""
    from prometheus_client import multiprocess

    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=str(multiproc_dir))
    return [sample for family in reg.collect() for sample in family.samples]


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
    else:
        from prometheus_client import REGISTRY as reg
    return reg


def _allowed(request) -> bool:
    token = conf.get("METRICS_TOKEN")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and constant_time_compare(header, f"Bearer {token}"):
        return True
    return is_internal(client_ip(request))


def metrics_view(request):
    if not _allowed(request):
        raise Http404
    reg = registry()
    output = generate_latest(reg)
    output += generate_latest(_depths_registry())
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def _depths_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(QueueDepths())
    reg.register(ReplicaLag())
    return reg
