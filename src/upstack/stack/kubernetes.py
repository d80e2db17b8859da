"""Kubernetes manifests for a stack, built as data and dumped as YAML.

Pure: (context, sizing, processes) in, ``{relative path: YAML text}`` out. Deployments, Services,
PodDisruptionBudgets and HorizontalPodAutoscalers for the web tier and the workers; beat as one
replica that is replaced, never surged, with its schedule on a PersistentVolumeClaim; a migrations Job
the Django pods wait for; Varnish behind a Service, an Ingress (cert-manager) and a headless Service
through which every replica is purged; PostgreSQL and the broker Redis as StatefulSets (or external);
PgBouncer and memcached when enabled. The server configurations are the same files as the other
targets, in one ConfigMap mounted at /etc/upstack; the pods carry its checksum, so a config change
rolls them. Secrets come from the Secret ``django-secrets`` (docs/deploy.md). ``k8s_invariants``
checks what a cluster would refuse or get wrong. Manifests are data rather than templates because YAML
indentation in a text template is where mistakes hide.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import yaml

from .context import Resources, StackContext
from .services import BEAT_SCHEDULE, STANDARD_PORTS, Service
from .sizing import GB, MAX_CONNECTIONS_LIMIT, MB, RESERVED_CONNECTIONS, Sizing, pod_plan, postgres

HEADER = "# {project} on Kubernetes - rendered by `manage.py upstack render --target kubernetes`.\n# {what}\n"
DEFAULT_POD = Resources(1, 1 * GB)
APP_REPLICAS, APP_MAX, WORKER_MAX = 2, 20, 10
PRESTOP_SECONDS = 5  # the endpoints controller and the Service's proxies stop routing to the pod meanwhile
GRACEFUL_TIMEOUT = 30  # gunicorn's graceful_timeout (templates/gunicorn/gunicorn.conf.py)
SECRET = "django-secrets"
PG_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{PG_MOUNT}/pgdata"  # a subdirectory: a volume's root holds lost+found, which initdb refuses
CLUSTER_ISSUER = "letsencrypt"
VARNISH_NODES = "varnish-nodes"  # the headless Service: EDGE_URL names it and EDGE_RESOLVE purges every address
PGBOUNCER_IMAGE = "edoburu/pgbouncer:latest"  # any image with pgbouncer and sh: start.sh writes the userlist
# Environment entries holding the database password: expanded by Kubernetes from POSTGRES_PASSWORD, so
# they live in each container's env after it, never in the ConfigMap (where $(VAR) stays literal).
SECRET_URLS = ("DATABASE_URL", "DIRECT_DATABASE_URL")
# Beat's schedule file lives on a claim of its own, so a new pod (every deploy) keeps it. ReadWriteOnce is
# enough: beat is one replica replaced with Recreate, so the old pod lets go before the new one mounts.
BEAT_CLAIM, BEAT_CLAIM_SIZE = "beat-schedule", "1Gi"
# The pod's supplementary group, given the claim's files: the image's user (not root) can write there.
BEAT_FS_GROUP = 10001


# Replicas without an inventory (render --inventory sets its own counts: ctx.replicas).
DEFAULT_REPLICAS = {"app": APP_REPLICAS, "worker": 1, "varnish": 2}


def replicas(ctx: StackContext, name: str) -> int:
    return ctx.replicas.get(name, DEFAULT_REPLICAS[name])


def cluster_sizing(ctx: StackContext, sizing: Sizing) -> tuple[Sizing, int]:
    """The sizing the manifests are rendered with, and the app HPA's maximum.

    App and worker pods are sized from ``ctx.pod_resources``; PostgreSQL (``--cpus/--memory``) gets
    ``max_connections`` for every pod the HPAs may run, or PgBouncer's pool when it is in front. Without
    PgBouncer the app HPA's maximum is lowered until the budget fits under 400 connections.
    """
    pod = ctx.pod_resources or DEFAULT_POD
    workers, threads, celery = pod_plan(pod.cpus, pod.memory_bytes)
    low, worker_max = replicas(ctx, "app"), max(WORKER_MAX, replicas(ctx, "worker"))
    app_max = max(APP_MAX, low)
    pg = sizing.postgres
    if not ctx.with_pgbouncer:
        def need(app_pods: int) -> int:
            # + beat and the migrations Job, one connection each
            return app_pods * workers * threads + worker_max * celery + 2 + RESERVED_CONNECTIONS

        while app_max > low and need(app_max) >= MAX_CONNECTIONS_LIMIT:
            app_max -= 1
        if need(app_max) >= MAX_CONNECTIONS_LIMIT:
            raise ValueError(f"{app_max} app pods x {workers} workers x {threads} threads need {need(app_max)} "
                             f"PostgreSQL connections (limit {MAX_CONNECTIONS_LIMIT - 1}); enable PgBouncer "
                             "or use smaller pods")
        pg = postgres(sizing.memory, max(100, need(app_max)))
    return dataclasses.replace(sizing, app_workers=workers, app_threads=threads, celery_concurrency=celery,
                               postgres=pg), app_max


def _labels(project: str, name: str) -> dict:
    return {"app.kubernetes.io/part-of": project, "app.kubernetes.io/name": name}


def _meta(project: str, name: str) -> dict:
    return {"name": name, "labels": _labels(project, name)}


def _secret_ref(key: str, optional: bool = False) -> dict:
    ref = {"name": SECRET, "key": key}
    return {"secretKeyRef": {**ref, "optional": True} if optional else ref}


def _resources(cpu_millis: int, memory: int, limit: int | None = None) -> dict:
    return {"requests": {"cpu": f"{cpu_millis}m", "memory": f"{memory // MB}Mi"},
            "limits": {"memory": f"{(limit or memory) // MB}Mi"}}


def _exec(*argv: str) -> dict:
    return {"exec": {"command": list(argv)}}


def _container(name: str, image: str, argv, resources: dict, **extra) -> dict:
    container = {"name": name, "image": image, "args": list(argv),
                 "volumeMounts": [{"name": "upstack-config", "mountPath": "/etc/upstack", "readOnly": True}],
                 "resources": resources}
    container.update({key: value for key, value in extra.items() if value is not None})
    return container


def _django(name: str, image: str, argv, resources: dict, secret_env: dict[str, str], **extra) -> dict:
    """A Django process: the ConfigMap's environment, the Secret's, and the URLs that embed the password."""
    env = [{"name": "POSTGRES_PASSWORD", "valueFrom": _secret_ref("POSTGRES_PASSWORD")},
           *({"name": key, "value": value} for key, value in sorted(secret_env.items()))]
    return _container(name, image, argv, resources, env=env,
                      envFrom=[{"configMapRef": {"name": "django-env"}}, {"secretRef": {"name": SECRET}}], **extra)


def _probes(readiness: dict, liveness: dict, period: int = 10, timeout: int = 3) -> dict:
    return {"readinessProbe": {**readiness, "periodSeconds": period, "timeoutSeconds": timeout},
            "livenessProbe": {**liveness, "periodSeconds": period, "timeoutSeconds": timeout,
                              "initialDelaySeconds": 20, "failureThreshold": 3}}


def _pod(project: str, name: str, containers: list[dict], config: list[str], checksum: str, *, grace: int = 30,
         spread: bool = False, init: list[dict] | None = None, restart: str | None = None) -> dict:
    # Config files live flat in the ConfigMap; every pod projects them back to their paths.
    items = [{"key": _config_key(path), "path": path.removeprefix("etc/")} for path in config]
    spec: dict = {"terminationGracePeriodSeconds": grace, "containers": containers,
                  "volumes": [{"name": "upstack-config", "configMap": {"name": "upstack-config", "items": items}}]}
    if init:
        spec["initContainers"] = init
    if restart:
        spec["restartPolicy"] = restart
    if spread:
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                                              "labelSelector": {"matchLabels": _labels(project, name)}}
                                             for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")]
    return {"metadata": {"labels": _labels(project, name), "annotations": {"checksum/config": checksum}}, "spec": spec}


def _config_key(path: str) -> str:
    return path.replace("/", "__")


def _deployment(project: str, name: str, replicas: int, pod: dict, recreate: bool = False) -> dict:
    strategy = ({"type": "Recreate"} if recreate else
                {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(project, name),
            "spec": {"replicas": replicas, "selector": {"matchLabels": _labels(project, name)}, "template": pod,
                     "strategy": strategy}}


def _statefulset(project: str, name: str, pod: dict, data_path: str, size: str) -> dict:
    pod["spec"]["containers"][0]["volumeMounts"].append({"name": "data", "mountPath": data_path})
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(project, name),
            "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": _labels(project, name)},
                     "template": pod,
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}]}}


def beat_schedule_dir(beat: Service) -> str:
    """The folder of the schedule file beat's command line names (``--schedule``)."""
    argv = list(beat.argv)
    schedule = argv[argv.index("--schedule") + 1]
    if not schedule.startswith("/"):
        raise ValueError(f"beat's schedule {schedule!r} must be an absolute path to mount its claim there")
    return schedule.rsplit("/", 1)[0]


