"""Observability: the per-request breakdown, JSON logs, Prometheus metrics and Sentry.

The metrics extra (prometheus-client) is imported by ``metrics.prometheus`` only. Without it, metrics
are off: :func:`exporter` returns None, nothing is counted and ``/metrics`` is not routed; the request
log and Server-Timing still work.
"""

from __future__ import annotations

from importlib.util import find_spec


def exporter():
    """The ``upstack.metrics.prometheus`` module, or None when prometheus-client is not installed."""
    if find_spec("prometheus_client") is None:
        return None
    from . import prometheus as module

    return module
