"""Invariants of rendered Kubernetes manifests: what a cluster would accept and then get wrong.

Schema validation (``kubernetes-validate --strict``) passes manifests that never start: a URL naming
a Service that is not there, a ``$(VAR)`` Kubernetes leaves literal, PostgreSQL told two data
directories, a pod killed before its graceful shutdown ends, more connections than PostgreSQL allows.
No cluster runs in the tests, so each rule is a pure function over the parsed documents returning the
problems it finds (empty: it holds). ``problems(files)`` runs them all on ``render("kubernetes", ...)``.
Home-made because the maintained linters (kube-linter, kubeconform, Polaris) check one object at a
time and know nothing of Django's environment or gunicorn's configuration.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

from .sizing import APP_WORKER_RSS, CELERY_PROCESS_RSS, RESERVED_CONNECTIONS, parse_size

VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def load(files: dict[str, str]) -> list[dict]:
    """Every document of the rendered ``kubernetes/*.yaml`` (the optional ones left out)."""
    docs = []
    for path, text in sorted(files.items()):
        if path.startswith("kubernetes/") and path.count("/") == 1 and path.endswith(".yaml"):
            docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def _of(docs: list[dict], *kinds: str) -> list[dict]:
    return [doc for doc in docs if doc.get("kind") in kinds]


def _named(docs: list[dict], kind: str, name: str) -> dict | None:
    return next((doc for doc in _of(docs, kind) if doc["metadata"]["name"] == name), None)


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]


def _containers(workload: dict) -> list[dict]:
    spec = _pod(workload)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _where(workload: dict, container: dict) -> str:
    return f"{workload['kind']} {workload['metadata']['name']}, container {container['name']}"


def _config(docs: list[dict], suffix: str) -> str:
    """A server configuration file from the ``upstack-config`` ConfigMap, by the end of its key."""
    configmap = _named(docs, "ConfigMap", "upstack-config") or {"data": {}}
    return next((text for key, text in configmap["data"].items() if key.endswith(suffix)), "")


def _setting(text: str, name: str) -> int | None:
    match = re.search(rf"^\s*{name}\s*=\s*(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def environment(docs: list[dict], container: dict) -> dict[str, str]:
    """A container's environment as Kubernetes builds it: ConfigMaps through envFrom, then env (values only)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            configmap = _named(docs, "ConfigMap", source["configMapRef"]["name"]) or {"data": {}}
            env.update(configmap.get("data") or {})
    env.update({entry["name"]: entry["value"] for entry in container.get("env", []) if "value" in entry})
    return env


def _address(name: str, value: str) -> tuple[str, int | None] | None:
    if "://" in value:
        parts = urlsplit(value)
        return (parts.hostname, parts.port) if parts.hostname else None
    match = re.fullmatch(r"([a-z0-9-]+):(\d+)", value)
    return (match.group(1), int(match.group(2))) if match and name.endswith("_LOCATION") else None


def services_for_urls(docs: list[dict]) -> list[str]:
    """Every Service that a URL in a container's environment names is rendered, with that port.
    A host with a dot (an external database, an IP address) is the operator's to provide."""
    services = {doc["metadata"]["name"]: {port["port"] for port in doc["spec"]["ports"]}
                for doc in _of(docs, "Service")}
    found = []
    for workload in _of(docs, *WORKLOADS):
        for container in _containers(workload):
            for name, value in sorted(environment(docs, container).items()):
                address = _address(name, value)
                if not address or "." in address[0] or address[0] == "localhost":
                    continue
                host, port = address
                if host not in services:
                    found.append(f"{_where(workload, container)}: {name} names {host}, and no such Service is rendered")
                elif port is not None and port not in services[host]:
                    found.append(f"{_where(workload, container)}: {name} names port {port} of {host}, "
                                 f"which serves {sorted(services[host])}")
    return found


def expansions_defined(docs: list[dict]) -> list[str]:
    """Every ``$(VAR)`` is where Kubernetes expands it (env values, args, command) and names a variable
    defined earlier in that container's env; a ConfigMap read through envFrom is never expanded."""
    found = []
    read = {source["configMapRef"]["name"] for workload in _of(docs, *WORKLOADS)
            for container in _containers(workload) for source in container.get("envFrom", [])
            if "configMapRef" in source}
    for configmap in _of(docs, "ConfigMap"):
        if configmap["metadata"]["name"] in read:
            for key, value in sorted((configmap.get("data") or {}).items()):
                if VAR.search(value):
                    found.append(f"ConfigMap {configmap['metadata']['name']}: {key} holds {VAR.search(value).group(0)}, "
                                 "which Kubernetes leaves literal in envFrom")
    for workload in _of(docs, *WORKLOADS):
        for container in _containers(workload):
            defined: list[str] = []
            for entry in container.get("env", []):
                for var in VAR.findall(entry.get("value", "")):
                    if var not in defined:
                        found.append(f"{_where(workload, container)}: {entry['name']} uses $({var}) before "
                                     "it is defined in env")
                defined.append(entry["name"])
            for arg in [*container.get("command", []), *container.get("args", [])]:
                for var in VAR.findall(arg):
                    if var not in defined:
                        found.append(f"{_where(workload, container)}: an argument uses $({var}), not defined in env")
    return found


def pgdata_agrees(docs: list[dict]) -> list[str]:
    """PostgreSQL's data directory is the same in its args (-D) and PGDATA, inside a mounted volume."""
    found = []
    for workload in _of(docs, *WORKLOADS):
        for container in _containers(workload):
            pgdata = next((e.get("value") for e in container.get("env", []) if e["name"] == "PGDATA"), None)
            if pgdata is None:
                continue
            args = container.get("args", [])
            if "-D" in args and args[args.index("-D") + 1] != pgdata:
                found.append(f"{_where(workload, container)}: -D {args[args.index('-D') + 1]} but PGDATA={pgdata}")
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            if not any(pgdata.startswith(path.rstrip("/") + "/") for path in mounts):
                found.append(f"{_where(workload, container)}: PGDATA={pgdata} is not below a mounted volume")
    return found


def beat_schedule_persisted(docs: list[dict]) -> list[str]:
    """Beat's schedule (``--schedule``) is on a mounted PersistentVolumeClaim that is rendered, never in a
    temp folder; its liveness probe looks in that folder; and its Deployment is one replica replaced with
    Recreate (a ReadWriteOnce claim held by the old pod would keep a surged new one from starting)."""
    claims = {doc["metadata"]["name"] for doc in _of(docs, "PersistentVolumeClaim")}
    found = []
    for workload in _of(docs, *WORKLOADS):
        pod = _pod(workload)["spec"]
        claimed = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
                   if "persistentVolumeClaim" in v}
        for container in _containers(workload):
            args = container.get("args", [])
            if "--schedule" not in args:
                continue
            where, schedule = _where(workload, container), args[args.index("--schedule") + 1]
            folder = schedule.rsplit("/", 1)[0] if "/" in schedule else ""
            if not folder or folder.startswith(("/tmp", "/var/tmp", "/dev/shm")):
                found.append(f"{where}: the schedule {schedule} is not in a folder of its own outside temp folders")
                continue
            mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"].rstrip("/") == folder), None)
            if mount is None or mount["name"] not in claimed:
                found.append(f"{where}: the schedule's folder {folder} is not a mounted PersistentVolumeClaim")
            elif claimed[mount["name"]] not in claims:
                found.append(f"{where}: the claim {claimed[mount['name']]} is not rendered")
            probe = " ".join(container.get("livenessProbe", {}).get("exec", {}).get("command", []))
            if f"find {folder} " not in probe:
                found.append(f"{where}: the liveness probe does not look in {folder}, where the schedule is written")
            strategy = workload["spec"].get("strategy", {}).get("type")
            if workload["kind"] != "Deployment" or workload["spec"].get("replicas") != 1 or strategy != "Recreate":
                found.append(f"{where}: beat with a ReadWriteOnce claim must be one replica replaced with Recreate")
    return found


def probes_requests_budgets(docs: list[dict]) -> list[str]:
    """Every Deployment and StatefulSet container has readiness and liveness probes (distinct HTTP paths:
    readiness includes the database, liveness does not) and CPU and memory requests; every such
    workload has a PodDisruptionBudget selecting its pods."""
    found = []
    budgets = [doc["spec"]["selector"]["matchLabels"] for doc in _of(docs, "PodDisruptionBudget")]
    for workload in _of(docs, "Deployment", "StatefulSet"):
        labels = _pod(workload)["metadata"]["labels"]
        if not any(selector.items() <= labels.items() for selector in budgets):
            found.append(f"{workload['kind']} {workload['metadata']['name']}: no PodDisruptionBudget selects its pods")
        for container in _pod(workload)["spec"]["containers"]:
            where = _where(workload, container)
            ready, live = container.get("readinessProbe"), container.get("livenessProbe")
            if not ready or not live:
                found.append(f"{where}: needs both a readiness and a liveness probe")
            elif "httpGet" in ready and ready.get("httpGet", {}).get("path") == live.get("httpGet", {}).get("path"):
                found.append(f"{where}: readiness and liveness probe the same path")
            requests = container.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= requests.keys():
                found.append(f"{where}: needs CPU and memory requests")
    return found


def _cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("512Mi", "2Gi", "1G") in bytes; 0 when absent."""
    if quantity in ("", "0"):
        return 0
    return parse_size(quantity + "B" if quantity.endswith("i") else quantity)


def requests_fit_workers(docs: list[dict]) -> list[str]:
    """An app or worker pod requests the CPU and memory of the processes rendered into it: gunicorn's
    workers at most 2 per requested core + 1, Celery's at most one per core, each with its resident
    memory (otherwise the CPU HPA, which divides by the request, sits at its maximum)."""
    found = []
    gunicorn = _config(docs, "gunicorn.conf.py")
    for workload in _of(docs, "Deployment"):
        for container in _pod(workload)["spec"]["containers"]:
            args, requests = container.get("args", []), container.get("resources", {}).get("requests", {})
            if "gunicorn" in args:
                processes, per_core, extra, rss = _setting(gunicorn, "workers") or 1, 2, 1, APP_WORKER_RSS
            elif "--concurrency" in args:
                processes, per_core, extra, rss = int(args[args.index("--concurrency") + 1]), 1, 0, CELERY_PROCESS_RSS
            else:
                continue
            cpus = _cpus(requests.get("cpu", "0"))
            memory = _bytes(requests.get("memory", "0"))
            if processes > per_core * cpus + extra:
                found.append(f"{_where(workload, container)}: {processes} processes on a request of {cpus:g} CPU")
            if processes * rss > memory:
                found.append(f"{_where(workload, container)}: {processes} processes need {processes * rss >> 20} MiB, "
                             f"the request is {memory >> 20} MiB")
    return found


def _prestop_seconds(container: dict) -> int:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    return int(command[1]) if len(command) == 2 and command[0] == "sleep" else 0


def grace_exceeds_shutdown(docs: list[dict]) -> list[str]:
    """A pod's terminationGracePeriodSeconds exceeds its preStop plus the app server's graceful timeout,
    or the kubelet kills requests still being answered."""
    found = []
    graceful = _setting(_config(docs, "gunicorn.conf.py"), "graceful_timeout") or 30
    for workload in _of(docs, "Deployment", "StatefulSet"):
        spec = _pod(workload)["spec"]
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for container in spec["containers"]:
            needed = _prestop_seconds(container) + (graceful if "gunicorn" in container.get("args", []) else 0)
            if grace <= needed:
                found.append(f"{_where(workload, container)}: grace {grace}s does not exceed preStop + graceful "
                             f"timeout ({needed}s)")
    return found


def _replicas_at_most(docs: list[dict], workload: dict) -> int:
    name = workload["metadata"]["name"]
    hpas = [hpa["spec"]["maxReplicas"] for hpa in _of(docs, "HorizontalPodAutoscaler")
            if hpa["spec"]["scaleTargetRef"]["name"] == name]
    return max([workload["spec"].get("replicas", 1), *hpas])


def _connections_per_pod(docs: list[dict], container: dict) -> int:
    args = container.get("args", [])
    if "gunicorn" in args:
        gunicorn = _config(docs, "gunicorn.conf.py")
        return (_setting(gunicorn, "workers") or 1) * (_setting(gunicorn, "threads") or 1)
    if "--concurrency" in args:
        return int(args[args.index("--concurrency") + 1])
    return 1


def connection_budget(docs: list[dict]) -> list[str]:
    """The connections every Django pod the HPAs may run can open fit PostgreSQL's max_connections, or
    PgBouncer is in front and its server connections (per replica) fit instead."""
    max_connections = _setting(_config(docs, "postgresql.conf"), "max_connections")
    if max_connections is None:
        return []
    total, pooled = RESERVED_CONNECTIONS, False
    for workload in _of(docs, "Deployment", "Job"):
        for container in _pod(workload)["spec"]["containers"]:
            url = environment(docs, container).get("DATABASE_URL")
            if not url:
                continue
            host = urlsplit(url).hostname
            bouncer = _named(docs, "Deployment", host)
            if bouncer and any("pgbouncer" in " ".join([c["image"], *c.get("args", [])])
                               for c in _pod(bouncer)["spec"]["containers"]):
                pooled = True
                continue
            replicas = 1 if workload["kind"] == "Job" else _replicas_at_most(docs, workload)
            total += replicas * _connections_per_pod(docs, container)
    if pooled:
        bouncer_ini = _config(docs, "pgbouncer.ini")
        servers = (_setting(bouncer_ini, "max_db_connections") or 0) * _replicas_at_most(
            docs, _named(docs, "Deployment", "pgbouncer"))
        total += servers
    if total > max_connections:
        return [f"{total} connections at the autoscalers' maximum (PgBouncer's: {pooled}) exceed "
                f"max_connections = {max_connections}"]
    return []


RULES = (services_for_urls, expansions_defined, pgdata_agrees, beat_schedule_persisted, probes_requests_budgets,
         requests_fit_workers, grace_exceeds_shutdown, connection_budget)


def problems(files: dict[str, str]) -> list[str]:
    docs = load(files)
    return [problem for rule in RULES for problem in rule(docs)]
