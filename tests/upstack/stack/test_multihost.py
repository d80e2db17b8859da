"""``upstack render --target systemd --inventory FILE``: the six-host example renders one folder per host
with only that host's services, each bound to the host's address and pointing at the others; every
host's output passes the real tools (``systemd-analyze verify``, ``varnishd -C``, ``haproxy -c``), and
each check is shown able to fail. Compose and Kubernetes take their replica counts from the inventory."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import servers
from upstack.stack import inventory, k8s_invariants, machine, multihost, project
from upstack.stack.context import Resources
from upstack.stack.sizing import GB

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "inventory.example.toml"
ADDRESS = {"lb1": "10.0.0.10", "edge1": "10.0.0.21", "edge2": "10.0.0.22", "app1": "10.0.0.31", "app2": "10.0.0.32",
           "db1": "10.0.0.41"}
UNITS = {"lb1": {"haproxy"}, "edge1": {"varnish"}, "edge2": {"varnish"}, "app1": {"app", "worker", "beat"},
         "app2": {"app"}, "db1": {"postgres", "postgres-replica", "redis-cache", "redis-broker", "pgbouncer"}}


@pytest.fixture(scope="module")
def rendered():
    """The example rendered (with PgBouncer) the way the command writes it, the project at this checkout
    (so the Django units' interpreter exists here for systemd-analyze); readable by varnishd's user."""
    out = Path(tempfile.mkdtemp(prefix="upstack-hosts-"))
    out.chmod(0o755)
    ctx = project.context(Resources(2, 2 * GB), with_pgbouncer=True)
    files = multihost.render_hosts(inventory.load(EXAMPLE), dataclasses.replace(ctx, install_dir=str(ROOT)))
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    yield out
    shutil.rmtree(out, ignore_errors=True)


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")


def test_each_host_gets_only_its_services_and_a_manifest(rendered):
    assert sorted(p.name for p in rendered.iterdir() if p.is_dir()) == sorted(ADDRESS)
    summary = {h["host"]: h for h in json.loads((rendered / "hosts.json").read_text())}
    for host, expected in UNITS.items():
        units = {p.name for p in (rendered / host / "systemd").glob("*.service")}
        assert units == {f"newsroom-{name}.service" for name in expected}, host
        target = (rendered / host / "systemd/newsroom.target").read_text()
        assert set(re.findall(r"newsroom-([a-z-]+)\.service", target)) == expected, host
        manifest = json.loads((rendered / host / "manifest.json").read_text())
        assert manifest["address"] == ADDRESS[host] == summary[host]["address"]
        assert {s["name"] for s in manifest["services"]} == expected == set(summary[host]["services"])
        for service in manifest["services"]:
            assert all((rendered / host / path).is_file() for path in [service["unit"], *service["configs"]])
            # Everything that listens does so on this host's address.
            assert service["listen"] is None or service["listen"].startswith(ADDRESS[host] + ":"), service
    assert not (rendered / "db1/etc/varnish").exists() and not (rendered / "edge1/etc/postgres").exists()
    assert (rendered / "app1/etc/newsroom.env.example").exists() and not (rendered / "db1/etc/newsroom.env.example").exists()


def test_every_service_binds_to_its_hosts_address_not_loopback(rendered):
    def text(host, path):
        return (rendered / host / path).read_text()

    assert "bind 10.0.0.10:80\n" in text("lb1", "etc/haproxy/haproxy.cfg")
    assert "bind 10.0.0.10:443 ssl" in text("lb1", "etc/haproxy/haproxy.cfg")
    assert "listen 10.0.0.10:80;" in text("lb1", "etc/nginx/nginx.conf")
    for edge in ("edge1", "edge2"):
        assert f"-a {ADDRESS[edge]}:6081 " in text(edge, "systemd/newsroom-varnish.service")
    for app in ("app1", "app2"):
        assert f"--bind {ADDRESS[app]}:8000 " in text(app, "systemd/newsroom-app.service")
        assert f'bind = "{ADDRESS[app]}:8000"' in text(app, "etc/gunicorn/gunicorn.conf.py")
    assert "listen_addresses = '10.0.0.41'\nport = 5432\n" in text("db1", "etc/postgres/postgresql.conf")
    assert "listen_addresses = '10.0.0.41'\nport = 5433\n" in text("db1", "etc/postgres/replica.conf")
    assert "hot_standby = on" in text("db1", "etc/postgres/replica.conf")
    assert "hot_standby" not in text("db1", "etc/postgres/postgresql.conf")
    assert "bind 10.0.0.41\nport 6379\n" in text("db1", "etc/redis/cache.conf")
    assert "bind 10.0.0.41\nport 6380\n" in text("db1", "etc/redis/broker.conf")
    assert "listen_addr = 10.0.0.41\n" in text("db1", "etc/pgbouncer/pgbouncer.ini")
    # No server of any host listens on loopback (Varnish's admin port -T localhost excepted: varnishreload's).
    for path in rendered.glob("*/systemd/*.service"):
        assert "127.0.0.1" not in path.read_text(), path
    for path in [*rendered.glob("*/etc/*/*")]:
        binds = re.findall(r"^(?:bind|listen_addr(?:esses)?|-l)\s*=?\s*'?([\d.]+)", path.read_text(), re.M)
        assert "127.0.0.1" not in binds, path


def test_each_host_points_at_the_others(rendered):
    vcl = (rendered / "edge2/etc/varnish/default.vcl").read_text()
    assert re.findall(r'\.host = "([\d.]+)";\n    \.port = "(\d+)";\n    \.probe = app_health;', vcl) == [
        ("10.0.0.31", "8000"), ("10.0.0.32", "8000")]
    assert "app.add_backend(app1);" in vcl and "app.add_backend(app2);" in vcl
    # The app hosts may purge, the load balancer's X-Forwarded-For is believed.
    purgers = re.search(r"acl purgers \{(.*?)\}", vcl, re.S).group(1)
    assert '"10.0.0.31"/32' in purgers and '"10.0.0.10"/32' not in purgers
    assert '"10.0.0.10"/32' in re.search(r"acl load_balancers \{(.*?)\}", vcl, re.S).group(1)
    haproxy = (rendered / "lb1/etc/haproxy/haproxy.cfg").read_text()
    assert re.findall(r"server (varnish\d) ([\d.:]+) check", haproxy) == [("varnish1", "10.0.0.21:6081"),
                                                                          ("varnish2", "10.0.0.22:6081")]
    for app in ("app1", "app2"):
        env = _env(rendered / app / "etc/newsroom.env.example")
        assert env["EDGE_URLS"] == "http://10.0.0.21:6081,http://10.0.0.22:6081"  # every edge is purged
        assert env["DATABASE_URL"] == "postgres://upstack:CHANGE_ME@10.0.0.41:6432/upstack"  # PgBouncer
        assert env["REPLICA_DATABASE_URL"] == "postgres://upstack:CHANGE_ME@10.0.0.41:5433/upstack"
        assert env["DIRECT_DATABASE_URL"] == "postgres://upstack:CHANGE_ME@10.0.0.41:5432/upstack"
        assert env["REDIS_URL"] == "redis://10.0.0.41:6379/0" and env["BROKER_URL"] == "redis://10.0.0.41:6380/0"
        assert "10.0.0.22/32" in env["UPSTACK_INTERNAL_IPS"].split(",")
        assert env["UPSTACK_LOAD_BALANCERS"].split(",")[-1] == "10.0.0.10/32"
        assert "MEMCACHED_LOCATION" not in env  # no memcached host in the example
    assert "upstack = host=10.0.0.41 port=5432 " in (rendered / "db1/etc/pgbouncer/pgbouncer.ini").read_text()
    hba = (rendered / "db1/etc/postgres/pg_hba.conf").read_text()
    assert re.findall(r"^host\s+upstack\s+upstack\s+([\d.]+)/32", hba, re.M) == ["10.0.0.31", "10.0.0.32", "10.0.0.41"]
    assert re.findall(r"^host\s+replication\s+replicator\s+([\d.]+)/32", hba, re.M) == ["10.0.0.41"]


def _verify(units: list[Path]) -> list[str]:
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                            text=True, timeout=120)
    # Forgiven: what only the installed host has - the stack's target and the operator's env file.
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "newsroom.target" not in line and "/etc/upstack/newsroom.env" not in line]


def test_every_hosts_units_pass_systemd_analyze_verify(rendered, open_tmp):
    servers.require_binary("systemd-analyze")
    for host in ADDRESS:
        units = sorted((rendered / host / "systemd").glob("*.service"))
        assert _verify(units) == [], host
    # Negative: a broken unit of a host is reported.
    broken = open_tmp / "newsroom-app.service"
    broken.write_text((rendered / "app1/systemd/newsroom-app.service").read_text()
                      .replace("KillSignal=SIGTERM", "KillSignal=SIGNOPE"))
    assert any("SIGNOPE" in line for line in _verify([broken]))


def _varnish_compiles(path: Path, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([machine.find_binary("varnishd"), "-C", "-f", str(path), "-n", str(workdir)],
                          capture_output=True, text=True, timeout=120)


def test_every_edges_vcl_compiles(rendered, open_tmp):
    servers.require_binary("varnishd")
    for edge in ("edge1", "edge2"):
        result = _varnish_compiles(rendered / edge / "etc/varnish/default.vcl", open_tmp / "vn")
        assert result.returncode == 0, f"{edge}: {result.stderr[-2000:]}"
    broken = open_tmp / "broken.vcl"  # negative: a director over a backend that is not declared
    broken.write_text((rendered / "edge1/etc/varnish/default.vcl").read_text()
                      .replace("app.add_backend(app2);", "app.add_backend(app3);"))
    assert _varnish_compiles(broken, open_tmp / "vn").returncode != 0


def _tls(folder: Path) -> Path:
    key, cert, pem = folder / "k.pem", folder / "c.pem", folder / "site.pem"
    subprocess.run([machine.find_binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    pem.write_text(cert.read_text() + key.read_text())
    return pem


def _haproxy_checks(text: str, folder: Path, pem: Path) -> subprocess.CompletedProcess:
    path = folder / "haproxy.cfg"
    path.write_text(text.replace("/etc/upstack/tls/site.pem", str(pem)))
    return subprocess.run([machine.find_binary("haproxy"), "-c", "-f", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_the_load_balancers_config_checks(rendered, open_tmp):
    servers.require_binary("haproxy")
    servers.require_binary("openssl")
    pem, text = _tls(open_tmp), (rendered / "lb1/etc/haproxy/haproxy.cfg").read_text()
    result = _haproxy_checks(text, open_tmp, pem)
    assert result.returncode == 0, result.stdout + result.stderr
    # Negative: an edge without a port is refused.
    result = _haproxy_checks(text.replace("10.0.0.22:6081 check", "10.0.0.22: check"), open_tmp, pem)
    assert result.returncode != 0


def test_compose_and_kubernetes_take_replica_counts_from_the_inventory(open_tmp):
    servers.require_binary("haproxy")
    servers.require_binary("openssl")
    call_command("upstack", "render", "--target", "kubernetes", "--out", str(open_tmp / "k"), "--cpus", "2",
                 "--memory", "4G", "--inventory", str(EXAMPLE))
    docs = [d for f in (open_tmp / "k/kubernetes").glob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d]
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in docs if d["kind"] == "Deployment"}
    assert replicas["app"] == 2 and replicas["worker"] == 1 and replicas["varnish"] == 2
    hpa = {d["metadata"]["name"]: d["spec"]["minReplicas"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert hpa == {"app": 2, "worker": 1}
    three = open_tmp / "three.toml"  # three app hosts, three workers, one edge
    three.write_text(EXAMPLE.read_text().replace('roles = ["app"]', 'roles = ["app", "worker"]')
                     .replace('address = "10.0.0.22"\nroles = ["edge"]', 'address = "10.0.0.22"\nroles = ["app", "worker"]'))
    call_command("upstack", "render", "--target", "kubernetes", "--out", str(open_tmp / "k3"), "--cpus", "2",
                 "--memory", "4G", "--inventory", str(three))
    docs = [d for f in (open_tmp / "k3/kubernetes").glob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d]
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in docs if d["kind"] == "Deployment"}
    assert (replicas["app"], replicas["worker"], replicas["varnish"]) == (3, 3, 1)
    # The manifests' invariants (connection budget over every pod the HPAs allow...) still hold.
    for folder in ("k", "k3"):
        files = {str(p.relative_to(open_tmp / folder)): p.read_text() for p in (open_tmp / folder).rglob("*.yaml")}
        assert k8s_invariants.problems(files) == [], folder

    call_command("upstack", "render", "--target", "compose", "--out", str(open_tmp / "c"), "--cpus", "2",
                 "--memory", "4G", "--inventory", str(EXAMPLE))
    compose = yaml.safe_load((open_tmp / "c/compose.yaml").read_text())["services"]
    assert {name: compose[name]["deploy"]["replicas"] for name in ("app", "worker", "varnish")} == {
        "app": 2, "worker": 1, "varnish": 2}
    assert "ports" not in compose["varnish"] and "haproxy" in compose  # the lb host: HAProxy in front
    assert compose["app"]["environment"]["EDGE_RESOLVE"] == "true"  # every varnish replica is purged
    haproxy = (open_tmp / "c/etc/haproxy/haproxy.cfg").read_text()
    assert "server-template varnish 2 varnish:6081 check resolvers docker" in haproxy
    result = _haproxy_checks(haproxy, open_tmp, _tls(open_tmp))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_refuses_bad_inventories_and_bad_combinations(open_tmp):
    bad = open_tmp / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('roles = ["app"]', 'roles = ["ap"]'))
    with pytest.raises(CommandError, match=r"bad.toml:\d+: host 'app2': unknown role\(s\) 'ap'") as caught:
        call_command("upstack", "render", "--target", "systemd", "--out", str(open_tmp / "x"), "--inventory", str(bad))
    assert caught.value.returncode == 2 and not (open_tmp / "x").exists()
    cases = [(["--target", "local"], "--inventory is for the targets systemd, compose, kubernetes, not local"),
             (["--target", "systemd", "--app-hosts", "a:1"], "names the app hosts already"),
             (["--target", "systemd", "--with", "haproxy"], "--with haproxy: with --inventory the hosts with the role 'lb'"),
             (["--target", "systemd", "--inventory", str(open_tmp / "none.toml")], "cannot read the inventory")]
    for args, message in cases:
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("upstack", "render", "--out", str(open_tmp / "y"), "--inventory", str(EXAMPLE), *args)
    one_edge_less = open_tmp / "nolb.toml"  # two edges in Compose need a load balancer in front
    one_edge_less.write_text(EXAMPLE.read_text().replace('roles = ["lb"]', 'roles = ["memcached"]'))
    with pytest.raises(CommandError, match="compose with 2 edges needs a load balancer"):
        call_command("upstack", "render", "--target", "compose", "--out", str(open_tmp / "z"),
                     "--inventory", str(one_edge_less))


def test_memcached_hosts_are_listed_for_the_app_and_bind_their_own_address():
    text = (EXAMPLE.read_text() + '\n[hosts.mc1]\naddress = "10.0.0.51"\nroles = ["memcached"]\n'
            '\n[hosts.mc2]\naddress = "10.0.0.52"\nroles = ["memcached"]\nports = { memcached = 11311 }\n')
    files = multihost.render_hosts(inventory.parse(text, "mc.toml"), project.context(Resources(2, 2 * GB)))
    env = dict(line.split("=", 1) for line in files["app2/etc/newsroom.env.example"].splitlines() if "=" in line)
    assert env["MEMCACHED_LOCATION"] == "10.0.0.51:11211,10.0.0.52:11311"
    assert " -l 10.0.0.52 -p 11311 " in files["mc2/systemd/newsroom-memcached.service"]
    assert "-l 10.0.0.51\n" in files["mc1/etc/memcached/memcached.conf"]
    assert not any(path.startswith("mc1/") and "varnish" in path for path in files)
