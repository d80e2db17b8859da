"""The rolling gunicorn reload (upstack.stack.rolling) on a real gunicorn under load: every worker
replaced, the worker count unchanged, no request lost - and a worker that never says it is ready
stops the reload with a clear error instead of removing the old ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests import servers
from upstack.stack import rolling

pytestmark = [pytest.mark.servers]

APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''
# The hook of the rendered gunicorn.conf.py (upstack/stack/templates/gunicorn/gunicorn.conf.py).
HOOK = Path(__file__).resolve().parents[3] / "src/upstack/stack/templates/gunicorn/gunicorn.conf.py"


def hook_source() -> str:
    text = HOOK.read_text()
    start = text.index("def post_worker_init(worker):")
    return text[start:text.index("\n\n\n", start)]


def gunicorn(tmp_path: Path, ready_dir: Path | None):
    (tmp_path / "toy.py").write_text(APP)
    (tmp_path / "conf.py").write_text("workers = 3\nworker_class = 'gthread'\nthreads = 2\npreload_app = False\n"
                                      "graceful_timeout = 10\n" + hook_source() + "\n")
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items() if k != rolling.READY_DIR_VARIABLE}
    if ready_dir:
        env[rolling.READY_DIR_VARIABLE] = str(ready_dir)
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "conf.py", "--bind", f"127.0.0.1:{port}",
                             "toy:app"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    try:
        servers.wait_until(lambda: len(rolling.workers(proc.pid)) == 3 and servers.talk(
            port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1."), 30, "gunicorn", tmp_path / "gunicorn.log", proc)
    except BaseException:
        stop(proc)  # never leave a test's gunicorn behind
        raise
    return proc, port


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def test_every_worker_is_replaced_under_load_without_a_lost_request(tmp_path):
    ready = tmp_path / "ready"
    proc, port = gunicorn(tmp_path, ready)
    codes, done = [], threading.Event()

    def load():
        while not done.is_set() and len(codes) < 50_000:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    codes.append(response.status)
            except OSError as exc:
                codes.append(type(exc).__name__)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):  # the third would hang if a reaped worker were not waited for
            old = rolling.workers(proc.pid)
            assert rolling.reload(proc.pid, ready, timeout=60) == 3
            assert not rolling.workers(proc.pid) & old
        time.sleep(1)
        assert len(rolling.workers(proc.pid)) == 3
    finally:
        done.set()
        for t in threads:
            t.join(30)
        stop(proc)
    assert len(codes) > 100 and [c for c in codes if c != 200] == []


def test_a_worker_that_never_says_it_is_ready_stops_the_reload_and_keeps_the_old_ones(tmp_path):
    proc, _ = gunicorn(tmp_path, None)  # no ready directory: the hook writes nothing
    try:
        old = rolling.workers(proc.pid)
        with pytest.raises(RuntimeError, match="a new gunicorn worker was not ready after 3s"):
            rolling.reload(proc.pid, tmp_path / "ready", timeout=3)
        assert old <= rolling.workers(proc.pid)  # nothing was removed
    finally:
        stop(proc)
