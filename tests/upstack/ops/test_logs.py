"""``upstack logs``: the stack's logs merged by time, filtered by service, level and request id, and
followed as they grow (upstack.ops.logview). The files are what supervisord writes; the running stack's
own are read in tests/upstack/stack/test_runner.py."""

from __future__ import annotations

import json
import threading
import time

from tests.upstack.cli import upstack
from upstack.ops import logview

RID = "0123456789abcdef0123456789abcdef"


def request_line(when, path, status=200, level="info", rid=RID):
    return json.dumps({"time": when, "level": level, "logger": "upstack.request", "message": "request",
                       "request_id": rid, "method": "GET", "path": path, "status": status})


def write_logs(state):
    logs = state / "logs"
    logs.mkdir(parents=True)
    (logs / "app.log").write_text("\n".join([
        "[2026-11-25 10:00:00 +0000] [12] [INFO] Booting worker with pid: 12",
        request_line("2026-11-25T10:00:01.000Z", "/a/"),
        request_line("2026-11-25T10:00:03.000Z", "/boom/", 500, "error", "f" * 32),
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
    ]) + "\n")
    (logs / "worker.log").write_text(json.dumps({"time": "2026-11-25T10:00:02.000Z", "level": "warning",
                                                 "logger": "celery", "message": "retrying purge"}) + "\n")
    (logs / "postgres.log").write_text("2026-11-25 10:00:00 UTC [7] LOG:  database system is ready\n"
                                       "2026-11-25 10:00:04 UTC [9] ERROR:  relation \"x\" does not exist\n")


def test_lines_of_every_kind_are_parsed():
    entry = logview.parse("app", request_line("2026-11-25T10:00:01.000Z", "/a/"))
    assert entry["level"] == "info" and entry["request_id"] == RID and "path=/a/" in entry["message"]
    assert logview.parse("redis-cache", "1:M 25 Nov 2026 10:00:00.000 # WARNING overcommit")["level"] == "warning"
    assert logview.parse("postgres", "... [7] FATAL:  the database system is starting up")["level"] == "critical"
    assert logview.parse("app", "[2026-11-25] [12] [ERROR] Worker failed")["level"] == "error"
    assert logview.parse("varnish", "Child (123) Started")["level"] is None
    assert logview.parse("app", "{not json")["raw"] == "{not json"


def test_merged_by_time_with_tracebacks_kept_after_their_line(tmp_path):
    write_logs(tmp_path)
    entries = logview.merged(logview.log_files(tmp_path, ("app", "worker", "postgres", "beat")))
    order = [(e["service"], e["raw"]) for e in entries]
    boom = [i for i, (_, raw) in enumerate(order) if "/boom/" in raw or raw.startswith(("Traceback", "  File"))]
    assert boom == [boom[0], boom[0] + 1, boom[0] + 2]  # the traceback follows its line
    worker = next(i for i, (service, _) in enumerate(order) if service == "worker")
    first_request = next(i for i, (_, raw) in enumerate(order) if "/a/" in raw)
    ready = next(i for i, (_, raw) in enumerate(order) if "database system is ready" in raw)
    missing = next(i for i, (_, raw) in enumerate(order) if "does not exist" in raw)
    assert ready < first_request < worker < boom[0] < missing  # 10:00:00 < :01 < :02 < :03 < :04


def test_the_command_filters_by_service_level_and_request_id(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path)
    write_logs(tmp_path)
    code, out, err = upstack("logs")
    assert code == 0, err
    assert "retrying purge" in out and "database system is ready" in out and "/a/" in out
    code, out, _ = upstack("logs", "--level", "error")
    assert "/boom/" in out and "relation" in out and "/a/" not in out and "retrying purge" not in out
    code, out, _ = upstack("logs", "--request-id", RID)
    assert "/a/" in out and "/boom/" not in out and "postgres" not in out
    code, out, _ = upstack("logs", "worker", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["service"] for r in rows] == ["worker"] and rows[0]["level"] == "warning"
    assert set(rows[0]) == {"service", "time", "level", "message", "request_id", "raw"}


def test_a_bad_service_or_level_is_bad_input_and_no_logs_is_a_failure(settings, tmp_path):
    settings.UPSTACK_STATE_DIR = str(tmp_path)
    code, _, err = upstack("logs", "nosuchservice")
    assert code == 2 and "redis-cache" in err
    code, _, err = upstack("logs", "--level", "loud")
    assert code == 2 and "warning" in err
    code, _, err = upstack("logs", "app")
    assert code == 1 and "no logs under" in err and "upstack up" in err


def test_follow_prints_lines_as_they_are_written(tmp_path):
    write_logs(tmp_path)
    files = logview.log_files(tmp_path, ("app", "worker"))

    def writer():
        time.sleep(0.15)
        with open(files["worker"], "a") as handle:
            handle.write("new line one\nnew line ")
            handle.flush()
            time.sleep(0.15)
            handle.write("two\n")

    thread = threading.Thread(target=writer)
    thread.start()
    seen = [e["raw"] for e in logview.follow(files, interval=0.05, rounds=12)]
    thread.join()
    assert seen == ["new line one", "new line two"]  # only new lines, a half-written one when complete
