"""The Kubernetes target in production shape, checked without a cluster: every invariant of
``upstack.stack.k8s_invariants`` holds on the rendered manifests for small and large machines and with
every optional service, and each one fails on a deliberately broken manifest (most of them the
breakages these manifests once had: docs/deploy.md)."""

from __future__ import annotations

import copy

import pytest
import yaml

from upstack.stack import k8s_invariants as inv
from upstack.stack import kubernetes, project, render
from upstack.stack.context import Resources
from upstack.stack.services import Service
from upstack.stack.sizing import GB

SHAPES = {"cpus-2": (2, {}), "cpus-16": (16, {}),
          "all-optional": (4, {"with_pgbouncer": True, "with_haproxy": True, "with_memcached": True})}


def ctx_for(cpus=4, memory=16 * GB, pod=None, **switches):
    return project.context(Resources(cpus, memory), pod_resources=pod, **switches)


def docs_for(**kwargs) -> list[dict]:
    return inv.load(render.render("kubernetes", ctx_for(**kwargs)))


def find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs, kind, name, index=0):
    return find(docs, kind, name)["spec"]["template"]["spec"]["containers"][index]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_invariant_holds(shape):
    cpus, switches = SHAPES[shape]
    files = render.render("kubernetes", ctx_for(cpus=cpus, **switches))
    assert inv.problems(files) == []
    assert len(inv.load(files)) > 20


def test_large_pods_hold_too():
    files = render.render("kubernetes", ctx_for(cpus=16, memory=64 * GB, pod=Resources(4, 8 * GB)))
    assert inv.problems(files) == []


def test_a_url_naming_a_missing_service_is_caught():
    # The old breakage: --with pgbouncer pointed DATABASE_URL at a pgbouncer Service never rendered.
    docs = [d for d in docs_for(with_pgbouncer=True) if not (d["kind"] == "Service" and d["metadata"]["name"] ==
                                                                "pgbouncer")]
    assert any("DATABASE_URL names pgbouncer" in p for p in inv.services_for_urls(docs))
    docs = [d for d in docs_for(with_memcached=True) if d["metadata"].get("name") != "memcached"]
    assert any("MEMCACHED_LOCATION names memcached" in p for p in inv.services_for_urls(docs))
    docs = docs_for()
    find(docs, "ConfigMap", "django-env")["data"]["REDIS_URL"] = "redis://redis-cache:7000/0"
    assert any("port 7000" in p for p in inv.services_for_urls(docs))