def _beat_claim(project: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(project, BEAT_CLAIM),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": BEAT_CLAIM_SIZE}}}}


def _service(project: str, name: str, port: int, *, selects: str | None = None, headless: bool = False) -> dict:
    spec: dict = {"selector": _labels(project, selects or name), "ports": [{"name": "main", "port": port,
                                                                           "targetPort": port}]}
    if headless:  # one DNS record per ready pod, so a purge reaches every replica
        spec.update(clusterIP="None", publishNotReadyAddresses=False)
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(project, name), "spec": spec}


def _pdb(project: str, name: str, replicas: int) -> dict:
    # A single replica may go (a PDB of minAvailable 1 would block every node drain); more keep one up.
    budget = {"minAvailable": 1} if replicas > 1 else {"maxUnavailable": 1}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(project, name),
            "spec": {**budget, "selector": {"matchLabels": _labels(project, name)}}}


def _hpa(project: str, name: str, low: int, high: int, cpu: int) -> dict:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(project, name),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": low, "maxReplicas": high,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": cpu}}}]}}


class _Dumper(yaml.SafeDumper):
    """No anchors and aliases: a shared dict (probe headers) is written out at each place."""

    def ignore_aliases(self, data) -> bool:
        return True


def _dump(project: str, what: str, docs: list[dict]) -> str:
    body = "---\n".join(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False) for doc in docs)
    return HEADER.format(project=project, what=what) + body


