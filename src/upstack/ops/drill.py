"""The fault drill (issue 14, item 11): what readers and writers see while parts of the stack fail.

Against a running local stack (``upstack up``), a bounded loop reads pages anonymously and logged in
and posts comments through the edge, while each fault happens in turn: the cache Redis is SIGKILLed,
PostgreSQL is stopped, every app server is stopped, the Celery worker is SIGKILLed, Varnish is
restarted. For each fault it counts the 5xx among reads of pages cached before the fault, checks
that every comment answered with success is in the database afterwards (and that none answered
with an error status is: no phantom saves), and measures how long after the service returned the stack serves an uncached
page and is ready again.

Goals (``GOALS``): no 5xx for cached pages, no acknowledged write lost, recovery within 5 s. A post
whose connection drops with no answer (the edge itself restarting) has an unknown outcome by the
nature of HTTP - the app may have committed it just before - so it is neither lost nor phantom: the
table counts those apart, with how many of them were saved.
``summarise`` and ``table`` are pure; ``run`` is the I/O. Traffic goes only to the loopback edge,
stops by itself after each fault's window, and every process it signals is one of the stack's.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from ..edge.contract import READY_PATH

GOALS = {"cached_5xx": 0, "lost_writes": 0, "phantom_writes": 0, "recovery_s": 5.0}
BEFORE, OUTAGE, AFTER = 1.5, 4.0, 2.0  # seconds of traffic before, during and after each fault
RECOVERY_LIMIT = 60.0


@dataclass
class Tally:
    reads: int = 0
    cached_5xx: int = 0
    refused: int = 0  # no (complete) answer at all: the edge itself restarting
    writes_ok: list[str] = field(default_factory=list)
    writes_failed: list[str] = field(default_factory=list)  # answered with an error status
    writes_unanswered: list[str] = field(default_factory=list)  # connection dropped: outcome unknown
    write_statuses: dict[int, int] = field(default_factory=dict)


def summarise(fault: str, tally: Tally, stored: set[str], recovery_s: float | None) -> dict:
    """One row of the table: what readers saw, what happened to the writes, the recovery time."""
    return {
        "fault": fault, "reads": tally.reads, "cached_5xx": tally.cached_5xx, "refused": tally.refused,
        "writes_ok": len(tally.writes_ok), "writes_failed": len(tally.writes_failed),
        "lost_writes": sum(1 for token in tally.writes_ok if token not in stored),
        "phantom_writes": sum(1 for token in tally.writes_failed if token in stored),
        "writes_unanswered": len(tally.writes_unanswered),
        "unanswered_saved": sum(1 for token in tally.writes_unanswered if token in stored),
        "write_statuses": dict(sorted(tally.write_statuses.items())),
        "recovery_s": None if recovery_s is None else round(recovery_s, 2),
    }


def meets_goals(row: dict) -> bool:
    return (row["cached_5xx"] <= GOALS["cached_5xx"] and row["lost_writes"] <= GOALS["lost_writes"]
            and row["phantom_writes"] <= GOALS["phantom_writes"] and row["recovery_s"] is not None
            and row["recovery_s"] <= GOALS["recovery_s"])


def table(rows: list[dict]) -> str:
    lines = ["| fault | reads | 5xx (cached pages) | no answer | writes ok / failed / no answer (saved) | lost writes "
             "| phantom writes | recovery (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['fault']} | {r['reads']} | {r['cached_5xx']} | {r['refused']} | {r['writes_ok']} / "
                     f"{r['writes_failed']} / {r['writes_unanswered']} ({r['unanswered_saved']}) | "
                     f"{r['lost_writes']} | {r['phantom_writes']} | {r['recovery_s']} |")
    return "\n".join(lines)


class Client:
    """One visitor: keeps its cookies, never follows redirects."""

    def __init__(self, edge: str):
        parts = urlsplit(edge)
        self.host, self.port, self.cookies = parts.hostname, parts.port, {}

    def request(self, method: str, path: str, form: dict | None = None, timeout: float = 10) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        headers = {"Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
            return response.status, text
        finally:
            conn.close()

    def login(self, username: str, password: str) -> None:
        _, page = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, _ = self.request("POST", "/accounts/login/", {"username": username, "password": password,
                                                              "csrfmiddlewaretoken": token})
        if status != 302:
            raise RuntimeError(f"login as {username} failed: {status}")


def _reader(client: Client, urls: list[str], tally: Tally, lock: threading.Lock, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        try:
            status, _ = client.request("GET", urls[i % len(urls)])
        except (OSError, http.client.HTTPException):
            status = None
        with lock:
            tally.reads += 1
            tally.refused += status is None
            tally.cached_5xx += bool(status and status >= 500)
        i += 1
        stop.wait(0.02)


def _writer(client: Client, article: str, token: str, prefix: str, tally: Tally, lock: threading.Lock,
            stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        body = f"{prefix}-{n}"
        try:
            status, _ = client.request("POST", f"{article}comments/", {"body": body, "csrfmiddlewaretoken": token})
        except (OSError, http.client.HTTPException):
            status = 0
        with lock:
            outcome = tally.writes_ok if status == 302 else tally.writes_failed if status else tally.writes_unanswered
            outcome.append(body)
            tally.write_statuses[status] = tally.write_statuses.get(status, 0) + 1
        n += 1
        stop.wait(0.25)


def _recovered(edge: str, n: int) -> bool:
    client = Client(edge)
    try:
        return client.request("GET", READY_PATH, timeout=3)[0] == 200 and \
            client.request("GET", f"/search/?q=recovery{n}", timeout=3)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def _wait_recovery(edge: str, label: str) -> float | None:
    started, n = time.monotonic(), 0
    while time.monotonic() - started < RECOVERY_LIMIT:
        n += 1
        if _recovered(edge, hash((label, n)) & 0xFFFFFF):
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def faults(stack) -> list[tuple[str, Callable[[], None], Callable[[], None]]]:
    """(name, inject, restore) for each fault, on a stack with ``status()`` and ``control(action,
    name)`` - a ``runner.LocalStack``, or the ``upstack`` command line around it."""

    def pid(name: str) -> int:
        return next(s["pid"] for s in stack.status()["services"] if s["name"] == name)

    def sigkill(name: str):
        def inject():
            os.kill(pid(name), signal.SIGKILL)

        def restore():  # supervisord restarts it; wait until it runs again
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                service = next(s for s in stack.status()["services"] if s["name"] == name)
                if service["state"] == "running":
                    return
                time.sleep(0.1)
        return inject, restore

    def stopped(name: str):
        return (lambda: stack.control("stop", name)), (lambda: stack.control("start", name))

    return [("cache Redis SIGKILLed", *sigkill("redis-cache")), ("PostgreSQL stopped", *stopped("postgres")),
            ("every app server stopped", *stopped("app")), ("worker SIGKILLed", *sigkill("worker")),
            ("Varnish restarted", lambda: stack.control("stop", "varnish"), lambda: stack.control("start", "varnish"))]


def warm(edge: str, urls: list[str], clients: list[Client]) -> None:
    for client in clients:
        for url in urls:
            client.request("GET", url)


def run(stack, urls: list[str], article: str, reader: tuple[str, str], writer: tuple[str, str],
        stored_comments: Callable[[str], set[str]], say=print) -> list[dict]:
    """The drill; ``stored_comments(prefix)`` returns the bodies in the database that start with it."""
    edge = stack.edge_url()
    rows = []
    for index, (name, inject, restore) in enumerate(faults(stack)):
        anonymous, logged_in, author = Client(edge), Client(edge), Client(edge)
        logged_in.login(*reader)
        author.login(*writer)
        _, page = author.request("GET", article)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        warm(edge, urls, [anonymous, logged_in])
        tally, lock, stop = Tally(), threading.Lock(), threading.Event()
        prefix = f"drill-{index}-{int(time.time())}"
        threads = [threading.Thread(target=_reader, args=(anonymous, urls, tally, lock, stop)),
                   threading.Thread(target=_reader, args=(logged_in, urls, tally, lock, stop)),
                   threading.Thread(target=_writer, args=(author, article, token, prefix, tally, lock, stop))]
        for t in threads:
            t.start()
        try:
            time.sleep(BEFORE)
            say(f"drill: {name}")
            inject()
            time.sleep(OUTAGE)
            restore()
            recovery = _wait_recovery(edge, name)
            time.sleep(AFTER)
        finally:
            stop.set()
            for t in threads:
                t.join()
        rows.append(summarise(name, tally, stored_comments(prefix), recovery))
        say(f"drill: {rows[-1]}")
    return rows
