"""What the Compose and Procfile renders need to start from nothing, checked on the rendered files
(the Compose project is also brought up for real: test_containers.py). Each test names the breakage
these renders once had (docs/deploy.md)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import servers
from upstack import stack
from upstack.stack import compose, here, machine, project, render
from upstack.stack.context import Resources
from upstack.stack.sizing import GB

ROOT = Path(__file__).resolve().parents[3]


def ctx_for(**switches):
    return project.context(Resources(4, 16 * GB), **switches)


def test_the_app_image_collects_static_files_at_build():
    dockerfile = render.render("compose", ctx_for())["Dockerfile"]
    build = dockerfile.index('RUN pip install ".[all]"')
    collect = dockerfile.index("python manage.py collectstatic --noinput")
    assert build < collect < dockerfile.index("USER app")  # before dropping root, after the code is in
    assert "DJANGO_SETTINGS_MODULE=newsroom.settings.deploy" in dockerfile[collect - 200:collect]
    assert dockerfile.startswith("#") and "ARG BASE=debian:bookworm-slim\nFROM ${BASE}" in dockerfile


def test_the_build_context_is_the_project_root_with_a_dockerignore(open_tmp, settings):
    settings.BASE_DIR = open_tmp
    (open_tmp / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    out = open_tmp / "deploy" / "compose"
    stack.render_target("compose", out, cpus=2, memory="4G")
    build = yaml.safe_load((out / "compose.yaml").read_text())["x-django"]["build"]
    assert (out / build["context"]).resolve() == open_tmp.resolve()
    assert (open_tmp / build["dockerfile"]).resolve() == (out / "Dockerfile").resolve()
    ignore = (open_tmp / ".dockerignore").read_text().split()
    assert {".git", ".venv*", "var", "**/.env"} <= set(ignore)
    # An existing .dockerignore is the project's: left alone.
    (open_tmp / ".dockerignore").write_text("mine\n")
    stack.render_target("compose", out, cpus=2, memory="4G")
    assert (open_tmp / ".dockerignore").read_text() == "mine\n"


def test_this_repository_has_the_rendered_dockerignore():
    assert (ROOT / ".dockerignore").read_text() == render.render("compose", ctx_for())[".dockerignore"]


def test_migrations_are_a_one_shot_service_the_django_services_wait_for():
    spec = yaml.safe_load(render.render("compose", ctx_for(with_pgbouncer=True))["compose.yaml"])["services"]
    release = spec["release"]
    assert release["restart"] == "no" and release["command"][-2:] == ["migrate", "--noinput"]
    assert "release" not in release["depends_on"] and release["depends_on"]["pgbouncer"]
    for name in ("app", "worker", "beat"):
        assert spec[name]["depends_on"]["release"] == {"condition": "service_completed_successfully"}


def test_the_pgbouncer_userlist_is_written_from_the_secret_at_start(open_tmp):
    files = render.render("compose", ctx_for(with_pgbouncer=True))
    assert not [path for path, text in files.items() if "CHANGE_ME" in text]  # the old placeholder
    assert "etc/pgbouncer/userlist.txt" not in files
    auth_file = next(line.split("=", 1)[1].strip() for line in files["etc/pgbouncer/pgbouncer.ini"].splitlines()
                     if line.startswith("auth_file"))
    script = open_tmp / "start.sh"
    # The script execs pgbouncer: a stand-in prints the userlist it wrote instead of serving.
    script.write_text(files["etc/pgbouncer/start.sh"].replace("exec pgbouncer", "exec cat " + auth_file + " #"))
    env = {"PATH": os.environ["PATH"], "POSTGRES_PASSWORD": 'se"cret'}
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '"upstack" "se""cret"\n'  # a quote doubled, as the userlist format wants
    assert oct(Path(auth_file).stat().st_mode & 0o777) == "0o600"
    result = subprocess.run(["sh", str(script)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
                            timeout=10)
    assert result.returncode != 0 and "POSTGRES_PASSWORD is not set" in result.stderr


def test_the_rendered_pgbouncer_logs_in_with_the_secret(open_tmp):
    """PgBouncer itself reads the userlist start.sh writes and lets in the secret's password, no other."""
    servers.require_binary("pgbouncer")
    servers.require_binary("psql")
    postgres = servers.Postgres()
    postgres.start()
    bouncer = None
    try:
        port, workdir = servers.free_port(), open_tmp / "bouncer"
        workdir.mkdir()
        ini = workdir / "pgbouncer.ini"
        ini.write_text(f"[databases]\npostgres = host=127.0.0.1 port={postgres.port} dbname=postgres\n"
                       f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
                       f"auth_type = scram-sha-256\nauth_file = {workdir}/userlist.txt\npool_mode = transaction\n")
        script = render.render("compose", ctx_for(with_pgbouncer=True))["etc/pgbouncer/start.sh"]
        script = script.replace("/tmp/pgbouncer", str(workdir)).replace('"upstack"', '"postgres"').replace(
            "/etc/upstack/pgbouncer/pgbouncer.ini", str(ini))
        (workdir / "start.sh").write_text(script)
        wrap = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if wrap:
            shutil.chown(workdir, "postgres")
        bouncer = subprocess.Popen([*wrap, "env", f"PATH={os.environ['PATH']}:/usr/sbin", "POSTGRES_PASSWORD=s3cret",
                                    "sh", str(workdir / "start.sh")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        servers.wait_until(lambda: machine.port_in_use(port), 10, "pgbouncer")
        for password, ok in (("s3cret", True), ("wrong", False)):
            result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
                                     "-tAc", "select 1"], env={"PGPASSWORD": password, "PATH": os.environ["PATH"]},
                                    capture_output=True, text=True, timeout=20)
            assert (result.returncode == 0 and result.stdout.strip() == "1") == ok, (password, result.stderr)
    finally:
        if bouncer:
            os.killpg(bouncer.pid, signal.SIGTERM)
            bouncer.wait(10)
        postgres.stop()