def checksum(config_files: dict[str, str], django_env: dict[str, str]) -> str:
    blob = json.dumps([sorted(config_files.items()), sorted(django_env.items())]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _port(service: Service) -> int:
    return int(service.address.rsplit(":", 1)[1])


def _ingress(ctx: StackContext) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        **_meta(ctx.project, "edge"), "annotations": {
            "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
            "nginx.ingress.kubernetes.io/proxy-body-size": "20m"}},
        "spec": {"ingressClassName": "nginx",
                 "tls": [{"hosts": [ctx.server_name], "secretName": f"{ctx.project}-tls"}],
                 "rules": [{"host": ctx.server_name, "http": {"paths": [{
                     "path": "/", "pathType": "Prefix", "backend": {"service": {
                         "name": "varnish", "port": {"number": STANDARD_PORTS["varnish"]}}}}]}}]}}


def _keda(ctx: StackContext, low: int, high: int) -> dict:
    broker = f"redis-broker:{STANDARD_PORTS['redis-broker']}"
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": _meta(ctx.project, "worker"),
            "spec": {"scaleTargetRef": {"name": "worker"}, "minReplicaCount": low, "maxReplicaCount": high,
                     "advanced": {"horizontalPodAutoscalerConfig": {"name": "worker-keda"}},
                     "triggers": [{"type": "redis", "metadata": {"address": broker, "listName": queue,
                                                                 "listLength": "20", "databaseIndex": "0"}}
                                  for queue in ("high", "default", "low")]}}


