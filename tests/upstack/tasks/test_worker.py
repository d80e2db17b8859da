"""Background work with a real Redis broker and a real Celery worker process: enqueue after commit,
thumbnails, mail, a worker SIGKILLed mid-task, the broker down, and the stats command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests import servers
from tests.upstack.tasks.drill_tasks import judge

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.servers, pytest.mark.slow]


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=300)


def start_worker(env, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "newsroom.celery:app", "worker", "--queues", "high,default,low",
         "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--include", "tests.upstack.tasks.drill_tasks", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    ping = [sys.executable, "-c", "import django, sys; django.setup(); from upstack.tasks import ping_workers; "
            "sys.exit(0 if ping_workers(__import__('os').environ['BROKER_URL'], 1.0) else 1)"]
    servers.wait_until(lambda: subprocess.run(ping, cwd=ROOT, env=env, capture_output=True).returncode == 0, 60,
                       "the celery worker", log, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def site(redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tasks")
    broker = redis_server.url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(broker).flushdb()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "newsroom.settings.test",
           "DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}", "MEDIA_ROOT": str(tmp / "media"),
           "BROKER_URL": broker, "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/7",
           "EMAIL_URL": f"filemail:///{tmp / 'mail'}", "MAIL_DIR": str(tmp / "mail"),
           "CELERY_VISIBILITY_TIMEOUT": "5", "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed", "--articles", "20", "--users", "6", "--comments", "30", "--no-progress")
    worker = start_worker(env, tmp / "worker.log")
    yield {"env": env, "tmp": tmp, "worker": worker, "broker": broker}
    stop(worker)


def scenario(site, name: str, **env) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.upstack.tasks.scenarios", name], cwd=ROOT,
                            env={**site["env"], **env}, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_enqueue_on_commit_only_and_a_real_worker_sends_the_mail(site):
    data = scenario(site, "on_commit")
    assert data["rolled_back_sent"] == 0 and data["sent_before_commit"] == 0 and data["sent_after_commit"] == 1
    assert data["mail_seconds"] is not None, (site["tmp"] / "worker.log").read_text()[-3000:]
    assert data["mail_to_first"] and data["reply_in_mail"] and not data["rolled_back_in_mail"]


def test_thumbnails_are_made_by_the_worker_and_on_the_spot(site):
    data = scenario(site, "thumbnails")
    assert data["seconds"] is not None, (site["tmp"] / "worker.log").read_text()[-3000:]
    print(f"upload -> all {data['expected']} thumbnails: {data['seconds']:.2f}s")
    assert data["again_same"] and data["files"] == data["expected"]  # idempotent: no duplicates
    assert data["first_size"] == [320, 180]
    assert data["on_the_spot_exists"] and data["on_the_spot_url"].endswith(".webp")


def test_a_worker_killed_mid_task_redelivers_and_the_effect_happens_once(site):
    client = redis.Redis.from_url(site["broker"])
    script = ("import django, sys; django.setup(); from upstack.tasks import send; "
              f"send('tests.drill', ({site['broker']!r}, 'kill', 2.0), queue='default')")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=site["env"], check=True, timeout=60)
    servers.wait_until(lambda: client.llen("drill:kill:attempts") >= 1, 30, "the drill task to start")
    child = int(client.lindex("drill:kill:attempts", 0))
    os.kill(child, signal.SIGKILL)  # the pool process running it dies mid-task
    servers.wait_until(lambda: client.llen("drill:kill:completed") >= 1 and servers.broker_idle(client), 60,
                       "the redelivered task to complete and the broker to hold nothing more", site["tmp"] / "worker.log")
    attempts = [int(p) for p in client.lrange("drill:kill:attempts", 0, -1)]
    completed = [int(p) for p in client.lrange("drill:kill:completed", 0, -1)]
    assert judge(attempts, completed, child) == [], (attempts, completed, child)
    print(f"SIGKILL drill: {len(attempts)} attempts, {len(completed)} completed execution")


@pytest.mark.parametrize("attempts, completed, problem", [
    ([1, 2], [1, 2], "the killed attempt (1) completed"),  # the kill did not stop it, and it ran again
    ([1, 2, 3], [2, 3], "2 executions completed, not exactly 1"),  # redelivered twice
    ([1], [], "the task was not redelivered"),
])
def test_the_drill_judge_fails_a_broken_outcome(attempts, completed, problem):
    assert problem in judge(attempts, completed, killed=1)


def test_the_broker_down_never_breaks_a_request(site):
    dead = servers.free_port()
    data = scenario(site, "broker_down", BROKER_URL=f"redis://127.0.0.1:{dead}/0")
    assert data["post_status"] == 302 and data["page_status"] == 200 and data["comment_saved"]
    assert data["enqueue_failed"] >= 2  # the reply mail and the purge
    assert data["purged_synchronously"]
    print(f"broker down: POST {data['post_status']} + GET {data['page_status']} in {data['seconds']}s, "
          f"{data['enqueue_failed']} enqueue failures counted")


def test_tasks_stats_shows_depths_and_counts(site):
    result = subprocess.run([sys.executable, "manage.py", "upstack", "tasks", "stats", "--json"], cwd=ROOT,
                            env=site["env"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["broker"] == "redis" and set(data["queues"]) == {"high", "default", "low"}
    default = data["queues"]["default"]
    assert default["sent"] >= 2 and default["succeeded"] >= 2 and default["depth"] == 0
    assert data["purge_backlog"]["store"] == "redis" and data["purge_backlog"]["pending"] == 0, data
    table = subprocess.run([sys.executable, "manage.py", "upstack", "tasks", "stats"], cwd=ROOT, env=site["env"],
                           capture_output=True, text=True, timeout=60).stdout
    header = next(line for line in table.splitlines() if line.startswith("┃"))  # a rich table
    assert header.split()[1:4:2] == ["queue", "depth"], table
    assert "purge backlog: 0" in table, table