def test_tls_is_a_documented_certificate_or_explicitly_http_only():
    files = render.render("compose", ctx_for(with_haproxy=True))
    spec = yaml.safe_load(files["compose.yaml"])["services"]
    assert set(spec["haproxy"]["ports"]) == {"80:80", "443:443"} and "ports" not in spec["varnish"]
    assert "./etc:/etc/upstack:ro" in spec["haproxy"]["volumes"]
    assert "ssl crt /etc/upstack/tls/site.pem" in files["etc/haproxy/haproxy.cfg"]  # = ./etc/tls/site.pem
    assert "etc/tls/site.pem" in files["compose.yaml"] and "etc/tls/site.pem" in files[".env.example"]
    plain = render.render("compose", ctx_for())
    spec = yaml.safe_load(plain["compose.yaml"])["services"]
    assert "haproxy" not in spec and spec["varnish"]["ports"] == ["${EDGE_PUBLISH:-80}:6081"]
    assert "HTTP only" in plain["compose.yaml"] and "SECURE_SSL_REDIRECT=false" in plain[".env.example"]


def test_the_project_network_is_trusted_but_its_gateway_is_not():
    assert str(compose.subnet(("127.0.0.1/32", "::1/128"))) == compose.DEFAULT_SUBNET
    assert str(compose.subnet(("127.0.0.1/32", "10.9.8.0/24"))) == "10.9.8.0/24"
    assert str(compose.subnet(("8.8.8.0/24",))) == compose.DEFAULT_SUBNET  # public: never the project's
    files = render.render("compose", project.context(Resources(2, 4 * GB)))
    vcl = files["etc/varnish/default.vcl"]
    net = ipaddress.ip_network(compose.DEFAULT_SUBNET)
    assert f'"{net.network_address}"/{net.prefixlen};' in vcl and f'! "{next(net.hosts())}";' in vcl
    assert yaml.safe_load(files["compose.yaml"])["networks"]["default"]["ipam"]["config"] == [
        {"subnet": compose.DEFAULT_SUBNET}]


def test_the_procfile_maps_the_platform_redis_to_the_broker():
    procfile = render.render("procfile", ctx_for())["Procfile"]
    for line in procfile.splitlines():
        prefix = line.split(": ", 1)[1].split(" ", 1)[0]
        assert prefix == render.PLATFORM_ENV, line
        for env, expected in (({"REDIS_URL": "redis://h:1"}, "redis://h:1"),
                              ({"REDIS_URL": "redis://h:1", "BROKER_URL": "amqp://q"}, "amqp://q")):
            out = subprocess.run(["sh", "-c", f'{prefix} sh -c \'echo "$BROKER_URL"\''], env={
                "PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=10).stdout.strip()
            assert out == expected


def test_procfile_processes_are_sized_where_they_run_not_where_rendered(monkeypatch):
    small = render.render("procfile", project.context(Resources(1, 1 * GB)))
    big = render.render("procfile", project.context(Resources(32, 128 * GB)))
    assert small["etc/gunicorn/gunicorn.conf.py"] == big["etc/gunicorn/gunicorn.conf.py"]
    assert small["Procfile"] == big["Procfile"]
    assert "WEB_CONCURRENCY" not in small["app.json"]  # it was the build machine's figure
    assert "collectstatic" not in small["Procfile"]  # a release phase's files are thrown away
    conf = small["etc/gunicorn/gunicorn.conf.py"]
    namespace: dict = {}
    monkeypatch.setenv("WEB_CONCURRENCY", "7")
    exec(compile(conf, "gunicorn.conf.py", "exec"), namespace)  # noqa: S102 - the rendered file, as gunicorn reads it
    assert namespace["workers"] == 7
    monkeypatch.delenv("WEB_CONCURRENCY")
    expected = here.plan({})
    exec(compile(conf, "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    assert (namespace["workers"], namespace["threads"]) == (expected["web"], expected["threads"])


def test_here_reads_the_platform_and_refuses_nonsense():
    run = [sys.executable, "-m", "upstack.stack.here"]
    env = {**os.environ, "CELERY_CONCURRENCY": "3"}
    assert subprocess.run([*run, "worker"], env=env, capture_output=True, text=True).stdout.strip() == "3"
    bad = subprocess.run([*run, "worker"], env={**env, "CELERY_CONCURRENCY": "lots"}, capture_output=True, text=True)
    assert bad.returncode == 2 and "CELERY_CONCURRENCY must be a whole number" in bad.stderr
    assert subprocess.run([*run, "everything"], capture_output=True, text=True).returncode == 2
    with pytest.raises(ValueError):
        here.plan({"WEB_CONCURRENCY": "0"})
