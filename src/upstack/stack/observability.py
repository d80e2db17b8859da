"""Prometheus scrape configuration, alert rules and a Grafana dashboard for a stack.

Pure: a context's hosts and ports in, ``{path: text}`` out. The app servers are scraped at
``/metrics`` (upstack's metrics, summed over workers); Varnish, Redis and PostgreSQL through the
exporters Debian packages (prometheus-varnish-exporter, prometheus-redis-exporter,
prometheus-postgres-exporter) and the host through prometheus-node-exporter. ``promtool`` checks
both Prometheus files in the test suite.
"""

from __future__ import annotations

import json

import yaml

EXPORTER_PORTS = {"varnish": 9131, "redis": 9121, "postgres": 9187, "node": 9100}


def scrape_config(app_targets: list[str], exporter_host: str, metrics_token: bool) -> dict:
    app_job = {"job_name": "django", "metrics_path": "/metrics", "static_configs": [{"targets": app_targets}]}
    if metrics_token:
        app_job["authorization"] = {"type": "Bearer", "credentials_file": "/etc/prometheus/upstack-metrics-token"}
    jobs = [app_job] + [
        {"job_name": name, "static_configs": [{"targets": [f"{exporter_host}:{port}"]}]}
        for name, port in EXPORTER_PORTS.items()
    ]
    return {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
            "rule_files": ["upstack-alerts.yml"], "scrape_configs": jobs}


def local_scrape_config(app_targets: list[str], prometheus_target: str) -> dict:
    """The local stack's Prometheus (`up --with observability`): the app servers and Prometheus itself,
    every 5 s. No Varnish, Redis or host exporter runs on the local stack (Debian's exporters are not
    installed by scripts/install-services), so those jobs are left out rather than shown as down."""
    return {"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": ["upstack-alerts.yml"],
            "scrape_configs": [
                {"job_name": "django", "metrics_path": "/metrics", "static_configs": [{"targets": app_targets}]},
                {"job_name": "prometheus", "static_configs": [{"targets": [prometheus_target]}]}]}


def _rule(name, expr, minutes, severity, summary):
    return {"alert": name, "expr": expr, "for": f"{minutes}m", "labels": {"severity": severity},
            "annotations": {"summary": summary}}


def alert_rules() -> dict:
    requests = "sum(rate(upstack_request_seconds_count[5m]))"
    return {"groups": [{"name": "upstack", "rules": [
        _rule("HighErrorRate", f'sum(rate(upstack_request_seconds_count{{status=~"5.."}}[5m])) / {requests} > 0.02',
              5, "page", "More than 2% of requests fail"),
        _rule("BackendUnhealthy", "varnish_backend_up == 0", 2, "page", "Varnish sees an app server as sick"),
        _rule("EdgeHitRateDropping",
              "rate(varnish_main_cache_hit[10m]) / (rate(varnish_main_cache_hit[10m]) + rate(varnish_main_cache_miss[10m]))"
              " < 0.7", 15, "warn", "The edge hit rate fell under 70%"),
        _rule("CacheHitRateDropping",
              'sum(rate(upstack_cache_lookups_total{result="hit"}[10m])) / sum(rate(upstack_cache_lookups_total[10m]))'
              " < 0.6", 15, "warn", "The Django cache hit rate fell under 60%"),
        _rule("QueueGrowing", "max(upstack_queue_depth) > 1000 and max(deriv(upstack_queue_depth[10m])) > 0", 10,
              "warn", "A Celery queue keeps growing"),
        _rule("PurgeBacklogOld", "max(upstack_purge_backlog_oldest_seconds) > 300", 5, "warn",
              "An edge node has missed purges for 5 minutes: it may serve old pages (docs/edge.md)"),
        _rule("ReplicaLagging", "max by (replica) (upstack_db_replica_lag_seconds) > 30", 2, "warn",
              "A read replica is more than 30 s behind the primary (docs/scaling.md)"),
        _rule("ReplicaOutOfRotation", "min by (replica) (upstack_db_replica_in_rotation) == 0", 5, "warn",
              "A read replica gets no reads (lagging or unreachable): the primary carries them (docs/scaling.md)"),
        _rule("MemoryHigh", "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > 0.9", 10, "warn",
              "Less than 10% of memory available"),
        _rule("DiskHigh", '(1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes) > 0.85',
              10, "warn", "A filesystem is more than 85% full"),
    ]}]}


def _panel(panel_id, title, expr, unit, x, y):
    return {"id": panel_id, "type": "timeseries", "title": title, "datasource": {"type": "prometheus", "uid": "${DS}"},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y}, "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"expr": expr, "refId": "A", "legendFormat": "{{view}}{{namespace}}{{queue}}{{part}}"}]}


def dashboard(project: str) -> dict:
    panels = [
        ("Requests per second by status", "sum by (status) (rate(upstack_request_seconds_count[1m]))", "reqps"),
        ("p95 latency by view", "histogram_quantile(0.95, sum by (le, view) (rate(upstack_request_seconds_bucket[5m])))", "s"),
        ("Time by part", "sum by (part) (rate(upstack_request_part_seconds_sum[5m]))", "s"),
        ("Edge hit ratio", "rate(varnish_main_cache_hit[5m]) / (rate(varnish_main_cache_hit[5m]) + "
                           "rate(varnish_main_cache_miss[5m]))", "percentunit"),
        ("Cache hit ratio by namespace", 'sum by (namespace) (rate(upstack_cache_lookups_total{result="hit"}[5m])) / '
                                         "sum by (namespace) (rate(upstack_cache_lookups_total[5m]))", "percentunit"),
        ("Page cache", "sum by (result) (rate(upstack_page_cache_total[5m]))", "reqps"),
        ("Purged keys", "sum by (backend, result) (rate(upstack_purge_keys_total[5m]))", "ops"),
        ("Queue depth", "upstack_queue_depth", "short"),
        ("Tasks by state", "sum by (task, state) (rate(upstack_tasks_total[5m]))", "ops"),
        ("Redis memory", "redis_memory_used_bytes", "bytes"),
    ]
    return {
        "uid": f"upstack-{project}", "title": f"{project} - upstack", "schemaVersion": 39, "version": 1,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "tags": ["upstack"],
        "templating": {"list": [{"name": "DS", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
        "panels": [_panel(i + 1, title, expr, unit, 12 * (i % 2), 8 * (i // 2))
                   for i, (title, expr, unit) in enumerate(panels)],
    }


def files(project: str, app_targets: list[str], exporter_host: str, metrics_token: bool = False,
          local_prometheus: str | None = None) -> dict[str, str]:
    """The Prometheus files and the dashboard; ``local_prometheus`` ("127.0.0.1:PORT"): the local
    stack's own Prometheus, which scrapes only what runs there (``local_scrape_config``)."""
    header = f"# {project}: rendered by `manage.py upstack render`; checked with promtool.\n"
    config = (local_scrape_config(app_targets, local_prometheus) if local_prometheus
              else scrape_config(app_targets, exporter_host, metrics_token))
    return {
        "etc/prometheus/prometheus.yml": header + yaml.safe_dump(config, sort_keys=False),
        "etc/prometheus/upstack-alerts.yml": header + yaml.safe_dump(alert_rules(), sort_keys=False, width=200),
        "etc/grafana/upstack-dashboard.json": json.dumps(dashboard(project), indent=2) + "\n",
    }
