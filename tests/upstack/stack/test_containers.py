"""The Compose target brought up for real (``make test-containers``, docs/deploy.md): the files
``upstack render --target compose`` writes - unchanged, no override - built into images FROM a
debootstrap base and started by docker-compose on a dockerd of the test's own, on a project network
with a subnet the test picked. Migrations ran (through PgBouncer, whose userlist came from the
secret), the edge serves and then hits, a comment posted through the edge is saved, its purge
reaches the edge through the worker, and ``down`` leaves nothing behind.

Runs under ``make test-containers`` (part of ``make test``); elsewhere it skips and says so. Docker
that cannot be installed or started is a skip with the reason, and a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests import containers, servers
from upstack.stack.machine import free_port

pytestmark = [pytest.mark.servers, pytest.mark.slow]
GATE = "UPSTACK_TEST_CONTAINERS"
ROOT = containers.ROOT
WITH = "pgbouncer,memcached"


@dataclass
class Project:
    daemon: containers.Daemon
    name: str
    out: Path
    edge: str
    stages: containers.Stages
    subnet: str

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        return containers.run(["docker-compose", "-p", self.name, "-f", "compose.yaml", *args], cwd=self.out,
                              env=self.daemon.env, timeout=timeout, check=check,
                              log=self.daemon.state / "compose.log")

    def manage(self, *args: str, timeout: float = 120) -> str:
        return self.compose("exec", "-T", "app", "python", "manage.py", *args, timeout=timeout).stdout


def unavailable(reason: str):
    if servers.in_ci():
        pytest.fail(f"{reason} (CI=true: Docker must run here)", pytrace=False)
    pytest.skip(reason)


def get(url: str) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
    except OSError:
        return 0, {}, ""


def render(out: Path, subnet: str) -> None:
    if out.exists():
        shutil.rmtree(out)
    # As a user would: the development profile active, the project network among the insiders.
    env = {"DJANGO_SETTINGS_MODULE": "newsroom.settings.dev", "UPSTACK_INTERNAL_IPS": f"127.0.0.1/32,::1/128,{subnet}"}
    containers.run([sys.executable, "manage.py", "upstack", "render", "--target", "compose", "--out", out,
                    "--cpus", "2", "--memory", "4G", "--with", WITH], cwd=ROOT, env=env, timeout=120)


def write_env(out: Path, name: str, edge_port: int) -> None:
    """``.env`` from the rendered ``.env.example``: fresh secrets, the HTTP-only lines kept as rendered."""
    values = {"COMPOSE_PROJECT_NAME": name, "SECRET_KEY": secrets.token_urlsafe(40),
              "POSTGRES_PASSWORD": secrets.token_hex(16), "UPSTACK_FRESH_SECRET": secrets.token_hex(16),
              "ALLOWED_HOSTS": "localhost,127.0.0.1", "EDGE_PUBLISH": f"127.0.0.1:{edge_port}"}
    lines = []
    for line in (out / ".env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values.pop(key)}" if key in values else line)
    assert not values, f".env.example lacks {sorted(values)}"
    (out / ".env").write_text("\n".join(lines) + "\n")
    (out / ".env").chmod(0o600)


def build(project: Project) -> None:
    spec = yaml.safe_load((project.out / "compose.yaml").read_text())["services"]
    for stage, service in (("build the servers image", "postgres"), ("build the app image", "app")):
        with project.stages(stage):
            image, how = spec[service]["image"], spec[service]["build"]
            context = project.out / how["context"]
            project.daemon.docker("build", "--network", "host", "--force-rm", "--build-arg",
                                  f"BASE={containers.BASE_IMAGE}", "-t", image, "-f", context / how["dockerfile"],
                                  context, timeout=900, log=project.daemon.state / "build.log")


@pytest.fixture(scope="module")
def project():
    if os.environ.get(GATE) != "1":
        pytest.skip("brings Docker up: runs under `make test-containers` (part of `make test`)")
    stages, daemon = containers.Stages(), containers.Daemon()
    try:
        with stages("install docker.io, docker-compose"):
            containers.install()
        with stages("start dockerd"):
            daemon.start()
    except containers.Unavailable as exc:
        daemon.stop()
        unavailable(str(exc))
    name = f"upstackt{os.getpid()}"
    subnet, edge_port = containers.free_subnet(), free_port()
    out = containers.STATE / "run"
    project = Project(daemon, name, out, f"http://127.0.0.1:{edge_port}", stages, subnet)
    try:
        with stages("base image (debootstrap, cached)"):
            print(f"[containers] base image {containers.BASE_IMAGE}: {containers.base_image(daemon)}")
        with stages("render compose"):
            render(out, subnet)
            write_env(out, name, edge_port)
        build(project)
        with stages("compose up (until the edge answers)"):
            project.compose("up", "-d", "--no-build", timeout=600)
            servers.wait_until(lambda: get(project.edge + "/healthz")[0] == 200, 120, "the edge through compose")
        yield project
    finally:
        with stages("compose down"):
            project.compose("down", "-v", "--remove-orphans", check=False)
        with stages("stop dockerd"):
            daemon.stop()
        print(stages.report())
        stages.save(containers.STATE / "timings.json")
        left = daemon.host_leftovers()
        assert not left, f"dockerd left these behind: {left}"


def test_the_production_files_are_the_ones_running(project):
    compose = (project.out / "compose.yaml").read_text()
    assert "newsroom.settings.deploy" in compose and "settings.dev" not in compose
    assert f"subnet: {project.subnet}" in compose
    assert not (project.out / "etc" / "pgbouncer" / "userlist.txt").exists()  # written from the secret at start
    password = next(line.split("=", 1)[1] for line in (project.out / ".env").read_text().splitlines()
                    if line.startswith("POSTGRES_PASSWORD="))
    rendered = [p for p in project.out.rglob("*") if p.is_file() and p.name != ".env"]
    assert not [p for p in rendered if password in p.read_text(errors="ignore")]


def test_migrations_ran_once_before_the_app(project):
    release = project.compose("ps", "-q", "release").stdout.strip()
    assert project.daemon.docker("inspect", "-f", "{{.State.ExitCode}}", release).stdout.strip() == "0"
    project.manage("migrate", "--check")  # exits 1 when a migration is unapplied
    plan = project.manage("showmigrations", "--plan")
    assert "[X]" in plan and "[ ]" not in plan


def test_the_edge_serves_then_hits(project):
    project.manage("seed", "--articles", "20", "--users", "3", "--comments", "10", "--seed", "1", "--no-progress")
    first, second = get(project.edge + "/"), get(project.edge + "/")
    assert first[0] == 200 and first[1]["X-Cache"] == "MISS"
    assert second[0] == 200 and second[1]["X-Cache"] == "HIT"
    assert re.search(r'href="/static/[^"]+\.[0-9a-f]{12}\.css"', second[2])  # collected at build, hashed


def test_a_comment_through_the_edge_is_saved_and_its_purge_reaches_the_edge(project):
    from bench.edge_mix import Browser

    project.manage("demo_user")
    anonymous, reader = Browser(project.edge), Browser(project.edge)
    _, _, home = anonymous.get("/")
    path = re.search(r'href="(/articles/[^"]+/)"', home).group(1)
    anonymous.get(path)
    assert anonymous.get(path)[1]["X-Cache"] == "HIT"
    reader.login("demo", "read-the-news")
    _, _, page = reader.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    text = f"Posted through the containers {secrets.token_hex(4)}"
    status, _, page = reader.get(path + "comments/", {"body": text, "csrfmiddlewaretoken": token})
    assert status == 200 and text in page
    # The anonymous copy was a HIT: only the purge (app -> broker -> worker -> Varnish) brings the comment.
    deadline = time.monotonic() + 30
    while text not in (seen := anonymous.get(path))[2] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert text in seen[2] and seen[1]["X-Cache"] != "HIT"


def test_the_worker_runs_tasks(project):
    stats = json.loads(project.manage("upstack", "tasks", "stats", "--json"))
    succeeded = sum(queue["succeeded"] or 0 for queue in stats["queues"].values())
    assert succeeded > 0 and stats["enqueue_failed"] == 0, stats
    assert all(not queue["failed"] for queue in stats["queues"].values()), stats


def test_down_leaves_nothing_behind(project):
    project.compose("down", "-v", "--remove-orphans")
    assert project.daemon.leftovers() == {}
    assert get(project.edge + "/healthz")[0] == 0  # nothing answers on the published port
