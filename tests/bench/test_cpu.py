"""The ladder's CPU per request: the CPU time of whatever serves a port, read around a run."""

import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from bench import cpu, report
from tests.bench.test_report import FRESH, LIMITS, META, STAMPEDE, measured, run
from upstack.stack.machine import free_port

BUSY = textwrap.dedent("""
    import http.server, sys, time
    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            end = time.process_time() + 0.05  # 50 ms of CPU per request
            while time.process_time() < end:
                pass
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Busy).serve_forever()
""")


@pytest.fixture
def busy():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BUSY, str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_the_serving_process_cpu_is_counted(busy):
    counter = cpu.Serving(busy)
    before = counter.read()["cpu_s"]
    for _ in range(10):
        urllib.request.urlopen(busy + "/", timeout=10).read()
    spent = counter.read()["cpu_s"] - before
    assert 0.4 <= spent < 2.0  # 10 requests x 50 ms, plus a little


def test_nobody_listening_is_no_cpu():
    assert cpu.Serving(f"http://127.0.0.1:{free_port()}").read() == {"cpu_s": 0.0}


def test_the_ladder_shows_cpu_per_request_when_measured():
    ladder = {"edge hit": run(2000, cpu_ms_per_request=0.05), "plain Django render": run(50, cpu_ms_per_request=21.5)}
    full = report.summarize(META, measured(), LIMITS, ladder, STAMPEDE, FRESH)
    assert "CPU ms / request" in report.markdown(full) and "| 21.5 |" in report.markdown(full)
    older = report.summarize(META, measured(), LIMITS, {"edge hit": run(2000)}, STAMPEDE, FRESH)
    assert "CPU ms / request" not in report.markdown(older)  # runs before it keep their table


APP = textwrap.dedent("""
    import time
    def app(environ, start_response):
        end = time.process_time() + 0.05  # 50 ms of CPU per request
        while time.process_time() < end:
            pass
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
""")


def test_a_gunicorn_master_and_all_its_workers_are_counted(tmp_path):
    # psutil names one holder of the shared listening socket, often a worker: the master above it
    # and its other workers must be found too, or requests served by them go uncounted.
    (tmp_path / "busyapp.py").write_text(APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--chdir", str(tmp_path), "--bind",
                             f"127.0.0.1:{port}", "--workers", "3", "busyapp:app"], start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while len(cpu.listening(port)) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert {p.pid for p in cpu.listening(port)} >= {proc.pid}
        assert len(cpu.listening(port)) == 4  # the master and three workers
        counter = cpu.Serving(url)
        before = counter.read()["cpu_s"]
        for _ in range(12):
            urllib.request.urlopen(url + "/", timeout=10).read()
        assert counter.read()["cpu_s"] - before >= 0.5  # 12 x 50 ms, whichever workers served them
    finally:
        proc.terminate()
        proc.wait(20)
