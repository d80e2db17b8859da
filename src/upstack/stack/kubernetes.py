"""Kubernetes manifests for a stack, built as data and dumped as YAML.

Pure: (context, sizing, processes) in, ``{relative path: YAML text}`` out. Deployments, Services and
HorizontalPodAutoscalers for the web tier and the workers; Varnish as a Deployment behind a Service;
PostgreSQL and the broker Redis as StatefulSets (or external: point DATABASE_URL/BROKER_URL at them
and drop those files). The server configurations are the same files as the other targets, shipped
in one ConfigMap mounted at /etc/upstack. Manifests are data rather than templates because YAML
indentation in a text template is where mistakes hide.
"""

from __future__ import annotations

import yaml

from .context import StackContext
from .services import Service
from .sizing import MB, Sizing

HEADER = "# {project} on Kubernetes - rendered by `manage.py upstack render --target kubernetes`.\n# {what}\n"


def _labels(project: str, name: str) -> dict:
    return {"app.kubernetes.io/part-of": project, "app.kubernetes.io/name": name}


def _container(name: str, image: str, argv: tuple[str, ...], *, port: int | None = None, env_from: bool = False,
               memory: int | None = None, probe_path: str | None = None, probe_tcp: bool = False) -> dict:
    container: dict = {"name": name, "image": image, "args": list(argv),
                       "volumeMounts": [{"name": "upstack-config", "mountPath": "/etc/upstack", "readOnly": True}]}
    if port:
        container["ports"] = [{"containerPort": port, "name": "main"}]
    if env_from:
        container["envFrom"] = [{"configMapRef": {"name": "django-env"}}, {"secretRef": {"name": "django-secrets"}}]
    if memory:
        request = max(32 * MB, memory // 2)
        container["resources"] = {"requests": {"memory": f"{request // MB}Mi", "cpu": "100m"},
                                  "limits": {"memory": f"{memory // MB}Mi"}}
    if probe_path:
        probe = {"httpGet": {"path": probe_path, "port": port}, "periodSeconds": 10, "timeoutSeconds": 3}
        container["readinessProbe"] = probe
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 20, "failureThreshold": 3}
    elif probe_tcp:
        probe = {"tcpSocket": {"port": port}, "periodSeconds": 10}
        container["readinessProbe"] = probe
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 15}
    return container


def _config_key(path: str) -> str:
    return path.replace("/", "__")


def _pod(project: str, name: str, containers: list[dict], config_paths: list[str], grace: int = 30) -> dict:
    # Config files live flat in the ConfigMap; every pod projects them back to their paths.
    items = [{"key": _config_key(path), "path": path.removeprefix("etc/")} for path in config_paths]
    return {"metadata": {"labels": _labels(project, name)},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": containers,
                     "volumes": [{"name": "upstack-config",
                                  "configMap": {"name": "upstack-config", "items": items}}]}}


def _deployment(project: str, name: str, replicas: int, pod: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": _labels(project, name)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": _labels(project, name)}, "template": pod,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}}


def _statefulset(project: str, name: str, pod: dict, data_path: str, size: str) -> dict:
    pod["spec"]["containers"][0]["volumeMounts"].append({"name": "data", "mountPath": data_path})
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": _labels(project, name)},
            "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": _labels(project, name)},
                     "template": pod,
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}]}}


def _service(project: str, name: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": _labels(project, name)},
            "spec": {"selector": _labels(project, name), "ports": [{"name": "main", "port": port, "targetPort": port}]}}


def _hpa(project: str, name: str, low: int, high: int, cpu: int) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "labels": _labels(project, name)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": low, "maxReplicas": high,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": cpu}}}]}}


def _dump(project: str, what: str, docs: list[dict]) -> str:
    body = "---\n".join(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in docs)
    return HEADER.format(project=project, what=what) + body


def manifests(ctx: StackContext, sizing: Sizing, processes: dict[str, Service], config_files: dict[str, str],
              django_env: dict[str, str]) -> dict[str, str]:
    p, image = ctx.project, ctx.image
    app, worker, beat = processes["app"], processes["worker"], processes["beat"]
    app_port = int(app.address.rsplit(":", 1)[1])
    paths = sorted(config_files)
    files = {
        "kubernetes/config.yaml": _dump(p, "Server configurations and the Django environment (no secrets).", [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "upstack-config"},
             "data": {_config_key(path): text for path, text in sorted(config_files.items())}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "django-env"}, "data": dict(django_env)},
        ]),
        "kubernetes/app.yaml": _dump(p, "The web tier: scale out on CPU.", [
            _deployment(p, "app", 2, _pod(p, "app", [_container(
                "app", image, app.argv, port=app_port, env_from=True,
                memory=sizing.app_workers * 200 * MB, probe_path=ctx.health_path)], paths)),
            _service(p, "app", app_port),
            _hpa(p, "app", 2, 20, 70),
        ]),
        "kubernetes/worker.yaml": _dump(p, "Celery workers (scale on CPU) and the single beat scheduler.", [
            _deployment(p, "worker", 1, _pod(p, "worker", [_container(
                "worker", image, worker.argv, env_from=True, memory=sizing.celery_concurrency * 250 * MB)], paths, grace=90)),
            _hpa(p, "worker", 1, 10, 80),
            _deployment(p, "beat", 1, _pod(p, "beat", [_container("beat", image, beat.argv, env_from=True,
                                                                  memory=256 * MB)], paths)),
        ]),
    }
    for name, image_name, size, data_path in (("varnish", "varnish:7.1", None, None),
                                                ("redis-cache", "redis:7", None, None),
                                                ("redis-broker", "redis:7", "5Gi", "/data"),
                                                ("postgres", "postgres:15", "50Gi", "/var/lib/postgresql/data")):
        service = processes[name]
        port = int(service.address.rsplit(":", 1)[1])
        container = _container(name, image_name, service.argv, port=port, probe_tcp=True,
                               memory={"varnish": sizing.varnish_memory * 2, "redis-cache": sizing.redis_cache_maxmemory * 2,
                                       "redis-broker": sizing.redis_broker_maxmemory * 2,
                                       "postgres": None}[name])
        if name == "postgres":
            container["env"] = [{"name": "POSTGRES_USER", "value": ctx.db_user},
                                {"name": "POSTGRES_DB", "value": ctx.db_name},
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {
                                    "name": "django-secrets", "key": "POSTGRES_PASSWORD"}}}]
        if name == "varnish":  # the VCL checks the read-your-own-writes cookie with Django's secret
            container["env"] = [{"name": "UPSTACK_FRESH_SECRET", "valueFrom": {"secretKeyRef": {
                "name": "django-secrets", "key": "UPSTACK_FRESH_SECRET", "optional": True}}}]
        pod = _pod(p, name, [container], paths)
        workload = (_statefulset(p, name, pod, data_path, size) if data_path
                    else _deployment(p, name, 2 if name == "varnish" else 1, pod))
        what = ("External in production if you have a managed one: point DATABASE_URL/BROKER_URL at it "
                "and drop this file." if data_path else f"{name}.")
        files[f"kubernetes/{name}.yaml"] = _dump(p, what, [workload, _service(p, name, port)])
    return files
