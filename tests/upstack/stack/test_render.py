"""``upstack render``: every target renders deterministically, and every file validates with the real
tool where one is installed here (varnishd -C, haproxy -c, nginx -t, postgres -C, redis-server,
pgbouncer, systemd-analyze), against a schema otherwise (Compose spec, Kubernetes, app.json)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import servers
from upstack.stack import machine, project, render
from upstack.stack.context import Resources
from upstack.stack.sizing import GB, MB

ROOT = Path(__file__).resolve().parents[3]
OPTIONAL = {"with_pgbouncer": True, "with_haproxy": True, "with_memcached": True}
PORT_NAMES = ("postgres", "pgbouncer", "redis-cache", "redis-broker", "memcached", "varnish", "varnish-admin", "app",
              "haproxy", "haproxy-https", "prometheus", "flower")
APP_JSON_SCHEMA = {
    "type": "object",
    "required": ["name", "env", "formation", "scripts"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "scripts": {"type": "object", "additionalProperties": {"type": "string"}},
        "env": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"value": {"type": "string"}, "required": {"type": "boolean"},
                                             "generator": {"enum": ["secret"]}, "description": {"type": "string"}},
            "additionalProperties": False}},
        "formation": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["quantity"], "properties": {"quantity": {"type": "integer", "minimum": 0}}}},
        "addons": {"type": "array", "items": {"type": "string"}},
        "buildpacks": {"type": "array", "items": {"type": "object", "required": ["url"]}},
    },
}


@pytest.fixture
def local_ctx(open_tmp):
    for name in ("postgres", "initdb", "psql", "redis-server", "varnishd", "varnishadm", "pgbouncer", "haproxy",
                 "memcached", "openssl"):
        servers.require_binary(name)
    ports = {name: machine.free_port() for name in PORT_NAMES}
    ctx = project.context(Resources(2, 2 * GB), ports=ports, local=True, **OPTIONAL)
    state = open_tmp / "state"
    state.mkdir()
    state.chmod(0o755)
    return dataclasses.replace(ctx, state_dir=str(state))


def remote_ctx(**overrides):
    return dataclasses.replace(project.context(Resources(4, 16 * GB), **OPTIONAL), **overrides)


def test_every_target_renders_deterministically(local_ctx):
    for target in render.TARGETS:
        ctx = local_ctx if target == "local" else remote_ctx()
        first, second = render.render(target, ctx), render.render(target, ctx)
        assert first == second and first, target
        assert all(text.strip() for text in first.values()), target
        # No template syntax left over (Grafana's own {{label}} legends excepted).
        leftovers = [p for p, text in first.items()
                     if "{%" in text or "{{" in text.replace("{{view}}{{namespace}}{{queue}}{{part}}", "")]
        assert not leftovers, target


def test_sizes_follow_the_resources():
    small = render.render("systemd", remote_ctx(resources=Resources(1, 1 * GB)))
    big = render.render("systemd", remote_ctx(resources=Resources(16, 64 * GB)))
    assert "shared_buffers = 256MB" in small["etc/postgres/postgresql.conf"]
    assert "shared_buffers = 8GB" in big["etc/postgres/postgresql.conf"]
    assert "effective_cache_size = 32GB" in big["etc/postgres/postgresql.conf"]
    assert re.search(r"^workers = 33$", big["etc/gunicorn/gunicorn.conf.py"], re.M)
    assert "maxmemory-policy allkeys-lru" in big["etc/redis/cache.conf"]
    assert "maxmemory-policy noeviction" in big["etc/redis/broker.conf"]
    assert "appendonly no" in big["etc/redis/cache.conf"] and "appendonly yes" in big["etc/redis/broker.conf"]


def test_vcl_compiles_for_every_target(local_ctx, open_tmp):
    servers.require_binary("varnishd")
    for target in ("local", "systemd", "compose", "kubernetes"):
        files = render.render(target, local_ctx if target == "local" else remote_ctx())
        vcl = files.get("etc/varnish/default.vcl") or _from_configmap(files, "etc/varnish/default.vcl")
        # Compose and Kubernetes name backends by service DNS names that do not resolve here.
        vcl = re.sub(r'\.host = "(app|varnish)";', '.host = "127.0.0.1";', vcl)
        if target == "compose":  # the scaled app's pool, as app-pool.sh writes it (test_app_pool.py runs it)
            pool = open_tmp / "app-pool.vcl"
            pool.write_text('backend app1 { .host = "127.0.0.1"; .port = "8000"; .probe = app_health; }\n')
            (open_tmp / "app-pool-init.vcl").write_text("app.add_backend(app1);\n")
            vcl = vcl.replace("/var/lib/varnish/app-pool", str(open_tmp / "app-pool"))
        path = open_tmp / f"{target}.vcl"
        path.write_text(vcl)
        result = subprocess.run([machine.find_binary("varnishd"), "-C", "-f", str(path), "-n", str(open_tmp / "vn")],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{target}: {result.stderr[-2000:]}"
        assert "directors.round_robin" in vcl and (".probe = app_health" in vcl or "app-pool-init.vcl" in vcl)


def test_vcl_compile_catches_a_broken_template(open_tmp):
    """The VCL check above can fail: a syntax error is reported by varnishd -C."""
    servers.require_binary("varnishd")
    path = open_tmp / "broken.vcl"
    path.write_text(render.render("systemd", remote_ctx())["etc/varnish/default.vcl"].replace("return (pass);", "return (pas);", 1))
    result = subprocess.run([machine.find_binary("varnishd"), "-C", "-f", str(path), "-n", str(open_tmp / "vn")],
                            capture_output=True, text=True)
    assert result.returncode != 0


def _tls(state: Path) -> None:
    (state / "tls").mkdir(exist_ok=True)
    key, cert = state / "tls" / "k.pem", state / "tls" / "c.pem"
    subprocess.run([machine.find_binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    (state / "tls" / "site.pem").write_text(cert.read_text() + key.read_text())


def test_haproxy_and_nginx_configs_check(local_ctx, open_tmp):
    servers.require_binary("haproxy")
    servers.require_binary("nginx")
    state = Path(local_ctx.state_dir)
    _tls(state)
    (state / "nginx").mkdir()
    for target in ("local", "systemd", "compose"):
        ctx = local_ctx if target == "local" else remote_ctx(tls_cert=str(state / "tls" / "site.pem"))
        out = open_tmp / target
        render.write(render.render(target, ctx), out)
        haproxy = out / "etc/haproxy/haproxy.cfg"
        text = haproxy.read_text()
        if target == "compose":  # service names resolve only inside Docker's network
            haproxy.write_text(text.replace("server varnish1 varnish:", "server varnish1 127.0.0.1:"))
        result = subprocess.run([machine.find_binary("haproxy"), "-c", "-f", str(haproxy)], capture_output=True,
                                text=True)
        assert result.returncode == 0, f"{target}: {result.stdout}{result.stderr}"
        nginx = out / "etc/nginx/nginx.conf"
        nginx.write_text(nginx.read_text().replace("/var/cache/nginx", str(state / "nginx"))
                         .replace("server varnish:", "server 127.0.0.1:"))
        result = subprocess.run([machine.find_binary("nginx"), "-t", "-c", str(nginx), "-e", "stderr"],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{target}: {result.stderr}"


def test_postgres_config_is_accepted_by_postgres(local_ctx, open_tmp):
    """postgres -C parses the whole rendered file and prints a value; a bad setting fails."""
    for name in ("postgres", "initdb"):
        servers.require_binary(name)
    state = Path(local_ctx.state_dir)
    data = state / "postgres" / "data"
    data.parent.mkdir()
    run_dir = state / "run"
    run_dir.mkdir()
    wrap = []
    if os.geteuid() == 0:
        shutil.chown(data.parent, "postgres")
        shutil.chown(run_dir, "postgres")
        wrap = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*wrap, machine.find_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    for target in ("local", "systemd"):
        files = render.render(target, local_ctx if target == "local" else remote_ctx())
        conf = open_tmp / f"{target}.conf"
        conf.write_text(files["etc/postgres/postgresql.conf"])
        conf.chmod(0o644)
        result = subprocess.run([*wrap, machine.find_binary("postgres"), "-D", str(data), f"--config-file={conf}",
                                 "-C", "shared_buffers"], capture_output=True, text=True)
        assert result.returncode == 0, f"{target}: {result.stderr}"
        expected = {"local": str(512 * MB // 8192), "systemd": str(4 * GB // 8192)}[target]  # 8kB pages
        assert result.stdout.strip() == expected
    conf.write_text(conf.read_text() + "\nwork_mem = lots\n")
    bad = subprocess.run([*wrap, machine.find_binary("postgres"), "-D", str(data), f"--config-file={conf}", "-C",
                          "work_mem"], capture_output=True, text=True)
    assert bad.returncode != 0


def test_redis_memcached_and_pgbouncer_start_with_their_configs(local_ctx, open_tmp):
    state = Path(local_ctx.state_dir)
    render.write(render.render("local", local_ctx), state)
    for sub in ("redis-cache", "redis-broker", "run"):
        (state / sub).mkdir(exist_ok=True)
    started = []
    try:
        for name, argv in (("redis-cache", [machine.find_binary("redis-server"), str(state / "etc/redis/cache.conf")]),
                           ("redis-broker", [machine.find_binary("redis-server"), str(state / "etc/redis/broker.conf")])):
            started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            port = local_ctx.ports[name]
            servers.wait_until(lambda p=port: servers.talk(p, b"PING\r\n").startswith(b"+PONG"), 10, name)
            policy = servers.talk(port, b"CONFIG GET maxmemory-policy\r\n")
            assert (b"allkeys-lru" if name == "redis-cache" else b"noeviction") in policy
        if os.geteuid() == 0:
            shutil.chown(state / "run", "postgres")
            (state / "etc/pgbouncer/userlist.txt").chmod(0o644)
        wrap = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        started.append(subprocess.Popen([*wrap, machine.find_binary("pgbouncer"),
                                         str(state / "etc/pgbouncer/pgbouncer.ini")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        port = local_ctx.ports["pgbouncer"]
        servers.wait_until(lambda: machine.port_in_use(port), 10, "pgbouncer")
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(10)


def _from_configmap(files: dict[str, str], path: str) -> str:
    docs = list(yaml.safe_load_all(files["kubernetes/config.yaml"]))
    return docs[0]["data"][path.replace("/", "__")]


def test_compose_file_matches_the_compose_spec(open_tmp):
    files = render.render("compose", remote_ctx())
    render.write(files, open_tmp)
    result = subprocess.run([str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
                             "vendor.compose-spec", str(open_tmp / "compose.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load(files["compose.yaml"])
    for name in ("postgres", "redis-cache", "redis-broker", "app", "worker", "varnish"):
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped" and "healthcheck" in service, name
        assert service["deploy"]["resources"]["limits"]["memory"], name
    assert compose["services"]["app"]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_kubernetes_manifests_validate_strictly(open_tmp):
    files = render.render("kubernetes", remote_ctx())
    render.write(files, open_tmp)
    paths = sorted(str(p) for p in (open_tmp / "kubernetes").glob("*.yaml"))
    result = subprocess.run([str(Path(sys.executable).with_name("kubernetes-validate")), "--strict",
                             "--kubernetes-version", "1.30.0", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {(doc["kind"], doc["metadata"]["name"]) for text in files.values() for doc in yaml.safe_load_all(text)}
    assert {("Deployment", "app"), ("Service", "app"), ("HorizontalPodAutoscaler", "app"), ("Deployment", "worker"),
            ("HorizontalPodAutoscaler", "worker"), ("StatefulSet", "postgres"), ("StatefulSet", "redis-broker"),
            ("Deployment", "varnish")} <= kinds


def test_systemd_units_verify(open_tmp):
    servers.require_binary("systemd-analyze")
    ctx = remote_ctx(install_dir=str(ROOT))
    files = render.render("systemd", ctx)
    render.write(files, open_tmp)
    units = sorted((open_tmp / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {f"newsroom-{n}.service" for n in
                                       ("postgres", "redis-cache", "redis-broker", "varnish", "app", "worker", "beat")}
    # Django units run the project's interpreter, found here at install_dir/.venv/bin/python.
    assert f"ExecStart={ROOT}/.venv/bin/python -m gunicorn" in (open_tmp / "systemd/newsroom-app.service").read_text()
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                            text=True)
    # The units are checked as they would load; only what this machine cannot have is forgiven:
    # the operator's env file and the stack's own target, which live elsewhere.
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "newsroom.target" not in line and "/etc/upstack/newsroom.env" not in line]
    assert not problems, "\n".join(problems)


def test_beats_schedule_file_outlives_a_restart_on_systemd():
    """systemd's PrivateTmp empties /tmp with every restart (a deploy a day): beat keeps its schedule in
    its StateDirectory instead; no other unit gets one."""
    files = render.render("systemd", remote_ctx())
    beat = files["systemd/newsroom-beat.service"]
    assert "StateDirectory=upstack-beat" in beat and "--schedule /var/lib/upstack-beat/celerybeat-schedule" in beat
    assert "/tmp/" not in beat and "StateDirectory" not in files["systemd/newsroom-app.service"]


def test_procfile_and_app_json():
    files = render.render("procfile", remote_ctx())
    lines = files["Procfile"].splitlines()
    assert {line.split(":")[0] for line in lines} == {"web", "worker", "beat", "release"}
    assert all(re.fullmatch(r"[a-z]+: \S.*", line) for line in lines)
    assert "$PORT" in files["Procfile"]
    app = json.loads(files["app.json"])
    jsonschema.validate(app, APP_JSON_SCHEMA)
    assert set(app["formation"]) == {"web", "worker", "beat"}


def test_render_command_writes_files_and_rejects_bad_input(open_tmp):
    call_command("upstack", "render", "--target", "compose", "--out", str(open_tmp / "c"), "--cpus", "2",
                 "--memory", "4G")
    assert (open_tmp / "c" / "compose.yaml").exists()
    assert "shared_buffers = 1GB" in (open_tmp / "c" / "etc/postgres/postgresql.conf").read_text()
    with pytest.raises(CommandError, match="unrecognised size"):
        call_command("upstack", "render", "--target", "compose", "--out", str(open_tmp / "d"), "--memory", "lots")
    with pytest.raises(CommandError, match="unknown 'mongodb'; choose from pgbouncer, haproxy, memcached"):
        call_command("upstack", "render", "--target", "compose", "--out", str(open_tmp / "d"), "--with", "mongodb")
    assert not (open_tmp / "d").exists()
    call_command("upstack", "render", "--target", "kubernetes", "--out", str(open_tmp / "k"), "--memory", "8G")
    assert (open_tmp / "k" / "kubernetes" / "app.yaml").exists()


def test_prometheus_files_pass_promtool_and_the_dashboard_is_grafana_json(open_tmp):
    servers.require_binary("promtool")
    render.write(render.render("systemd", remote_ctx()), open_tmp)
    prom = open_tmp / "etc/prometheus"
    for args in (["check", "config", str(prom / "prometheus.yml")], ["check", "rules", str(prom / "upstack-alerts.yml")]):
        result = subprocess.run([machine.find_binary("promtool"), *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((prom / "upstack-alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"HighErrorRate", "BackendUnhealthy", "EdgeHitRateDropping", "QueueGrowing", "PurgeBacklogOld",
                                          "MemoryHigh", "DiskHigh"}
    jobs = {j["job_name"] for j in yaml.safe_load((prom / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs == {"django", "varnish", "redis", "postgres", "node"}
    dashboard = json.loads((open_tmp / "etc/grafana/upstack-dashboard.json").read_text())
    jsonschema.validate(dashboard, {"type": "object", "required": ["uid", "title", "panels", "schemaVersion"],
                                    "properties": {"panels": {"type": "array", "minItems": 8, "items": {
                                        "type": "object", "required": ["id", "type", "title", "targets", "gridPos"]}}}})


def test_production_targets_never_get_the_development_settings(settings):
    from upstack.stack.project import production_settings

    def exists(names):
        return lambda name: name in names

    assert production_settings("site.settings.dev", exists({"site.settings.deploy"})) == "site.settings.deploy"
    assert production_settings("site.settings.test", exists({"site.settings.prod"})) == "site.settings.prod"
    assert production_settings("site.settings.deploy", exists(set())) == "site.settings.deploy"
    with pytest.raises(ValueError, match="STACK_SETTINGS"):
        production_settings("site.settings.dev", exists(set()))
    # The real thing: rendering under newsroom.settings.test (this suite) or .dev writes the deploy profile.
    for current in ("newsroom.settings.test", "newsroom.settings.dev"):
        settings.SETTINGS_MODULE = current
        for target in ("systemd", "compose", "kubernetes", "procfile"):
            files = render.render(target, remote_ctx())
            text = "".join(files.values())
            assert "newsroom.settings.deploy" in text, target
            assert not re.search(r"newsroom\.settings\.(dev|test)\b", text), target
    # UPSTACK["STACK_SETTINGS"] wins; the local target keeps the current module (upstack up sets its own).
    settings.UPSTACK = {**settings.UPSTACK, "STACK_SETTINGS": "newsroom.settings.typical"}
    assert "newsroom.settings.typical" in render.render("compose", remote_ctx())["compose.yaml"]


def test_the_local_stacks_prometheus_and_flower_render_for_loopback_only(local_ctx, open_tmp):
    servers.require_binary("promtool")
    servers.require_binary("prometheus")
    ctx = dataclasses.replace(local_ctx, with_observability=True, with_flower=True,
                              binaries={**local_ctx.binaries, "prometheus": machine.find_binary("prometheus")})
    render.write(render.render("local", ctx), open_tmp)
    config = open_tmp / "etc/prometheus/prometheus.yml"
    result = subprocess.run([machine.find_binary("promtool"), "check", "config", str(config)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert jobs == {"django": [f"127.0.0.1:{ctx.ports['app']}"], "prometheus": [f"127.0.0.1:{ctx.ports['prometheus']}"]}
    supervisord = (open_tmp / "supervisord.conf").read_text()
    assert f"--web.listen-address=127.0.0.1:{ctx.ports['prometheus']}" in supervisord
    assert f"--storage.tsdb.path={ctx.state_dir}/prometheus-data" in supervisord
    assert f"flower --address=127.0.0.1 --port={ctx.ports['flower']}" in supervisord
    # Without the switch the local stack runs neither, and its Prometheus file is the exporters' one.
    plain = render.render("local", local_ctx)
    assert "program:prometheus" not in plain["supervisord.conf"] and "program:flower" not in plain["supervisord.conf"]
    assert "job_name: varnish" in plain["etc/prometheus/prometheus.yml"]
    # A deployment runs its own monitoring: the switches are for `upstack up` only.
    with pytest.raises(ValueError, match="for the local stack"):
        render.render("systemd", remote_ctx(with_flower=True))