def test_with_pgbouncer_and_memcached_their_services_are_rendered():
    docs = docs_for(with_pgbouncer=True, with_memcached=True)
    for name in ("pgbouncer", "memcached"):
        assert find(docs, "Service", name) and find(docs, "Deployment", name)
    bouncer = container(docs, "Deployment", "pgbouncer")
    assert bouncer["command"] == ["sh", "/etc/upstack/pgbouncer/start.sh"] and "args" not in bouncer
    assert bouncer["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"


def test_a_variable_kubernetes_does_not_expand_is_caught():
    # The old breakage: DATABASE_URL with $(POSTGRES_PASSWORD) in the ConfigMap read through envFrom.
    docs = docs_for()
    app = container(docs, "Deployment", "app")
    url = next(e["value"] for e in app["env"] if e["name"] == "DATABASE_URL")
    assert "$(POSTGRES_PASSWORD)" in url and app["env"][0]["name"] == "POSTGRES_PASSWORD"
    broken = copy.deepcopy(docs)
    find(broken, "ConfigMap", "django-env")["data"]["DATABASE_URL"] = url
    assert any("leaves literal" in p for p in inv.expansions_defined(broken))
    broken = copy.deepcopy(docs)
    env = container(broken, "Deployment", "app")["env"]
    env.append(env.pop(0))  # the password defined after the URL that uses it
    assert any("before it is defined" in p for p in inv.expansions_defined(broken))
    broken = copy.deepcopy(docs)
    container(broken, "Deployment", "worker")["args"].append("--hostname=$(POD_NAME)")
    assert any("$(POD_NAME)" in p for p in inv.expansions_defined(broken))


def test_postgres_data_directory_disagreement_is_caught():
    docs = docs_for()
    pg = container(docs, "StatefulSet", "postgres")
    assert pg["args"][pg["args"].index("-D") + 1] == kubernetes.PGDATA
    pg["args"][pg["args"].index("-D") + 1] = "/var/lib/postgresql/data"  # the old breakage
    assert any("but PGDATA" in p for p in inv.pgdata_agrees(docs))
    pg["args"][pg["args"].index("-D") + 1] = kubernetes.PGDATA
    pg["volumeMounts"] = [m for m in pg["volumeMounts"] if m["name"] != "data"]
    assert any("not below a mounted volume" in p for p in inv.pgdata_agrees(docs))


@pytest.mark.parametrize("breakage, message", [
    ("no-pdb", "no PodDisruptionBudget"), ("no-readiness", "both a readiness and a liveness"),
    ("same-path", "the same path"), ("no-requests", "CPU and memory requests"),
])
def test_probes_requests_and_budgets_are_required(breakage, message):
    docs = docs_for()
    app = container(docs, "Deployment", "app")
    if breakage == "no-pdb":
        docs = [d for d in docs if not (d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "app")]
    elif breakage == "no-readiness":
        del app["readinessProbe"]
    elif breakage == "same-path":
        app["readinessProbe"]["httpGet"]["path"] = app["livenessProbe"]["httpGet"]["path"]
    else:
        app["resources"] = {"limits": {"memory": "1Gi"}}
    assert any(message in p for p in inv.probes_requests_budgets(docs))


def test_readiness_includes_the_database_and_liveness_does_not():
    app = container(docs_for(), "Deployment", "app")
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container(docs_for(), "StatefulSet", "postgres")["readinessProbe"]["exec"]["command"][0] == "pg_isready"


def test_pod_requests_match_the_workers_rendered_into_them():
    files = render.render("kubernetes", ctx_for(pod=Resources(2, 4 * GB)))
    docs = inv.load(files)
    app, worker = container(docs, "Deployment", "app"), container(docs, "Deployment", "worker")
    assert app["resources"]["requests"] == {"cpu": "2000m", "memory": "4096Mi"}
    assert worker["args"][worker["args"].index("--concurrency") + 1] == "2"
    assert "\nworkers = 5\n" in find(docs, "ConfigMap", "upstack-config")["data"]["etc__gunicorn__gunicorn.conf.py"]
    assert inv.requests_fit_workers(docs) == []
    # The old breakage: 100m CPU for a pod running 17 workers.
    app["resources"]["requests"] = {"cpu": "100m", "memory": "256Mi"}
    found = inv.requests_fit_workers(docs)
    assert any("on a request of 0.1 CPU" in p for p in found) and any("the request is 256 MiB" in p for p in found)


def test_grace_exceeds_prestop_and_the_graceful_timeout():
    docs = docs_for()
    app_pod = find(docs, "Deployment", "app")["spec"]["template"]["spec"]
    assert app_pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert app_pod["terminationGracePeriodSeconds"] > 30 + 5
    app_pod["terminationGracePeriodSeconds"] = 30  # the old breakage: grace == gunicorn's graceful timeout
    assert any("does not exceed" in p for p in inv.grace_exceeds_shutdown(docs))


def test_the_connection_budget_fits_or_pgbouncer_is_there():
    docs = docs_for()
    find(docs, "HorizontalPodAutoscaler", "app")["spec"]["maxReplicas"] = 200
    assert any("exceed max_connections" in p for p in inv.connection_budget(docs))
    docs = docs_for(with_pgbouncer=True)
    find(docs, "HorizontalPodAutoscaler", "app")["spec"]["maxReplicas"] = 200
    assert inv.connection_budget(docs) == []  # clients share PgBouncer's pool
    find(docs, "Deployment", "pgbouncer")["spec"]["replicas"] = 3  # three pools of max_db_connections each
    assert any("exceed max_connections" in p for p in inv.connection_budget(docs))


def test_big_pods_lower_the_app_hpa_maximum_or_ask_for_pgbouncer():
    docs = docs_for(pod=Resources(8, 16 * GB))
    assert find(docs, "HorizontalPodAutoscaler", "app")["spec"]["maxReplicas"] < kubernetes.APP_MAX
    assert inv.connection_budget(docs) == []
    with pytest.raises(ValueError, match="enable PgBouncer"):
        render.render("kubernetes", ctx_for(pod=Resources(64, 128 * GB)))


def test_migrations_run_in_a_job_the_django_pods_wait_for():
    docs = docs_for()
    job = find(docs, "Job", "migrate")["spec"]["template"]["spec"]
    assert job["restartPolicy"] == "Never" and job["containers"][0]["args"][-2:] == ["migrate", "--noinput"]
    for name in ("app", "worker", "beat"):
        init = find(docs, "Deployment", name)["spec"]["template"]["spec"]["initContainers"][0]
        assert "migrate --check" in init["args"][-1]


def test_beat_is_one_replica_replaced_never_surged():
    beat = find(docs_for(), "Deployment", "beat")["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}


def test_beats_schedule_is_on_its_claim_where_the_probe_looks():
    docs = docs_for()
    beat = find(docs, "Deployment", "beat")
    pod, main = beat["spec"]["template"]["spec"], container(docs, "Deployment", "beat")
    folder = main["args"][main["args"].index("--schedule") + 1].rsplit("/", 1)[0]
    assert folder == "/var/lib/upstack-beat" == kubernetes.beat_schedule_dir(Service(
        "beat", tuple(main["args"])))
    claim = find(docs, "PersistentVolumeClaim", kubernetes.BEAT_CLAIM)["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"] == "1Gi"
    mount = next(m for m in main["volumeMounts"] if m["mountPath"] == folder)
    assert {"name": mount["name"], "persistentVolumeClaim": {"claimName": kubernetes.BEAT_CLAIM}} in pod["volumes"]
    assert pod["securityContext"]["fsGroup"] == kubernetes.BEAT_FS_GROUP  # the image's user writes there
    probe = main["livenessProbe"]["exec"]["command"]
    assert probe == main["readinessProbe"]["exec"]["command"] and f"find {folder} " in probe[-1]
    assert "/tmp" not in yaml.safe_dump(beat)


@pytest.mark.parametrize("breakage, message", [
    ("schedule in /tmp", "outside temp folders"),  # the old render
    ("probe in /tmp", "does not look in /var/lib/upstack-beat"),  # the old probe
    ("no mount", "is not a mounted PersistentVolumeClaim"),
    ("no claim", "is not rendered"),
    ("rolling update", "replaced with Recreate"),
    ("two replicas", "replaced with Recreate"),
])
def test_a_beat_schedule_that_would_not_survive_is_caught(breakage, message):
    docs = docs_for()
    assert inv.beat_schedule_persisted(docs) == []
    beat = find(docs, "Deployment", "beat")
    main = container(docs, "Deployment", "beat")
    if breakage == "schedule in /tmp":
        main["args"][main["args"].index("--schedule") + 1] = "/tmp/celerybeat-schedule"
    elif breakage == "probe in /tmp":
        main["livenessProbe"]["exec"]["command"][-1] = main["livenessProbe"]["exec"]["command"][-1].replace(
            "/var/lib/upstack-beat", "/tmp")
    elif breakage == "no mount":
        main["volumeMounts"] = [m for m in main["volumeMounts"] if m["name"] != kubernetes.BEAT_CLAIM]
    elif breakage == "no claim":
        docs = [d for d in docs if d["kind"] != "PersistentVolumeClaim"]
    elif breakage == "rolling update":
        beat["spec"]["strategy"] = {"type": "RollingUpdate"}
    else:
        beat["spec"]["replicas"] = 2
    assert any(message in p for p in inv.beat_schedule_persisted(docs)), inv.beat_schedule_persisted(docs)


def test_a_relative_beat_schedule_cannot_be_mounted():
    with pytest.raises(ValueError, match="must be an absolute path"):
        kubernetes.beat_schedule_dir(Service("beat", ("celery", "beat", "--schedule", "beat-db")))


def test_pdb_and_topology_spread():
    docs = docs_for()
    assert find(docs, "PodDisruptionBudget", "app")["spec"] == {
        "minAvailable": 1, "selector": {"matchLabels": find(docs, "Deployment", "app")["spec"]["selector"][
            "matchLabels"]}}
    assert find(docs, "PodDisruptionBudget", "beat")["spec"]["maxUnavailable"] == 1  # a drain never blocks
    for name in ("app", "worker", "varnish"):
        spread = find(docs, "Deployment", name)["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_a_config_change_rolls_the_pods():
    def sums(docs):
        return {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
                for d in docs if d["kind"] in ("Deployment", "StatefulSet")}

    small, big = sums(docs_for(cpus=2)), sums(docs_for(cpus=16))
    assert len(set(small.values())) == 1 and small.keys() == big.keys()
    assert set(small.values()) != set(big.values())
    assert sums(docs_for(cpus=2)) == small


def test_ingress_with_cert_manager():
    ingress = find(docs_for(), "Ingress", "edge")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == kubernetes.CLUSTER_ISSUER
    assert ingress["spec"]["tls"][0]["secretName"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "varnish"


def test_keda_worker_scaler_is_optional():
    files = render.render("kubernetes", ctx_for())
    scaled = yaml.safe_load(files["kubernetes/optional/keda-worker.yaml"])
    assert scaled["kind"] == "ScaledObject" and scaled["spec"]["scaleTargetRef"]["name"] == "worker"
    assert {t["metadata"]["listName"] for t in scaled["spec"]["triggers"]} == {"high", "default", "low"}
    assert all(t["metadata"]["address"] == "redis-broker:6380" for t in scaled["spec"]["triggers"])
    assert not any(d["kind"] == "ScaledObject" for d in inv.load(files))  # applied by choice only


def test_varnish_replicas_are_purged_through_a_headless_service():
    docs = docs_for()
    headless = find(docs, "Service", kubernetes.VARNISH_NODES)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == find(docs, "Deployment", "varnish")["spec"]["selector"]["matchLabels"]
    env = find(docs, "ConfigMap", "django-env")["data"]
    assert env["EDGE_URL"] == f"http://{kubernetes.VARNISH_NODES}:6081" and env["EDGE_RESOLVE"] == "true"


def test_pod_options_are_for_kubernetes_only(open_tmp):
    from upstack import stack

    with pytest.raises(ValueError, match="--target kubernetes"):
        stack.render_target("compose", open_tmp, pod_cpus=2)
    with pytest.raises(ValueError, match="at least 1"):
        stack.render_target("kubernetes", open_tmp, pod_cpus=0)
    paths = stack.render_target("kubernetes", open_tmp, pod_cpus=2, pod_memory="2G", cpus=2, memory="4G")
    assert inv.problems({str(p.relative_to(open_tmp)): p.read_text() for p in paths}) == []