def manifests(ctx: StackContext, sizing: Sizing, processes: dict[str, Service], config_files: dict[str, str],
              django_env: dict[str, str], app_max: int = APP_MAX) -> dict[str, str]:
    p, image = ctx.project, ctx.image
    pod_res = ctx.pod_resources or DEFAULT_POD
    secret_env = {k: v for k, v in django_env.items() if k in SECRET_URLS}
    plain_env = {k: v for k, v in django_env.items() if k not in SECRET_URLS}
    paths, sums = sorted(config_files), checksum(config_files, django_env)
    pod_resources = _resources(pod_res.cpus * 1000, pod_res.memory_bytes)
    stop = {"lifecycle": {"preStop": _exec("sleep", str(PRESTOP_SECONDS))}}
    wait = [_django("wait-for-migrations", image, [
        "sh", "-c", "until python manage.py migrate --check >/dev/null; do echo waiting for migrations; sleep 5; done"],
        _resources(100, 256 * MB), secret_env)]
    ping = ["sh", "-c", f"exec python -m celery --app {ctx.celery_app} inspect ping --timeout 10 "
                        "--destination celery@$HOSTNAME"]
    host = [{"name": "Host", "value": ctx.server_name}]
    app, worker, beat = processes["app"], processes["worker"], processes["beat"]
    app_port = _port(app)
    apps, workers = replicas(ctx, "app"), replicas(ctx, "worker")
    worker_max = max(WORKER_MAX, workers)
    app_container = _django("app", image, app.argv, pod_resources, secret_env, ports=[{"containerPort": app_port,
                                                                                       "name": "main"}],
                            **_probes({"httpGet": {"path": ctx.ready_path, "port": app_port, "httpHeaders": host}},
                                      {"httpGet": {"path": ctx.health_path, "port": app_port, "httpHeaders": host}}),
                            **stop)
    worker_container = _django("worker", image, worker.argv, pod_resources, secret_env,
                               **_probes(_exec(*ping), _exec(*ping), period=60, timeout=20))
    beat_dir = beat_schedule_dir(beat)
    # Alive while it keeps writing its schedule (celery syncs it every 3 minutes), where it writes it.
    beat_alive = ["sh", "-c", f"find {beat_dir} -maxdepth 1 -name '{BEAT_SCHEDULE}*' -mmin -15 | grep -q ."]
    beat_container = _django("beat", image, beat.argv, _resources(100, 256 * MB), secret_env,
                             **_probes(_exec(*beat_alive), _exec(*beat_alive), period=60))
    beat_container["volumeMounts"].append({"name": BEAT_CLAIM, "mountPath": beat_dir})
    beat_pod = _pod(p, "beat", [beat_container], paths, sums, init=wait)
    beat_pod["spec"]["volumes"].append({"name": BEAT_CLAIM, "persistentVolumeClaim": {"claimName": BEAT_CLAIM}})
    beat_pod["spec"]["securityContext"] = {"fsGroup": BEAT_FS_GROUP, "fsGroupChangePolicy": "OnRootMismatch"}
    migrate = _django("migrate", image, ["python", "manage.py", "migrate", "--noinput"], _resources(250, 512 * MB),
                      secret_env)
    files = {
        "kubernetes/config.yaml": _dump(p, "Server configurations and the Django environment (no secrets).", [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "upstack-config"},
             "data": {_config_key(path): text for path, text in sorted(config_files.items())}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "django-env"}, "data": plain_env},
        ]),
        "kubernetes/migrate.yaml": _dump(p, "Migrations: apply before (or with) the rest; the Django pods wait "
                                            "for them. Delete the finished Job before the next release.", [
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(p, "migrate"),
             "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 86400,
                      "template": _pod(p, "migrate", [migrate], paths, sums, restart="Never")}}]),
        "kubernetes/app.yaml": _dump(p, "The web tier: scale out on CPU; requests match the workers per pod.", [
            _deployment(p, "app", apps, _pod(p, "app", [app_container], paths, sums, spread=True, init=wait,
                                                    grace=GRACEFUL_TIMEOUT + PRESTOP_SECONDS + 10)),
            _service(p, "app", app_port), _pdb(p, "app", apps), _hpa(p, "app", apps, app_max, 70),
        ]),
        "kubernetes/worker.yaml": _dump(p, "Celery workers (scale on CPU, or on queue length with "
                                           "optional/keda-worker.yaml) and the single beat scheduler.", [
            _deployment(p, "worker", workers, _pod(p, "worker", [worker_container], paths, sums,
                                                   grace=worker.stop_wait + 30, spread=True, init=wait)),
            _pdb(p, "worker", workers), _hpa(p, "worker", workers, worker_max, 80),
            # One beat at a time: Recreate stops the old one before the new one starts.
            _beat_claim(p), _deployment(p, "beat", 1, beat_pod, recreate=True), _pdb(p, "beat", 1),
        ]),
        "kubernetes/ingress.yaml": _dump(p, "TLS at the Ingress (cert-manager issues the certificate); "
                                            "traffic goes to Varnish.", [_ingress(ctx)]),
        "kubernetes/optional/keda-worker.yaml": _dump(
            p, "Optional (needs KEDA): scale the workers on queue length. Apply it and `kubectl delete hpa worker`.",
            [_keda(ctx, workers, worker_max)]),
    }
    files.update(_servers(ctx, sizing, processes, paths, sums))
    return files


def _servers(ctx: StackContext, sizing: Sizing, processes: dict[str, Service], paths: list[str],
             sums: str) -> dict[str, str]:
    p, files = ctx.project, {}
    memory = {"varnish": sizing.varnish_memory * 2, "redis-cache": sizing.redis_cache_maxmemory * 2,
              "redis-broker": sizing.redis_broker_maxmemory * 2, "memcached": sizing.memcached_memory * 3 // 2,
              "postgres": max(512 * MB, sizing.memory // 2), "pgbouncer": 128 * MB}
    cpu = {"varnish": 500, "postgres": max(500, sizing.cpus * 1000 // 2), "pgbouncer": 250}
    images = {"varnish": "varnish:7.1", "redis-cache": "redis:7", "redis-broker": "redis:7", "postgres": "postgres:15",
              "memcached": "memcached:1.6", "pgbouncer": PGBOUNCER_IMAGE}
    storage = {"redis-broker": ("5Gi", "/data"), "postgres": ("50Gi", PG_MOUNT)}
    for name in ("varnish", "redis-cache", "redis-broker", "postgres", "pgbouncer", "memcached"):
        if name not in processes:
            continue
        service, port = processes[name], _port(processes[name])
        argv, env = list(service.argv), None
        tcp = {"tcpSocket": {"port": port}}
        readiness = tcp
        if name == "postgres":
            argv[argv.index("-D") + 1] = PGDATA
            env = [{"name": "POSTGRES_USER", "value": ctx.db_user}, {"name": "POSTGRES_DB", "value": ctx.db_name},
                   {"name": "PGDATA", "value": PGDATA},
                   {"name": "POSTGRES_PASSWORD", "valueFrom": _secret_ref("POSTGRES_PASSWORD")}]
            readiness = _exec("pg_isready", "-U", ctx.db_user, "-d", ctx.db_name)
        elif name == "varnish":  # the VCL checks the read-your-own-writes cookie with Django's secret
            env = [{"name": "UPSTACK_FRESH_SECRET", "valueFrom": _secret_ref("UPSTACK_FRESH_SECRET", optional=True)}]
        elif name == "pgbouncer":  # the userlist is written from the Secret when the container starts
            argv = ["sh", "/etc/upstack/pgbouncer/start.sh"]
            env = [{"name": "POSTGRES_PASSWORD", "valueFrom": _secret_ref("POSTGRES_PASSWORD")}]
        container = _container(name, images[name], argv, _resources(cpu.get(name, 100), memory[name]), env=env,
                               ports=[{"containerPort": port, "name": "main"}], **_probes(readiness, tcp))
        if name == "pgbouncer":  # the image's own entrypoint would write a config of its own: bypass it
            container["command"] = container.pop("args")
        count = replicas(ctx, "varnish") if name == "varnish" else 1
        if name == "varnish":
            container["lifecycle"] = {"preStop": _exec("sleep", str(PRESTOP_SECONDS))}
        pod = _pod(p, name, [container], paths, sums, spread=count > 1,
                   grace=service.stop_wait + PRESTOP_SECONDS + 10)
        docs = ([_statefulset(p, name, pod, storage[name][1], storage[name][0])] if name in storage
                else [_deployment(p, name, count, pod)])
        docs += [_service(p, name, port), _pdb(p, name, count)]
        if name == "varnish":
            docs.append(_service(p, VARNISH_NODES, port, selects="varnish", headless=True))
        what = ("External in production if you have a managed one: point DATABASE_URL/BROKER_URL at it "
                "and drop this file." if name in storage else f"{name}.")
        files[f"kubernetes/{name}.yaml"] = _dump(p, what, docs)
    return files
